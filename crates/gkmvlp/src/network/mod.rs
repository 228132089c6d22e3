//! The network, in the order the data flows: image → E_I → region head → region tokens → GK module (with
//! E_T's knowledge tokens) → ECLS head; the visual memory → ITM head and report decoder; ITC beside them.
//! [`model`] wires the boxes together.

pub mod attention;
pub mod contrastive;
pub mod decoder_block;
pub mod decoder_vocabulary;
pub mod ecls_head;
pub mod gk_module;
pub mod image_encoder;
pub mod itm_head;
pub mod knowledge;
pub mod model;
pub mod region_head;
pub mod region_tokens;
pub mod report_decoder;
pub mod text_transformer;
