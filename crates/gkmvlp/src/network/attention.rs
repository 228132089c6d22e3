//! Multi-head scaled dot-product attention, shared by every transformer of the model. Projection names
//! follow BERT (`query`, `key`, `value`) so checkpoints load by name; the output projection belongs to the
//! caller, because BERT and ViT place it (and its norm) differently.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor, activation::softmax};

/// Added to the score of a masked key: large enough that its softmax weight is exactly 0 in f32, finite so
/// that a row never turns into NaN.
pub const MASKED: f32 = -1.0e9;

/// Which keys a query reads, broadcastable to `[batch, heads, queries, keys]`.
#[derive(Debug, Clone)]
pub enum KeyMask {
    /// `true` where a query may NOT see a key.
    Hidden(Tensor<4, Bool>),
    /// Added to the scores: the log of the share of each key a query reads (0 reads it whole, [`MASKED`]
    /// not at all), so that a key can fade out instead of vanishing at once.
    Bias(Tensor<4>),
}

#[derive(Module, Debug)]
pub struct Attention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub heads: usize,
}

/// Context vectors and the attention weights that produced them (kept: the page highlights regions with
/// the GK module's weights).
#[derive(Debug, Clone)]
pub struct AttentionOutput {
    /// `[batch, queries, width]`
    pub context: Tensor<3>,
    /// `[batch, heads, queries, keys]`
    pub weights: Tensor<4>,
}

/// Keys and values split by head, `[batch, heads, keys, head_width]` each: what a query reads. A decoder
/// keeps them between generation steps instead of projecting the same tokens again.
#[derive(Debug, Clone)]
pub struct KeyValues {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl KeyValues {
    /// These keys followed by `next`'s: the tokens seen so far and the new ones.
    pub fn append(self, next: KeyValues) -> KeyValues {
        KeyValues {
            keys: Tensor::cat(vec![self.keys, next.keys], 2),
            values: Tensor::cat(vec![self.values, next.values], 2),
        }
    }

    /// The keys and values of the first `count` tokens.
    pub fn first(self, count: usize) -> KeyValues {
        KeyValues { keys: self.keys.narrow(2, 0, count), values: self.values.narrow(2, 0, count) }
    }
}

/// Queries of `width` in `heads` heads; keys and values read from a memory of `memory_width`.
#[derive(Debug, Clone)]
pub struct AttentionConfig {
    pub width: usize,
    pub memory_width: usize,
    pub heads: usize,
}

impl AttentionConfig {
    pub fn init(&self, device: &Device) -> Attention {
        Attention {
            query: LinearConfig::new(self.width, self.width).init(device),
            key: LinearConfig::new(self.memory_width, self.width).init(device),
            value: LinearConfig::new(self.memory_width, self.width).init(device),
            heads: self.heads,
        }
    }
}

impl Attention {
    /// `x`: `[batch, queries, width]`, `memory`: `[batch, keys, memory_width]`, `mask`: which keys each
    /// query reads.
    pub fn forward(&self, x: Tensor<3>, memory: Tensor<3>, mask: Option<KeyMask>) -> AttentionOutput {
        self.attend(x, &self.key_values(memory), mask)
    }

    /// The keys and values of `memory` `[batch, keys, memory_width]`.
    pub fn key_values(&self, memory: Tensor<3>) -> KeyValues {
        KeyValues {
            keys: self.split_heads(self.key.forward(memory.clone())),
            values: self.split_heads(self.value.forward(memory)),
        }
    }

    /// [`Attention::forward`] over keys and values already projected.
    pub fn attend(&self, x: Tensor<3>, memory: &KeyValues, mask: Option<KeyMask>) -> AttentionOutput {
        let [batch, queries, width] = x.dims();
        let [_, heads, keys, head_width] = memory.keys.dims();
        let q = self.split_heads(self.query.forward(x));
        let mut scores = q.matmul(memory.keys.clone().swap_dims(2, 3)).div_scalar((head_width as f32).sqrt());
        match mask {
            Some(KeyMask::Hidden(hidden)) => {
                scores = scores.mask_fill(hidden.expand([batch, heads, queries, keys]), MASKED)
            }
            Some(KeyMask::Bias(bias)) => scores = scores + bias.expand([batch, heads, queries, keys]),
            None => {}
        }
        let weights = softmax(scores, 3);
        let context = weights.clone().matmul(memory.values.clone()).swap_dims(1, 2).reshape([batch, queries, width]);
        AttentionOutput { context, weights }
    }

