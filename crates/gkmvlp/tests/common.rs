//! Shared by the integration tests: the shipped tokenizer and an untrained tiny pipeline.
#![allow(dead_code)]

use burn::tensor::Device;
use gkmvlp::inference::pipeline::{Pipeline, WeightsOrigin};
use gkmvlp::tokenizer::TextTokenizer;
use gkmvlp::{GkMvlp, GkMvlpConfig};

pub const TOKENIZER_JSON: &[u8] = include_bytes!("../../../models/tokenizer.json");

pub fn tokenizer() -> TextTokenizer {
    TextTokenizer::from_bytes(TOKENIZER_JSON).expect("shipped tokenizer.json loads")
}

/// The tiny model with seeded random weights, built on Flex.
pub fn tiny_model(seed: u64) -> GkMvlp {
    model(&GkMvlpConfig::tiny(), seed)
}

/// The model of `config` (a variant of the tiny one) with seeded random weights, built on Flex.
pub fn model(config: &GkMvlpConfig, seed: u64) -> GkMvlp {
    let device = Device::flex();
    device.seed(seed);
    config.init(&device).expect("the model initialises")
}

pub fn pipeline(model: GkMvlp, device: Device) -> Pipeline {
    pipeline_with(model, GkMvlpConfig::tiny(), device)
}

/// A pipeline for `model` built from `config` (a variant of the tiny one).
pub fn pipeline_with(model: GkMvlp, config: GkMvlpConfig, device: Device) -> Pipeline {
    Pipeline::new(model, config, tokenizer(), device, WeightsOrigin::Untrained { text_encoder_from_minilm: false })
        .expect("pipeline builds")
}
