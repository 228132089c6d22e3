//! Yes/no questions about one finding ("Is there a pleural effusion?", "Is there lung mass in the left
//! lung?"), read out of free text so that the pipeline answers them from the grounded ECLS probabilities,
//! the ones the findings list shows, and never contradicts that list (the decoder can). Whatever else a
//! question holds (a second finding, a negation, a size, a side without a region) leaves it unread, for
//! the decoder to answer.

use gkmvlp_vocab::mentions::{ENTITY_CUES, spans, words};
use gkmvlp_vocab::{ENTITIES, Region, candidate_index};

/// Words that open a yes/no question.
const OPENERS: [&str; 7] = ["is", "are", "does", "do", "has", "have", "can"];

/// Words a presence question may hold besides its finding and its region.
const FILLERS: [&str; 30] = [
    "is", "are", "does", "do", "has", "have", "can", "you", "there", "a", "an", "any", "the", "this", "present",
    "image", "radiograph", "film", "show", "shows", "see", "seen", "visible", "evidence", "sign", "signs", "of",
    "in", "at", "on",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedQuestion {
    /// Index into [`ENTITIES`].
    pub entity: usize,
    /// The region asked about, always one of the entity's positions; `None` asks about the whole image.
    pub position: Option<Region>,
}

impl ClosedQuestion {
    /// The finding (and region) `question` asks the presence of, if that is all it asks.
    pub fn read(question: &str) -> Option<ClosedQuestion> {
        let tokens = words(question);
        if !OPENERS.contains(&tokens.first()?.as_str()) {
            return None;
        }
        let mut explained = vec![false; tokens.len()];
        let mut mark = |spans: &[std::ops::Range<usize>]| spans.iter().flat_map(Clone::clone).for_each(|i| explained[i] = true);

        let mut named = Vec::new();
        for (entity, cues) in ENTITY_CUES.iter().enumerate() {
            for cue in cues.iter() {
                let (terms, qualifiers) = (spans(&tokens, cue.terms), spans(&tokens, cue.qualifiers));
                if !terms.is_empty() && (cue.qualifiers.is_empty() || !qualifiers.is_empty()) {
                    mark(&terms);
                    mark(&qualifiers);
                    named.push(entity);
                }
            }
        }
        named.dedup();
        let [entity] = named[..] else { return None };

        // A region whose name lies inside another one's ("mediastinum" in "upper mediastinum") is that one.
        let regions: Vec<_> = Region::ALL.iter().flat_map(|&r| spans(&tokens, &[r.name()]).into_iter().map(move |s| (r, s))).collect();
        let outermost: Vec<_> = regions
            .iter()
            .filter(|(_, s)| !regions.iter().any(|(_, t)| t != s && t.start <= s.start && s.end <= t.end))
            .collect();
        mark(&outermost.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>());
        let mut named_regions: Vec<Region> = outermost.iter().map(|(r, _)| *r).collect();
        named_regions.sort();
        named_regions.dedup();
        let position = match named_regions[..] {
            [] => None,
            [region] => Some(region),
            _ => return None,
        };
        if position.is_some_and(|region| candidate_index(entity, region).is_none()) {
            return None;
        }

        let name = words(ENTITIES[entity].name);
        let understood = |(i, word): (usize, &String)| explained[i] || FILLERS.contains(&word.as_str()) || name.contains(word);
        tokens.iter().enumerate().all(understood).then_some(ClosedQuestion { entity, position })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gkmvlp_vocab::entity_index;

    fn asked(entity: &str, position: Option<Region>) -> Option<ClosedQuestion> {
        Some(ClosedQuestion { entity: entity_index(entity).unwrap(), position })
    }

    #[test]
    fn reads_the_presence_questions_of_the_simulator_and_the_page() {
        assert_eq!(ClosedQuestion::read("is there a pleural effusion?"), asked("pleural effusion", None));
        assert_eq!(ClosedQuestion::read("Is lung nodule present?"), asked("lung nodule", None));
        assert_eq!(ClosedQuestion::read("Does the image show cardiomegaly?"), asked("enlarged cardiac silhouette", None));
        assert_eq!(ClosedQuestion::read("Is there an endotracheal tube?"), asked("endotracheal tube", None));
        assert_eq!(ClosedQuestion::read("is the heart enlarged?"), asked("enlarged cardiac silhouette", None));
        assert_eq!(ClosedQuestion::read("Is there any mediastinal widening?"), asked("mediastinal widening", None));
        assert_eq!(ClosedQuestion::read("Is there lung mass in the left lung?"), asked("lung mass", Some(Region::LeftLung)));
        assert_eq!(
            ClosedQuestion::read("Is there pleural effusion in the right hemidiaphragm?"),
            asked("pleural effusion", Some(Region::RightHemidiaphragm)),
            "a hemidiaphragm is a finding only when elevated"
        );
        assert_eq!(
            ClosedQuestion::read("Is there enlarged cardiac silhouette in the cardiac silhouette?"),
            asked("enlarged cardiac silhouette", Some(Region::CardiacSilhouette)),
            "the region named twice is still one region"
        );
        assert_eq!(
            ClosedQuestion::read("Is there mediastinal widening in the upper mediastinum?"),
            asked("mediastinal widening", Some(Region::UpperMediastinum))
        );
    }

    #[test]
    fn leaves_every_other_question_to_the_decoder() {
        for question in [
            "Which side is the pleural effusion on?",
            "How large is the lung nodule?",
            "Is the pleural effusion large?",
            "Is the effusion on the left?",
            "Is there no pneumothorax?",
            "Is there a pleural effusion or a pneumothorax?",
            "Is there pleural effusion in the right lung?",
            "Is there consolidation in the left lung or the right lung?",
            "Is there a fracture?",
            "pleural effusion?",
            "",
        ] {
            assert_eq!(ClosedQuestion::read(question), None, "{question}");
        }
    }
}
