//! Yes/no questions about one finding ("Is there a pleural effusion?", "Is there lung mass in the left
//! lung?") and questions of where one finding is ("Which side is the pleural effusion on?", "Where is the
//! consolidation?"), read out of free text so that the pipeline answers them from the grounded ECLS
//! probabilities, the ones the findings list shows, and never contradicts that list (the decoder can).
//! A presence question may ask the absence instead ("Is there no pneumothorax?"). Whatever else a question
//! holds (a second finding, another negation, a size, a side without a region) leaves it unread, for the
//! decoder to answer; except a where question about something that is none of the model's findings, which
//! the decoder would place somewhere all the same.

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

/// The one word that turns a presence question into an absence question ("is there no effusion?").
/// "not" is left out: "is there not an effusion?" asks whether there is one.
const ABSENCE: &str = "no";

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
    /// Whether the question asks that the finding is absent ("is there no pleural effusion?"): the answer
    /// is then "yes" exactly when the findings list does not call it.
    pub asks_absence: bool,
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
    /// The finding (and region) `question` asks the presence or the absence of, if that is all it asks.
    pub fn read(question: &str) -> Option<ClosedQuestion> {
        let tokens = words(question);
        if !OPENERS.contains(&tokens.first()?.as_str()) {
            return None;
        }
        let (entity, mut explained) = named_finding(&tokens)?;
        let absence: Vec<usize> = (0..tokens.len()).filter(|&i| tokens[i] == ABSENCE).collect();
        let asks_absence = match absence[..] {
            [] => false,
            [at] => {
                explained[at] = true;
                true
            }
            _ => return None,
        };

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

        all_understood(&tokens, &explained, entity, &FILLERS).then_some(ClosedQuestion {
            entity,
            position,
            asks_absence,
        })
    }

    /// The finding whose side or position `question` asks ("which side is the pleural effusion on?",
    /// "where is the consolidation?"), if that is all it asks; a question that also names a region is left
    /// to the decoder.
    pub fn read_where(question: &str) -> Option<WhereQuestion> {
        let tokens = words(question);
        let (opening, asks) = where_opening(&tokens)?;
        let (entity, mut explained) = named_finding(&tokens)?;
        explained[..opening.len()].fill(true);
        all_understood(&tokens, &explained, entity, &WHERE_FILLERS).then_some(WhereQuestion { entity, asks })
    }

    /// What a where question asks about when it names none of the model's findings ("where is the rib
    /// fracture?" gives "rib fracture"): the pipeline says it knows no such finding rather than let the
    /// decoder invent a place for it.
    pub fn read_unknown_where(question: &str) -> Option<String> {
        let tokens = words(question);
        let (opening, _) = where_opening(&tokens)?;
        if !named_findings(&tokens).0.is_empty() {
            return None;
        }
        let asked: Vec<&str> =
            tokens[opening.len()..].iter().map(String::as_str).filter(|w| !WHERE_FILLERS.contains(w)).collect();
        (!asked.is_empty()).then(|| asked.join(" "))
    }
}

/// The opening of a where question that `tokens` start with, and what it asks.
fn where_opening(tokens: &[String]) -> Option<(&'static [&'static str], Whereabouts)> {
    WHERE_OPENINGS
        .iter()
        .find(|(opening, _)| opening.len() <= tokens.len() && opening.iter().zip(tokens).all(|(o, t)| o == t))
        .copied()
}

/// The one finding `tokens` name, with the tokens its cues explain; `None` for none or several.
fn named_finding(tokens: &[String]) -> Option<(Entity, Vec<bool>)> {
    let (named, explained) = named_findings(tokens);
    let [entity] = named[..] else { return None };
    Some((entity, explained))
}

/// Every finding `tokens` name, once each, with the tokens their cues explain.
fn named_findings(tokens: &[String]) -> (Vec<Entity>, Vec<bool>) {
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
    (named, explained)
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
        Some(ClosedQuestion { entity: Entity::from_name(entity).unwrap(), position, asks_absence: false })
    }

    #[test]
    fn reads_a_question_of_absence() {
        let absent = |entity, position| asked(entity, position).map(|q| ClosedQuestion { asks_absence: true, ..q });
        assert_eq!(ClosedQuestion::read("Is there no pleural effusion?"), absent("pleural effusion", None));
        assert_eq!(ClosedQuestion::read("Is there no pneumothorax?"), absent("pneumothorax", None));
        assert_eq!(
            ClosedQuestion::read("Is there no evidence of lung mass in the left lung?"),
            absent("lung mass", Some(Region::LeftLung))
        );
        for question in [
            "Is there no no pneumothorax?",
            "Is there not a pneumothorax?",
            "Is there no pneumothorax or effusion?",
            "Is the effusion no longer present?",
        ] {
            assert_eq!(ClosedQuestion::read(question), None, "{question}");
        }
    }

    #[test]
    fn reads_a_where_question_about_no_finding_the_model_knows() {
        let unknown = |question| ClosedQuestion::read_unknown_where(question);
        assert_eq!(unknown("Where is the rib fracture?").as_deref(), Some("rib fracture"));
        assert_eq!(unknown("Which side is the fracture on?").as_deref(), Some("fracture"));
        for question in [
            "Where is the consolidation?",
            "Where is the largest nodule?",
            "Where is the effusion or the fracture?",
            "Where?",
            "Is there a fracture?",
            "",
        ] {
            assert_eq!(unknown(question), None, "{question}");
        }
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
