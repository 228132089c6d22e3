//! Region tokens: RoIAlign of the patch-token grid inside each region box, plus an embedding of the box and
//! of the region's identity. These are the anatomical region-level visual features the GK module grounds
//! knowledge to.
//!
//! RoIAlign here is bilinear sampling written as a matmul: each box is sampled at `s × s` bin centres, a
//! sample's bilinear weight on grid cell `j` is `max(0, 1 - |u - j|)`, and the weights of all samples of a
//! box are averaged into one row of a `[regions, grid²]` matrix. It needs no read-back of the boxes, runs on
//! any backend, and is differentiable.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, activation::relu};
use gkmvlp_vocab::NUM_REGIONS;

#[derive(Module, Debug)]
pub struct RegionTokens {
    /// Embeds `(x0, y0, x1, y1)`.
    pub box_embedding: Linear,
    /// One vector per Chest ImaGenome region.
    pub region_embedding: Embedding,
    pub norm: LayerNorm,
    /// Samples along each side of a box.
    pub samples: usize,
}

/// Region tokens `width` wide, each pooled from `samples × samples` points of its box.
#[derive(Debug, Clone)]
pub struct RegionTokensConfig {
    pub width: usize,
    pub samples: usize,
}

impl RegionTokensConfig {
    pub fn init(&self, device: &Device) -> RegionTokens {
        RegionTokens {
            box_embedding: LinearConfig::new(4, self.width).init(device),
            region_embedding: EmbeddingConfig::new(NUM_REGIONS, self.width).init(device),
            norm: LayerNormConfig::new(self.width).init(device),
            samples: self.samples,
        }
    }
}

impl RegionTokens {
    /// `patches`: `[batch, grid², width]`, `boxes`: `[batch, 29, 4]` → region tokens `[batch, 29, width]`.
    pub fn forward(&self, patches: Tensor<3>, grid: usize, boxes: Tensor<3>) -> Tensor<3> {
        let [batch, regions, _] = boxes.dims();
        let device = boxes.device();
        let pooled = roi_align_weights(boxes.clone(), grid, self.samples).matmul(patches);
        let ids = Tensor::<1, Int>::arange(0..regions as i64, &device).reshape([1, regions]).expand([batch, regions]);
        let x = pooled + self.box_embedding.forward(boxes) + self.region_embedding.forward(ids);
        self.norm.forward(x)
    }
}

/// Averaged bilinear sampling weights of each box over the grid: `[batch, regions, grid²]`, rows summing to 1.
pub fn roi_align_weights(boxes: Tensor<3>, grid: usize, samples: usize) -> Tensor<3> {
    let [batch, regions, _] = boxes.dims();
    let device = boxes.device();
    // Sample positions as fractions of the box: (i + 0.5) / s.
    let fractions = Tensor::<1, Int>::arange(0..samples as i64, &device)
        .float()
        .add_scalar(0.5)
        .div_scalar(samples as f32)
        .reshape([1, 1, samples]);
    let cells = Tensor::<1, Int>::arange(0..grid as i64, &device).float().reshape([1, 1, 1, grid]);

    // Weights along one axis: `[batch, regions, samples, grid]`.
    let axis_weights = |start: Tensor<3>, end: Tensor<3>| {
        let position = start.clone() + (end - start) * fractions.clone(); // [b, r, s] in [0, 1]
        // Grid cell j has its centre at (j + 0.5) / grid; clamp so that samples at the edge keep weight 1.
        let u = position.mul_scalar(grid as f32).sub_scalar(0.5).clamp(0.0, (grid - 1) as f32);
        relu((u.unsqueeze_dim::<4>(3) - cells.clone()).abs().neg().add_scalar(1.0))
    };
    let column = |i: usize| boxes.clone().narrow(2, i, 1);
    let wx = axis_weights(column(0), column(2)); // [b, r, s, g]
    let wy = axis_weights(column(1), column(3));
    // Mean over the s × s samples of wy ⊗ wx equals (mean over s of wy) ⊗ (mean over s of wx).
    let wx = wx.mean_dim(2); // [b, r, 1, g]
    let wy = wy.mean_dim(2).swap_dims(2, 3); // [b, r, g, 1]
    (wy * wx).reshape([batch, regions, grid * grid])
}

/// How far a box overlaps a patch's span, as a share of the patch, before the patch counts whole: below it
/// the patch fades out with the overlap, so a box that moves by a hair moves what its region reads by a
/// hair (with all-or-nothing membership, 1e-4 of the image width across a patch edge moved an ECLS
/// probability from 0.22 to 0.01).
const FULL_OVERLAP: f32 = 0.25;

