//! A deterministic end-to-end pass (image → boxes → GK → ECLS → ITM → decoded tokens) whose numbers can be
//! compared across backends: the same weights and the same image must give the same outputs on Flex, on
//! wgpu over Vulkan and on WebGPU in a browser. Used by the parity tests and the benchmarks.

use std::ops::ControlFlow;

use serde::Serialize;

use crate::error::Result;
use crate::inference::generation::{Generation, greedy};
use crate::inference::pipeline::{Pipeline, read_f32};
use crate::tokenizer::CLS_ID;

/// The sentence ITM scores in the reference pass.
pub const REFERENCE_SENTENCE: &str = "small right pleural effusion at the costophrenic angle.";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReferenceOutputs {
    /// `[29 × 4]` region boxes.
    pub boxes: Vec<f32>,
    /// ECLS probabilities of every candidate.
    pub present: Vec<f32>,
    /// GK cross-attention `[candidates × 30]`.
    pub region_attention: Vec<f32>,
    pub image_embedding: Vec<f32>,
    /// ITM probability of [`REFERENCE_SENTENCE`].
    pub match_probability: f32,
    /// Greedy tokens after `[CLS]`, never stopped early.
    pub tokens: Vec<u32>,
}

/// A smooth synthetic chest-like picture: dark lung fields either side of a bright mediastinum, a bright
/// diaphragm below. Deterministic and size-independent, so every backend reads the same input.
pub fn synthetic_radiograph(size: usize) -> Vec<f32> {
    let mut pixels = Vec::with_capacity(size * size);
    for row in 0..size {
        for col in 0..size {
            let x = (col as f32 + 0.5) / size as f32 - 0.5;
            let y = (row as f32 + 0.5) / size as f32;
            let lung = (-((x.abs() - 0.22) / 0.12).powi(2) - ((y - 0.45) / 0.25).powi(2)).exp();
            let diaphragm = 1.0 / (1.0 + (-(y - 0.78) * 30.0).exp());
            let ribs = 0.05 * (y * 40.0).sin();
            pixels.push((0.75 - 0.55 * lung + 0.2 * diaphragm + ribs).clamp(0.0, 1.0));
        }
    }
    pixels
}

/// Runs the reference pass, generating exactly `tokens` tokens.
pub async fn run(pipeline: &Pipeline, tokens: usize) -> Result<ReferenceOutputs> {
    let image = pipeline.image_tensor(&synthetic_radiograph(pipeline.image_size()))?;
    let encoding = pipeline.encode(image);
    let sentence = pipeline.tokenizer.batch(
        &[REFERENCE_SENTENCE.to_string()],
        pipeline.config.text.max_positions,
        &pipeline.device,
    )?;
    let itm = pipeline.model.match_probability(&encoding.visual_memory, sentence.ids, sentence.mask);
    let generation = Generation {
        max_new_tokens: tokens,
        max_positions: pipeline.config.text.max_positions,
        stop: None,
        repeats: None,
        unfinished: None,
    };
    let generated = greedy(&pipeline.model.text_decoder, &encoding.visual_memory, &[CLS_ID], &generation, |_| {
        ControlFlow::Continue(())
    })
    .await?;
    Ok(ReferenceOutputs {
        boxes: read_f32(encoding.boxes).await?,
        present: read_f32(encoding.present).await?,
        region_attention: read_f32(encoding.region_attention).await?,
        image_embedding: read_f32(encoding.image_embedding).await?,
        match_probability: read_f32(itm).await?[0],
        tokens: generated,
    })
}

impl ReferenceOutputs {
    /// Largest absolute difference over every float output.
    pub fn max_abs_diff(&self, other: &ReferenceOutputs) -> f32 {
        let pairs = [
            (&self.boxes, &other.boxes),
            (&self.present, &other.present),
            (&self.region_attention, &other.region_attention),
            (&self.image_embedding, &other.image_embedding),
        ];
        let mut diff = (self.match_probability - other.match_probability).abs();
        for (a, b) in pairs {
            if a.len() != b.len() {
                return f32::INFINITY;
            }
            diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(diff, f32::max);
        }
        diff
    }
}
