//! The report decoder: causal BERT layers with cross-attention to the visual memory, and an LM head tied
//! to the word embeddings. It writes reports (from `[CLS]`) and answers (from a `question: … answer:`
//! prefix) by greedy decoding.
//!
//! Its vocabulary may be a subset of the tokenizer's: a decoder that only ever writes radiology reports and
//! answers needs a few hundred of BERT's 30,522 WordPieces, and the LM head's cost and the word table's size
//! scale with that count. Callers speak tokenizer (BERT) ids throughout; the mapping lives here.

use std::ops::ControlFlow;

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::gelu};

use crate::config::TextConfig;
use crate::ecls_head::PresentThresholds;
use crate::error::{GkError, Result};
use crate::text_transformer::{TextMode, TextTransformer};
use crate::tokenizer::{CLS_ID, PAD_ID, SEP_ID, UNK_ID};
use crate::vocab::{Candidate, candidates};

/// Most times an unfinished text goes on where it would have ended (see [`ReportDecoder::generate`]):
/// each time the decoder writes a sentence it did not choose to, and a longer run of them drifts.
const MAX_OVERRIDES: usize = 2;

/// Says of the tokens written so far whether the text may not end yet ([`ReportDecoder::generate`]).
pub type Unfinished<'a> = &'a dyn Fn(&[u32]) -> bool;

/// Most findings a prompt names.
pub const PROMPT_MAX_FINDINGS: usize = 10;

/// The findings prompt ([`crate::GkMvlpConfig::findings_prompt`]) for one image's ECLS probabilities (in
/// [`candidates`] order): `present: pleural effusion at the right costophrenic angle, lung nodule at the
/// left mid lung zone`, or `present: none`.
pub fn findings_prompt(present: &[f32], thresholds: &PresentThresholds) -> String {
    let named: Vec<String> = prompt_candidates(present, thresholds).iter().map(Candidate::sentence).collect();
    format!("present: {}", if named.is_empty() { "none".to_string() } else { named.join(", ") })
}

/// The candidates [`findings_prompt`] names, in its order.
pub fn prompt_candidates(present: &[f32], thresholds: &PresentThresholds) -> Vec<Candidate> {
    let mut named: Vec<(f32, Candidate)> = candidates()
        .into_iter()
        .zip(present)
        .filter(|(c, p)| thresholds.is_present(c, **p))
        .map(|(c, &p)| (p, c))
        .collect();
    // Most probable first, and a bounded length whatever the image.
    named.sort_by(|a, b| b.0.total_cmp(&a.0));
    named.truncate(PROMPT_MAX_FINDINGS);
    named.into_iter().map(|(_, candidate)| candidate).collect()
}

/// `[CLS] prompt [SEP]` followed by `text`'s ids without its `[CLS]`: how a decoder text reads with the
/// findings prompt. Also returns the prompt's length with both special tokens, where the text begins.
pub fn prompted_ids(prompt: &[u32], text: &[u32]) -> (Vec<u32>, usize) {
    let mut ids = Vec::with_capacity(prompt.len() + text.len() + 1);
    ids.push(CLS_ID);
    ids.extend_from_slice(prompt);
    ids.push(SEP_ID);
    let start = ids.len();
    ids.extend(text.iter().skip(usize::from(text.first() == Some(&CLS_ID))));
    (ids, start)
}

/// Index just past the last occurrence of `cue` in `ids`: where what follows a cue begins.
pub fn after_last(ids: &[u32], cue: &[u32]) -> Option<usize> {
    (cue.len()..=ids.len()).rev().find(|&end| ids[end - cue.len()..end] == *cue)
}

/// How greedy decoding leaves a loop. Greedy decoding that has written a sentence twice will often go on
/// writing it ("moderate pulmonary edema. moderate pulmonary edema. moderate pulmonary edema."): the
/// second copy is taken back, and the text moves on to its next section, or ends when it has none left.
/// Sentences are compared within a section only, since an impression restates the findings by design, and
/// without their list numbers (`2. x` repeats `1. x`). Tokenizer ids throughout.
#[derive(Debug, Clone)]
pub struct RepeatedSentences {
    /// The id that ends a sentence (`.`).
    pub sentence_end: u32,
    /// Ids of list numbers: `2 .` numbers an item rather than ending a sentence.
    pub list_numbers: Vec<u32>,
    /// The ids that open the next section (`impression :`), written in place of a repeat before them;
    /// empty when the text has one section.
    pub next_section: Vec<u32>,
}

