//! A generated report made to agree with the findings list it was written behind (the findings prompt,
//! [`crate::protocol::findings_prompt`]): greedy decoding drops some of a long prompt's findings,
//! runs out of positions, and now and then states a finding ECLS did not call. The findings list is the
//! better measured of the two (`gkmvlp eval` prints both), so the report follows it.

use gkmvlp_vocab::mentions::{mentioned_as_absent, mentioned_findings, spans, words};
use gkmvlp_vocab::{Candidate, Entity, NUM_ENTITIES};

use crate::protocol::IMPRESSION_CUE;

/// Phrases that call a whole group of findings absent without naming them (as the simulator's normal
/// reports do), and the findings of that group; `None`: every finding.
const ABSENT_TOGETHER: [(&[&str], Option<&[Entity]>); 2] = [
    (
        &["lungs are clear", "lungs are well expanded and clear"],
        Some(&[
            Entity::Consolidation,
            Entity::Atelectasis,
            Entity::LungNodule,
            Entity::LungMass,
            Entity::PulmonaryEdema,
        ]),
    ),
    (&["no acute cardiopulmonary"], None),
];

/// One sentence of a report section, whether a list number opens it (`2. cardiomegaly.`), and the
/// findings it states.
struct Sentence {
    numbered: bool,
    text: String,
    states: [bool; NUM_ENTITIES],
}

impl Sentence {
    fn new(numbered: bool, text: String) -> Self {
        Sentence { numbered, states: mentioned_findings(&text), text }
    }

    /// Whether it calls `entity` absent, by name or with its group.
    fn calls_absent(&self, entity: Entity) -> bool {
        let words = words(&self.text);
        let in_group = |group: &Option<&[Entity]>| group.is_none_or(|entities| entities.contains(&entity));
        mentioned_as_absent(&self.text)[entity.index()]
            || ABSENT_TOGETHER.iter().any(|(phrases, group)| in_group(group) && !spans(&words, phrases).is_empty())
    }
}

/// `report` (as the decoder writes it: `… impression : …`) without an unfinished last sentence (the
/// length limit) and without the sentences that state a finding `named` leaves out; for each entity of
/// `named` it then does not state, a sentence in the prompt's own words (`pleural effusion at the right
/// costophrenic angle.`) ends the findings and the impression, and the sentences that call that entity
/// absent are dropped. A report that already agrees is returned unchanged.
pub fn agree_with_findings(report: &str, named: &[Candidate]) -> String {
    let (findings, cue, impression) = match impression_cue(report) {
        Some(cue) => (&report[..cue.start], &report[cue.clone()], Some(&report[cue.end..])),
        None => (report, "", None),
    };
    let mut sections: Vec<Vec<Sentence>> = [Some(findings), impression].into_iter().flatten().map(sentences).collect();
    let last = sections.last_mut().expect("the findings section");
    let unfinished = last.pop_if(|s| !s.text.ends_with('.')).is_some();

    let named_entity = |entity: Entity| named.iter().any(|c| c.entity == entity);
    let states_unnamed =
        |s: &Sentence| Entity::ALL.into_iter().zip(s.states).any(|(entity, stated)| stated && !named_entity(entity));
    let count = |sections: &[Vec<Sentence>]| sections.iter().map(Vec::len).sum::<usize>();
    let before = count(&sections);
    sections.iter_mut().for_each(|section| section.retain(|s| !states_unnamed(s)));
    let stated: [bool; NUM_ENTITIES] =
        std::array::from_fn(|entity| sections.iter().flatten().any(|s| s.states[entity]));
    // In the prompt's order, most probable first.
    let mut missing: Vec<Entity> = Vec::new();
    for candidate in named {
        if !stated[candidate.entity.index()] && !missing.contains(&candidate.entity) {
            missing.push(candidate.entity);
        }
    }
    sections.iter_mut().for_each(|section| section.retain(|s| !missing.iter().any(|&entity| s.calls_absent(entity))));
    if !unfinished && missing.is_empty() && count(&sections) == before {
        return report.to_string();
    }

    for &entity in &missing {
        let positions: Vec<&str> = named.iter().filter(|c| c.entity == entity).map(|c| c.position.name()).collect();
        let text = format!("{} at the {}.", entity.name(), positions.join(" and the "));
        for section in &mut sections {
            let numbered = section.iter().any(|s| s.numbered);
            section.push(Sentence::new(numbered, text.clone()));
        }
    }
    join(&sections, cue)
}

