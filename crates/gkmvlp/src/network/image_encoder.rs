//! E_I, the image encoder: a ViT with one input channel (radiographs are grey), learned position
//! embeddings and pre-norm blocks. It turns an image into a [CLS] token (used by ITC) and a grid of patch
//! tokens (used by the region head, RoIAlign and, as visual memory, by the text encoder and decoder).

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::gelu};

use crate::config::VisionConfig;
use crate::network::attention::{Attention, AttentionConfig};

/// ViT blocks use the common 1e-6 LayerNorm epsilon (timm, DeiT).
const VIT_LAYER_NORM_EPS: f64 = 1e-6;

/// Two-layer feed-forward network with GELU.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub fc1: Linear,
    pub fc2: Linear,
}

/// `width` → `hidden` → `width`.
#[derive(Debug, Clone)]
pub struct FeedForwardConfig {
    pub width: usize,
    pub hidden: usize,
}

impl FeedForwardConfig {
    pub fn init(&self, device: &Device) -> FeedForward {
        FeedForward {
            fc1: LinearConfig::new(self.width, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.width).init(device),
        }
    }
}

impl FeedForward {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(x)))
    }
}

/// Pre-norm transformer block: `x + attn(norm(x))`, then `x + ffn(norm(x))`.
#[derive(Module, Debug)]
pub struct VitBlock {
    pub attention_norm: LayerNorm,
    pub attention: Attention,
    pub attention_output: Linear,
    pub ffn_norm: LayerNorm,
    pub ffn: FeedForward,
}

/// A ViT block `width` wide with `heads` heads and a feed-forward network `hidden` wide.
#[derive(Debug, Clone)]
pub struct VitBlockConfig {
    pub width: usize,
    pub heads: usize,
    pub hidden: usize,
}

impl VitBlockConfig {
    pub fn init(&self, device: &Device) -> VitBlock {
        let width = self.width;
        VitBlock {
            attention_norm: LayerNormConfig::new(width).with_epsilon(VIT_LAYER_NORM_EPS).init(device),
            attention: AttentionConfig { width, memory_width: width, heads: self.heads }.init(device),
            attention_output: LinearConfig::new(width, width).init(device),
            ffn_norm: LayerNormConfig::new(width).with_epsilon(VIT_LAYER_NORM_EPS).init(device),
            ffn: FeedForwardConfig { width, hidden: self.hidden }.init(device),
        }
    }
}

impl VitBlock {
    /// `[batch, tokens, width]` → same shape.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let normed = self.attention_norm.forward(x.clone());
        let attended = self.attention.forward(normed.clone(), normed, None).context;
        let x = x + self.attention_output.forward(attended);
        let ffn = self.ffn.forward(self.ffn_norm.forward(x.clone()));
        x + ffn
    }
}

/// Output of E_I.
#[derive(Debug, Clone)]
pub struct ImageTokens {
    /// `[batch, 1 + grid², width]`: [CLS] first, then the patches row by row.
    pub tokens: Tensor<3>,
    /// Patches along one side.
    pub grid: usize,
}

impl ImageTokens {
    /// The [CLS] token, `[batch, width]`.
    pub fn cls(&self) -> Tensor<2> {
        let [batch, _, width] = self.tokens.dims();
        self.tokens.clone().narrow(1, 0, 1).reshape([batch, width])
    }

    /// The patch tokens, `[batch, grid², width]`.
    pub fn patches(&self) -> Tensor<3> {
        let tokens = self.tokens.dims()[1];
        self.tokens.clone().narrow(1, 1, tokens - 1)
    }
}

#[derive(Module, Debug)]
pub struct ImageEncoder {
    /// Linear embedding of flattened `patch_size²` patches (a stride-p convolution written as a matmul).
    pub patch_embedding: Linear,
    /// `[1, 1, width]`
    pub cls_token: Param<Tensor<3>>,
    /// `[1, 1 + grid², width]`
    pub position_embedding: Param<Tensor<3>>,
    pub blocks: Vec<VitBlock>,
    pub final_norm: LayerNorm,
    pub patch_size: usize,
    pub pixel_mean: f32,
    pub pixel_std: f32,
}

impl VisionConfig {
    pub fn init(&self, device: &Device) -> ImageEncoder {
        let tokens = 1 + self.grid_size() * self.grid_size();
        let small = Initializer::Normal { mean: 0.0, std: 0.02 };
        ImageEncoder {
            patch_embedding: LinearConfig::new(self.patch_size * self.patch_size, self.width).init(device),
            cls_token: small.init([1, 1, self.width], device),
            position_embedding: small.init([1, tokens, self.width], device),
            blocks: (0..self.depth)
                .map(|_| {
                    VitBlockConfig { width: self.width, heads: self.heads, hidden: self.width * self.mlp_ratio }
                        .init(device)
                })
                .collect(),
            final_norm: LayerNormConfig::new(self.width).with_epsilon(VIT_LAYER_NORM_EPS).init(device),
            patch_size: self.patch_size,
            pixel_mean: self.pixel_mean,
            pixel_std: self.pixel_std,
        }
    }
}

impl ImageEncoder {
    /// `images`: `[batch, 1, size, size]`, grey in [0, 1] (0 black).
    pub fn forward(&self, images: Tensor<4>) -> ImageTokens {
        let [batch, _, height, width] = images.dims();
        let p = self.patch_size;
        let grid = height / p;
        debug_assert_eq!(height, width);
        // [b, 1, g·p, g·p] → [b, g, p, g, p] → [b, g, g, p, p] → [b, g², p²]
        let patches = images
            .sub_scalar(self.pixel_mean)
            .div_scalar(self.pixel_std)
            .reshape([batch, grid, p, grid, p])
            .swap_dims(2, 3)
            .reshape([batch, grid * grid, p * p]);
        let patches = self.patch_embedding.forward(patches);
        let cls = self.cls_token.val().expand([batch, 1, patches.dims()[2]]);
        let mut x = Tensor::cat(vec![cls, patches], 1) + self.position_embedding.val();
        for block in &self.blocks {
            x = block.forward(x);
        }
        ImageTokens { tokens: self.final_norm.forward(x), grid }
    }
}
