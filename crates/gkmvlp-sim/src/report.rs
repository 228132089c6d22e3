//! Reports (FINDINGS and IMPRESSION) and question–answer pairs generated from the study's ground truth.
//! Every sentence carries the claims it makes, so its agreement with the triplets can be checked.

use crate::findings::{Finding, Severity, Side, lateral};
use crate::rng::Rng;
use gkmvlp_vocab::{Entity, Region, candidates, join_names, most_specific, side_of};
use serde::{Deserialize, Serialize};

/// One claim a sentence makes: an entity is present (at least at these positions) or absent (at these
/// positions, or anywhere when `positions` is empty).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// Stored as its number, as the sentences in a record's `params` always have been.
    #[serde(with = "gkmvlp_vocab::entity_as_index")]
    pub entity: Entity,
    pub present: bool,
    pub positions: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sentence {
    pub section: String,
    pub text: String,
    pub claims: Vec<Claim>,
    pub hedged: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub findings: String,
    pub impression: String,
    pub sentences: Vec<Sentence>,
}

pub use gkmvlp_data::Qa;

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn number_word(n: u32) -> &'static str {
    match n {
        0 => "no",
        1 => "one",
        2 => "two",
        3 => "three",
        4 => "four",
        _ => "several",
    }
}

/// Severity word for an entity: effusions and pneumothoraces are small/moderate/large, others mild/…/severe.
pub fn severity_word(k: Entity, s: Severity) -> &'static str {
    let size_like = matches!(k, Entity::PleuralEffusion | Entity::Pneumothorax);
    match (size_like, s) {
        (true, Severity::Mild) => "small",
        (true, Severity::Moderate) => "moderate",
        (true, Severity::Severe) => "large",
        (false, Severity::Mild) => "mild",
        (false, Severity::Moderate) => "moderate",
        (false, Severity::Severe) => "severe",
    }
}

fn side_adj(f: &Finding) -> &'static str {
    match f.side {
        Side::Right => "right",
        Side::Left => "left",
        Side::Bilateral => "bilateral",
        Side::Midline => "",
    }
}

fn present_claim(f: &Finding, positions: &[Region]) -> Claim {
    Claim { entity: f.entity, present: true, positions: positions.iter().map(|r| r.name().to_string()).collect() }
}

fn absent_claim(k: Entity) -> Claim {
    Claim { entity: k, present: false, positions: Vec::new() }
}