/// Where the impression's cue ([`IMPRESSION_CUE`]) is, as the decoder writes it (`impression :`).
fn impression_cue(report: &str) -> Option<std::ops::Range<usize>> {
    let word = IMPRESSION_CUE.trim_end_matches(':');
    let start = report.rfind(word)?;
    let after = &report[start + word.len()..];
    let colon = after.find(|c: char| !c.is_whitespace()).filter(|&at| after[at..].starts_with(':'))?;
    Some(start..start + word.len() + colon + 1)
}

/// The sentences of a section, each with its `.`; an unfinished last one without. A `.` ends a sentence
/// where a space or the end follows it, except in a decimal as the tokenizer spells it (`5. 9 cm`); a
/// number alone before a `.` is the next sentence's list number.
fn sentences(section: &str) -> Vec<Sentence> {
    let mut found = Vec::new();
    let mut numbered = false;
    let mut start = 0;
    let bytes = section.as_bytes();
    for (at, _) in section.match_indices('.') {
        let next = bytes.get(at + 1).copied();
        let decimal = at > 0
            && bytes[at - 1].is_ascii_digit()
            && next == Some(b' ')
            && bytes.get(at + 2).is_some_and(u8::is_ascii_digit);
        if decimal || next.is_some_and(|b| b != b' ') {
            continue;
        }
        let text = section[start..=at].trim();
        if text[..text.len() - 1].chars().all(|c| c.is_ascii_digit()) && text.len() > 1 {
            numbered = true;
        } else if !text.is_empty() && text != "." {
            found.push(Sentence::new(numbered, text.to_string()));
            numbered = false;
        }
        start = at + 1;
    }
    let rest = section[start..].trim();
    if !rest.is_empty() {
        found.push(Sentence::new(numbered, rest.to_string()));
    }
    found
}

