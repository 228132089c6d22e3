//! The pre-norm transformer-decoder layer that the region head and the GK module share: queries attend to
//! each other, then (optionally masked) to a memory, then a feed-forward network, each with a residual.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::attention::{Attention, KeyMask};
use crate::image_encoder::FeedForward;

#[derive(Module, Debug)]
pub struct DecoderBlock {
    pub self_attention_norm: LayerNorm,
    pub self_attention: Attention,
    pub self_attention_output: Linear,
    pub cross_attention_norm: LayerNorm,
    pub cross_attention: Attention,
    pub cross_attention_output: Linear,
    pub ffn_norm: LayerNorm,
    pub ffn: FeedForward,
}

impl DecoderBlock {
    pub fn new(width: usize, heads: usize, device: &Device) -> Self {
        let norm = || LayerNormConfig::new(width).init(device);
        let linear = || LinearConfig::new(width, width).init(device);
        DecoderBlock {
            self_attention_norm: norm(),
            self_attention: Attention::new(width, width, heads, device),
            self_attention_output: linear(),
            cross_attention_norm: norm(),
            cross_attention: Attention::new(width, width, heads, device),
            cross_attention_output: linear(),
            ffn_norm: norm(),
            ffn: FeedForward::new(width, 2 * width, device),
        }
    }

    /// `queries`: `[batch, q, width]`, `memory`: `[batch, m, width]`, `mask`: which memory tokens each query
    /// reads. Returns the new queries and the cross-attention weights `[batch, heads, q, m]`.
    pub fn forward(&self, queries: Tensor<3>, memory: Tensor<3>, mask: Option<KeyMask>) -> (Tensor<3>, Tensor<4>) {
        let normed = self.self_attention_norm.forward(queries.clone());
        let attended = self.self_attention.forward(normed.clone(), normed, None).context;
        let x = queries + self.self_attention_output.forward(attended);
        let normed = self.cross_attention_norm.forward(x.clone());
        let cross = self.cross_attention.forward(normed, memory, mask);
        let x = x + self.cross_attention_output.forward(cross.context);
        let ffn = self.ffn.forward(self.ffn_norm.forward(x.clone()));
        (x + ffn, cross.weights)
    }
}
