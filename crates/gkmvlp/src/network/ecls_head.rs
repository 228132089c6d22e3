//! ECLS, the entity-existence head: for every grounded knowledge token, is its finding present at its
//! position? Two classes (absent, present), trained with cross-entropy on every candidate triplet.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::softmax};
use serde::{Deserialize, Serialize};

use crate::error::{GkError, Result};
use crate::vocab::{Candidate, Entity, NUM_ENTITIES};

/// ECLS probability from which a finding is called present when no calibrated threshold is known.
pub const PRESENT_THRESHOLD: f32 = 0.5;

/// The ECLS probability from which each entity is called present (drawn on overlays, marked on the page,
/// named in the findings prompt), in [`Entity::ALL`] order. One probability cannot suit every finding: a
/// rare, subtle one is best called at 0.15 and an effusion at 0.85, so `gkmvlp calibrate` fits them on a
/// validation split and the weights' manifest carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f32>", into = "Vec<f32>")]
pub struct PresentThresholds(Vec<f32>);

impl Default for PresentThresholds {
    fn default() -> Self {
        PresentThresholds(vec![PRESENT_THRESHOLD; NUM_ENTITIES])
    }
}

impl TryFrom<Vec<f32>> for PresentThresholds {
    type Error = GkError;

    /// One threshold per entity, each strictly between 0 and 1.
    fn try_from(per_entity: Vec<f32>) -> Result<Self> {
        if per_entity.len() != NUM_ENTITIES {
            return Err(GkError::Input(format!(
                "{} present thresholds for {} entities",
                per_entity.len(),
                NUM_ENTITIES
            )));
        }
        if let Some((entity, t)) = per_entity.iter().enumerate().find(|(_, t)| !(**t > 0.0 && **t < 1.0)) {
            return Err(GkError::Input(format!(
                "present threshold {t} of {} is not strictly between 0 and 1",
                Entity::ALL[entity].name()
            )));
        }
        Ok(PresentThresholds(per_entity))
    }
}

impl From<PresentThresholds> for Vec<f32> {
    fn from(thresholds: PresentThresholds) -> Self {
        thresholds.0
    }
}

impl PresentThresholds {
    /// The threshold of `entity`.
    pub fn of(&self, entity: Entity) -> f32 {
        self.0[entity.index()]
    }

    pub fn is_present(&self, candidate: &Candidate, probability: f32) -> bool {
        probability >= self.of(candidate.entity)
    }
}

#[derive(Module, Debug)]
pub struct EclsHead {
    pub classifier: Linear,
}

/// A head over knowledge tokens `width` wide.
#[derive(Debug, Clone)]
pub struct EclsHeadConfig {
    pub width: usize,
}

impl EclsHeadConfig {
    pub fn init(&self, device: &Device) -> EclsHead {
        EclsHead { classifier: LinearConfig::new(self.width, 2).init(device) }
    }
}

impl EclsHead {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_thresholds_are_one_probability_per_entity() {
        let uniform = PresentThresholds::default();
        assert!(Entity::ALL.iter().all(|&e| uniform.of(e) == PRESENT_THRESHOLD));

        let mut per_entity = vec![0.5; NUM_ENTITIES];
        per_entity[Entity::LungNodule.index()] = 0.15;
        let json = serde_json::to_string(&PresentThresholds::try_from(per_entity).unwrap()).unwrap();
        let read: PresentThresholds = serde_json::from_str(&json).unwrap();
        assert_eq!(read.of(Entity::LungNodule), 0.15);

        let error = PresentThresholds::try_from(vec![0.5; 3]).unwrap_err().to_string();
        assert!(error.contains("3 present thresholds for 14 entities"), "{error}");
        for bad in [0.0, 1.0, f32::NAN, -0.2] {
            let mut per_entity = vec![0.5; NUM_ENTITIES];
            per_entity[0] = bad;
            let error = PresentThresholds::try_from(per_entity).unwrap_err().to_string();
            assert!(error.contains(Entity::PleuralEffusion.name()), "{error}");
        }
        assert!(serde_json::from_str::<PresentThresholds>("[0.5, 2.0]").is_err(), "checked when read, too");
    }
}