impl RepeatedSentences {
    /// When `text` has just ended a sentence that repeats an earlier one of its section: where the repeat
    /// begins (its list number included).
    pub fn repeat_start(&self, text: &[u32]) -> Option<usize> {
        // Only a sentence's end can complete a repeat: most steps stop here.
        if text.last() != Some(&self.sentence_end) {
            return None;
        }
        let sentences = self.sentences(text, self.section_start(text));
        let (last, earlier) = sentences.split_last()?;
        if last.end != text.len() {
            return None;
        }
        let content =
            |range: &std::ops::Range<usize>| &text[range.start + self.list_number_len(&text[range.clone()])..range.end];
        let repeated = earlier.iter().any(|sentence| content(sentence) == content(last));
        (repeated && content(last).len() > 1).then_some(last.start)
    }

    /// The next section's opening, unless `text` has already opened it.
    pub fn next_section_after(&self, text: &[u32]) -> Option<&[u32]> {
        (!self.next_section.is_empty() && self.section_start(text) == 0).then_some(self.next_section.as_slice())
    }

    /// Where the text's current section begins: after the last opening of a next section.
    fn section_start(&self, text: &[u32]) -> usize {
        if self.next_section.is_empty() {
            return 0;
        }
        after_last(text, &self.next_section).unwrap_or(0)
    }

    /// The sentences of `text` from `start`, each ending with its `.`; an unfinished last one is left out.
    fn sentences(&self, text: &[u32], start: usize) -> Vec<std::ops::Range<usize>> {
        let mut sentences = Vec::new();
        let mut begin = start;
        for end in start..text.len() {
            let numbers_an_item = end == begin + 1 && self.list_numbers.contains(&text[begin]);
            if text[end] == self.sentence_end && !numbers_an_item {
                sentences.push(begin..end + 1);
                begin = end + 1;
            }
        }
        sentences
    }

    /// Length of a leading list number (`2 .`) in `sentence`, or 0.
    pub fn list_number_len(&self, sentence: &[u32]) -> usize {
        match sentence {
            [number, end, ..] if self.list_numbers.contains(number) && *end == self.sentence_end => 2,
            _ => 0,
        }
    }
}

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

/// The tokenizer ids the decoder reads and writes, in decoder order. Ids outside it read as `[UNK]`.
#[derive(Debug, Clone)]
pub struct DecoderVocabulary {
    /// Tokenizer id of each decoder id; `None` is the whole tokenizer vocabulary, unchanged.
    tokenizer_ids: Option<Vec<u32>>,
    /// Decoder id of each tokenizer id (`[UNK]`'s where absent), as the lookup tensor's values.
    decoder_of: Vec<i64>,
}

impl DecoderVocabulary {
    /// `tokenizer_ids` empty: the whole vocabulary of `tokenizer_size` ids. Otherwise the listed ids, which
    /// must include `[PAD]`, `[UNK]`, `[CLS]` and `[SEP]`, each below `tokenizer_size` and listed once.
    pub fn new(tokenizer_ids: &[u32], tokenizer_size: usize) -> Result<Self> {
        if tokenizer_ids.is_empty() {
            return Ok(DecoderVocabulary { tokenizer_ids: None, decoder_of: (0..tokenizer_size as i64).collect() });
        }
        let mut decoder_of = vec![-1i64; tokenizer_size];
        for (decoder_id, &id) in tokenizer_ids.iter().enumerate() {
            let slot = decoder_of.get_mut(id as usize).ok_or_else(|| {
                GkError::Config(format!(
                    "decoder vocabulary: token id {id} is outside the tokenizer's {tokenizer_size}"
                ))
            })?;
            if *slot >= 0 {
                return Err(GkError::Config(format!("decoder vocabulary: token id {id} is listed twice")));
            }
            *slot = decoder_id as i64;
        }
        for (name, id) in [("[PAD]", PAD_ID), ("[UNK]", UNK_ID), ("[CLS]", CLS_ID), ("[SEP]", SEP_ID)] {
            if decoder_of[id as usize] < 0 {
                return Err(GkError::Config(format!("decoder vocabulary lacks {name}")));
            }
        }
        let unknown = decoder_of[UNK_ID as usize];
        decoder_of.iter_mut().filter(|d| **d < 0).for_each(|d| *d = unknown);
        Ok(DecoderVocabulary { tokenizer_ids: Some(tokenizer_ids.to_vec()), decoder_of })
    }

