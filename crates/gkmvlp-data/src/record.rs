//! The dataset record: one image with its ground truth, as one JSONL line of a simulated dataset and as
//! what every reader returns.

use gkmvlp_vocab::{Entity, candidates};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The splits of a simulated dataset, in file order (`{split}.jsonl`).
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// One image with its ground truth: the unit the trainer consumes, for simulated and real data alike.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Image path; relative to the dataset folder in the file, absolute after [`crate::read_dataset`].
    pub image: PathBuf,
    pub split: String,
    /// "PA", "AP" (or what the source says).
    pub view: String,
    pub width: u32,
    pub height: u32,
    pub report: ReportText,
    /// The 29 boxes in vocabulary order, normalised (x0, y0, x1, y1); None where the source has none.
    pub boxes: Vec<Option<[f32; 4]>>,
    /// For every `gkmvlp_vocab::candidates()` entry: 1 present, 0 absent, -1 unknown.
    pub exist: Vec<i8>,
    /// Per entity (`Entity::ALL` order), where the source labels whole images only (NIH ChestX-ray14):
    /// 1 present somewhere, 0 absent, -1 unknown. Empty where `exist` says it all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_labels: Vec<i8>,
    /// Simulated findings (empty for real data).
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub qa: Vec<Qa>,
    /// "simulated" or "mimic-cxr+chest-imagenome".
    pub source: String,
    /// Generator parameters (simulated) or source identifiers (real).
    #[serde(default)]
    pub params: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReportText {
    pub findings: String,
    pub impression: String,
}

impl Record {
    /// Present (entity, position) pairs by name.
    pub fn present(&self) -> Vec<(String, String)> {
        candidates()
            .iter()
            .zip(&self.exist)
            .filter(|(_, e)| **e == 1)
            .map(|(c, _)| (c.entity.name().to_string(), c.position.name().to_string()))
            .collect()
    }
}

/// A finding of a simulated study, as the record stores it (the simulator's `Finding` with its kind as
/// text).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// The simulator's finding kind in snake case ("pleural_effusion", "lung_nodule", …).
    pub kind: String,
    /// The entity's [`Entity::index`]; see [`Finding::entity`].
    pub entity: usize,
    pub name: String,
    pub side: Side,
    pub severity: Severity,
    /// Largest diameter (nodules, masses), mm.
    pub size_mm: Option<f32>,
    /// Number of lesions (nodules); 1 otherwise.
    pub count: u32,
    /// Regions (vocabulary names) where it is present: its present triplets.
    pub positions: Vec<String>,
    /// Free-form descriptors used by the report (e.g. "air bronchograms", "tip at the cavoatrial junction").
    pub details: Vec<String>,
}

impl Finding {
    /// The vocabulary entity its `entity` number names (None for a number outside the vocabulary).
    pub fn entity(&self) -> Option<Entity> {
        Entity::from_index(self.entity)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Right,
    Left,
    Bilateral,
    Midline,
}

impl Side {
    pub fn word(self) -> &'static str {
        match self {
            Side::Right => "right",
            Side::Left => "left",
            Side::Bilateral => "bilateral",
            Side::Midline => "midline",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
}

/// One question–answer pair about an image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Qa {
    pub kind: String,
    pub question: String,
    pub answer: String,
    /// The asked entity's [`Entity::index`], if the question is about one; see [`Qa::entity`].
    pub entity: Option<usize>,
}

impl Qa {
    /// The vocabulary entity the question asks about, if any.
    pub fn entity(&self) -> Option<Entity> {
        self.entity.and_then(Entity::from_index)
    }
}
