//! The BERT-layout text transformer. One network with an explicit mode serves three boxes of the figure:
//! the text encoder E_T ([`TextMode::Unimodal`]), the image-grounded text encoder E_I→T (the same weights in
//! [`TextMode::ImageGrounded`], with BLIP-style cross-attention to the visual memory), and the report
//! decoder (its own weights, [`TextMode::Causal`]).
//!
//! Field names equal the Hugging Face `BertModel` names (`embeddings.word_embeddings`,
//! `encoder.layer.N.attention.self.query`, ...) so all-MiniLM-L6-v2 loads by name; the two unavoidable
//! renames (`self` is a Rust keyword, `LayerNorm` is not snake case) sit in `minilm.rs`.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, activation::gelu};

use crate::attention::{Attention, causal_mask, padding_mask};
use crate::config::TextConfig;

#[derive(Module, Debug)]
pub struct TextEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
}

impl TextEmbeddings {
    /// `input_ids`: `[batch, seq]` → `[batch, seq, width]`; token type 0 throughout.
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]).expand([batch, seq]);
        let token_types = Tensor::<2, Int>::zeros([batch, seq], &device);
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(positions)
            + self.token_type_embeddings.forward(token_types);
        self.layer_norm.forward(x)
    }
}

/// `layer_norm(residual + dense(x))`: BERT's post-norm output of each sub-layer.
#[derive(Module, Debug)]
pub struct ResidualOutput {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl ResidualOutput {
    fn new(input: usize, width: usize, eps: f64, device: &Device) -> Self {
        ResidualOutput {
            dense: LinearConfig::new(input, width).init(device),
            layer_norm: LayerNormConfig::new(width).with_epsilon(eps).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm.forward(self.dense.forward(x) + residual)
    }
}

/// BERT's attention sub-layer (HF `BertAttention`); `self_attn` is HF's `self`.
#[derive(Module, Debug)]
pub struct AttentionSublayer {
    pub self_attn: Attention,
    pub output: ResidualOutput,
}

impl AttentionSublayer {
    fn new(width: usize, memory_width: usize, config: &TextConfig, device: &Device) -> Self {
        AttentionSublayer {
            self_attn: Attention::new(width, memory_width, config.heads, device),
            output: ResidualOutput::new(width, width, config.layer_norm_eps, device),
        }
    }

    /// Returns the new hidden states and the attention weights `[batch, heads, seq, keys]`.
    fn forward(&self, x: Tensor<3>, memory: Tensor<3>, mask: Option<Tensor<4, Bool>>) -> (Tensor<3>, Tensor<4>) {
        let attended = self.self_attn.forward(x.clone(), memory, mask);
        (self.output.forward(attended.context, x), attended.weights)
    }
}

#[derive(Module, Debug)]
pub struct Intermediate {
    pub dense: Linear,
}

#[derive(Module, Debug)]
pub struct TextLayer {
    pub attention: AttentionSublayer,
    /// Cross-attention to the visual memory (BLIP's `crossattention`); absent in MiniLM, so it starts random.
    pub crossattention: AttentionSublayer,
    pub intermediate: Intermediate,
    pub output: ResidualOutput,
}

#[derive(Module, Debug)]
pub struct TextLayerStack {
    pub layer: Vec<TextLayer>,
}

#[derive(Module, Debug)]
pub struct TextTransformer {
    pub embeddings: TextEmbeddings,
    pub encoder: TextLayerStack,
}

/// How the text transformer runs.
#[derive(Debug, Clone, Copy)]
pub enum TextMode<'a> {
    /// E_T: bidirectional self-attention over the text alone (ITC, knowledge sentences).
    Unimodal,
    /// E_I→T: bidirectional self-attention plus cross-attention to `[batch, memory, vision_width]` (ITM).
    ImageGrounded(&'a Tensor<3>),
    /// Decoder: causal self-attention plus cross-attention to the visual memory (LM, VQA).
    Causal(&'a Tensor<3>),
}

/// Hidden states of the last layer and, when the mode reads the image, the last layer's cross-attention.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// `[batch, seq, width]`
    pub hidden: Tensor<3>,
    /// `[batch, heads, seq, memory]`
    pub cross_attention: Option<Tensor<4>>,
}

/// Mean of the token states over the real tokens: `hidden` `[batch, seq, width]`, `mask` `[batch, seq]` →
/// `[batch, width]`. all-MiniLM-L6-v2 was trained to embed sentences this way; its [CLS] state is nearly
/// the same for every sentence, so it carries too little to tell texts (or knowledge triplets) apart.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let mask = mask.reshape([batch, seq, 1]);
    let pooled = (hidden * mask.clone()).sum_dim(1).div(mask.sum_dim(1).clamp_min(1.0));
    pooled.reshape([batch, width])
}

impl TextConfig {
    /// A text transformer whose layers can cross-attend to a memory `memory_width` wide.
    pub fn init(&self, layers: usize, memory_width: usize, device: &Device) -> TextTransformer {
        let eps = self.layer_norm_eps;
        let layer = |_| TextLayer {
            attention: AttentionSublayer::new(self.width, self.width, self, device),
            crossattention: AttentionSublayer::new(self.width, memory_width, self, device),
            intermediate: Intermediate { dense: LinearConfig::new(self.width, self.intermediate).init(device) },
            output: ResidualOutput::new(self.intermediate, self.width, eps, device),
        };
        TextTransformer {
            embeddings: TextEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, self.width).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_positions, self.width).init(device),
                token_type_embeddings: EmbeddingConfig::new(2, self.width).init(device),
                layer_norm: LayerNormConfig::new(self.width).with_epsilon(eps).init(device),
            },
            encoder: TextLayerStack { layer: (0..layers).map(layer).collect() },
        }
    }
}

impl TextTransformer {
    /// `input_ids`: `[batch, seq]`; `attention_mask`: `[batch, seq]`, 1 for tokens and 0 for padding.
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2>, mode: TextMode) -> TextOutput {
        let seq = input_ids.dims()[1];
        let device = input_ids.device();
        let mut self_mask = padding_mask(attention_mask);
        if let TextMode::Causal(_) = mode {
            self_mask = self_mask.bool_or(causal_mask(seq, &device));
        }
        let memory = match mode {
            TextMode::Unimodal => None,
            TextMode::ImageGrounded(memory) | TextMode::Causal(memory) => Some(memory),
        };

        let mut x = self.embeddings.forward(input_ids);
        let mut cross_attention = None;
        for layer in &self.encoder.layer {
            let (attended, _) = layer.attention.forward(x.clone(), x, Some(self_mask.clone()));
            x = attended;
            if let Some(memory) = memory {
                let (attended, weights) = layer.crossattention.forward(x, memory.clone(), None);
                x = attended;
                cross_attention = Some(weights);
            }
            let hidden = gelu(layer.intermediate.dense.forward(x.clone()));
            x = layer.output.forward(hidden, x);
        }
        TextOutput { hidden: x, cross_attention }
    }
}
