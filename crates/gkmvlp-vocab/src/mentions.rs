//! How texts name the findings: the word-level cues with which the clinical-efficacy metric reads which
//! findings a report states, and the pipeline checks that a report states those its prompt names and reads
//! which finding a yes/no question asks about.

use std::ops::Range;

use crate::NUM_ENTITIES;

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

/// The cues of each entity, in `Entity::ALL` order: what the simulator writes (`gkmvlp_sim::report`) plus
/// common synonyms, so that texts phrased a little differently are still understood.
pub const ENTITY_CUES: [&[Cue]; NUM_ENTITIES] = [
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
    &[Cue {
        terms: &["hemidiaphragm", "hemidiaphragms", "diaphragm"],
        qualifiers: &["elevated", "elevation", "raised"],
    }],
    &[unqualified(&[
        "hyperaeration",
        "hyperaerated",
        "hyperinflation",
        "hyperinflated",
        "hyperexpansion",
        "hyperexpanded",
    ])],
    &[unqualified(&["endotracheal", "et tube", "ett"])],
    &[unqualified(&["central venous", "central line", "central catheter", "cvc", "picc"])],
];

/// Cues that negate a mention they precede ("No pleural effusion", "the hemidiaphragm is not elevated").
const NEGATIONS_BEFORE: &[&str] = &["no", "not", "without", "negative for", "free of", "resolved", "resolution of"];

/// Cues that negate a mention they follow ("pneumothorax is not seen", "the effusion has resolved").
/// "without" is not one: "A small pneumothorax is present, without lung markings beyond the pleural line."
const NEGATIONS_AFTER: &[&str] = &["not", "resolved", "absent", "excluded"];

/// Words that end a negation's scope within a sentence ("No effusion, but a small pneumothorax").
const SCOPE_BREAKS: &[&str] = &["but", "however", "although", "though", "except"];

/// Clauses as word lists: sentences end at `.` followed by a space (not in "4.2 cm"; a numbered
/// impression's "1." becomes a clause of its own), `!`, `?`, `;`, `:` or a line break, and at scope breaks.
fn clauses(report: &str) -> Vec<Vec<String>> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut chars = report.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let ends_sentence = match c {
            '.' => chars.peek().is_none_or(|(_, next)| next.is_whitespace()),
            '!' | '?' | ';' | ':' | '\n' => true,
            _ => false,
        };
        if ends_sentence {
            sentences.push(&report[start..i]);
            start = i + c.len_utf8();
        }
    }
    sentences.push(&report[start..]);
    sentences
        .into_iter()
        .flat_map(|sentence| {
            let tokens = words(sentence);
            tokens.split(|t| SCOPE_BREAKS.contains(&t.as_str())).map(<[String]>::to_vec).collect::<Vec<_>>()
        })
        .filter(|clause| !clause.is_empty())
        .collect()
}

/// Whether `clause` mentions the cue's entity without negating it.
fn affirmed(clause: &[String], cue: &Cue) -> bool {
    let qualifiers = occurrences(clause, cue.qualifiers);
    if !cue.qualifiers.is_empty() && qualifiers.is_empty() {
        return false;
    }
    let negations_before = occurrences(clause, NEGATIONS_BEFORE);
    let negations_after = occurrences(clause, NEGATIONS_AFTER);
    occurrences(clause, cue.terms).into_iter().any(|term| {
        // The mention ends at the later of term and qualifier, so that "not" between them ("the
        // hemidiaphragm is not elevated") negates it.
        let end = qualifiers.first().map_or(term, |&q| term.max(q));
        !negations_before.iter().any(|&n| n < end) && !negations_after.iter().any(|&n| n > end)
    })
}

/// Which of the entities a report states as present (hedged mentions such as "possible consolidation"
/// count), clause by clause with negation cues: the report side of clinical-efficacy scoring, and what the
/// report decoder checks before it ends a report.
pub fn mentioned_findings(report: &str) -> [bool; NUM_ENTITIES] {
    any_clause(report, affirmed)
}

/// Which of the entities a report names without stating them present ("no pleural effusion", "the
/// mediastinal and hilar contours are normal"): the sentences a statement of the finding would contradict.
pub fn mentioned_as_absent(report: &str) -> [bool; NUM_ENTITIES] {
    any_clause(report, |clause, cue| !occurrences(clause, cue.terms).is_empty() && !affirmed(clause, cue))
}

/// Per entity, whether `test` holds for one of its cues in one of the report's clauses.
fn any_clause(report: &str, test: impl Fn(&[String], &Cue) -> bool) -> [bool; NUM_ENTITIES] {
    let clauses = clauses(report);
    ENTITY_CUES.map(|cues| clauses.iter().any(|clause| cues.iter().any(|cue| test(clause, cue))))
}