    /// `[batch, len, width]` → `[batch, heads, len, width / heads]`.
    fn split_heads(&self, t: Tensor<3>) -> Tensor<4> {
        let [batch, len, width] = t.dims();
        t.reshape([batch, len, self.heads, width / self.heads]).swap_dims(1, 2)
    }
}

/// Mask of a causal decoder reading `queries` new tokens after `past` earlier ones: `true` where a key comes
/// after its query (a token may not see later tokens). `[1, 1, queries, past + queries]`.
pub fn causal_mask(queries: usize, past: usize, device: &Device) -> Tensor<4, Bool> {
    Tensor::<2, Bool>::tril_mask([queries, past + queries], past as i64, device).reshape([
        1,
        1,
        queries,
        past + queries,
    ])
}

/// Mask hiding padded keys: `attention_mask` is `[batch, keys]` with 1 for real tokens and 0 for padding;
/// the result is `true` on padding, `[batch, 1, 1, keys]`.
pub fn padding_mask(attention_mask: Tensor<2>) -> Tensor<4, Bool> {
    let [batch, keys] = attention_mask.dims();
    attention_mask.lower_equal_elem(0.5).reshape([batch, 1, 1, keys])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn masked_keys_get_zero_weight_and_rows_sum_to_one() {
        let device = Device::flex();
        let attention = AttentionConfig { width: 8, memory_width: 8, heads: 2 }.init(&device);
        let x = Tensor::<3>::random([2, 4, 8], burn::tensor::Distribution::Default, &device);
        let out = attention.forward(x.clone(), x, Some(KeyMask::Hidden(causal_mask(4, 0, &device))));
        let w = out.weights.into_data().try_to_vec::<f32>().unwrap();
        for b in 0..2 * 2 {
            for q in 0..4 {
                let row = &w[(b * 4 + q) * 4..(b * 4 + q + 1) * 4];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                for (k, &value) in row.iter().enumerate() {
                    if k > q {
                        assert_eq!(value, 0.0, "query {q} sees future key {k}");
                    }
                }
            }
        }
        assert_eq!(out.context.dims(), [2, 4, 8]);
    }

    #[test]
    fn a_key_biased_by_the_log_of_a_share_is_read_in_that_share() {
        let device = Device::flex();
        let attention = AttentionConfig { width: 8, memory_width: 8, heads: 2 }.init(&device);
        let x = Tensor::<3>::random([1, 3, 8], burn::tensor::Distribution::Default, &device);
        let weights = |bias: Option<KeyMask>| {
            attention.forward(x.clone(), x.clone(), bias).weights.into_data().try_to_vec::<f32>().unwrap()
        };
        let share = 0.25f32;
        let bias = Tensor::<4>::from_data(TensorData::new(vec![0.0, share.ln(), MASKED], [1, 1, 1, 3]), &device);
        let (plain, biased) = (weights(None), weights(Some(KeyMask::Bias(bias))));
        for row in 0..2 * 3 {
            let (p, b) = (&plain[row * 3..row * 3 + 3], &biased[row * 3..row * 3 + 3]);
            // Relative to key 0, key 1 keeps a quarter of its weight; key 2 none.
            assert!(((b[1] / b[0]) / (p[1] / p[0]) - share).abs() < 1e-4, "{p:?} {b:?}");
            assert_eq!(b[2], 0.0);
            assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn causal_mask_after_past_tokens_hides_only_later_keys() {
        let mask = causal_mask(2, 3, &Device::flex()).into_data().try_to_vec::<bool>().unwrap();
        #[rustfmt::skip]
        assert_eq!(mask, vec![false, false, false, false, true,
                              false, false, false, false, false]);
    }

    #[test]
    fn padding_mask_marks_zeros() {
        let device = Device::flex();
        let mask = padding_mask(Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0], [1, 3]), &device));
        assert_eq!(mask.into_data().try_to_vec::<bool>().unwrap(), vec![false, false, true]);
    }
}
