//! The report decoder: causal BERT layers with cross-attention to the visual memory, and an LM head tied
//! to the word embeddings. It writes reports (from `[CLS]`) and answers (from a `question: … answer:`
//! prefix) by greedy decoding.

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::gelu};

use crate::config::TextConfig;
use crate::error::{GkError, Result};
use crate::text_transformer::{TextMode, TextTransformer};

/// BERT's prediction head: a transform, then the word embeddings (tied) and a bias.
#[derive(Module, Debug)]
pub struct LmHead {
    pub transform: Linear,
    pub transform_norm: LayerNorm,
    /// `[vocab]`
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct ReportDecoder {
    pub bert: TextTransformer,
    pub lm_head: LmHead,
}

impl ReportDecoder {
    pub fn new(text: &TextConfig, layers: usize, memory_width: usize, device: &Device) -> Self {
        ReportDecoder {
            bert: text.init(layers, memory_width, device),
            lm_head: LmHead {
                transform: LinearConfig::new(text.width, text.width).init(device),
                transform_norm: LayerNormConfig::new(text.width).with_epsilon(text.layer_norm_eps).init(device),
                bias: Initializer::Zeros.init([text.vocab_size], device),
            },
        }
    }

    /// Next-token logits `[batch, seq, vocab]` for `ids` `[batch, seq]` reading `memory` `[batch, m, width]`.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>, memory: &Tensor<3>) -> Tensor<3> {
        let hidden = self.bert.forward(ids, mask, TextMode::Causal(memory)).hidden;
        let hidden = self.lm_head.transform_norm.forward(gelu(self.lm_head.transform.forward(hidden)));
        let words = self.bert.embeddings.word_embeddings.weight.val(); // [vocab, width]
        let [batch, seq, width] = hidden.dims();
        let logits = hidden.reshape([batch * seq, width]).matmul(words.transpose()) + self.lm_head.bias.val().unsqueeze_dim::<2>(0);
        logits.reshape([batch, seq, self.lm_head.bias.dims()[0]])
    }

    /// Greedy decoding for one image (`memory` `[1, m, width]`) from `prefix` (starting with `[CLS]`),
    /// until `stop` (normally `[SEP]`), `max_new_tokens` or `max_positions`. `on_token` sees each new id as soon as it is known.
    pub async fn generate(
        &self,
        memory: &Tensor<3>,
        prefix: &[u32],
        max_new_tokens: usize,
        max_positions: usize,
        stop: Option<u32>,
        mut on_token: impl FnMut(u32),
    ) -> Result<Vec<u32>> {
        let device = memory.device();
        let mut ids: Vec<u32> = prefix.to_vec();
        let mut generated = Vec::new();
        while generated.len() < max_new_tokens && ids.len() < max_positions {
            let len = ids.len();
            let input = Tensor::<2, Int>::from_data(TensorData::new(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), [1, len]), &device);
            let mask = Tensor::<2>::ones([1, len], &device);
            let logits = self.forward(input, mask, memory).narrow(1, len - 1, 1);
            let next = logits.argmax(2).into_data_async().await.map_err(|e| GkError::Device(format!("{e:?}")))?;
            let next = next
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| GkError::Device(format!("{e:?}")))?
                .first()
                .copied()
                .ok_or_else(|| GkError::Device("empty read-back of the next token".into()))? as u32;
            if Some(next) == stop {
                break;
            }
            on_token(next);
            ids.push(next);
            generated.push(next);
        }
        Ok(generated)
    }
}
