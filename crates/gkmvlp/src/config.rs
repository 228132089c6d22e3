//! Model configuration and the three presets. Every size the model has is here, so the CLI, the trainer,
//! the browser and the weight manifests agree on one description of the network.

use burn::config::Config;

use crate::error::GkError;
use crate::tokenizer::{CLS_ID, PAD_ID, SEP_ID, UNK_ID};

/// Largest width, depth, image side or vocabulary a configuration may ask for. A manifest is untrusted,
/// and the model is built (its parameters allocated) before its weights are read, so an absurd size would
/// exhaust memory before the weights' size check could refuse it. The `base` preset is far below these.
const MAX_WIDTH: usize = 8192;
const MAX_LAYERS: usize = 128;
const MAX_IMAGE_SIZE: usize = 2048;
const MAX_VOCABULARY: usize = 1 << 20;
const MAX_POSITIONS: usize = 8192;

/// The ViT image encoder (E_I).
#[derive(Config, Debug, PartialEq)]
pub struct VisionConfig {
    /// Side of the square input image, in pixels.
    pub image_size: usize,
    /// Side of a square patch, in pixels.
    #[config(default = 16)]
    pub patch_size: usize,
    /// Token width.
    pub width: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Hidden width of the feed-forward network, as a multiple of `width`.
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Mean subtracted from the [0, 1] grey input before the patch embedding.
    #[config(default = 0.5)]
    pub pixel_mean: f32,
    /// Standard deviation the grey input is divided by.
    #[config(default = 0.25)]
    pub pixel_std: f32,
}

impl VisionConfig {
    /// Why the image encoder cannot be built, if it cannot.
    fn validate(&self) -> crate::error::Result<()> {
        positive_up_to("vision.image_size", self.image_size, MAX_IMAGE_SIZE)?;
        divides("vision.patch_size", self.patch_size, "vision.image_size", self.image_size)?;
        positive_up_to("vision.width", self.width, MAX_WIDTH)?;
        positive_up_to("vision.depth", self.depth, MAX_LAYERS)?;
        divides("vision.heads", self.heads, "vision.width", self.width)?;
        positive_up_to("vision.mlp_ratio", self.mlp_ratio, 64)?;
        if !self.pixel_mean.is_finite() {
            return Err(GkError::Config(format!("vision.pixel_mean is {}; it must be finite", self.pixel_mean)));
        }
        if !(self.pixel_std.is_finite() && self.pixel_std > 0.0) {
            return Err(GkError::Config(format!("vision.pixel_std is {}; it must be positive", self.pixel_std)));
        }
        Ok(())
    }

    /// Patches along one side of the image.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// A BERT-layout text transformer: the text encoder E_T (also run as the image-grounded encoder) and the
/// report decoder share this shape.
#[derive(Config, Debug, PartialEq)]
pub struct TextConfig {
    /// WordPiece vocabulary size (30,522 for the uncased BERT vocabulary of all-MiniLM-L6-v2).
    #[config(default = 30522)]
    pub vocab_size: usize,
    /// Token width.
    pub width: usize,
    /// Number of layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Hidden width of the feed-forward network.
    pub intermediate: usize,
    /// Learned positions (BERT: 512).
    #[config(default = 512)]
    pub max_positions: usize,
    /// LayerNorm epsilon; BERT checkpoints are trained with 1e-12.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
}

impl TextConfig {
    /// Why a text transformer of this shape cannot be built, if it cannot.
    fn validate(&self) -> crate::error::Result<()> {
        let largest_special = [PAD_ID, UNK_ID, CLS_ID, SEP_ID].into_iter().fold(0, u32::max) as usize;
        if self.vocab_size <= largest_special || self.vocab_size > MAX_VOCABULARY {
            return Err(GkError::Config(format!(
                "text.vocab_size is {}; it must hold the special tokens (ids up to {largest_special}) and be at \
                 most {MAX_VOCABULARY}",
                self.vocab_size
            )));
        }
        positive_up_to("text.width", self.width, MAX_WIDTH)?;
        positive_up_to("text.layers", self.layers, MAX_LAYERS)?;
        divides("text.heads", self.heads, "text.width", self.width)?;
        positive_up_to("text.intermediate", self.intermediate, 8 * MAX_WIDTH)?;
        // [CLS], one token and [SEP]: the shortest text anything is asked about.
        if !(3..=MAX_POSITIONS).contains(&self.max_positions) {
            return Err(GkError::Config(format!(
                "text.max_positions is {}; it must be from 3 to {MAX_POSITIONS}",
                self.max_positions
            )));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(GkError::Config(format!(
                "text.layer_norm_eps is {}; it must be positive",
                self.layer_norm_eps
            )));
        }
        Ok(())
    }
}

/// `value` is at least 1 and at most `max`, or an error naming `field`.
fn positive_up_to(field: &str, value: usize, max: usize) -> crate::error::Result<()> {
    if value == 0 || value > max {
        return Err(GkError::Config(format!("{field} is {value}; it must be from 1 to {max}")));
    }
    Ok(())
}

/// `part` is positive and divides `whole` (so is at most `whole`), or an error naming both fields.
fn divides(part_field: &str, part: usize, whole_field: &str, whole: usize) -> crate::error::Result<()> {
    if part == 0 || !whole.is_multiple_of(part) {
        return Err(GkError::Config(format!(
            "{part_field} is {part}; it must be positive and divide {whole_field} {whole}"
        )));
    }
    Ok(())
}

/// Whether knowledge tokens may attend only to the region their triplet names (the paper's grounding), or
/// to every region (the ablation without grounding).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Grounding {
    /// Each knowledge token sees its own position's region token and the global [CLS] token.
    Grounded,
    /// Each knowledge token sees every region token: the GK module without its grounding mask.
    Ungrounded,
}

