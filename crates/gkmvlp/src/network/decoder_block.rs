//! The pre-norm transformer-decoder layer that the region head and the GK module share: queries attend to
//! each other, then (optionally masked) to a memory, then a feed-forward network, each with a residual.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::network::attention::{Attention, AttentionConfig, KeyMask};
use crate::network::image_encoder::{FeedForward, FeedForwardConfig};

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

/// A decoder layer `width` wide with `heads` heads, reading a memory as wide.
#[derive(Debug, Clone)]
pub struct DecoderBlockConfig {
    pub width: usize,
    pub heads: usize,
}

impl DecoderBlockConfig {
    pub fn init(&self, device: &Device) -> DecoderBlock {
        let width = self.width;
        let norm = || LayerNormConfig::new(width).init(device);
        let linear = || LinearConfig::new(width, width).init(device);
        let attention = || AttentionConfig { width, memory_width: width, heads: self.heads }.init(device);
        DecoderBlock {
            self_attention_norm: norm(),
            self_attention: attention(),
            self_attention_output: linear(),
            cross_attention_norm: norm(),
            cross_attention: attention(),
            cross_attention_output: linear(),
            ffn_norm: norm(),
            ffn: FeedForwardConfig { width, hidden: 2 * width }.init(device),
        }
    }
}

impl DecoderBlock {
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