/// The positive sentence for one finding.
fn describe(f: &Finding, rng: &mut Rng, hedge: bool) -> (String, Vec<Region>) {
    let sev = severity_word(f.entity, f.severity);
    let spec = most_specific(&f.regions());
    let where_ = join_names(&spec);
    let side = side_adj(f);
    let hedge_pre = if hedge { *rng.pick(&["possible ", "probable ", "likely "]) } else { "" };
    let text = match f.entity {
        Entity::PleuralEffusion => {
            let eff = if f.side == Side::Bilateral { "pleural effusions" } else { "pleural effusion" };
            match rng.below(3) {
                0 => format!(
                    "There is a {sev} {side} {eff} with blunting of the costophrenic angle{}.",
                    if f.side == Side::Bilateral { "s" } else { "" }
                ),
                1 => format!("{} {side} {eff}.", cap(sev)),
                _ => format!(
                    "{} {side} {eff}{}.",
                    cap(sev),
                    if f.details.iter().any(|d| d == "meniscus") { ", with a meniscus" } else { "" }
                ),
            }
        }
        Entity::Pneumothorax => match rng.below(3) {
            0 => format!("There is a {sev} {side} pneumothorax with a visible visceral pleural line."),
            1 => format!("{} {side} apical pneumothorax.", cap(sev)),
            _ => format!("A {sev} {side} pneumothorax is present, without lung markings beyond the pleural line."),
        },
        Entity::Consolidation => match rng.below(3) {
            0 => format!(
                "{}onsolidation in the {where_} with air bronchograms.",
                if hedge { format!("{}c", cap(hedge_pre)) } else { "C".into() }
            ),
            1 => format!(
                "There is {hedge_pre}{} consolidation in the {where_}.",
                if hedge { "focal" } else { "airspace" }
            ),
            _ => format!("{} airspace consolidation is seen in the {where_}.", cap(&format!("{hedge_pre}focal"))),
        },
        Entity::Atelectasis => match rng.below(3) {
            0 => format!(
                "{} atelectasis in the {where_}.",
                cap(&format!(
                    "{hedge_pre}{}",
                    if f.severity == Severity::Mild { "subsegmental" } else { "plate-like" }
                ))
            ),
            1 => format!(
                "There is {hedge_pre}{sev} atelectasis in the {where_}{}.",
                if f.details.iter().any(|d| d == "volume loss") { " with volume loss" } else { "" }
            ),
            _ => format!("{} atelectasis of the {where_}.", cap(&format!("{hedge_pre}{sev}"))),
        },
        Entity::LungNodule => {
            let size = f.size_mm.unwrap_or(10.0);
            if f.count > 1 {
                format!(
                    "{} {}pulmonary nodules in the {where_}, the largest measuring {size:.0} mm.",
                    cap(number_word(f.count)),
                    if hedge { "possible " } else { "" }
                )
            } else if rng.chance(0.5) {
                format!("A {size:.0} mm {}nodule is seen in the {where_}.", if hedge { "possible " } else { "" })
            } else {
                format!("{}{size:.0} mm nodule in the {where_}.", if hedge { "Possible " } else { "" })
            }
        }
        Entity::LungMass => {
            let cm = f.size_mm.unwrap_or(40.0) / 10.0;
            format!("{} {cm:.1} cm mass in the {where_}.", if hedge { "Possible" } else { "A" })
        }
        Entity::EnlargedCardiacSilhouette => match rng.below(3) {
            0 => "The cardiac silhouette is enlarged.".to_string(),
            1 => format!("{} cardiomegaly.", cap(sev)),
            _ => format!("{} enlargement of the cardiac silhouette.", cap(sev)),
        },
        Entity::PulmonaryEdema => match rng.below(2) {
            0 => format!("{} pulmonary edema with perihilar haziness.", cap(&format!("{hedge_pre}{sev}"))),
            _ => format!("There is {hedge_pre}{sev} bilateral perihilar pulmonary edema."),
        },
        Entity::EnlargedHilum => match rng.below(2) {
            0 => format!("The {side} hilum is {}enlarged.", if hedge { "possibly " } else { "" }),
            _ => format!("{} enlargement of the {side} hilum.", cap(&format!("{hedge_pre}{sev}"))),
        },
        Entity::MediastinalWidening => match rng.below(2) {
            0 => "The upper mediastinum is widened.".to_string(),
            _ => format!("{} widening of the mediastinum.", cap(sev)),
        },
        Entity::ElevatedHemidiaphragm => match rng.below(2) {
            0 => format!("Elevation of the {side} hemidiaphragm."),
            _ => format!("The {side} hemidiaphragm is elevated."),
        },
        Entity::Hyperaeration => match rng.below(2) {
            0 => "The lungs are hyperinflated with flattening of the hemidiaphragms.".to_string(),
            _ => "Hyperaeration of both lungs.".to_string(),
        },
        Entity::EndotrachealTube => {
            let tip = f.details.iter().find(|d| d.starts_with("tip")).cloned().unwrap_or_default();
            if f.positions.iter().any(|p| p == "carina") {
                "The endotracheal tube tip is at the level of the carina; withdrawal by 2 cm is suggested.".to_string()
            } else {
                format!("An endotracheal tube is in place, {tip}.")
            }
        }
        Entity::CentralVenousCatheter => {
            let tip = f.details.iter().find(|d| d.starts_with("tip")).cloned().unwrap_or_default();
            format!(
                "{} central venous catheter with the {tip}.",
                if rng.chance(0.5) { "Right internal jugular" } else { "Right-sided" }
            )
        }
    };
    let claim_pos = match f.entity {
        Entity::PleuralEffusion | Entity::Pneumothorax | Entity::EnlargedHilum | Entity::ElevatedHemidiaphragm => {
            Vec::new()
        }
        _ => spec,
    };
    (text.replace("  ", " "), claim_pos)
}

