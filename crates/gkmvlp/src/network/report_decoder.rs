//! The report decoder: causal BERT layers with cross-attention to the visual memory, and an LM head tied
//! to the word embeddings. It reads and writes the texts of [`crate::protocol`]; greedy decoding over it
//! is [`crate::inference::generation`]. Its words are a [`DecoderVocabulary`].

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, activation::gelu};

use crate::config::TextConfig;
use crate::network::text_transformer::{DecoderCache, TextMode, TextTransformer, TextTransformerConfig};

pub use crate::network::decoder_vocabulary::DecoderVocabulary;

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
    #[module(skip)]
    pub vocabulary: DecoderVocabulary,
}

/// A decoder of `text`'s shape (its `vocab_size` is the tokenizer's) with `layers` layers reading a memory
/// `memory_width` wide, writing the words of `vocabulary`.
#[derive(Debug, Clone)]
pub struct ReportDecoderConfig {
    pub text: TextConfig,
    pub layers: usize,
    pub memory_width: usize,
    pub vocabulary: DecoderVocabulary,
}

impl ReportDecoderConfig {
    pub fn init(&self, device: &Device) -> ReportDecoder {
        let (text, words) = (&self.text, self.vocabulary.len());
        let bert = TextTransformerConfig {
            text: TextConfig { vocab_size: words, ..text.clone() },
            layers: self.layers,
            memory_width: self.memory_width,
        };
        ReportDecoder {
            bert: bert.init(device),
            lm_head: LmHead {
                transform: LinearConfig::new(text.width, text.width).init(device),
                transform_norm: LayerNormConfig::new(text.width).with_epsilon(text.layer_norm_eps).init(device),
                bias: Initializer::Zeros.init([words], device),
            },
            vocabulary: self.vocabulary.clone(),
        }
    }
}

impl ReportDecoder {
    /// Next-token logits `[batch, seq, decoder vocab]` for tokenizer `ids` `[batch, seq]` reading `memory`
    /// `[batch, m, width]`. Targets for these logits come from [`DecoderVocabulary::decoder_ids`].
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>, memory: &Tensor<3>) -> Tensor<3> {
        let ids = self.vocabulary.decoder_ids(ids);
        self.logits(self.bert.forward(ids, mask, TextMode::Causal(memory)).hidden)
    }

    /// The LM head: hidden states `[batch, seq, width]` → logits `[batch, seq, decoder vocab]`.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let hidden = self.lm_head.transform_norm.forward(gelu(self.lm_head.transform.forward(hidden)));
        let words = self.bert.embeddings.word_embeddings.weight.val(); // [vocab, width]
        let [batch, seq, width] = hidden.dims();
        let logits = hidden.reshape([batch * seq, width]).matmul(words.transpose())
            + self.lm_head.bias.val().unsqueeze_dim::<2>(0);
        logits.reshape([batch, seq, self.lm_head.bias.dims()[0]])
    }

    /// A cache of the memory's keys and values for decoding one image (`memory` `[1, m, width]`) token by
    /// token.
    pub fn start_decoding(&self, memory: &Tensor<3>) -> DecoderCache {
        self.bert.start_decoding(memory)
    }

    /// Feeds decoder `ids` `[1, new]` after the tokens already in `cache` and returns the logits of the
    /// next token `[1, 1, decoder vocab]`; `cache` then holds the new tokens too.
    pub fn next_token_logits(&self, ids: Tensor<2, Int>, cache: &mut DecoderCache) -> Tensor<3> {
        let fed = ids.dims()[1];
        let hidden = self.bert.decode_step(ids, cache);
        self.logits(hidden.narrow(1, fed - 1, 1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    pub(crate) fn small_decoder(device: &Device) -> ReportDecoder {
        let text = TextConfig::new(16, 2, 2, 32).with_vocab_size(40).with_max_positions(24);
        let vocabulary = DecoderVocabulary::new(&[], 40).unwrap();
        ReportDecoderConfig { text, layers: 2, memory_width: 8, vocabulary }.init(device)
    }

    /// Greedy decoding without a cache: the whole text through [`ReportDecoder::forward`] at every step.
    pub(crate) fn greedy_without_cache(
        decoder: &ReportDecoder,
        memory: &Tensor<3>,
        prefix: &[u32],
        steps: usize,
    ) -> Vec<u32> {
        let mut ids: Vec<i64> = prefix.iter().map(|&i| i as i64).collect();
        for _ in 0..steps {
            let len = ids.len();
            let input = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, len]), &memory.device());
            let logits = decoder.forward(input, Tensor::ones([1, len], &memory.device()), memory).narrow(1, len - 1, 1);
            ids.push(logits.argmax(2).into_data().convert::<i64>().try_to_vec::<i64>().unwrap()[0]);
        }
        ids[prefix.len()..].iter().map(|&i| i as u32).collect()
    }

    #[test]
    fn cached_steps_equal_the_whole_text_forward() {
        let device = Device::flex();
        let decoder = small_decoder(&device);
        let memory = Tensor::<3>::random([1, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let ids: Vec<i64> = vec![1, 7, 19, 3, 25, 11];
        let whole = decoder.forward(
            Tensor::from_data(TensorData::new(ids.clone(), [1, 6]), &device),
            Tensor::ones([1, 6], &device),
            &memory,
        );
        // A 3-token prefix, then one token at a time, as generation feeds them.
        let mut cache = decoder.bert.start_decoding(&memory);
        let mut stepped = vec![
            decoder.logits(
                decoder
                    .bert
                    .decode_step(Tensor::from_data(TensorData::new(ids[..3].to_vec(), [1, 3]), &device), &mut cache),
            ),
        ];
        for &id in &ids[3..] {
            stepped.push(decoder.logits(
                decoder.bert.decode_step(Tensor::from_data(TensorData::new(vec![id], [1, 1]), &device), &mut cache),
            ));
        }
        assert_eq!(cache.len(), 6);
        let stepped = Tensor::cat(stepped, 1).into_data().try_to_vec::<f32>().unwrap();
        let whole = whole.into_data().try_to_vec::<f32>().unwrap();
        let worst = stepped.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "cached and whole-text logits differ by {worst}");
    }

    #[test]
    fn a_truncated_cache_continues_as_if_the_dropped_tokens_were_never_fed() {
        let device = Device::flex();
        let decoder = small_decoder(&device);
        let memory = Tensor::<3>::random([1, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let step = |cache: &mut DecoderCache, ids: &[i64]| {
            decoder.logits(
                decoder
                    .bert
                    .decode_step(Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device), cache),
            )
        };
        let mut taken_back = decoder.bert.start_decoding(&memory);
        step(&mut taken_back, &[1, 7, 19]);
        step(&mut taken_back, &[3]);
        step(&mut taken_back, &[25]);
        taken_back.truncate(3);
        assert_eq!(taken_back.len(), 3);
        let after = step(&mut taken_back, &[11]).into_data().try_to_vec::<f32>().unwrap();
        let mut straight = decoder.bert.start_decoding(&memory);
        step(&mut straight, &[1, 7, 19]);
        let expected = step(&mut straight, &[11]).into_data().try_to_vec::<f32>().unwrap();
        let worst = after.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "logits after truncation differ by {worst}");
    }
}