    /// Number of decoder ids: the LM head's outputs.
    pub fn len(&self) -> usize {
        self.tokenizer_ids.as_ref().map_or(self.decoder_of.len(), Vec::len)
    }

    /// Size of the tokenizer's vocabulary the decoder's ids are drawn from.
    pub fn tokenizer_size(&self) -> usize {
        self.decoder_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tokenizer ids of the decoder's rows, when it is a subset.
    pub fn tokenizer_ids(&self) -> Option<&[u32]> {
        self.tokenizer_ids.as_deref()
    }

    /// Tokenizer ids `[batch, seq]` → decoder ids.
    pub fn decoder_ids(&self, ids: Tensor<2, Int>) -> Tensor<2, Int> {
        if self.tokenizer_ids.is_none() {
            return ids;
        }
        let shape = ids.dims();
        let lookup = Tensor::<1, Int>::from_data(
            TensorData::new(self.decoder_of.clone(), [self.decoder_of.len()]),
            &ids.device(),
        );
        lookup.select(0, ids.reshape([shape[0] * shape[1]])).reshape(shape)
    }

    /// Tokenizer id → decoder id, on the host: [`DecoderVocabulary::decoder_ids`] for a few known ids,
    /// without uploading the lookup table.
    pub fn decoder_id(&self, id: u32) -> Result<i64> {
        self.decoder_of.get(id as usize).copied().ok_or_else(|| {
            GkError::Input(format!("token id {id} is outside the tokenizer's {}", self.decoder_of.len()))
        })
    }

    /// Decoder id → tokenizer id.
    pub fn tokenizer_id(&self, decoder_id: u32) -> u32 {
        self.tokenizer_ids.as_ref().map_or(decoder_id, |ids| ids[decoder_id as usize])
    }
}

impl ReportDecoder {
    /// `text` gives the shape (its `vocab_size` is the tokenizer's); `vocabulary` the decoder's own words.
    pub fn new(
        text: &TextConfig,
        layers: usize,
        memory_width: usize,
        vocabulary: DecoderVocabulary,
        device: &Device,
    ) -> Self {
        let words = TextConfig { vocab_size: vocabulary.len(), ..text.clone() };
        ReportDecoder {
            bert: words.init(layers, memory_width, device),
            lm_head: LmHead {
                transform: LinearConfig::new(text.width, text.width).init(device),
                transform_norm: LayerNormConfig::new(text.width).with_epsilon(text.layer_norm_eps).init(device),
                bias: Initializer::Zeros.init([vocabulary.len()], device),
            },
            vocabulary,
        }
    }

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

