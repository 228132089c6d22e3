//! The words the model's questions are made of: those of the question forms it was trained on
//! (`gkmvlp_sim::report::qa`), the names of its findings and regions with the cues that name a finding
//! ([`ENTITY_CUES`]), and a few everyday English words of questions about a radiograph. A question with
//! any other word (another language, a word the model never read) is beyond what the model can answer:
//! its decoder would still write something, confidently and at random.

use crate::mentions::{ENTITY_CUES, words};
use crate::{Entity, REGIONS};

/// The words of the trained question forms and of everyday questions about a radiograph, beyond the
/// findings' and regions' own: the trained forms are "Is there a …?", "Is … present?", "Does the image
/// show …?", "Which side is the … on?", "Where is the …?", "In which zone is the …?", "How large is the
/// …?", "How many nodules are there?", "How severe is the …?", "What abnormalities are seen?", "What are
/// the findings?" and "Describe the abnormalities in this radiograph."
const QUESTION_WORDS: &str = "is are there a an any present does the image show which side on where in zone \
    how large many severe what abnormalities abnormality seen findings finding describe this radiograph \
    do has have can you see shows showing visible evidence sign signs of at located film chest x ray xray \
    lungs both sides bilateral and or no not it big size please tell me";

/// The words of `question` that none of the model's questions holds, in order, once each; empty when the
/// model knows every word.
pub fn unknown_question_words(question: &str) -> Vec<String> {
    let known = |word: &str| {
        QUESTION_WORDS.split_whitespace().any(|w| w == word)
            || REGIONS.iter().any(|region| region.split(' ').any(|w| w == word))
            || Entity::ALL.iter().any(|entity| entity.name().split(' ').any(|w| w == word))
            || ENTITY_CUES
                .iter()
                .flat_map(|cues| cues.iter())
                .any(|cue| cue.terms.iter().chain(cue.qualifiers).any(|phrase| phrase.split(' ').any(|w| w == word)))
    };
    let mut unknown: Vec<String> = Vec::new();
    for word in words(question) {
        if !known(&word) && !unknown.contains(&word) {
            unknown.push(word);
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_trained_forms_and_everyday_wording() {
        for question in [
            "Is there a pleural effusion?",
            "Does the image show cardiomegaly?",
            "Is there lung nodule in the left upper lung zone?",
            "Which side is the pneumothorax on?",
            "How many nodules are there?",
            "Describe the abnormalities in this radiograph.",
            "Can you see any signs of edema in both lungs?",
            "Is the heart enlarged?",
            "Is there no central line?",
        ] {
            assert_eq!(unknown_question_words(question), Vec::<String>::new(), "{question}");
        }
    }

    #[test]
    fn names_the_words_of_another_language_or_topic() {
        assert_eq!(unknown_question_words("Y a-t-il un épanchement pleural ?"), ["y", "t", "il", "un", "épanchement"]);
        assert_eq!(unknown_question_words("Is the patient a smoker?"), ["patient", "smoker"]);
    }
}
