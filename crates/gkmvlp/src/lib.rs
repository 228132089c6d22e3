//! GK-MVLP (Deng et al., *Grounded Knowledge-Enhanced Medical Vision-Language Pre-training for Chest
//! X-Ray*, arXiv 2404.14750) in burn: one crate used by the CLI, the trainer and the browser alike.
//!
//! Three parts, one folder each:
//! - [`network`]: the model, each box of the paper's figure one file named after it;
//! - [`storage`]: weights folders, int8 packing and the all-MiniLM-L6-v2 import;
//! - [`inference`]: what a user asks of one image (findings, reports, answers), with greedy generation.
//!
//! Beside them, what all three share: the configuration, the tokenizer and the text protocol (the cues
//! and templates the decoder is trained on and prompted with).

pub mod config;
pub mod error;
pub mod inference;
pub mod network;
pub mod protocol;
pub mod storage;
pub mod tokenizer;

pub use config::{GkMvlpConfig, Grounding};
pub use error::{GkError, Result};
pub use gkmvlp_vocab as vocab;
pub use network::model::{GkMvlp, ImageEncoding, RegionPooling};
