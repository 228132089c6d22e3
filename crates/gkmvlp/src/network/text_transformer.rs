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

use crate::config::TextConfig;
use crate::network::attention::{Attention, AttentionConfig, KeyMask, KeyValues, causal_mask, padding_mask};

#[derive(Module, Debug)]
pub struct TextEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
}

impl TextEmbeddings {
    /// `input_ids`: `[batch, seq]`, the tokens at positions `first_position..` → `[batch, seq, width]`;
    /// token type 0 throughout.
    pub fn forward(&self, input_ids: Tensor<2, Int>, first_position: usize) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let device = input_ids.device();
        let start = first_position as i64;
        let positions =
            Tensor::<1, Int>::arange(start..start + seq as i64, &device).reshape([1, seq]).expand([batch, seq]);
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
            self_attn: AttentionConfig { width, memory_width, heads: config.heads }.init(device),
            output: ResidualOutput::new(width, width, config.layer_norm_eps, device),
        }
    }

    /// Returns the new hidden states and the attention weights `[batch, heads, seq, keys]`.
    fn forward(&self, x: Tensor<3>, memory: &KeyValues, mask: Option<Tensor<4, Bool>>) -> (Tensor<3>, Tensor<4>) {
        let attended = self.self_attn.attend(x.clone(), memory, mask.map(KeyMask::Hidden));
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

impl TextLayer {
    /// The feed-forward sub-layer, the last of each layer.
    fn feed_forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = gelu(self.intermediate.dense.forward(x.clone()));
        self.output.forward(hidden, x)
    }
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

/// A text transformer of `text`'s shape with `layers` layers, which can cross-attend to a memory
/// `memory_width` wide.
#[derive(Debug, Clone)]
pub struct TextTransformerConfig {
    pub text: TextConfig,
    pub layers: usize,
    pub memory_width: usize,
}

impl TextTransformerConfig {
    pub fn init(&self, device: &Device) -> TextTransformer {
        let (text, memory_width) = (&self.text, self.memory_width);
        let eps = text.layer_norm_eps;
        let layer = |_| TextLayer {
            attention: AttentionSublayer::new(text.width, text.width, text, device),
            crossattention: AttentionSublayer::new(text.width, memory_width, text, device),
            intermediate: Intermediate { dense: LinearConfig::new(text.width, text.intermediate).init(device) },
            output: ResidualOutput::new(text.intermediate, text.width, eps, device),
        };
        TextTransformer {
            embeddings: TextEmbeddings {
                word_embeddings: EmbeddingConfig::new(text.vocab_size, text.width).init(device),
                position_embeddings: EmbeddingConfig::new(text.max_positions, text.width).init(device),
                token_type_embeddings: EmbeddingConfig::new(2, text.width).init(device),
                layer_norm: LayerNormConfig::new(text.width).with_epsilon(eps).init(device),
            },
            encoder: TextLayerStack { layer: (0..self.layers).map(layer).collect() },
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
            self_mask = self_mask.bool_or(causal_mask(seq, 0, &device));
        }
        let memory = match mode {
            TextMode::Unimodal => None,
            TextMode::ImageGrounded(memory) | TextMode::Causal(memory) => Some(memory),
        };

        let mut x = self.embeddings.forward(input_ids, 0);
        let mut cross_attention = None;
        for layer in &self.encoder.layer {
            let own = layer.attention.self_attn.key_values(x.clone());
            (x, _) = layer.attention.forward(x, &own, Some(self_mask.clone()));
            if let Some(memory) = memory {
                let image = layer.crossattention.self_attn.key_values(memory.clone());
                let (attended, weights) = layer.crossattention.forward(x, &image, None);
                x = attended;
                cross_attention = Some(weights);
            }
            x = layer.feed_forward(x);
        }
        TextOutput { hidden: x, cross_attention }
    }

    /// Starts causal decoding of one text reading `memory` `[batch, m, memory_width]`.
    pub fn start_decoding(&self, memory: &Tensor<3>) -> DecoderCache {
        let layers = self
            .encoder
            .layer
            .iter()
            .map(|layer| LayerCache { past: None, memory: layer.crossattention.self_attn.key_values(memory.clone()) })
            .collect();
        DecoderCache { layers, len: 0 }
    }

    /// Causal decoding, step by step: the hidden states `[batch, n, width]` of `input_ids` `[batch, n]`, the
    /// tokens that follow the `cache.len()` already decoded. Equals the matching rows of
    /// [`TextTransformer::forward`] in [`TextMode::Causal`] over the whole text, with each token projected
    /// once rather than once per step.
    pub fn decode_step(&self, input_ids: Tensor<2, Int>, cache: &mut DecoderCache) -> Tensor<3> {
        let new = input_ids.dims()[1];
        let past = cache.len;
        let mask = (new > 1).then(|| causal_mask(new, past, &input_ids.device()));
        let mut x = self.embeddings.forward(input_ids, past);
        for (layer, layer_cache) in self.encoder.layer.iter().zip(&mut cache.layers) {
            let own = layer.attention.self_attn.key_values(x.clone());
            let seen = match layer_cache.past.take() {
                Some(past) => past.append(own),
                None => own,
            };
            (x, _) = layer.attention.forward(x, &seen, mask.clone());
            layer_cache.past = Some(seen);
            (x, _) = layer.crossattention.forward(x, &layer_cache.memory, None);
            x = layer.feed_forward(x);
        }
        cache.len += new;
        x
    }
}

/// What causal decoding keeps between steps: per layer, the self-attention keys and values of the tokens so
/// far, and the cross-attention keys and values of the visual memory (projected once).
#[derive(Debug)]
pub struct DecoderCache {
    layers: Vec<LayerCache>,
    len: usize,
}

#[derive(Debug)]
struct LayerCache {
    past: Option<KeyValues>,
    memory: KeyValues,
}

impl DecoderCache {
    /// Number of tokens decoded so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every token after the first `len`, as if decoding had stopped there.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for layer in &mut self.layers {
            layer.past = if len == 0 { None } else { layer.past.take().map(|past| past.first(len)) };
        }
        self.len = len;
    }
}
