//! `gkmvlp calibrate`: fits the probability from which ECLS calls each entity present
//! ([`PresentThresholds`]) on a validation split, and writes them into the weights' manifest, where the
//! CLI, the page and the findings prompt read them. The model's weights are not touched.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use gkmvlp::inference::pipeline::read_f32;
use gkmvlp::network::ecls_head::{PRESENT_THRESHOLD, PresentThresholds};
use gkmvlp::storage::weights::{MANIFEST_FILE, Manifest};
use gkmvlp::vocab::{Entity, candidates};

use crate::data::load_image;
use crate::eval::{entities_present, load_pipeline, split_records};
use crate::metrics::{self, ENTITY_COUNT};

/// Thresholds tried, 0.01 to 0.99 in steps of 0.01: fine enough for the recipe's 2,000 calibration studies,
/// and reaching the ends, where an over- or under-confident entity's best threshold lies.
fn grid() -> impl Iterator<Item = f32> {
    (1..100).map(|percent| percent as f32 / 100.0)
}
/// Coordinate-ascent passes over the entities (a third rarely moves anything).
const SWEEPS: usize = 3;
/// An entity with fewer positives in the split keeps [`PRESENT_THRESHOLD`]: a handful of cases would
/// choose its threshold by chance.
pub const MIN_POSITIVES: usize = 5;
/// A threshold is only taken where at least this share of its calls are right: micro F1 alone would
/// call a finding the model cannot see in every study whenever that finding is common enough.
pub const MIN_PRECISION: f64 = 0.5;

#[derive(Args)]
pub struct CalibrateArgs {
    /// Weights folder; its manifest.json is rewritten with the thresholds.
    #[arg(long)]
    pub weights: PathBuf,
    /// Dataset folder.
    #[arg(long)]
    pub data: PathBuf,
    /// The split to fit on; never the one the metrics are reported on.
    #[arg(long, default_value = "val")]
    pub split: String,
}

/// Each study's highest ECLS probability per entity, and which entities it truly has.
pub struct EntityScores {
    pub scores: Vec<[f32; ENTITY_COUNT]>,
    pub truth: Vec<[bool; ENTITY_COUNT]>,
}

impl EntityScores {
    /// Micro F1 over (study, entity) pairs of calling an entity present from its threshold.
    pub fn f1(&self, thresholds: &[f32; ENTITY_COUNT]) -> f64 {
        let called: Vec<[bool; ENTITY_COUNT]> =
            self.scores.iter().map(|s| std::array::from_fn(|e| s[e] >= thresholds[e])).collect();
        metrics::clinical_f1(&called, &self.truth).2
    }

    fn positives(&self, entity: usize) -> usize {
        self.truth.iter().filter(|t| t[entity]).count()
    }

    /// The share of studies called present for `entity` from `threshold` that have it; 1 with no calls.
    fn precision(&self, entity: usize, threshold: f32) -> f64 {
        let calls: Vec<bool> = self
            .scores
            .iter()
            .zip(&self.truth)
            .filter(|(s, _)| s[entity] >= threshold)
            .map(|(_, t)| t[entity])
            .collect();
        if calls.is_empty() { 1.0 } else { calls.iter().filter(|&&right| right).count() as f64 / calls.len() as f64 }
    }
}

/// Thresholds that maximise [`EntityScores::f1`]: coordinate ascent from 0.5 over [`grid`], moving an
/// entity only for a strictly better F1 (so the result is never worse than 0.5 everywhere on these studies)
/// and only to a threshold of [`MIN_PRECISION`].
pub fn fit(scores: &EntityScores) -> [f32; ENTITY_COUNT] {
    let mut thresholds = [PRESENT_THRESHOLD; ENTITY_COUNT];
    let mut best = scores.f1(&thresholds);
    for _ in 0..SWEEPS {
        for entity in (0..ENTITY_COUNT).filter(|&e| scores.positives(e) >= MIN_POSITIVES) {
            for threshold in grid().filter(|&t| scores.precision(entity, t) >= MIN_PRECISION) {
                let mut trial = thresholds;
                trial[entity] = threshold;
                let f1 = scores.f1(&trial);
                if f1 > best {
                    (best, thresholds) = (f1, trial);
                }
            }
        }
    }
    thresholds
}

