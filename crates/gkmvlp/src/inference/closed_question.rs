//! Yes/no questions about one finding ("Is there a pleural effusion?", "Is there lung mass in the left
//! lung?") and questions of where one finding is ("Which side is the pleural effusion on?", "Where is the
//! consolidation?"), read out of free text so that the pipeline answers them from the grounded ECLS
//! probabilities, the ones the findings list shows, and never contradicts that list (the decoder can).
//! Whatever else a question holds (a second finding, a negation, a size, a side without a region) leaves
//! it unread, for the decoder to answer.

use gkmvlp_vocab::mentions::{ENTITY_CUES, spans, words};
use gkmvlp_vocab::{Entity, Region, candidate_index};

/// Words that open a yes/no question.
const OPENERS: [&str; 7] = ["is", "are", "does", "do", "has", "have", "can"];

/// Words a presence question may hold besides its finding and its region.
const FILLERS: [&str; 30] = [
    "is",
    "are",
    "does",
    "do",
    "has",
    "have",
    "can",
    "you",
    "there",
    "a",
    "an",
    "any",
    "the",
    "this",
    "present",
    "image",
    "radiograph",
    "film",
    "show",
    "shows",
    "see",
    "seen",
    "visible",
    "evidence",
    "sign",
    "signs",
    "of",
    "in",
    "at",
    "on",
];

/// Words a where question may hold besides its opening and its finding.
const WHERE_FILLERS: [&str; 10] = ["is", "are", "the", "a", "an", "on", "of", "in", "located", "seen"];

