//! Greedy generation over the [`ReportDecoder`], token by token with a key–value cache: where a text
//! stops, how long it may grow, and the two rules that keep greedy decoding honest — a sentence repeated
//! within its section is taken back ([`RepeatedSentences`]), and a text that is not finished yet
//! ([`Unfinished`]) passes over its stop token a bounded number of times.

use std::ops::ControlFlow;

use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{GkError, Result};
use crate::network::report_decoder::ReportDecoder;
use crate::protocol::after_last;

/// Most times an unfinished text goes on where it would have ended: each time the decoder writes a
/// sentence it did not choose to, and a longer run of them drifts.
const MAX_OVERRIDES: usize = 2;

/// Says of the tokens written so far whether the text may not end yet.
pub type Unfinished<'a> = &'a dyn Fn(&[u32]) -> bool;

/// How one text is generated. Tokenizer ids throughout.
pub struct Generation<'a> {
    /// Most tokens written after the prefix.
    pub max_new_tokens: usize,
    /// Most positions, prefix included: the decoder's position table.
    pub max_positions: usize,
    /// The token that ends the text (normally `[SEP]`); it is not part of the result.
    pub stop: Option<u32>,
    /// Takes back a sentence that repeats one of its section.
    pub repeats: Option<&'a RepeatedSentences>,
    /// While it says so of the tokens so far, the text goes on (up to [`MAX_OVERRIDES`] times): `stop` is
    /// passed over for the most probable other token, and a repeat in the last section is written again,
    /// barred from beginning with the same word.
    pub unfinished: Option<Unfinished<'a>>,
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

/// Greedy decoding for one image (`memory` `[1, m, width]`) from `prefix` (starting with `[CLS]`), by the
/// rules of `generation`. `on_token` sees the tokens so far after each step, and ends decoding early by
/// returning [`ControlFlow::Break`]. Each step feeds only the newest tokens: earlier tokens' keys and
/// values stay in the decoder's cache.
pub async fn greedy(
    decoder: &ReportDecoder,
    memory: &Tensor<3>,
    prefix: &[u32],
    generation: &Generation<'_>,
    mut on_token: impl FnMut(&[u32]) -> ControlFlow<()>,
) -> Result<Vec<u32>> {
    let Generation { max_new_tokens, max_positions, stop, repeats, unfinished } = *generation;
    let vocabulary = &decoder.vocabulary;
    let device = memory.device();
    let mut cache = decoder.start_decoding(memory);
    // Decoder ids of the tokens not yet fed: the prefix, then each new token.
    let mut input = decoder_ids(decoder, prefix)?;
    let mut generated = Vec::new();
    // (position in the text, decoder id) pairs that may not be written there.
    let mut barred: Vec<(usize, i64)> = Vec::new();
    // Times the text went on where it would have ended.
    let mut overrides = 0;
    let goes_on =
        |generated: &[u32], overrides: usize| overrides < MAX_OVERRIDES && unfinished.is_some_and(|f| f(generated));
    while generated.len() < max_new_tokens && cache.len() + input.len() < max_positions {
        let ids = Tensor::<2, Int>::from_data(TensorData::new(input.clone(), [1, input.len()]), &device);
        let logits = decoder.next_token_logits(ids, &mut cache);
        let mut next = read_argmax(logits.clone()).await?;
        let stops_unfinished = stop == Some(vocabulary.tokenizer_id(next as u32)) && goes_on(&generated, overrides);
        if stops_unfinished || barred.contains(&(generated.len(), next)) {
            let mut bars: Vec<i64> =
                barred.iter().filter(|(at, _)| *at == generated.len()).map(|(_, id)| *id).collect();
            if stops_unfinished {
                overrides += 1;
                bars.extend(stop.map(|stop| vocabulary.decoder_id(stop)).transpose()?);
            }
            next = read_best_allowed(logits, &bars).await?;
        }
        let token = vocabulary.tokenizer_id(next as u32);
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
                input = decoder_ids(decoder, next_section)?;
            } else if goes_on(&generated, overrides) && start > 0 {
                // Still unfinished: the sentence is written again from its list number, barred from
                // beginning as the repeat did. The step before it is fed again for its logits.
                overrides += 1;
                let content = start + repeats.list_number_len(&repeated);
                generated.extend_from_slice(&repeated[..content - start]);
                barred.push((content, vocabulary.decoder_id(repeated[content - start])?));
                cache.truncate(prefix.len() + content - 1);
                input = vec![vocabulary.decoder_id(generated[content - 1])?];
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

fn decoder_ids(decoder: &ReportDecoder, ids: &[u32]) -> Result<Vec<i64>> {
    ids.iter().map(|&id| decoder.vocabulary.decoder_id(id)).collect()
}

fn device_error(e: impl std::fmt::Debug) -> GkError {
    GkError::Device(format!("{e:?}"))
}

/// The most probable next decoder id of `logits` `[1, 1, vocab]`: one id read back.
async fn read_argmax(logits: Tensor<3>) -> Result<i64> {
    let next = logits.argmax(2).into_data_async().await.map_err(device_error)?;
    let next = next.convert::<i64>().try_to_vec::<i64>().map_err(device_error)?;
    next.first().copied().ok_or_else(|| GkError::Device("empty read-back of the next token".into()))
}

/// The most probable next decoder id of `logits` `[1, 1, vocab]` other than `barred`: the whole row read back.
async fn read_best_allowed(logits: Tensor<3>, barred: &[i64]) -> Result<i64> {
    let row = logits.into_data_async().await.map_err(device_error)?;
    let row = row.convert::<f32>().try_to_vec::<f32>().map_err(device_error)?;
    let allowed = row.iter().enumerate().filter(|&(id, _)| !barred.contains(&(id as i64)));
    allowed
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(id, _)| id as i64)
        .ok_or_else(|| GkError::Device("every token barred".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::report_decoder::tests::{greedy_without_cache, small_decoder};
    use burn::tensor::{Device, Distribution};

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

    /// At most 8 new tokens in 24 positions, with no repeat rule.
    fn bounds<'a>(stop: Option<u32>, unfinished: Option<Unfinished<'a>>) -> Generation<'a> {
        Generation { max_new_tokens: 8, max_positions: 24, stop, repeats: None, unfinished }
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
        let cached =
            pollster::block_on(greedy(&decoder, &memory, &prefix, &bounds(None, None), |_| ControlFlow::Continue(())))
                .unwrap();
        assert_eq!(cached, expected);
        let mut seen = 0;
        let stopped = pollster::block_on(greedy(&decoder, &memory, &prefix, &bounds(None, None), |_| {
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
            let rules = bounds(Some(stop), unfinished);
            pollster::block_on(greedy(&decoder, &memory, &prefix, &rules, |_| ControlFlow::Continue(()))).unwrap()
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
}
