//! GK-MVLP (Deng et al., *Grounded Knowledge-Enhanced Medical Vision-Language Pre-training for Chest
//! X-Ray*, arXiv 2404.14750) in burn: one crate used by the CLI, the trainer and the browser alike.
//! Each box of the paper's figure is one file, named after it.

pub mod attention;
pub mod closed_question;
pub mod config;
pub mod contrastive;
pub mod decoder_block;
pub mod ecls_head;
pub mod error;
pub mod gk_module;
pub mod image_encoder;
pub mod int8;
pub mod itm_head;
pub mod knowledge;
pub mod model;
pub mod region_head;
pub mod region_tokens;
pub mod report_decoder;
pub mod report_findings;
pub mod text_transformer;
pub mod tokenizer;

pub use config::{GkMvlpConfig, Grounding};
pub use error::{GkError, Result};
pub use gkmvlp_vocab as vocab;
pub use model::{GkMvlp, ImageEncoding, RegionPooling};
pub mod minilm;
pub mod pipeline;
pub mod reference_run;
pub mod weights;
