//! Dataset records and their readers: the unit the trainer consumes ([`Record`]), read from the
//! simulator's JSONL layout or from MIMIC-CXR-JPG + Chest ImaGenome silver; NIH ChestX-ray14's
//! image-level labels ([`NihRecord`]); and the small seeded RNG ([`rng::Rng`]) the simulator and the
//! trainer share. Plain serde types only: no simulator types, no burn.
//!
//! API used by the rest of the project:
//! - [`read_dataset`]`(dir) -> Result<Vec<Record>, DataError>`: a simulated dataset (`manifest.json`)
//!   or the MIMIC-CXR-JPG + Chest ImaGenome silver layout, into the same [`Record`], image paths
//!   absolute. [`read_simulated`] and [`read_imagenome`] read one layout each.
//! - [`Record`] (one JSONL line), with [`ReportText`], [`Finding`] (with [`Side`], [`Severity`]) and
//!   [`Qa`]: the simulator (`gkmvlp-sim`) writes them, byte for byte in this serde layout.
//! - [`read_nih`]`(dir) -> Result<Vec<NihRecord>, DataError>`: NIH ChestX-ray14 image-level labels from
//!   a folder with `labels.csv` ([`read_nih_labels_csv`]) or NIH's own `Data_Entry_2017*.csv` and
//!   its images ([`read_nih_data_entry`]), mapped onto the vocabulary's entities.
//! - [`rng::Rng`]: SplitMix64-seeded xoshiro256**, the same sequence on every platform.

pub mod nih;
pub mod read;
pub mod record;
pub mod rng;

pub use nih::{Label, NihRecord, read_nih, read_nih_data_entry, read_nih_labels_csv};
pub use read::{read_dataset, read_imagenome, read_simulated};
pub use record::{Finding, Qa, Record, ReportText, SPLITS, Severity, Side};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("bad dataset file {path}: {msg}")]
    Dataset { path: PathBuf, msg: String },
    #[error("image error on {path}: {msg}")]
    Image { path: PathBuf, msg: String },
}