/// Short impression phrase for a finding.
fn impression_phrase(f: &Finding) -> String {
    let sev = severity_word(f.entity, f.severity);
    let spec = join_names(&most_specific(&f.regions()));
    match f.entity {
        Entity::PleuralEffusion => {
            format!("{} {} pleural effusion{}", cap(sev), side_adj(f), if f.side == Side::Bilateral { "s" } else { "" })
        }
        Entity::Pneumothorax => format!("{} {} pneumothorax", cap(sev), side_adj(f)),
        Entity::Consolidation => format!("Consolidation in the {spec}, concerning for pneumonia"),
        Entity::Atelectasis => format!("Atelectasis in the {spec}"),
        Entity::LungNodule => format!(
            "{} in the {spec}; CT recommended",
            if f.count > 1 { "Pulmonary nodules" } else { "Pulmonary nodule" }
        ),
        Entity::LungMass => format!("Mass in the {spec}; further evaluation with CT recommended"),
        Entity::EnlargedCardiacSilhouette => "Cardiomegaly".into(),
        Entity::PulmonaryEdema => format!("{} pulmonary edema", cap(sev)),
        Entity::EnlargedHilum => format!("Enlarged {} hilum", side_adj(f)),
        Entity::MediastinalWidening => "Mediastinal widening".into(),
        Entity::ElevatedHemidiaphragm => format!("Elevated {} hemidiaphragm", side_adj(f)),
        Entity::Hyperaeration => "Hyperinflated lungs".into(),
        Entity::EndotrachealTube => {
            if f.positions.iter().any(|p| p == "carina") {
                "Low endotracheal tube at the carina".into()
            } else {
                "Endotracheal tube in appropriate position".into()
            }
        }
        Entity::CentralVenousCatheter => format!(
            "Central venous catheter, {}",
            f.details.iter().find(|d| d.starts_with("tip")).cloned().unwrap_or_default()
        ),
    }
}

/// Negative statements that may be made about entities that are absent; each lists what it negates.
const NEGATIONS: &[(&[Entity], &[&str])] = &[
    (&[Entity::Pneumothorax], &["No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."]),
    (
        &[Entity::PleuralEffusion],
        &[
            "No pleural effusion.",
            "There is no pleural effusion.",
            "The costophrenic angles are sharp, without pleural effusion.",
        ],
    ),
    (
        &[Entity::PleuralEffusion, Entity::Pneumothorax],
        &["No pleural effusion or pneumothorax.", "There is no pleural effusion or pneumothorax."],
    ),
    (&[Entity::Consolidation], &["No focal consolidation.", "There is no consolidation."]),
    (&[Entity::PulmonaryEdema], &["No pulmonary edema.", "There is no pulmonary edema."]),
    (
        &[Entity::EnlargedCardiacSilhouette],
        &["Heart size is normal.", "The cardiac silhouette is normal in size.", "No cardiomegaly."],
    ),
    (
        &[Entity::MediastinalWidening, Entity::EnlargedHilum, Entity::PulmonaryEdema],
        &["The mediastinal and hilar contours are normal.", "Normal mediastinal and hilar contours."],
    ),
    (&[Entity::LungNodule, Entity::LungMass], &["No suspicious pulmonary nodule or mass.", "No focal nodule or mass."]),
    (
        &[Entity::Consolidation, Entity::PulmonaryEdema, Entity::Atelectasis, Entity::LungNodule, Entity::LungMass],
        &["The lungs are clear.", "The lungs are well expanded and clear."],
    ),
];

/// Generate the report.
pub fn report(findings: &[Finding], view: &str, rng: &mut Rng, hedge_share: f64) -> Report {
    let mut sentences: Vec<Sentence> = Vec::new();
    if rng.chance(0.4) {
        let intro = if view == "AP" {
            *rng.pick(&["Single portable AP view of the chest.", "AP upright view of the chest."])
        } else {
            *rng.pick(&["PA view of the chest.", "Frontal PA radiograph of the chest."])
        };
        sentences.push(sentence("findings", intro.to_string(), Vec::new()));
    }
    // Devices first, then the rest in a stable, shuffled-a-little order.
    let mut order: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.entity, Entity::EndotrachealTube | Entity::CentralVenousCatheter))
        .collect();
    let mut rest: Vec<&Finding> = findings
        .iter()
        .filter(|f| !matches!(f.entity, Entity::EndotrachealTube | Entity::CentralVenousCatheter))
        .collect();
    for i in (1..rest.len()).rev() {
        rest.swap(i, rng.below(i + 1));
    }
    order.extend(rest);
    for f in &order {
        let hedgeable = matches!(
            f.entity,
            Entity::Consolidation
                | Entity::Atelectasis
                | Entity::LungNodule
                | Entity::LungMass
                | Entity::PulmonaryEdema
                | Entity::EnlargedHilum
        );
        let hedge = hedgeable && rng.chance(hedge_share);
        let (text, pos) = describe(f, rng, hedge);
        let pos_regions: Vec<Region> = pos.iter().filter_map(|p| Region::from_name(p.name())).collect();
        let claims = vec![present_claim(f, &pos_regions)];
        sentences.push(Sentence { section: "findings".into(), text, claims, hedged: hedge });
    }
    sentences.extend(negations(findings, rng));
    sentences.extend(impression(findings, &order, rng));
    let join =
        |sec: &str| sentences.iter().filter(|s| s.section == sec).map(|s| s.text.clone()).collect::<Vec<_>>().join(" ");
    Report { findings: join("findings"), impression: join("impression"), sentences }
}