/// The sections back into one text, `cue` before the second; numbered sentences numbered from 1 again.
fn join(sections: &[Vec<Sentence>], cue: &str) -> String {
    let section_text = |section: &[Sentence]| {
        let mut number = 0;
        let texts = section.iter().map(|s| {
            number += usize::from(s.numbered);
            if s.numbered { format!("{number}. {}", s.text) } else { s.text.clone() }
        });
        texts.collect::<Vec<_>>().join(" ")
    };
    let mut parts = vec![section_text(&sections[0])];
    if let Some(impression) = sections.get(1).filter(|s| !s.is_empty()) {
        parts.push(format!("{cue} {}", section_text(impression)));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gkmvlp_vocab::Region;

    const EFFUSION: Entity = Entity::PleuralEffusion;
    const PNEUMOTHORAX: Entity = Entity::Pneumothorax;

    fn named() -> [Candidate; 3] {
        [
            Candidate { entity: EFFUSION, position: Region::RightCostophrenicAngle },
            Candidate { entity: PNEUMOTHORAX, position: Region::LeftLung },
            Candidate { entity: EFFUSION, position: Region::LeftCostophrenicAngle },
        ]
    }

    #[test]
    fn a_report_that_agrees_is_unchanged() {
        let report = "moderate right pleural effusion. no focal consolidation. impression : 1. effusion. 2. small left pneumothorax.";
        assert_eq!(agree_with_findings(report, &named()), report);
        assert_eq!(agree_with_findings("", &[]), "");
        assert_eq!(
            agree_with_findings("the lungs are clear. impression : no acute process.", &[]),
            "the lungs are clear. impression : no acute process."
        );
    }

    #[test]
    fn a_named_finding_the_report_leaves_out_is_added_where_nothing_contradicts_it() {
        let report = "ap view of the chest. there is no pleural effusion or pneumothorax. no pulmonary edema. impression : 1. small left pneumothorax. 2. cardiomegaly. 3. no acute cardiopulmonary process.";
        let named = [
            named().to_vec(),
            vec![Candidate { entity: Entity::EnlargedCardiacSilhouette, position: Region::CardiacSilhouette }],
        ]
        .concat();
        assert_eq!(
            agree_with_findings(report, &named),
            "ap view of the chest. no pulmonary edema. pleural effusion at the right costophrenic angle and the left costophrenic angle. \
             impression : 1. small left pneumothorax. 2. cardiomegaly. 3. pleural effusion at the right costophrenic angle and the left costophrenic angle."
        );
        // Several are added in the prompt's order (most probable first), each entity once.
        let hilum = Candidate { entity: Entity::EnlargedHilum, position: Region::RightHilarStructures };
        assert_eq!(
            agree_with_findings("normal chest radiograph.", &[named[1], hilum, named[0]]),
            "normal chest radiograph. pneumothorax at the left lung. enlarged hilum at the right hilar structures. pleural effusion at the right costophrenic angle."
        );
        // Without an impression, the findings end with it; an unnumbered impression gets it unnumbered.
        assert_eq!(
            agree_with_findings("no pleural effusion. left pneumothorax.", &named[..2]),
            "left pneumothorax. pleural effusion at the right costophrenic angle."
        );
        let consolidation = Candidate { entity: Entity::Consolidation, position: Region::RightMidLungZone };
        assert_eq!(
            agree_with_findings("the lungs are clear. no pneumothorax.", &[consolidation]),
            "no pneumothorax. consolidation at the right mid lung zone."
        );
        assert_eq!(
            agree_with_findings("left pneumothorax. impression : left pneumothorax.", &named[..2]),
            "left pneumothorax. pleural effusion at the right costophrenic angle. impression : left pneumothorax. pleural effusion at the right costophrenic angle."
        );
    }

    #[test]
    fn a_finding_the_prompt_does_not_name_is_taken_out_with_its_list_number() {
        let report = "a 5. 9 cm mass in the right upper lung zone. moderate right pleural effusion. impression : 1. mass in the right upper lung zone. 2. right pleural effusion.";
        assert_eq!(
            agree_with_findings(report, &named()[..1]),
            "moderate right pleural effusion. impression : 1. right pleural effusion."
        );
        // Where that leaves the impression empty, its cue goes too.
        assert_eq!(
            agree_with_findings("moderate right pleural effusion. impression : enlarged left hilum.", &named()[..1]),
            "moderate right pleural effusion."
        );
    }

    #[test]
    fn an_unfinished_last_sentence_goes() {
        let named = named();
        assert_eq!(
            agree_with_findings(
                "moderate right pleural effusion. impression : 1. right pleural effusion. 2. small left pneumo",
                &named[..1]
            ),
            "moderate right pleural effusion. impression : 1. right pleural effusion."
        );
        // What it began to state is added whole.
        assert_eq!(
            agree_with_findings("moderate right pleural effusion. small left pneumo", &named[..2]),
            "moderate right pleural effusion. pneumothorax at the left lung."
        );
        assert_eq!(agree_with_findings("small left pneumo", &named[1..2]), "pneumothorax at the left lung.");
    }

    #[test]
    fn sentences_keep_decimals_and_list_numbers() {
        let found = sentences(" a 5. 9 cm mass. 2. cardiomegaly. 10. x");
        let read: Vec<(bool, &str)> = found.iter().map(|s| (s.numbered, s.text.as_str())).collect();
        assert_eq!(read, [(false, "a 5. 9 cm mass."), (true, "cardiomegaly."), (true, "x")]);
        assert_eq!(impression_cue("a. impression : b."), Some(3..15));
        assert_eq!(impression_cue("no impression here"), None);
    }
}
