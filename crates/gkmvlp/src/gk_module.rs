//! The grounded knowledge-enhanced (GK) module: a transformer decoder whose queries are the knowledge
//! tokens and whose keys and values are the global [CLS] token and the 29 region tokens. The grounding mask
//! lets each knowledge token read only the region its triplet names (and [CLS]), which is what aligns
//! knowledge with anatomical region-level features instead of the whole, redundant image.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::Grounding;
use crate::decoder_block::DecoderBlock;
use crate::knowledge::grounding_mask;

#[derive(Module, Debug)]
pub struct GkModule {
    /// Knowledge sentence features (text width) into the visual width.
    pub knowledge_proj: Linear,
    /// The position of each triplet, added to its knowledge token.
    pub position_embedding: Embedding,
    pub layers: Vec<DecoderBlock>,
    pub final_norm: LayerNorm,
    #[module(skip)]
    pub grounding: Grounding,
}

/// Grounded knowledge tokens and where they looked.
#[derive(Debug, Clone)]
pub struct GkOutput {
    /// `[batch, candidates, width]`
    pub tokens: Tensor<3>,
    /// `[batch, candidates, 1 + 29]`: last layer's cross-attention, averaged over heads; key 0 is [CLS].
    pub region_attention: Tensor<3>,
}

impl GkModule {
    pub fn new(text_width: usize, width: usize, heads: usize, layers: usize, grounding: Grounding, device: &Device) -> Self {
        GkModule {
            knowledge_proj: LinearConfig::new(text_width, width).init(device),
            position_embedding: EmbeddingConfig::new(gkmvlp_vocab::NUM_REGIONS, width).init(device),
            layers: (0..layers).map(|_| DecoderBlock::new(width, heads, device)).collect(),
            final_norm: LayerNormConfig::new(width).init(device),
            grounding,
        }
    }

    /// `sentence_features`: `[candidates, text_width]`; `positions`: region index of each candidate;
    /// `cls`: `[batch, width]`; `region_tokens`: `[batch, 29, width]`.
    pub fn forward(&self, sentence_features: Tensor<2>, positions: &[usize], cls: Tensor<2>, region_tokens: Tensor<3>) -> GkOutput {
        let [batch, width] = cls.dims();
        let candidates = positions.len();
        let device = cls.device();
        let position_ids = Tensor::<2, Int>::from_data(
            TensorData::new(positions.iter().map(|&p| p as i64).collect::<Vec<_>>(), [1, candidates]),
            &device,
        );
        let queries = self.knowledge_proj.forward(sentence_features.unsqueeze_dim::<3>(0))
            + self.position_embedding.forward(position_ids);
        let mut x = queries.expand([batch, candidates, width]);
        let memory = Tensor::cat(vec![cls.unsqueeze_dim::<3>(1), region_tokens], 1);
        let mask = match self.grounding {
            Grounding::Grounded => Some(grounding_mask(positions, &device)),
            Grounding::Ungrounded => None,
        };

        let mut region_attention = None;
        for layer in &self.layers {
            let (next, weights) = layer.forward(x, memory.clone(), mask.clone());
            x = next;
            region_attention = Some(weights);
        }
        let keys = memory.dims()[1];
        let region_attention = match region_attention {
            Some(weights) => weights.mean_dim(1).reshape([batch, candidates, keys]),
            None => Tensor::zeros([batch, candidates, keys], &device),
        };
        GkOutput { tokens: self.final_norm.forward(x), region_attention }
    }
}
