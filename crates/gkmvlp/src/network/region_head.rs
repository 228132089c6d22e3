//! The region head: 29 learned queries, one per Chest ImaGenome region, read the patch tokens through a
//! small transformer decoder and each predicts its region's box. Query `i` is region `i`, so no matching
//! is needed in training (L1 + GIoU against the true box of the same region).

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{
    Device, Tensor,
    activation::{relu, sigmoid},
};
use gkmvlp_vocab::NUM_REGIONS;

use crate::network::decoder_block::{DecoderBlock, DecoderBlockConfig};

#[derive(Module, Debug)]
pub struct RegionHead {
    /// `[1, 29, width]`, one learned query per region.
    pub queries: Param<Tensor<3>>,
    pub layers: Vec<DecoderBlock>,
    pub box_norm: LayerNorm,
    pub box_hidden: Linear,
    /// Predicts `(cx, cy, w, h)` before the sigmoid.
    pub box_output: Linear,
}

/// `layers` decoder layers `width` wide with `heads` heads, reading patch tokens as wide.
#[derive(Debug, Clone)]
pub struct RegionHeadConfig {
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
}

impl RegionHeadConfig {
    pub fn init(&self, device: &Device) -> RegionHead {
        let width = self.width;
        let layer = DecoderBlockConfig { width, heads: self.heads };
        RegionHead {
            queries: Initializer::Normal { mean: 0.0, std: 0.02 }.init([1, NUM_REGIONS, width], device),
            layers: (0..self.layers).map(|_| layer.init(device)).collect(),
            box_norm: LayerNormConfig::new(width).init(device),
            box_hidden: LinearConfig::new(width, width).init(device),
            box_output: LinearConfig::new(width, 4).init(device),
        }
    }
}

impl RegionHead {
    /// `patches`: `[batch, grid², width]` → boxes `[batch, 29, 4]` as `(x0, y0, x1, y1)` in [0, 1] image
    /// coordinates (x to the right, y down).
    pub fn forward(&self, patches: Tensor<3>) -> Tensor<3> {
        let [batch, _, width] = patches.dims();
        let mut x = self.queries.val().expand([batch, NUM_REGIONS, width]);
        for layer in &self.layers {
            x = layer.forward(x, patches.clone(), None).0;
        }
        let raw = self.box_output.forward(relu(self.box_hidden.forward(self.box_norm.forward(x))));
        center_size_to_corners(sigmoid(raw))
    }
}

/// `(cx, cy, w, h)` → `(x0, y0, x1, y1)`, clamped to the image. `[..., 4]` both.
pub fn center_size_to_corners(boxes: Tensor<3>) -> Tensor<3> {
    let center = boxes.clone().narrow(2, 0, 2);
    let half = boxes.narrow(2, 2, 2).div_scalar(2.0);
    Tensor::cat(vec![center.clone() - half.clone(), center + half], 2).clamp(0.0, 1.0)
}
