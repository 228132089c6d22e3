//! Weights on disk and in the browser's cache: the model folder format, int8 packing, and the import of
//! all-MiniLM-L6-v2's BERT weights into the text encoder and decoder.

pub mod int8;
pub mod minilm;
pub mod weights;