pub fn run(args: &CalibrateArgs) -> Result<PresentThresholds> {
    if args.split == "test" {
        bail!(
            "calibrating on the test split would fit the thresholds to the studies their metrics are measured on; use --split val"
        );
    }
    let manifest_path = args.weights.join(MANIFEST_FILE);
    let pipeline = load_pipeline(&args.weights)?;
    let records = split_records(&args.data, &args.split, 0)?;
    let mut scores =
        EntityScores { scores: Vec::with_capacity(records.len()), truth: Vec::with_capacity(records.len()) };
    for (i, record) in records.iter().enumerate() {
        let which = || format!("record {}", record.id);
        let image = pipeline.image_tensor(&load_image(record, pipeline.image_size() as u32)?).with_context(which)?;
        let present = pollster::block_on(read_f32(pipeline.encode(image).present)).with_context(which)?;
        let mut best = [0.0f32; ENTITY_COUNT];
        for (candidate, p) in candidates().iter().zip(present) {
            best[candidate.entity.index()] = best[candidate.entity.index()].max(p);
        }
        scores.scores.push(best);
        scores.truth.push(entities_present(&record.exist));
        eprint!("\rscored {}/{}", i + 1, records.len());
    }
    eprintln!();

    let thresholds = fit(&scores);
    println!("{:<28} {:>9} {:>9}", "entity", "positives", "threshold");
    for (index, (entity, threshold)) in Entity::ALL.iter().zip(thresholds).enumerate() {
        println!("{:<28} {:>9} {:>9.2}", entity.name(), scores.positives(index), threshold);
    }
    let (before, after) = (scores.f1(&[PRESENT_THRESHOLD; ENTITY_COUNT]), scores.f1(&thresholds));
    println!(
        "ECLS F1 on {} `{}` studies: {before:.3} at 0.5, {after:.3} at these thresholds",
        records.len(),
        args.split
    );

    let read = std::fs::read(&manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let mut manifest = Manifest::parse(&read).with_context(|| manifest_path.display().to_string())?;
    let thresholds = PresentThresholds::try_from(thresholds.to_vec())?;
    manifest.present_thresholds = Some(thresholds.clone());
    if let Some(training) = manifest.training.as_object_mut() {
        let calibration = serde_json::json!({ "split": args.split, "studies": records.len(), "ecls_f1_at_0.5": before, "ecls_f1": after });
        training.insert("calibration".into(), calibration);
    }
    let json = serde_json::to_vec_pretty(&manifest).context("cannot serialise the manifest")?;
    std::fs::write(&manifest_path, json).with_context(|| format!("cannot write {}", manifest_path.display()))?;
    eprintln!("wrote the thresholds into {}", manifest_path.display());
    Ok(thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` studies; entity 0 present in every other one, scored 0.3 there and 0.1 elsewhere.
    fn studies(n: usize) -> EntityScores {
        let mut scores = EntityScores { scores: Vec::new(), truth: Vec::new() };
        for i in 0..n {
            let present = i % 2 == 0;
            let mut s = [0.0; ENTITY_COUNT];
            let mut t = [false; ENTITY_COUNT];
            (s[0], t[0]) = (if present { 0.3 } else { 0.1 }, present);
            scores.scores.push(s);
            scores.truth.push(t);
        }
        scores
    }

    #[test]
    fn fit_lowers_the_threshold_of_an_under_confident_entity() {
        let scores = studies(20);
        assert_eq!(scores.f1(&[PRESENT_THRESHOLD; ENTITY_COUNT]), 0.0, "nothing reaches 0.5");
        let fitted = fit(&scores);
        assert!(fitted[0] > 0.1 && fitted[0] <= 0.3, "between the two scores: {}", fitted[0]);
        assert_eq!(scores.f1(&fitted), 1.0);
        assert!(fitted[1..].iter().all(|&t| t == PRESENT_THRESHOLD), "entities without positives keep 0.5");
    }

    #[test]
    fn fit_keeps_half_for_rare_or_unseeable_entities() {
        // Four positives: too few to choose a threshold from.
        assert_eq!(fit(&studies(2 * MIN_POSITIVES - 2))[0], PRESENT_THRESHOLD);

        // Entity 1 scored 0.2 whether present or not, present in 2 studies of 5: calling it everywhere
        // would lift the micro F1 from 0 to 0.57, but most calls would be wrong.
        let mut scores = EntityScores { scores: vec![[0.0; ENTITY_COUNT]; 30], truth: vec![[false; ENTITY_COUNT]; 30] };
        for (i, (s, t)) in scores.scores.iter_mut().zip(&mut scores.truth).enumerate() {
            (s[1], t[1]) = (0.2, i % 5 < 2);
        }
        assert!(scores.f1(&std::array::from_fn(|_| 0.2)) > 0.5);
        assert_eq!(fit(&scores)[1], PRESENT_THRESHOLD);
    }
}
