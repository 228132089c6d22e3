//! ECLS, the entity-existence head: for every grounded knowledge token, is its finding present at its
//! position? Two classes (absent, present), trained with cross-entropy on every candidate triplet.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::softmax};

/// ECLS probability from which a finding is called present (drawn on overlays, named in the findings prompt).
pub const PRESENT_THRESHOLD: f32 = 0.5;

#[derive(Module, Debug)]
pub struct EclsHead {
    pub classifier: Linear,
}

impl EclsHead {
    pub fn new(width: usize, device: &Device) -> Self {
        EclsHead { classifier: LinearConfig::new(width, 2).init(device) }
    }

    /// `[batch, candidates, width]` → logits `[batch, candidates, 2]` (absent, present).
    pub fn forward(&self, knowledge: Tensor<3>) -> Tensor<3> {
        self.classifier.forward(knowledge)
    }

    /// Probability that each candidate is present, `[batch, candidates]`.
    pub fn present_probability(&self, knowledge: Tensor<3>) -> Tensor<2> {
        let [batch, candidates, _] = knowledge.dims();
        softmax(self.forward(knowledge), 2).narrow(2, 1, 1).reshape([batch, candidates])
    }
}
