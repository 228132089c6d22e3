//! The ITM head: on the first token of the image-grounded text encoder, does this text match this image?

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::softmax};

#[derive(Module, Debug)]
pub struct ItmHead {
    pub classifier: Linear,
}

/// A head over text states `text_width` wide.
#[derive(Debug, Clone)]
pub struct ItmHeadConfig {
    pub text_width: usize,
}

impl ItmHeadConfig {
    pub fn init(&self, device: &Device) -> ItmHead {
        ItmHead { classifier: LinearConfig::new(self.text_width, 2).init(device) }
    }
}

impl ItmHead {
    /// Grounded text states `[batch, seq, width]` → logits `[batch, 2]` (no match, match).
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        self.classifier.forward(hidden.narrow(1, 0, 1).reshape([batch, width]))
    }

    /// Probability of a match, `[batch]`.
    pub fn match_probability(&self, hidden: Tensor<3>) -> Tensor<1> {
        let [batch, _, _] = hidden.dims();
        softmax(self.forward(hidden), 1).narrow(1, 1, 1).reshape([batch])
    }
}
