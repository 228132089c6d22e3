//! Multi-head scaled dot-product attention, shared by every transformer of the model. Projection names
//! follow BERT (`query`, `key`, `value`) so checkpoints load by name; the output projection belongs to the
//! caller, because BERT and ViT place it (and its norm) differently.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor, activation::softmax};

/// Added to the score of a masked key: large enough that its softmax weight is exactly 0 in f32, finite so
/// that a row never turns into NaN.
const MASKED: f32 = -1.0e9;

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

impl Attention {
    /// Queries of `width`, keys and values read from a memory of `memory_width`.
    pub fn new(width: usize, memory_width: usize, heads: usize, device: &Device) -> Self {
        Attention {
            query: LinearConfig::new(width, width).init(device),
            key: LinearConfig::new(memory_width, width).init(device),
            value: LinearConfig::new(memory_width, width).init(device),
            heads,
        }
    }

    /// `x`: `[batch, queries, width]`, `memory`: `[batch, keys, memory_width]`, `mask`: `true` where a
    /// query may NOT see a key, broadcastable to `[batch, heads, queries, keys]`.
    pub fn forward(&self, x: Tensor<3>, memory: Tensor<3>, mask: Option<Tensor<4, Bool>>) -> AttentionOutput {
        let [batch, queries, width] = x.dims();
        let keys = memory.dims()[1];
        let head_width = width / self.heads;
        let split = |t: Tensor<3>, len: usize| t.reshape([batch, len, self.heads, head_width]).swap_dims(1, 2);

        let q = split(self.query.forward(x), queries);
        let k = split(self.key.forward(memory.clone()), keys);
        let v = split(self.value.forward(memory), keys);

        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((head_width as f32).sqrt());
        if let Some(mask) = mask {
            let mask = mask.expand([batch, self.heads, queries, keys]);
            scores = scores.mask_fill(mask, MASKED);
        }
        let weights = softmax(scores, 3);
        let context = weights.clone().matmul(v).swap_dims(1, 2).reshape([batch, queries, width]);
        AttentionOutput { context, weights }
    }
}

/// Mask of a causal decoder: `true` above the diagonal (a token may not see later tokens). `[1, 1, len, len]`.
pub fn causal_mask(len: usize, device: &Device) -> Tensor<4, Bool> {
    Tensor::<2, Bool>::tril_mask([len, len], 0, device).reshape([1, 1, len, len])
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
        let attention = Attention::new(8, 8, 2, &device);
        let x = Tensor::<3>::random([2, 4, 8], burn::tensor::Distribution::Default, &device);
        let out = attention.forward(x.clone(), x, Some(causal_mask(4, &device)));
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
    fn padding_mask_marks_zeros() {
        let device = Device::flex();
        let mask = padding_mask(Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0], [1, 3]), &device));
        assert_eq!(mask.into_data().try_to_vec::<bool>().unwrap(), vec![false, false, true]);
    }
}