    /// Greedy decoding for one image (`memory` `[1, m, width]`) from `prefix` (starting with `[CLS]`),
    /// until `stop` (normally `[SEP]`), `max_new_tokens` or `max_positions`. With `repeats`, a sentence that
    /// repeats one of its section is taken back (see [`RepeatedSentences`]). While `unfinished` says so
    /// of the tokens so far, the text goes on (up to [`MAX_OVERRIDES`] times): `stop` is passed over for
    /// the most probable other token, and a repeat in the last section is written again, barred from
    /// beginning with the same word. `on_token` sees the tokens so far after each step, and ends decoding
    /// early by returning [`ControlFlow::Break`]. Each step feeds only the newest tokens: earlier tokens'
    /// keys and values stay in a [`DecoderCache`].
    #[allow(clippy::too_many_arguments)]
    pub async fn generate(
        &self,
        memory: &Tensor<3>,
        prefix: &[u32],
        max_new_tokens: usize,
        max_positions: usize,
        stop: Option<u32>,
        repeats: Option<&RepeatedSentences>,
        unfinished: Option<Unfinished<'_>>,
        mut on_token: impl FnMut(&[u32]) -> ControlFlow<()>,
    ) -> Result<Vec<u32>> {
        let device = memory.device();
        let mut cache = self.bert.start_decoding(memory);
        // Decoder ids of the tokens not yet fed: the prefix, then each new token.
        let mut input = prefix.iter().map(|&id| self.vocabulary.decoder_id(id)).collect::<Result<Vec<_>>>()?;
        let mut generated = Vec::new();
        // (position in the text, decoder id) pairs that may not be written there.
        let mut barred: Vec<(usize, i64)> = Vec::new();
        // Times the text went on where it would have ended.
        let mut overrides = 0;
        while generated.len() < max_new_tokens && cache.len() + input.len() < max_positions {
            let ids = Tensor::<2, Int>::from_data(TensorData::new(input.clone(), [1, input.len()]), &device);
            let hidden = self.bert.decode_step(ids, &mut cache);
            let logits = self.logits(hidden.narrow(1, input.len() - 1, 1));
            let next =
                logits.clone().argmax(2).into_data_async().await.map_err(|e| GkError::Device(format!("{e:?}")))?;
            let mut next = next
                .convert::<i64>()
                .try_to_vec::<i64>()
                .map_err(|e| GkError::Device(format!("{e:?}")))?
                .first()
                .copied()
                .ok_or_else(|| GkError::Device("empty read-back of the next token".into()))?;
            let goes_on = |generated: &[u32], overrides: usize| {
                overrides < MAX_OVERRIDES && unfinished.is_some_and(|f| f(generated))
            };
            let stops_unfinished =
                stop == Some(self.vocabulary.tokenizer_id(next as u32)) && goes_on(&generated, overrides);
            if stops_unfinished || barred.contains(&(generated.len(), next)) {
                let mut bars: Vec<i64> =
                    barred.iter().filter(|(at, _)| *at == generated.len()).map(|(_, id)| *id).collect();
                if stops_unfinished {
                    overrides += 1;
                    bars.extend(stop.map(|stop| self.vocabulary.decoder_id(stop)).transpose()?);
                }
                let row = logits.into_data_async().await.map_err(|e| GkError::Device(format!("{e:?}")))?;
                let row = row.convert::<f32>().try_to_vec::<f32>().map_err(|e| GkError::Device(format!("{e:?}")))?;
                let allowed = row.iter().enumerate().filter(|&(id, _)| !bars.contains(&(id as i64)));
                next = allowed
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(id, _)| id as i64)
                    .ok_or_else(|| GkError::Device("every token barred".into()))?;
            }
            let token = self.vocabulary.tokenizer_id(next as u32);
            if Some(token) == stop {
                break;
            }
            generated.push(token);
            input = vec![next];
            if let Some(repeats) = repeats
                && let Some(start) = repeats.repeat_start(&generated)
            {
                let repeated = generated.split_off(start);
                if let Some(next_section) = repeats.next_section_after(&generated) {
                    // Every token but the newest is in the cache: forget the repeated sentence there too, so
                    // that what follows reads as if it had never been written.
                    cache.truncate(prefix.len() + start);
                    generated.extend_from_slice(next_section);
                    input =
                        next_section.iter().map(|&id| self.vocabulary.decoder_id(id)).collect::<Result<Vec<_>>>()?;
                } else if goes_on(&generated, overrides) && start > 0 {
                    // Still unfinished: the sentence is written again from its list number, barred from
                    // beginning as the repeat did. The step before it is fed again for its logits.
                    overrides += 1;
                    let content = start + repeats.list_number_len(&repeated);
                    generated.extend_from_slice(&repeated[..content - start]);
                    barred.push((content, self.vocabulary.decoder_id(repeated[content - start])?));
                    cache.truncate(prefix.len() + content - 1);
                    input = vec![self.vocabulary.decoder_id(generated[content - 1])?];
                } else {
                    // The text ends here; its reader sees it without the repeat, whatever it answers.
                    let _ = on_token(&generated);
                    break;
                }
            }
            if on_token(&generated).is_break() {
                break;
            }
        }
        Ok(generated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_transformer::DecoderCache;
    use burn::tensor::Distribution;

    #[test]
    fn findings_prompt_names_the_present_findings_most_probable_first() {
        let count = candidates().len();
        let uniform = PresentThresholds::default();
        assert_eq!(findings_prompt(&vec![0.2; count], &uniform), "present: none");
        let mut present = vec![0.1; count];
        present[0] = 0.6;
        present[count - 1] = 0.9;
        let sentences: Vec<String> = candidates().iter().map(|c| c.sentence()).collect();
        assert_eq!(findings_prompt(&present, &uniform), format!("present: {}, {}", sentences[count - 1], sentences[0]));
        assert_eq!(
            findings_prompt(&vec![1.0; count], &uniform).matches(", ").count(),
            PROMPT_MAX_FINDINGS - 1,
            "bounded"
        );

        // Each entity at its own threshold: the first candidate's entity from 0.25, the last's from 0.95.
        let (first, last) = (candidates()[0].entity, candidates()[count - 1].entity);
        let mut per_entity = vec![0.5; crate::vocab::ENTITIES.len()];
        (per_entity[first], per_entity[last]) = (0.25, 0.95);
        let calibrated = PresentThresholds::try_from(per_entity).unwrap();
        present[0] = 0.3;
        assert_eq!(findings_prompt(&present, &calibrated), format!("present: {}", sentences[0]));
    }

    #[test]
    fn prompted_ids_put_the_prompt_between_cls_and_sep() {
        assert_eq!(prompted_ids(&[7, 8], &[CLS_ID, 20, 21, SEP_ID]), (vec![CLS_ID, 7, 8, SEP_ID, 20, 21, SEP_ID], 4));
        assert_eq!(prompted_ids(&[7], &[20, 21]), (vec![CLS_ID, 7, SEP_ID, 20, 21], 3), "a prefix without [CLS]");
    }

    fn small_decoder(device: &Device) -> ReportDecoder {
        let text = TextConfig::new(16, 2, 2, 32).with_vocab_size(40).with_max_positions(24);
        ReportDecoder::new(&text, 2, 8, DecoderVocabulary::new(&[], 40).unwrap(), device)
    }

    /// Greedy decoding without a cache: the whole text through [`ReportDecoder::forward`] at every step.
    fn greedy_without_cache(decoder: &ReportDecoder, memory: &Tensor<3>, prefix: &[u32], steps: usize) -> Vec<u32> {
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

    /// `.` is 0, list numbers 1 and 2, `impression :` is 8 9; other ids are words.
    fn repeats(next_section: &[u32]) -> RepeatedSentences {
        RepeatedSentences { sentence_end: 0, list_numbers: vec![1, 2], next_section: next_section.to_vec() }
    }

    #[test]
    fn a_sentence_repeated_within_its_section_is_found_where_it_begins() {
        let guard = repeats(&[8, 9]);
        assert_eq!(guard.repeat_start(&[20, 21, 0, 22, 0, 20, 21, 0]), Some(5));
        assert_eq!(guard.repeat_start(&[20, 21, 0, 22, 0, 20, 21]), None, "the sentence is not finished");
        assert_eq!(guard.repeat_start(&[20, 21, 0, 20, 22, 0]), None, "a different sentence");
        // An impression restates the findings: a repeat across sections is no loop.
        assert_eq!(guard.repeat_start(&[20, 21, 0, 8, 9, 20, 21, 0]), None);
        assert_eq!(guard.repeat_start(&[20, 21, 0, 8, 9, 20, 21, 0, 20, 21, 0]), Some(8));
        // List numbers: `1 . x . 2 . x .` repeats x, and the repeat begins at its number.
        assert_eq!(guard.repeat_start(&[8, 9, 1, 0, 20, 21, 0, 2, 0, 20, 21, 0]), Some(7));
        assert_eq!(guard.repeat_start(&[8, 9, 1, 0, 20, 21, 0, 2, 0, 22, 0]), None);
        assert_eq!(guard.repeat_start(&[0, 0]), None, "empty sentences");
    }

    #[test]
    fn a_repeat_moves_the_text_to_its_next_section_once() {
        let guard = repeats(&[8, 9]);
        assert_eq!(guard.next_section_after(&[20, 21, 0]), Some(&[8u32, 9][..]));
        assert_eq!(guard.next_section_after(&[20, 21, 0, 8, 9, 22, 0]), None, "already in the last section");
        assert_eq!(repeats(&[]).next_section_after(&[20, 0]), None, "a text of one section");
    }

    /// A random decoder and memory, a prefix, and the 8 tokens greedy decoding writes after it.
    fn greedy_text() -> (ReportDecoder, Tensor<3>, [u32; 2], Vec<u32>) {
        let device = Device::flex();
        let decoder = small_decoder(&device);
        let memory = Tensor::<3>::random([1, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let prefix = [2u32, 9];
        let expected = greedy_without_cache(&decoder, &memory, &prefix, 8);
        (decoder, memory, prefix, expected)
    }

    #[test]
    fn generation_with_the_cache_writes_the_uncached_tokens_and_stops_when_asked() {
        let (decoder, memory, prefix, expected) = greedy_text();
        let cached = pollster::block_on(
            decoder.generate(&memory, &prefix, 8, 24, None, None, None, |_| ControlFlow::Continue(())),
        )
        .unwrap();
        assert_eq!(cached, expected);
        let mut seen = 0;
        let stopped = pollster::block_on(decoder.generate(&memory, &prefix, 8, 24, None, None, None, |_| {
            seen += 1;
            if seen == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }))
        .unwrap();
        assert_eq!(stopped, expected[..3]);
    }

    #[test]
    fn an_unfinished_text_passes_over_its_stop_token() {
        let (decoder, memory, prefix, expected) = greedy_text();
        // The greedy text's third token made the stop token: it ends where that token first comes.
        let stop = expected[2];
        let first = expected.iter().position(|&t| t == stop).unwrap();
        let generate = |unfinished: Option<Unfinished>| {
            pollster::block_on(
                decoder.generate(&memory, &prefix, 8, 24, Some(stop), None, unfinished, |_| ControlFlow::Continue(())),
            )
            .unwrap()
        };
        assert_eq!(generate(None), expected[..first]);
        // Never finished: the text passes over the stop token up to MAX_OVERRIDES times, then ends at it.
        let never = |_: &[u32]| true;
        let unfinished = generate(Some(&never));
        assert_eq!(unfinished[..first], expected[..first], "the same text up to the stop");
        assert!(unfinished.len() > first && !unfinished.contains(&stop), "{unfinished:?} with stop {stop}");
        let finished = |_: &[u32]| false;
        assert_eq!(generate(Some(&finished)), expected[..first], "a finished text ends at its stop");
    }

    #[test]
    fn pruned_vocabulary_maps_both_ways_and_unknown_words_read_as_unk() {
        let vocabulary = DecoderVocabulary::new(&[0, 100, 101, 102, 7], 200).unwrap();
        assert_eq!(vocabulary.len(), 5);
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![101i64, 7, 3, 102], [1, 4]), &Device::flex());
        let mapped = vocabulary.decoder_ids(ids).into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(mapped, vec![2, 4, 1, 3], "id 3 is not in the vocabulary: [UNK] (decoder id 1)");
        let on_host: Vec<i64> = [101, 7, 3, 102].iter().map(|&id| vocabulary.decoder_id(id).unwrap()).collect();
        assert_eq!(on_host, mapped);
        assert!(vocabulary.decoder_id(200).is_err());
        assert_eq!(vocabulary.tokenizer_id(4), 7);
    }

    #[test]
    fn malformed_vocabularies_are_refused() {
        let error = |ids: &[u32]| DecoderVocabulary::new(ids, 200).unwrap_err().to_string();
        assert!(error(&[0, 100, 101]).contains("[SEP]"), "{}", error(&[0, 100, 101]));
        assert!(error(&[0, 100, 101, 102, 102]).contains("twice"));
        assert!(error(&[0, 100, 101, 102, 500]).contains("outside"));
        let whole = DecoderVocabulary::new(&[], 200).unwrap();
        assert_eq!((whole.len(), whole.tokenizer_id(150)), (200, 150));
    }
}
