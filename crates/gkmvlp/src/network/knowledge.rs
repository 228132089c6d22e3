//! Knowledge: every anatomically possible (entity, position) candidate becomes a sentence
//! (`pleural effusion at the left costophrenic angle`) that the text encoder turns into a knowledge token.
//! The candidate list itself lives in `gkmvlp-vocab`; this file only says how it is encoded. The sentences
//! are fixed, so their encodings are computed once per model and reused for every image.

use burn::tensor::{Bool, Device, Tensor, TensorData};
use gkmvlp_vocab::{Candidate, NUM_REGIONS, candidates};

use crate::error::Result;
use crate::network::text_transformer::{TextMode, TextTransformer, mean_pool};
use crate::tokenizer::TextTokenizer;

/// The candidate triplets and their encoded sentences.
#[derive(Debug, Clone)]
pub struct Knowledge {
    pub candidates: Vec<Candidate>,
    /// `[candidates, text_width]`: each sentence's mean-pooled states from the text encoder.
    pub sentence_features: Tensor<2>,
}

impl Knowledge {
    /// Encodes every candidate sentence with the unimodal text encoder.
    pub fn encode(
        text_encoder: &TextTransformer,
        tokenizer: &TextTokenizer,
        max_len: usize,
        device: &Device,
    ) -> Result<Self> {
        let candidates = candidates();
        let sentences: Vec<String> = candidates.iter().map(Candidate::sentence).collect();
        let batch = tokenizer.batch(&sentences, max_len, device)?;
        let hidden = text_encoder.forward(batch.ids, batch.mask.clone(), TextMode::Unimodal).hidden;
        Ok(Knowledge { candidates, sentence_features: mean_pool(hidden, batch.mask) })
    }

    /// Region index of each candidate's position.
    pub fn positions(&self) -> Vec<usize> {
        self.candidates.iter().map(|c| c.position.index()).collect()
    }
}

/// The grounding mask of the GK module: `[1, 1, candidates, 1 + 29]`, `true` where candidate `k` may NOT
/// look. Key 0 is the global [CLS] token, key `1 + r` is region `r`; a candidate sees [CLS] and its own region.
pub fn grounding_mask(positions: &[usize], device: &Device) -> Tensor<4, Bool> {
    let keys = 1 + NUM_REGIONS;
    let hidden: Vec<bool> =
        positions.iter().flat_map(|&position| (0..keys).map(move |key| key != 0 && key != 1 + position)).collect();
    Tensor::from_data(TensorData::new(hidden, [1, 1, positions.len(), keys]), device)
}
