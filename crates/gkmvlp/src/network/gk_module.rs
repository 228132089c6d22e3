//! The grounded knowledge-enhanced (GK) module: a transformer decoder whose queries are the knowledge
//! tokens and whose keys and values are the global [CLS] token and the 29 region tokens. The grounding mask
//! lets each knowledge token read only the region its triplet names (and [CLS]), which is what aligns
//! knowledge with anatomical region-level features instead of the whole, redundant image. With
//! `region_patches` a knowledge token also reads the image patches inside its own region's box, each in
//! the share the box holds of it (`patch_shares`).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use gkmvlp_vocab::NUM_REGIONS;

use crate::config::Grounding;
use crate::network::attention::{KeyMask, MASKED};
use crate::network::decoder_block::{DecoderBlock, DecoderBlockConfig};
use crate::network::knowledge::grounding_mask;
use crate::network::region_tokens::patch_shares;

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
    /// Whether the memory holds the image patches after the region tokens (`GkMvlpConfig::region_patches`).
    #[module(skip)]
    pub region_patches: bool,
}

/// The image patches `[batch, grid², width]` on their `grid` and the region boxes `[batch, 29, 4]` that say
/// which patches each region holds.
pub struct PatchGrid {
    pub patches: Tensor<3>,
    pub grid: usize,
    pub boxes: Tensor<3>,
}

/// Grounded knowledge tokens and where they looked.
#[derive(Debug, Clone)]
pub struct GkOutput {
    /// `[batch, candidates, width]`
    pub tokens: Tensor<3>,
    /// `[batch, candidates, 1 + 29]`: last layer's cross-attention, averaged over heads; key 0 is [CLS].
    pub region_attention: Tensor<3>,
}

/// `layers` decoder layers `width` wide (the image side's) with `heads` heads, over knowledge sentence
/// features `text_width` wide.
#[derive(Debug, Clone)]
pub struct GkModuleConfig {
    pub text_width: usize,
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    pub grounding: Grounding,
    /// Whether knowledge tokens also read the image patches inside their region's box.
    pub region_patches: bool,
}

impl GkModuleConfig {
    pub fn init(&self, device: &Device) -> GkModule {
        let layer = DecoderBlockConfig { width: self.width, heads: self.heads };
        GkModule {
            knowledge_proj: LinearConfig::new(self.text_width, self.width).init(device),
            position_embedding: EmbeddingConfig::new(NUM_REGIONS, self.width).init(device),
            layers: (0..self.layers).map(|_| layer.init(device)).collect(),
            final_norm: LayerNormConfig::new(self.width).init(device),
            grounding: self.grounding,
            region_patches: self.region_patches,
        }
    }
}

impl GkModule {
    /// `sentence_features`: `[candidates, text_width]`; `positions`: region index of each candidate;
    /// `cls`: `[batch, width]`; `region_tokens`: `[batch, 29, width]`; `patches` is read only with
    /// `region_patches`.
    pub fn forward(
        &self,
        sentence_features: Tensor<2>,
        positions: &[usize],
        cls: Tensor<2>,
        region_tokens: Tensor<3>,
        patches: PatchGrid,
    ) -> GkOutput {
        let [batch, width] = cls.dims();
        let candidates = positions.len();
        let device = cls.device();
        let position_ids = Tensor::<2, Int>::from_data(
            TensorData::new(positions.iter().map(|&p| p as i64).collect::<Vec<_>>(), [1, candidates]),
            &device,
        );
        let queries = self.knowledge_proj.forward(sentence_features.unsqueeze_dim::<3>(0))
            + self.position_embedding.forward(position_ids.clone());
        let mut x = queries.expand([batch, candidates, width]);
        let mut memory = vec![cls.unsqueeze_dim::<3>(1), region_tokens];
        let mut mask = match self.grounding {
            Grounding::Grounded => Some(
                grounding_mask(positions, &device)
                    .expand([batch, 1, candidates, 1 + NUM_REGIONS])
                    .float()
                    .mul_scalar(MASKED),
            ),
            Grounding::Ungrounded => None,
        };
        if self.region_patches {
            mask = mask.map(|regions| {
                Tensor::cat(vec![regions, own_patch_bias(&patches, position_ids.reshape([candidates]))], 3)
            });
            memory.push(patches.patches);
        }
        let memory = Tensor::cat(memory, 1);

        let mut region_attention = None;
        for layer in &self.layers {
            let (next, weights) = layer.forward(x, memory.clone(), mask.clone().map(KeyMask::Bias));
            x = next;
            region_attention = Some(weights);
        }
        // [CLS] and the regions only: the share a token gave the patches is left out.
        let keys = 1 + NUM_REGIONS;
        let region_attention = match region_attention {
            Some(weights) => weights.narrow(3, 0, keys).mean_dim(1).reshape([batch, candidates, keys]),
            None => Tensor::zeros([batch, candidates, keys], &device),
        };
        GkOutput { tokens: self.final_norm.forward(x), region_attention }
    }
}