/// An unhedged sentence.
fn sentence(section: &str, text: String, claims: Vec<Claim>) -> Sentence {
    Sentence { section: section.into(), text, claims, hedged: false }
}

/// FINDINGS' negations of absent entities: four for normal studies, one to three otherwise, none negating a
/// entity twice.
fn negations(findings: &[Finding], rng: &mut Rng) -> Vec<Sentence> {
    let present = |k: Entity| findings.iter().any(|f| f.entity == k);
    let mut negs: Vec<usize> = (0..NEGATIONS.len()).filter(|&i| NEGATIONS[i].0.iter().all(|k| !present(*k))).collect();
    for i in (1..negs.len()).rev() {
        negs.swap(i, rng.below(i + 1));
    }
    let keep = if findings.is_empty() { 4 } else { 1 + rng.below(3) };
    let mut covered: Vec<Entity> = Vec::new();
    let mut out = Vec::new();
    for i in negs {
        if out.len() >= keep {
            break;
        }
        let (kinds, texts) = NEGATIONS[i];
        if kinds.iter().any(|k| covered.contains(k)) {
            continue;
        }
        covered.extend(kinds.iter().copied());
        out.push(sentence("findings", rng.pick(texts).to_string(), kinds.iter().map(|k| absent_claim(*k)).collect()));
    }
    out
}

/// IMPRESSION: one phrase per finding in FINDINGS' order (numbered half the time), or a normal study's
/// sentence.
fn impression(findings: &[Finding], order: &[&Finding], rng: &mut Rng) -> Vec<Sentence> {
    if findings.is_empty() {
        let t = *rng.pick(&[
            "No acute cardiopulmonary process.",
            "No acute cardiopulmonary abnormality.",
            "Normal chest radiograph.",
        ]);
        let claims = [Entity::PleuralEffusion, Entity::Pneumothorax, Entity::Consolidation, Entity::PulmonaryEdema]
            .iter()
            .map(|k| absent_claim(*k))
            .collect();
        return vec![sentence("impression", t.to_string(), claims)];
    }
    let numbered = findings.len() > 1 && rng.chance(0.5);
    order
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = impression_phrase(f);
            let t = if numbered { format!("{}. {p}.", i + 1) } else { format!("{p}.") };
            sentence("impression", t, vec![present_claim(f, &[])])
        })
        .collect()
}

/// Everyday names for the entities, used in questions.
pub fn entity_word(k: Entity) -> &'static str {
    match k {
        Entity::PleuralEffusion => "pleural effusion",
        Entity::Consolidation => "consolidation",
        Entity::Atelectasis => "atelectasis",
        Entity::LungNodule => "lung nodule",
        Entity::LungMass => "lung mass",
        Entity::Pneumothorax => "pneumothorax",
        Entity::EnlargedCardiacSilhouette => "cardiomegaly",
        Entity::PulmonaryEdema => "pulmonary edema",
        Entity::EnlargedHilum => "enlarged hilum",
        Entity::MediastinalWidening => "mediastinal widening",
        Entity::ElevatedHemidiaphragm => "elevated hemidiaphragm",
        Entity::Hyperaeration => "hyperaeration",
        Entity::EndotrachealTube => "endotracheal tube",
        Entity::CentralVenousCatheter => "central venous catheter",
    }
}

/// Question–answer pairs: presence, one region question, the findings' own (side, zone, size, count,
/// severity), and an open one.
pub fn qa(findings: &[Finding], exist: &[u8], rng: &mut Rng) -> Vec<Qa> {
    let mut out = presence_questions(findings, rng);
    out.push(region_question(exist, rng));
    for f in findings {
        out.extend(finding_questions(f, rng));
    }
    let names: Vec<&str> = findings.iter().map(|f| f.entity.name()).collect();
    out.push(Qa {
        kind: "open".into(),
        question: (*rng.pick(&[
            "What abnormalities are seen?",
            "What are the findings?",
            "Describe the abnormalities in this radiograph.",
        ]))
        .into(),
        answer: if names.is_empty() { "none".into() } else { names.join(", ") },
        entity: None,
    });
    out
}

