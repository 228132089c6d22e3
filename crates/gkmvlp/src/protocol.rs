//! The decoder's text protocol, in one place for the trainer and the runtime: how a report and a
//! question–answer pair are laid out, the findings prompt written before them, and how report text is cut
//! into sentences. A template changed here changes what the decoder is trained on and what it is
//! prompted with alike, so the two cannot drift apart.
//!
//! A decoder text is `[CLS] findings: … impression: … [SEP]` or `[CLS] question: … answer: … [SEP]`; with
//! the findings prompt ([`crate::GkMvlpConfig::findings_prompt`]) it reads
//! `[CLS] present: <findings> [SEP] <text> [SEP]`.

use gkmvlp_vocab::{Candidate, candidates};

use crate::network::ecls_head::PresentThresholds;
use crate::tokenizer::{CLS_ID, SEP_ID};

/// What every report starts with.
pub const REPORT_CUE: &str = "findings:";
/// Opens a report's second section, which restates the first's findings.
pub const IMPRESSION_CUE: &str = "impression:";
/// Opens a question in the decoder's texts.
pub const QUESTION_CUE: &str = "question:";
/// Ends a question in the decoder's texts; the answer follows it.
pub const ANSWER_CUE: &str = "answer:";

/// A report as the decoder learns it: `findings: … impression: …`.
pub fn report_text(findings: &str, impression: &str) -> String {
    format!("{REPORT_CUE} {} {IMPRESSION_CUE} {}", findings.trim(), impression.trim())
}

/// A question as the decoder is asked it: `question: … answer:`; the answer is written after it.
pub fn question_text(question: &str) -> String {
    format!("{QUESTION_CUE} {question} {ANSWER_CUE}")
}

/// A question–answer pair as the decoder learns it: `question: … answer: …`.
pub fn question_answer_text(question: &str, answer: &str) -> String {
    format!("{} {answer}", question_text(question))
}

/// Most findings a prompt names.
pub const PROMPT_MAX_FINDINGS: usize = 10;

/// The findings prompt ([`crate::GkMvlpConfig::findings_prompt`]) for one image's ECLS probabilities (in
/// [`candidates`] order): `present: pleural effusion at the right costophrenic angle, lung nodule at the
/// left mid lung zone`, or `present: none`.
pub fn findings_prompt(present: &[f32], thresholds: &PresentThresholds) -> String {
    let named: Vec<String> = prompt_candidates(present, thresholds).iter().map(Candidate::sentence).collect();
    format!("present: {}", if named.is_empty() { "none".to_string() } else { named.join(", ") })
}

/// The candidates [`findings_prompt`] names, in its order.
pub fn prompt_candidates(present: &[f32], thresholds: &PresentThresholds) -> Vec<Candidate> {
    let mut named: Vec<(f32, Candidate)> = candidates()
        .into_iter()
        .zip(present)
        .filter(|(c, p)| thresholds.is_present(c, **p))
        .map(|(c, &p)| (p, c))
        .collect();
    // Most probable first, and a bounded length whatever the image.
    named.sort_by(|a, b| b.0.total_cmp(&a.0));
    named.truncate(PROMPT_MAX_FINDINGS);
    named.into_iter().map(|(_, candidate)| candidate).collect()
}

/// `[CLS] prompt [SEP]` followed by `text`'s ids without its `[CLS]`: how a decoder text reads with the
/// findings prompt. Also returns the prompt's length with both special tokens, where the text begins.
pub fn prompted_ids(prompt: &[u32], text: &[u32]) -> (Vec<u32>, usize) {
    let mut ids = Vec::with_capacity(prompt.len() + text.len() + 1);
    ids.push(CLS_ID);
    ids.extend_from_slice(prompt);
    ids.push(SEP_ID);
    let start = ids.len();
    ids.extend(text.iter().skip(usize::from(text.first() == Some(&CLS_ID))));
    (ids, start)
}