/// The openings of a where question, and what each asks.
const WHERE_OPENINGS: [(&[&str], Whereabouts); 7] = [
    (&["which", "side"], Whereabouts::Side),
    (&["what", "side"], Whereabouts::Side),
    (&["where"], Whereabouts::Zone),
    (&["which", "zone"], Whereabouts::Zone),
    (&["what", "zone"], Whereabouts::Zone),
    (&["in", "which", "zone"], Whereabouts::Zone),
    (&["in", "what", "zone"], Whereabouts::Zone),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedQuestion {
    pub entity: Entity,
    /// The region asked about, always one of the entity's positions; `None` asks about the whole image.
    pub position: Option<Region>,
}

/// What a where question asks of its finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whereabouts {
    /// "right", "left", "both sides" or "midline".
    Side,
    /// The positions themselves ("in the right lower lung zone").
    Zone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhereQuestion {
    pub entity: Entity,
    pub asks: Whereabouts,
}

impl ClosedQuestion {
    /// The finding (and region) `question` asks the presence of, if that is all it asks.
    pub fn read(question: &str) -> Option<ClosedQuestion> {
        let tokens = words(question);
        if !OPENERS.contains(&tokens.first()?.as_str()) {
            return None;
        }
        let (entity, mut explained) = named_finding(&tokens)?;

        // A region whose name lies inside another one's ("mediastinum" in "upper mediastinum") is that one.
        let regions: Vec<_> =
            Region::ALL.iter().flat_map(|&r| spans(&tokens, &[r.name()]).into_iter().map(move |s| (r, s))).collect();
        let outermost: Vec<_> = regions
            .iter()
            .filter(|(_, s)| !regions.iter().any(|(_, t)| t != s && t.start <= s.start && s.end <= t.end))
            .collect();
        outermost.iter().flat_map(|(_, s)| s.clone()).for_each(|i| explained[i] = true);
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

        all_understood(&tokens, &explained, entity, &FILLERS).then_some(ClosedQuestion { entity, position })
    }

    /// The finding whose side or position `question` asks ("which side is the pleural effusion on?",
    /// "where is the consolidation?"), if that is all it asks; a question that also names a region is left
    /// to the decoder.
    pub fn read_where(question: &str) -> Option<WhereQuestion> {
        let tokens = words(question);
        let (opening, asks) = WHERE_OPENINGS
            .iter()
            .find(|(opening, _)| opening.len() <= tokens.len() && opening.iter().zip(&tokens).all(|(o, t)| o == t))?;
        let (entity, mut explained) = named_finding(&tokens)?;
        explained[..opening.len()].fill(true);
        all_understood(&tokens, &explained, entity, &WHERE_FILLERS).then_some(WhereQuestion { entity, asks: *asks })
    }
}

/// The one finding `tokens` name, with the tokens its cues explain; `None` for none or several.
fn named_finding(tokens: &[String]) -> Option<(Entity, Vec<bool>)> {
    let mut explained = vec![false; tokens.len()];
    let mut named = Vec::new();
    for (entity, cues) in Entity::ALL.into_iter().zip(ENTITY_CUES) {
        for cue in cues.iter() {
            let (terms, qualifiers) = (spans(tokens, cue.terms), spans(tokens, cue.qualifiers));
            if !terms.is_empty() && (cue.qualifiers.is_empty() || !qualifiers.is_empty()) {
                terms.iter().chain(&qualifiers).flat_map(Clone::clone).for_each(|i| explained[i] = true);
                named.push(entity);
            }
        }
    }
    named.dedup();
    let [entity] = named[..] else { return None };
    Some((entity, explained))
}

/// Whether every token is explained, a filler or a word of the finding's name: anything else (a negation,
/// a size, a second question) changes what is asked.
fn all_understood(tokens: &[String], explained: &[bool], entity: Entity, fillers: &[&str]) -> bool {
    let name = words(entity.name());
    tokens.iter().enumerate().all(|(i, word)| explained[i] || fillers.contains(&word.as_str()) || name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(entity: &str, position: Option<Region>) -> Option<ClosedQuestion> {
        Some(ClosedQuestion { entity: Entity::from_name(entity).unwrap(), position })
    }

    #[test]
    fn reads_the_presence_questions_of_the_simulator_and_the_page() {
        assert_eq!(ClosedQuestion::read("is there a pleural effusion?"), asked("pleural effusion", None));
        assert_eq!(ClosedQuestion::read("Is lung nodule present?"), asked("lung nodule", None));
        assert_eq!(
            ClosedQuestion::read("Does the image show cardiomegaly?"),
            asked("enlarged cardiac silhouette", None)
        );
        assert_eq!(ClosedQuestion::read("Is there an endotracheal tube?"), asked("endotracheal tube", None));
        assert_eq!(ClosedQuestion::read("is the heart enlarged?"), asked("enlarged cardiac silhouette", None));
        assert_eq!(ClosedQuestion::read("Is there any mediastinal widening?"), asked("mediastinal widening", None));
        assert_eq!(
            ClosedQuestion::read("Is there lung mass in the left lung?"),
            asked("lung mass", Some(Region::LeftLung))
        );
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
    fn reads_the_where_questions_of_the_simulator() {
        let asked = |entity: &str, asks| Some(WhereQuestion { entity: Entity::from_name(entity).unwrap(), asks });
        let side = |entity| asked(entity, Whereabouts::Side);
        let zone = |entity| asked(entity, Whereabouts::Zone);
        assert_eq!(ClosedQuestion::read_where("Which side is the pleural effusion on?"), side("pleural effusion"));
        assert_eq!(ClosedQuestion::read_where("which side is the effusion on?"), side("pleural effusion"));
        assert_eq!(ClosedQuestion::read_where("What side is the pneumothorax on?"), side("pneumothorax"));
        assert_eq!(ClosedQuestion::read_where("Which side is the pulmonary edema on?"), side("pulmonary edema"));
        assert_eq!(ClosedQuestion::read_where("Where is the consolidation?"), zone("consolidation"));
        assert_eq!(ClosedQuestion::read_where("In which zone is the lung nodule?"), zone("lung nodule"));
        assert_eq!(ClosedQuestion::read_where("which zone is the mass in?"), zone("lung mass"));
        assert_eq!(ClosedQuestion::read_where("Where is the atelectasis seen?"), zone("atelectasis"));
        for question in [
            "Which side is the pleural effusion or the pneumothorax on?",
            "Which side is the effusion in the right lung on?",
            "Where is the consolidation in the right lung?",
            "Where is the largest nodule?",
            "Which side is larger?",
            "Which side?",
            "Where?",
            "In which zone?",
            "Which side is the effusion not on?",
            "Is there a pleural effusion?",
            "",
        ] {
            assert_eq!(ClosedQuestion::read_where(question), None, "{question}");
        }
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