/// Presence questions on two or three entities, present ones favoured.
fn presence_questions(findings: &[Finding], rng: &mut Rng) -> Vec<Qa> {
    let find = |k: Entity| findings.iter().find(|f| f.entity == k);
    let mut kinds: Vec<Entity> = Entity::ALL.to_vec();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i + 1));
    }
    let mut asked: Vec<Entity> = findings.iter().map(|f| f.entity).take(2).collect();
    for k in kinds {
        if asked.len() >= 3 {
            break;
        }
        if !asked.contains(&k) {
            asked.push(k);
        }
    }
    let mut out = Vec::new();
    for k in asked {
        let w = entity_word(k);
        let q = match rng.below(3) {
            0 => {
                let countable = matches!(
                    k,
                    Entity::EndotrachealTube
                        | Entity::CentralVenousCatheter
                        | Entity::LungNodule
                        | Entity::LungMass
                        | Entity::PleuralEffusion
                        | Entity::EnlargedHilum
                        | Entity::ElevatedHemidiaphragm
                );
                let art = if !countable {
                    "any"
                } else if w.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                format!("Is there {art} {w}?")
            }
            1 => format!("Is {w} present?"),
            _ => format!("Does the image show {w}?"),
        };
        out.push(Qa {
            kind: "presence".into(),
            question: q,
            answer: if find(k).is_some() { "yes" } else { "no" }.into(),
            entity: Some(k.index()),
        });
    }
    out
}

/// A region-level question on a random candidate (half the time a present one).
fn region_question(exist: &[u8], rng: &mut Rng) -> Qa {
    let cands = candidates();
    let present_idx: Vec<usize> = (0..cands.len()).filter(|&i| exist.get(i) == Some(&1)).collect();
    let ci = if !present_idx.is_empty() && rng.chance(0.5) { *rng.pick(&present_idx) } else { rng.below(cands.len()) };
    let c = cands[ci];
    Qa {
        kind: "region".into(),
        question: format!("Is there {} in the {}?", c.entity.name(), c.position.name()),
        answer: if exist.get(ci) == Some(&1) { "yes" } else { "no" }.into(),
        entity: Some(c.entity.index()),
    }
}

/// One finding's own questions: its side, its zone, its size and count, or its severity.
fn finding_questions(f: &Finding, rng: &mut Rng) -> Vec<Qa> {
    let mut out = Vec::new();
    let w = entity_word(f.entity);
    if lateral(f.entity) || f.entity == Entity::PulmonaryEdema {
        out.push(Qa {
            kind: "side".into(),
            question: format!("Which side is the {w} on?"),
            answer: side_of(&f.regions()).into(),
            entity: Some(f.entity.index()),
        });
    }
    if matches!(f.entity, Entity::LungNodule | Entity::LungMass | Entity::Consolidation | Entity::Atelectasis) {
        let spec = most_specific(&f.regions());
        let q = if rng.chance(0.5) { format!("Where is the {w}?") } else { format!("In which zone is the {w}?") };
        out.push(Qa {
            kind: "zone".into(),
            question: q,
            answer: format!("in the {}", join_names(&spec)),
            entity: Some(f.entity.index()),
        });
    }
    match f.entity {
        Entity::LungNodule | Entity::LungMass => {
            out.push(Qa {
                kind: "size".into(),
                question: format!("How large is the {w}?"),
                answer: format!("about {:.0} mm", f.size_mm.unwrap_or(0.0)),
                entity: Some(f.entity.index()),
            });
            if f.entity == Entity::LungNodule {
                out.push(Qa {
                    kind: "count".into(),
                    question: "How many nodules are there?".into(),
                    answer: number_word(f.count).into(),
                    entity: Some(f.entity.index()),
                });
            }
        }
        Entity::PleuralEffusion | Entity::Pneumothorax => {
            out.push(Qa {
                kind: "size".into(),
                question: format!("How large is the {w}?"),
                answer: severity_word(f.entity, f.severity).into(),
                entity: Some(f.entity.index()),
            });
        }
        Entity::EnlargedCardiacSilhouette | Entity::PulmonaryEdema => {
            out.push(Qa {
                kind: "severity".into(),
                question: format!("How severe is the {w}?"),
                answer: severity_word(f.entity, f.severity).into(),
                entity: Some(f.entity.index()),
            });
        }
        _ => {}
    }
    out
}
