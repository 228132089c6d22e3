//! How texts name the findings: the word-level cues that both the clinical-efficacy metric (which findings
//! a report states) and the pipeline's question reader (which finding a yes/no question asks about) use.

use std::ops::Range;

use crate::ENTITIES;

/// Lower-cased alphanumeric words (digits kept, punctuation dropped): the one normalisation every text
/// metric and the question reader share, so that case and punctuation never count.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Every occurrence of any of `phrases` (space-separated words) in `tokens`, as a range of token indices.
pub fn spans(tokens: &[String], phrases: &[&str]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for phrase in phrases {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        for (start, window) in tokens.windows(phrase.len()).enumerate() {
            if window.iter().zip(&phrase).all(|(token, word)| token == word) {
                found.push(start..start + phrase.len());
            }
        }
    }
    found
}

/// Start indices of every occurrence of any of `phrases` in `tokens`.
pub fn occurrences(tokens: &[String], phrases: &[&str]) -> Vec<usize> {
    spans(tokens, phrases).into_iter().map(|span| span.start).collect()
}

/// How a text names one entity: any of `terms` (word sequences); when `qualifiers` is not empty, one of
/// them must be in the same clause too, because a "hilum" is only a finding when it is "enlarged".
pub struct Cue {
    pub terms: &'static [&'static str],
    pub qualifiers: &'static [&'static str],
}

const fn unqualified(terms: &'static [&'static str]) -> Cue {
    Cue { terms, qualifiers: &[] }
}

const ENLARGED: &[&str] = &["enlarged", "enlargement", "enlarging", "prominent", "prominence"];

/// The cues of each entity, in `ENTITIES` order: what the simulator writes (`gkmvlp_sim::report`) plus
/// common synonyms, so that texts phrased a little differently are still understood.
pub const ENTITY_CUES: [&[Cue]; ENTITIES.len()] = [
    &[unqualified(&["effusion", "effusions"])],
    &[unqualified(&["consolidation", "consolidations", "consolidative", "pneumonia"])],
    &[unqualified(&["atelectasis", "atelectatic"])],
    &[unqualified(&["nodule", "nodules"])],
    &[unqualified(&["mass", "masses"])],
    &[unqualified(&["pneumothorax", "pneumothoraces"])],
    &[unqualified(&["cardiomegaly"]), Cue { terms: &["cardiac silhouette", "heart"], qualifiers: ENLARGED }],
    &[unqualified(&["edema", "oedema"])],
    &[Cue { terms: &["hilum", "hila", "hilar"], qualifiers: ENLARGED }],
    &[Cue { terms: &["mediastinum", "mediastinal"], qualifiers: &["widened", "widening", "wide"] }],
    &[Cue { terms: &["hemidiaphragm", "hemidiaphragms", "diaphragm"], qualifiers: &["elevated", "elevation", "raised"] }],
    &[unqualified(&["hyperaeration", "hyperaerated", "hyperinflation", "hyperinflated", "hyperexpansion", "hyperexpanded"])],
    &[unqualified(&["endotracheal", "et tube", "ett"])],
    &[unqualified(&["central venous", "central line", "central catheter", "cvc", "picc"])],
];