/// The whole GK-MVLP network.
#[derive(Config, Debug, PartialEq)]
pub struct GkMvlpConfig {
    /// Image encoder E_I.
    pub vision: VisionConfig,
    /// Text encoder E_T; its layers also form the image-grounded encoder E_I→T.
    pub text: TextConfig,
    /// Layers of the report decoder (same width and heads as the text encoder).
    pub decoder_layers: usize,
    /// Transformer-decoder layers of the region head.
    #[config(default = 2)]
    pub region_head_layers: usize,
    /// RoIAlign samples along each side of a region box.
    #[config(default = 3)]
    pub roi_samples: usize,
    /// Layers of the GK module.
    #[config(default = 2)]
    pub gk_layers: usize,
    /// Grounding mask of the GK module.
    #[config(default = "Grounding::Grounded")]
    pub grounding: Grounding,
    /// Let each knowledge token read, besides its region's token, the image patches inside its region's box
    /// (not in the paper). A region token is an average over its box, in which a nodule a few patches
    /// wide, or a mass's round edge, is diluted; the patches keep them. A patch the box grazes is read in
    /// proportion to the share it holds (`region_tokens::patch_shares`). Adds no parameters.
    #[config(default = false)]
    pub region_patches: bool,
    /// Start every decoder text with the findings ECLS calls present (`[CLS] present: … [SEP]`), a
    /// diagnosis-driven prompt as in PromptMRG (not in the paper): the decoder copies words it is shown far
    /// sooner than it learns to read them from the visual memory.
    #[config(default = false)]
    pub findings_prompt: bool,
    /// Width of the shared image-text embedding space of ITC.
    #[config(default = 256)]
    pub embed_dim: usize,
    /// Longest generated report or answer, in tokens.
    #[config(default = 96)]
    pub max_generated_tokens: usize,
    /// Tokenizer ids the report decoder reads and writes, in its order; empty for the whole vocabulary.
    /// Training prunes it to the words of its corpus (see `ReportDecoder`).
    #[config(default = "Vec::new()")]
    pub decoder_vocabulary: Vec<u32>,
}

impl GkMvlpConfig {
    /// Why a network of this configuration cannot be built, naming the field; every size is checked here,
    /// before any tensor is made, because a manifest's configuration is untrusted input. The decoder's
    /// vocabulary is checked against the tokenizer's where it is built (`DecoderVocabulary::new`).
    pub fn validate(&self) -> crate::error::Result<()> {
        self.vision.validate()?;
        self.text.validate()?;
        positive_up_to("decoder_layers", self.decoder_layers, MAX_LAYERS)?;
        positive_up_to("region_head_layers", self.region_head_layers, MAX_LAYERS)?;
        positive_up_to("roi_samples", self.roi_samples, 64)?;
        positive_up_to("gk_layers", self.gk_layers, MAX_LAYERS)?;
        positive_up_to("embed_dim", self.embed_dim, MAX_WIDTH)?;
        positive_up_to("max_generated_tokens", self.max_generated_tokens, MAX_POSITIONS)?;
        Ok(())
    }

    /// A few-thousand-parameter network for tests: every part present, nothing trained.
    pub fn tiny() -> Self {
        Self::new(VisionConfig::new(64, 32, 2, 2), TextConfig::new(32, 2, 2, 64).with_max_positions(128), 1)
            .with_region_head_layers(1)
            .with_gk_layers(1)
            .with_embed_dim(16)
            .with_max_generated_tokens(16)
    }

    /// The shipped browser model: a ViT-Tiny-sized image encoder (width 192, depth 6, DeiT-Ti) on 224-pixel
    /// radiographs, the full all-MiniLM-L6-v2 text encoder (384 wide, 6 layers, 12 heads), and a 2-layer
    /// decoder initialised from MiniLM's first layers.
    pub fn demo() -> Self {
        Self::new(VisionConfig::new(224, 192, 6, 3), minilm_text(), 2)
    }

    /// The paper's likely size: ViT-B/16 at 224 pixels and a BERT-base text encoder and decoder, as in BLIP.
    pub fn base() -> Self {
        Self::new(VisionConfig::new(224, 768, 12, 12), TextConfig::new(768, 12, 12, 3072), 12)
    }

    /// The preset this network's shape is, whatever its decoder's vocabulary, grounding, patch and prompt
    /// switches.
    pub fn preset_name(&self) -> Option<&'static str> {
        let shape = self
            .clone()
            .with_decoder_vocabulary(Vec::new())
            .with_grounding(Grounding::Grounded)
            .with_region_patches(false)
            .with_findings_prompt(false);
        ["tiny", "demo", "base"].into_iter().find(|name| Self::preset(name).as_ref() == Some(&shape))
    }

    /// A preset by name: `tiny`, `demo` or `base`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "demo" => Some(Self::demo()),
            "base" => Some(Self::base()),
            _ => None,
        }
    }
}

/// The text transformer of all-MiniLM-L6-v2 (its `config.json`).
pub fn minilm_text() -> TextConfig {
    TextConfig::new(384, 6, 12, 1536)
}
