//! GK-MVLP assembled. Data flows one way, as in the paper's figure:
//! image → E_I → region head → region tokens → GK module (with the knowledge tokens from E_T) → ECLS head;
//! then [E_I tokens ; GK tokens] is the visual memory that the image-grounded text encoder (ITM) and the
//! report decoder (LM) read. ITC compares the image and text [CLS] embeddings.
//!
//! Top-level names follow BLIP (`vision_model`, `text_encoder`, `text_decoder`, `itm_head`, ...).

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use crate::config::GkMvlpConfig;
use crate::error::Result;
use crate::network::contrastive::{Contrastive, ContrastiveConfig};
use crate::network::ecls_head::{EclsHead, EclsHeadConfig};
use crate::network::gk_module::{GkModule, GkModuleConfig, PatchGrid};
use crate::network::image_encoder::{ImageEncoder, ImageTokens};
use crate::network::itm_head::{ItmHead, ItmHeadConfig};
use crate::network::knowledge::Knowledge;
use crate::network::region_head::{RegionHead, RegionHeadConfig};
use crate::network::region_tokens::{RegionTokens, RegionTokensConfig};
use crate::network::report_decoder::{DecoderVocabulary, ReportDecoder, ReportDecoderConfig};
use crate::network::text_transformer::{TextMode, TextTransformer, TextTransformerConfig, mean_pool};

#[derive(Module, Debug)]
pub struct GkMvlp {
    pub vision_model: ImageEncoder,
    pub region_head: RegionHead,
    pub region_tokens: RegionTokens,
    pub text_encoder: TextTransformer,
    pub gk_module: GkModule,
    pub ecls_head: EclsHead,
    pub itm_head: ItmHead,
    pub text_decoder: ReportDecoder,
    pub contrastive: Contrastive,
}

/// Everything the model derives from an image once; every question, finding text and report check about
/// that image reuses it.
#[derive(Debug, Clone)]
pub struct ImageEncoding {
    pub image: ImageTokens,
    /// `[batch, 29, 4]`, `(x0, y0, x1, y1)` in [0, 1].
    pub boxes: Tensor<3>,
    /// ECLS: `[batch, candidates]`, probability that each candidate triplet is present.
    pub present: Tensor<2>,
    /// `[batch, candidates, 1 + 29]`: where each knowledge token looked ([CLS], then the regions).
    pub region_attention: Tensor<3>,
    /// `[batch, 1 + grid² + candidates, vision_width]`: [E_I tokens ; GK tokens].
    pub visual_memory: Tensor<3>,
    /// `[batch, embed]`, unit length.
    pub image_embedding: Tensor<2>,
}

impl GkMvlpConfig {
    /// Fails on a configuration [`GkMvlpConfig::validate`] refuses, or a decoder vocabulary that does not fit
    /// the tokenizer's.
    pub fn init(&self, device: &Device) -> Result<GkMvlp> {
        self.validate()?;
        let v = &self.vision;
        let t = &self.text;
        let vocabulary = DecoderVocabulary::new(&self.decoder_vocabulary, t.vocab_size)?;
        Ok(GkMvlp {
            vision_model: v.init(device),
            region_head: RegionHeadConfig { width: v.width, heads: v.heads, layers: self.region_head_layers }
                .init(device),
            region_tokens: RegionTokensConfig { width: v.width, samples: self.roi_samples }.init(device),
            text_encoder: TextTransformerConfig { text: t.clone(), layers: t.layers, memory_width: v.width }
                .init(device),
            gk_module: GkModuleConfig {
                text_width: t.width,
                width: v.width,
                heads: v.heads,
                layers: self.gk_layers,
                grounding: self.grounding,
                region_patches: self.region_patches,
            }
            .init(device),
            ecls_head: EclsHeadConfig { width: v.width }.init(device),
            itm_head: ItmHeadConfig { text_width: t.width }.init(device),
            text_decoder: ReportDecoderConfig {
                text: t.clone(),
                layers: self.decoder_layers,
                memory_width: v.width,
                vocabulary,
            }
            .init(device),
            contrastive: ContrastiveConfig { vision_width: v.width, text_width: t.width, embed_dim: self.embed_dim }
                .init(device),
        })
    }
}

/// The boxes the region tokens are pooled from.
// A tensor handle in one variant and none in the other; made once per forward, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum RegionPooling {
    /// The region head's own boxes, as at inference. No gradient flows back through them: the box loss
    /// alone moves the boxes, and ECLS learns to read the regions as the region head finds them.
    Predicted,
    /// Given boxes `[batch, regions, 4]`: the true ones (training on them, or the eval diagnostic that
    /// measures what box errors cost).
    Given(Tensor<3>),
}

impl GkMvlp {
    /// Runs the image side of the model. `images`: `[batch, 1, size, size]` grey in [0, 1]; `pooling` says
    /// which boxes the region tokens are pooled from.
    pub fn encode_image(&self, images: Tensor<4>, knowledge: &Knowledge, pooling: RegionPooling) -> ImageEncoding {
        self.encode_image_staged(images, knowledge, pooling, |_| {})
    }

    /// [`GkMvlp::encode_image`], calling `on_stage` with the name of each box of the figure once it has
    /// run (`image_encoder`, `region_head`, `region_tokens`, `gk_module`, `ecls_head`, `contrastive`):
    /// the per-stage breakdown of the benchmarks. Timestamps taken there measure the stages on a backend
    /// that runs operations as they are called (Flex); a GPU backend only queues them.
    pub fn encode_image_staged(
        &self,
        images: Tensor<4>,
        knowledge: &Knowledge,
        pooling: RegionPooling,
        mut on_stage: impl FnMut(&'static str),
    ) -> ImageEncoding {
        let image = self.vision_model.forward(images);
        on_stage("image_encoder");
        let patches = image.patches();
        let boxes = self.region_head.forward(patches.clone());
        on_stage("region_head");
        let pooling_boxes = match pooling {
            RegionPooling::Predicted => boxes.clone().detach(),
            RegionPooling::Given(given) => given,
        };
        let regions = self.region_tokens.forward(patches.clone(), image.grid, pooling_boxes.clone());
        on_stage("region_tokens");
        let patch_grid = PatchGrid { patches, grid: image.grid, boxes: pooling_boxes };
        let grounded = self.gk_module.forward(
            knowledge.sentence_features.clone(),
            &knowledge.positions(),
            image.cls(),
            regions,
            patch_grid,
        );
        on_stage("gk_module");
        let present = self.ecls_head.present_probability(grounded.tokens.clone());
        on_stage("ecls_head");
        let visual_memory = Tensor::cat(vec![image.tokens.clone(), grounded.tokens], 1);
        let image_embedding = self.contrastive.image_embedding(image.cls());
        on_stage("contrastive");
        ImageEncoding {
            image,
            boxes,
            present,
            region_attention: grounded.region_attention,
            visual_memory,
            image_embedding,
        }
    }

    /// Unit-length ITC text embeddings `[batch, embed]`.
    pub fn text_embedding(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let hidden = self.text_encoder.forward(ids, mask.clone(), TextMode::Unimodal).hidden;
        self.contrastive.text_embedding(mean_pool(hidden, mask))
    }

    /// ITM: probability that each text matches its image, `[batch]`. `visual_memory` is `[batch, m, width]`.
    pub fn match_probability(&self, visual_memory: &Tensor<3>, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<1> {
        let hidden = self.text_encoder.forward(ids, mask, TextMode::ImageGrounded(visual_memory)).hidden;
        self.itm_head.match_probability(hidden)
    }
}