/// Index just past the last occurrence of `cue` in `ids`: where what follows a cue begins.
pub fn after_last(ids: &[u32], cue: &[u32]) -> Option<usize> {
    (cue.len()..=ids.len()).rev().find(|&end| ids[end - cue.len()..end] == *cue)
}

/// Section names a report's sentences may start with, in any case (the decoder writes `impression :`).
const SECTION_HEADERS: [&str; 6] = ["findings", "impression", "indication", "comparison", "technique", "history"];

/// Splits report text into sentences at `.`, `!`, `?` and line breaks; section headers such as
/// `FINDINGS:` or `impression :` are dropped.
pub fn split_sentences(text: &str) -> Vec<String> {
    let is_header = |head: &str| {
        let head = head.trim();
        head.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
            || SECTION_HEADERS.iter().any(|h| head.eq_ignore_ascii_case(h))
    };
    text.split(['.', '!', '?', '\n'])
        .map(|s| s.trim())
        .map(|s| match s.split_once(':') {
            Some((head, rest)) if is_header(head) => rest.trim(),
            _ => s,
        })
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_as_the_decoder_was_trained() {
        assert_eq!(report_text(" no effusion. ", "normal. "), "findings: no effusion. impression: normal.");
        assert_eq!(question_text("is there an effusion?"), "question: is there an effusion? answer:");
        assert_eq!(question_answer_text("is there an effusion?", "no"), "question: is there an effusion? answer: no");
    }

    #[test]
    fn findings_prompt_names_the_present_findings_most_probable_first() {
        let count = candidates().len();
        let uniform = PresentThresholds::default();
        assert_eq!(findings_prompt(&vec![0.2; count], &uniform), "present: none");
        let mut present = vec![0.1; count];
        present[0] = 0.6;
        present[count - 1] = 0.9;
        let sentences: Vec<String> = candidates().iter().map(|c| c.sentence()).collect();
        assert_eq!(findings_prompt(&present, &uniform), format!("present: {}, {}", sentences[count - 1], sentences[0]));
        assert_eq!(
            findings_prompt(&vec![1.0; count], &uniform).matches(", ").count(),
            PROMPT_MAX_FINDINGS - 1,
            "bounded"
        );

        // Each entity at its own threshold: the first candidate's entity from 0.25, the last's from 0.95.
        let (first, last) = (candidates()[0].entity, candidates()[count - 1].entity);
        let mut per_entity = vec![0.5; crate::vocab::NUM_ENTITIES];
        (per_entity[first.index()], per_entity[last.index()]) = (0.25, 0.95);
        let calibrated = PresentThresholds::try_from(per_entity).unwrap();
        present[0] = 0.3;
        assert_eq!(findings_prompt(&present, &calibrated), format!("present: {}", sentences[0]));
    }

    #[test]
    fn prompted_ids_put_the_prompt_between_cls_and_sep() {
        assert_eq!(prompted_ids(&[7, 8], &[CLS_ID, 20, 21, SEP_ID]), (vec![CLS_ID, 7, 8, SEP_ID, 20, 21, SEP_ID], 4));
        assert_eq!(prompted_ids(&[7], &[20, 21]), (vec![CLS_ID, 7, SEP_ID, 20, 21], 3), "a prefix without [CLS]");
    }

    #[test]
    fn sentences_split_and_headers_dropped() {
        let s = split_sentences("FINDINGS: Small right effusion. No pneumothorax!\nIMPRESSION: Effusion?  ");
        assert_eq!(s, vec!["Small right effusion", "No pneumothorax", "Effusion"]);
        let generated =
            split_sentences("moderate right pleural effusion. impression : moderate right pleural effusion.");
        assert_eq!(generated, vec!["moderate right pleural effusion"; 2]);
        assert_eq!(split_sentences("Tip: 4 cm above the carina."), vec!["Tip: 4 cm above the carina"], "not a section");
        assert!(split_sentences(" .. \n ").is_empty());
    }
}