/// `[batch, 1, candidates, grid²]`: the attention bias of each candidate's patches, the log of the share of
/// each patch its own region's box holds ([`MASKED`] outside it); `position_ids`: the region index of each
/// candidate. The boxes are read, not trained, here: the box objectives alone place them.
fn own_patch_bias(patches: &PatchGrid, position_ids: Tensor<1, Int>) -> Tensor<4> {
    let [batch, _, _] = patches.boxes.dims();
    let [candidates] = position_ids.dims();
    let shares = patch_shares(patches.boxes.clone().detach(), patches.grid).select(1, position_ids); // [b, candidates, g²]
    let bias = shares.clone().clamp_min(f32::MIN_POSITIVE).log().mask_fill(shares.equal_elem(0.0), MASKED);
    bias.reshape([batch, 1, candidates, patches.grid * patches.grid])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The output of one knowledge token about region `position`, whose box covers the top-left 2 × 2
    /// patches of a 4 × 4 grid, reading `patches`.
    fn token(module: &GkModule, position: usize, patches: Tensor<3>) -> Vec<f32> {
        let device = Device::flex();
        let mut corners = vec![0.0f32; NUM_REGIONS * 4];
        corners[position * 4..position * 4 + 4].copy_from_slice(&[0.0, 0.0, 0.5, 0.5]);
        let boxes = Tensor::<3>::from_data(TensorData::new(corners, [1, NUM_REGIONS, 4]), &device);
        let sentence = Tensor::<2>::ones([1, 8], &device);
        let cls = Tensor::<2>::ones([1, 8], &device);
        let regions = Tensor::<3>::ones([1, NUM_REGIONS, 8], &device);
        let grid = PatchGrid { patches, grid: 4, boxes };
        module.forward(sentence, &[position], cls, regions, grid).tokens.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_grounded_token_reads_the_patches_of_its_own_region_only() {
        let device = Device::flex();
        let module = GkModuleConfig {
            text_width: 8,
            width: 8,
            heads: 2,
            layers: 1,
            grounding: Grounding::Grounded,
            region_patches: true,
        }
        .init(&device);
        let patches = Tensor::<3>::random([1, 16, 8], Distribution::Default, &device);
        let before = token(&module, 5, patches.clone());
        // Patch 10 (row 2, column 2) lies outside the box; patch 5 (row 1, column 1) inside.
        let changed = |index: usize| {
            patches
                .clone()
                .slice_assign([0..1, index..index + 1, 0..8], Tensor::ones([1, 1, 8], &device).mul_scalar(3.0))
        };
        assert_eq!(token(&module, 5, changed(10)), before, "a patch outside the region is not read");
        assert_ne!(token(&module, 5, changed(5)), before, "a patch inside the region is read");

        let without = GkModule { region_patches: false, ..module };
        assert_eq!(
            token(&without, 5, changed(5)),
            token(&without, 5, patches),
            "without region_patches no patch is read"
        );
    }
}