/// How much of each patch each box holds, in [0, 1]: `[batch, regions, grid²]`. Patch `j` spans
/// `[j / grid, (j + 1) / grid]` on each axis; along an axis a patch counts whole once the box covers
/// [`FULL_OVERLAP`] of its span (or the whole box lies on it, so that a thin box still covers its patch),
/// and in proportion below that; the share is the product of the two axes'. 0 only where the box does
/// not meet the patch.
pub fn patch_shares(boxes: Tensor<3>, grid: usize) -> Tensor<3> {
    let [batch, regions, _] = boxes.dims();
    let device = boxes.device();
    let patch = 1.0 / grid as f32;
    let starts = Tensor::<1, Int>::arange(0..grid as i64, &device)
        .float()
        .mul_scalar(patch)
        .reshape([1, 1, grid])
        .expand([batch, regions, grid]);
    // `[batch, regions, grid]` along one axis.
    let shares = |start: Tensor<3>, end: Tensor<3>| {
        let overlap = (end.clone().expand([batch, regions, grid]).min_pair(starts.clone().add_scalar(patch))
            - start.clone().expand([batch, regions, grid]).max_pair(starts.clone()))
        .clamp_min(0.0);
        let full = (end - start).clamp(f32::MIN_POSITIVE, FULL_OVERLAP * patch).expand([batch, regions, grid]);
        (overlap / full).clamp_max(1.0)
    };
    let column = |i: usize| boxes.clone().narrow(2, i, 1);
    let along_x = shares(column(0), column(2)).unsqueeze_dim::<4>(2); // [b, r, 1, g]
    let along_y = shares(column(1), column(3)).unsqueeze_dim::<4>(3); // [b, r, g, 1]
    (along_y * along_x).reshape([batch, regions, grid * grid])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn weights(corners: [f32; 4], samples: usize) -> Vec<f32> {
        let boxes = Tensor::<3>::from_data(TensorData::new(corners.to_vec(), [1, 1, 4]), &Device::flex());
        roi_align_weights(boxes, 4, samples).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn whole_image_box_spreads_over_every_cell() {
        let whole = weights([0.0, 0.0, 1.0, 1.0], 4);
        assert!((whole.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(whole.iter().all(|&v| (v - 1.0 / 16.0).abs() < 1e-6), "{whole:?}");
    }

    #[test]
    fn box_on_one_cell_samples_that_cell() {
        // x in [0.25, 0.5], y in [0.5, 0.75] is grid cell (row 2, column 1) of a 4 x 4 grid.
        let cell = weights([0.25, 0.5, 0.5, 0.75], 1);
        assert!((cell[2 * 4 + 1] - 1.0).abs() < 1e-6, "{cell:?}");
        let spread = weights([0.25, 0.5, 0.5, 0.75], 3);
        let best = spread.iter().cloned().fold(0.0f32, f32::max);
        assert_eq!(spread[2 * 4 + 1], best);
        assert!((spread.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_box_holds_the_patches_it_overlaps_and_fades_out_of_those_it_grazes() {
        let shares = |corners: [f32; 4]| {
            let boxes = Tensor::<3>::from_data(TensorData::new(corners.to_vec(), [1, 1, 4]), &Device::flex());
            patch_shares(boxes, 4).into_data().try_to_vec::<f32>().unwrap()
        };
        let held = |shares: &[f32]| (0..16).filter(|&j| shares[j] > 0.0).collect::<Vec<_>>();
        // x in [0.3, 0.6] meets columns 1 and 2, each by at least a quarter; y in [0, 0.2] meets row 0 only.
        let box_shares = shares([0.3, 0.0, 0.6, 0.2]);
        assert_eq!(held(&box_shares), vec![1, 2]);
        assert!(box_shares[1] == 1.0 && box_shares[2] == 1.0, "{box_shares:?}");
        // A box thinner than a patch still covers the patch it lies on.
        let thin = shares([0.8, 0.55, 0.82, 0.6]);
        assert_eq!(held(&thin), vec![2 * 4 + 3]);
        assert_eq!(thin[2 * 4 + 3], 1.0);
        assert!(shares([0.0, 0.0, 1.0, 1.0]).iter().all(|&s| s == 1.0), "the whole image covers every patch");
        // Grazing column 0 by a 100th of a patch: a 25th of it; by a hair more or less: nearly the same.
        let graze = |x0: f32| shares([x0, 0.0, 0.5, 0.25])[0];
        assert!((graze(0.2475) - 0.04).abs() < 1e-4, "{}", graze(0.2475));
        assert!((graze(0.2499) - graze(0.2501)).abs() < 0.01);
        assert_eq!(graze(0.2501), 0.0);
    }
}
