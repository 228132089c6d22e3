//! `gkmvlp eval`: the trained model on a held-out split, measured the way the model card reports it —
//! region boxes, ECLS, grounding, zero-shot ITC, reports (BLEU-4, ROUGE-L, clinical-efficacy F1) and VQA.
//! The JSON it writes keeps every ECLS probability, so two weight sets (f32 and int8) can be compared.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use gkmvlp::RegionPooling;
use gkmvlp::inference::pipeline::{Pipeline, read_f32};
use gkmvlp::protocol::REPORT_CUE;
use gkmvlp::storage::weights::WeightFiles;
use gkmvlp::vocab::{Entity, NUM_ENTITIES, NUM_REGIONS, Region, candidates};
use gkmvlp_data::Record;
use serde::{Deserialize, Serialize};

use crate::data::{load_image, report_text};
use crate::metrics;

#[derive(Args)]
pub struct EvalArgs {
    /// Weights folder (manifest.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub weights: PathBuf,
    /// Dataset folder; its `--split` records are evaluated.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate at most this many records (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Write the metrics and every ECLS probability to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only the image side (boxes, ECLS, grounding): seconds instead of minutes, to compare weight sets.
    /// The text metrics are left out (printed n/a, written null).
    #[arg(long)]
    pub image_only: bool,
    /// Diagnostic: pool the region features from the true boxes instead of the predicted ones, to measure
    /// what box errors cost ECLS and grounding (the predicted boxes are still the ones scored for IoU).
    #[arg(long)]
    pub true_boxes: bool,
    /// An earlier `--out` file of the same records: print the largest ECLS probability difference and
    /// each metric's change against it (f32 against int8 weights, say).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    pub records: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub box_iou: f64,
    /// Mean IoU of each region, in vocabulary order.
    pub box_iou_per_region: Vec<(String, f64)>,
    #[serde(deserialize_with = "nan_if_null")]
    pub ecls_macro_auc: f64,
    /// ECLS AUC of each entity (over its candidates), in vocabulary order; none where a split lacks
    /// positives or negatives.
    #[serde(default)]
    pub ecls_auc_per_entity: Vec<(String, Option<f64>)>,
    /// ECLS AUC per study: a study's score for an entity is its highest probability over the entity's
    /// positions, its label whether the entity is present anywhere. This is what a reader of the page sees;
    /// the per-candidate AUC above also rewards ranking a study's positions against each other.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub ecls_study_macro_auc: f64,
    #[serde(default)]
    pub ecls_study_auc_per_entity: Vec<(String, Option<f64>)>,
    /// Micro F1 over (study, entity) pairs of what ECLS calls present at the weights' thresholds
    /// (`PresentThresholds`): the ceiling of a decoder that writes exactly what its findings prompt names.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub ecls_f1: f64,
    /// 95 % bootstrap interval of `ecls_f1` over studies (`metrics::clinical_f1_interval`).
    #[serde(default)]
    pub ecls_f1_interval: Option<(f64, f64)>,
    /// What ECLS calls present, per entity at its threshold: where the calls' recall is lost.
    #[serde(default)]
    pub ecls_calls_per_entity: Vec<EntityCalls>,
    /// Share of the simulator's findings of each severity (mild, moderate, severe) that ECLS calls present,
    /// with their count; empty for data without finding records (the MIMIC-CXR layout).
    #[serde(default)]
    pub ecls_recall_per_severity: Vec<(String, Option<f64>, usize)>,
    #[serde(deserialize_with = "nan_if_null")]
    pub grounding_accuracy: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub zero_shot_macro_auc: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bleu4: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub rouge_l: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub clinical_precision: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub clinical_recall: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub clinical_f1: f64,
    /// 95 % bootstrap interval of `clinical_f1` over studies: how far another sample of as many studies
    /// would likely put it (none with `--image-only`).
    #[serde(default)]
    pub clinical_f1_interval: Option<(f64, f64)>,
    /// Clinical F1 of the decoder's own text, before it is made to agree with its findings prompt
    /// (`agree_with_findings`).
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub clinical_decoder_f1: f64,
    /// Yes/no questions, answered as the pipeline answers them: those asking only whether a finding is
    /// present from its ECLS probability (`ClosedQuestion`), the rest by the decoder.
    #[serde(deserialize_with = "nan_if_null")]
    pub vqa_closed_accuracy: f64,
    /// The same questions, every one answered by the decoder.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub vqa_closed_decoder_accuracy: f64,
    /// The other questions, answered as the pipeline answers them: those asking only which side a finding is
    /// on or where it is from the findings (`ClosedQuestion::read_where`), the rest by the decoder.
    #[serde(deserialize_with = "nan_if_null")]
    pub vqa_open_accuracy: f64,
    /// The same questions, every one answered by the decoder.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub vqa_open_decoder_accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntityCalls {
    pub name: String,
    /// Studies with the entity present.
    pub positives: usize,
    /// None where nothing was called.
    pub precision: Option<f64>,
    /// None without positives.
    pub recall: Option<f64>,
}

fn nan() -> f64 {
    f64::NAN
}

/// serde_json writes NaN (a metric with nothing to measure) as null; it reads back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

#[derive(Debug, Serialize, Deserialize)]
struct EvalOutput {
    weights: String,
    metrics: Metrics,
    /// Record id and its ECLS probability for every candidate.
    present: Vec<(String, Vec<f32>)>,
    /// What was generated for each record (none with `--image-only`), to read what the metrics count.
    #[serde(default)]
    generated: Vec<Generated>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Generated {
    id: String,
    report: String,
    /// The decoder's own text, where `report` differs from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decoder_report: Option<String>,
    /// Each question with the model's answer.
    answers: Vec<(String, String)>,
}

/// Loads a weights folder onto the Flex CPU backend.
pub fn load_pipeline(dir: &Path) -> Result<Pipeline> {
    WeightFiles::read_dir(dir)
        .and_then(|files| Pipeline::from_weights(files, Device::flex()))
        .with_context(|| format!("cannot load the weights in {}", dir.display()))
}

/// Per-entity presence: any candidate of the entity present.
pub(crate) fn entities_present(exist: &[i8]) -> [bool; NUM_ENTITIES] {
    let mut present = [false; NUM_ENTITIES];
    for (candidate, &e) in candidates().iter().zip(exist) {
        present[candidate.entity.index()] |= e == 1;
    }
    present
}

/// Per entity, a study's score: its highest ECLS probability over the entity's labelled candidates (none
/// where every one is unlabelled).
fn study_scores(present: &[f32], exist: &[i8]) -> [Option<f32>; NUM_ENTITIES] {
    let mut scores = [None; NUM_ENTITIES];
    for ((candidate, &p), _) in candidates().iter().zip(present).zip(exist).filter(|(_, e)| **e >= 0) {
        let score: &mut Option<f32> = &mut scores[candidate.entity.index()];
        *score = Some(score.map_or(p, |s| s.max(p)));
    }
    scores
}

/// What is gathered per record before the corpus-level metrics.
#[derive(Default)]
struct Tally {
    iou_sum: Vec<f64>,
    iou_count: Vec<usize>,
    /// Per entity: (ECLS probability, label) of each of its candidates in each record.
    ecls: Vec<Vec<(f32, bool)>>,
    /// Per entity: (highest ECLS probability over its positions, entity present) per record.
    ecls_study: Vec<Vec<(f32, bool)>>,
    /// Per entity: (zero-shot probability, entity present) per record.
    zero_shot: Vec<Vec<(f32, bool)>>,
    grounding: (usize, usize),
    generated: Vec<Vec<String>>,
    texts: Vec<Generated>,
    references: Vec<Vec<String>>,
    rouge: Vec<f64>,
    mentioned: Vec<[bool; NUM_ENTITIES]>,
    /// What the decoder's own text states, per record.
    decoder_mentioned: Vec<[bool; NUM_ENTITIES]>,
    /// What ECLS calls present at the pipeline's thresholds, per record.
    called: Vec<[bool; NUM_ENTITIES]>,
    /// Per severity (mild, moderate, severe): (findings called present, findings).
    severity_calls: [(usize, usize); 3],
    truth: Vec<[bool; NUM_ENTITIES]>,
    closed: (usize, usize),
    closed_decoder: (usize, usize),
    open: (usize, usize),
    open_decoder: (usize, usize),
}

fn ratio((hits, total): (usize, usize)) -> f64 {
    if total == 0 { f64::NAN } else { hits as f64 / total as f64 }
}

fn aucs(groups: &[Vec<(f32, bool)>]) -> Vec<Option<f64>> {
    groups
        .iter()
        .map(|pairs| {
            let (scores, labels): (Vec<f32>, Vec<bool>) = pairs.iter().copied().unzip();
            metrics::roc_auc(&scores, &labels)
        })
        .collect()
}

fn macro_auc(groups: &[Vec<(f32, bool)>]) -> f64 {
    metrics::mean(&aucs(groups).into_iter().flatten().collect::<Vec<_>>()).unwrap_or(f64::NAN)
}

async fn evaluate_record(pipeline: &Pipeline, record: &Record, args: &EvalArgs, tally: &mut Tally) -> Result<Vec<f32>> {
    let pixels = load_image(record, pipeline.image_size() as u32)?;
    let image = pipeline.image_tensor(&pixels)?;
    let encoding = if args.true_boxes {
        let boxes = record
            .boxes
            .iter()
            .map(|b| b.context("--true-boxes needs every region's box"))
            .collect::<Result<Vec<_>>>()?;
        let boxes = Tensor::from_data(TensorData::new(boxes.concat(), [1, NUM_REGIONS, 4]), &pipeline.device);
        pipeline.model.encode_image(image, &pipeline.knowledge, RegionPooling::Given(boxes))
    } else {
        pipeline.encode(image)
    };
    let boxes = read_f32(encoding.boxes.clone()).await?;
    let present = read_f32(encoding.present.clone()).await?;

    for (region, truth) in record.boxes.iter().enumerate().take(NUM_REGIONS) {
        if let Some(truth) = truth {
            let b = &boxes[region * 4..region * 4 + 4];
            tally.iou_sum[region] += metrics::box_iou([b[0], b[1], b[2], b[3]], *truth) as f64;
            tally.iou_count[region] += 1;
        }
    }
    let candidates = candidates();
    for ((candidate, &p), &e) in candidates.iter().zip(&present).zip(&record.exist) {
        if e >= 0 {
            tally.ecls[candidate.entity.index()].push((p, e == 1));
        }
    }
    let mut called = [false; NUM_ENTITIES];
    for (candidate, &p) in candidates.iter().zip(&present) {
        called[candidate.entity.index()] |= pipeline.thresholds.is_present(candidate, p);
    }
    tally.called.push(called);
    for finding in &record.findings {
        let slot = &mut tally.severity_calls[finding.severity as usize];
        slot.0 += usize::from(called.get(finding.entity).copied().unwrap_or(false));
        slot.1 += 1;
    }
    // Grounding: for each present entity, is its most probable position a true one?
    let truth = entities_present(&record.exist);
    tally.truth.push(truth);
    for (entity, score) in study_scores(&present, &record.exist).into_iter().enumerate() {
        if let Some(score) = score {
            tally.ecls_study[entity].push((score, truth[entity]));
        }
    }
    for (entity, _) in truth.iter().enumerate().filter(|(_, present)| **present) {
        let best = (0..candidates.len())
            .filter(|&k| candidates[k].entity.index() == entity)
            .max_by(|&a, &b| present[a].total_cmp(&present[b]));
        tally.grounding.1 += 1;
        tally.grounding.0 += usize::from(best.is_some_and(|k| record.exist[k] == 1));
    }
    if args.image_only {
        return Ok(present);
    }

    let scores = pipeline.zero_shot_findings(&encoding).await?;
    for (entity, score) in scores.iter().enumerate() {
        tally.zero_shot[entity].push((score.probability, truth[entity]));
    }

    // As `Pipeline::generate_report` writes it, keeping the decoder's own text for its own score.
    let decoder_report = pipeline.decoder_report(&encoding, |_| ControlFlow::Continue(())).await?;
    tally.decoder_mentioned.push(metrics::mentioned_findings(&decoder_report.text));
    let report = decoder_report.agreed();
    // The generated report continues the `findings:` cue; the reference starts with it.
    let (generated, reference) =
        (metrics::words(&format!("{REPORT_CUE} {report}")), metrics::words(&report_text(record)));
    tally.rouge.push(metrics::rouge_l(&generated, &reference));
    tally.generated.push(generated);
    tally.references.push(reference);
    tally.mentioned.push(metrics::mentioned_findings(&report));

    let mut answers = Vec::with_capacity(record.qa.len());
    for qa in &record.qa {
        let answer = pipeline.answer(&encoding, &qa.question).await?;
        // The decoder's own answer, unless it already wrote this one.
        let decoder = match answer.finding {
            Some(_) => pipeline.generate_answer(&encoding, &qa.question).await?,
            None => answer.text.clone(),
        };
        let (pipeline_tally, decoder_tally) = if matches!(qa.answer.as_str(), "yes" | "no") {
            (&mut tally.closed, &mut tally.closed_decoder)
        } else {
            (&mut tally.open, &mut tally.open_decoder)
        };
        for ((hits, total), text) in [(pipeline_tally, &answer.text), (decoder_tally, &decoder)] {
            *hits += usize::from(metrics::answers_match(text, &qa.answer));
            *total += 1;
        }
        answers.push((qa.question.clone(), answer.text));
    }
    let decoder_report = (decoder_report.text != report).then_some(decoder_report.text);
    tally.texts.push(Generated { id: record.id.clone(), report, decoder_report, answers });
    Ok(present)
}

/// The records of `split` in the dataset folder `data` (at most `limit` of them unless 0), each checked to
/// fit this vocabulary.
pub fn split_records(data: &Path, split: &str, limit: usize) -> Result<Vec<Record>> {
    let records =
        gkmvlp_data::read_dataset(data).with_context(|| format!("cannot read the dataset in {}", data.display()))?;
    let mut records: Vec<Record> = records.into_iter().filter(|r| r.split == split).collect();
    if limit > 0 {
        records.truncate(limit);
    }
    if records.is_empty() {
        bail!("{}: no `{split}` records", data.display());
    }
    match records.iter().find(|r| r.exist.len() != candidates().len()) {
        Some(record) => bail!("record {}: {} labels do not fit this vocabulary", record.id, record.exist.len()),
        None => Ok(records),
    }
}

/// Evaluates; prints the metrics and returns them.
pub fn run(args: &EvalArgs) -> Result<Metrics> {
    let pipeline = load_pipeline(&args.weights)?;
    let records = split_records(&args.data, &args.split, args.limit)?;
    let mut tally = Tally {
        iou_sum: vec![0.0; NUM_REGIONS],
        iou_count: vec![0; NUM_REGIONS],
        ecls: vec![Vec::new(); NUM_ENTITIES],
        ecls_study: vec![Vec::new(); NUM_ENTITIES],
        zero_shot: vec![Vec::new(); NUM_ENTITIES],
        ..Tally::default()
    };
    let mut present = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let scores = pollster::block_on(evaluate_record(&pipeline, record, args, &mut tally))
            .with_context(|| format!("record {}", record.id))?;
        present.push((record.id.clone(), scores));
        eprint!("\revaluated {}/{}", i + 1, records.len());
    }
    eprintln!();

    let per_region: Vec<(String, f64)> = Region::ALL
        .iter()
        .map(|r| (r.name().to_string(), tally.iou_sum[r.index()] / tally.iou_count[r.index()].max(1) as f64))
        .collect();
    let (precision, recall, f1) = metrics::clinical_f1(&tally.mentioned, &tally.truth);
    let (_, _, ecls_f1) = metrics::clinical_f1(&tally.called, &tally.truth);
    let (_, _, clinical_decoder_f1) = metrics::clinical_f1(&tally.decoder_mentioned, &tally.truth);
    let share = |hits: usize, total: usize| (total > 0).then(|| hits as f64 / total as f64);
    let ecls_calls_per_entity = Entity::ALL
        .iter()
        .enumerate()
        .map(|(entity, e)| {
            let pairs = tally.called.iter().zip(&tally.truth).map(|(c, t)| (c[entity], t[entity]));
            let (called, positives, hits) = pairs.fold((0, 0, 0), |(c, p, h), (called, truth)| {
                (c + usize::from(called), p + usize::from(truth), h + usize::from(called && truth))
            });
            EntityCalls {
                name: e.name().to_string(),
                positives,
                precision: share(hits, called),
                recall: share(hits, positives),
            }
        })
        .collect();
    let ecls_recall_per_severity = if tally.severity_calls.iter().all(|&(_, n)| n == 0) {
        Vec::new()
    } else {
        ["mild", "moderate", "severe"]
            .iter()
            .zip(tally.severity_calls)
            .map(|(name, (hits, n))| (name.to_string(), share(hits, n), n))
            .collect()
    };
    let mut metrics = Metrics {
        records: records.len(),
        box_iou: tally.iou_sum.iter().sum::<f64>() / tally.iou_count.iter().sum::<usize>().max(1) as f64,
        box_iou_per_region: per_region,
        ecls_macro_auc: macro_auc(&tally.ecls),
        ecls_auc_per_entity: Entity::ALL.iter().map(|e| e.name().to_string()).zip(aucs(&tally.ecls)).collect(),
        ecls_study_macro_auc: macro_auc(&tally.ecls_study),
        ecls_study_auc_per_entity: Entity::ALL
            .iter()
            .map(|e| e.name().to_string())
            .zip(aucs(&tally.ecls_study))
            .collect(),
        ecls_f1,
        ecls_f1_interval: metrics::clinical_f1_interval(&tally.called, &tally.truth),
        ecls_calls_per_entity,
        ecls_recall_per_severity,
        grounding_accuracy: ratio(tally.grounding),
        zero_shot_macro_auc: macro_auc(&tally.zero_shot),
        bleu4: metrics::bleu4(&tally.generated, &tally.references),
        rouge_l: metrics::mean(&tally.rouge).unwrap_or(f64::NAN),
        clinical_precision: precision,
        clinical_recall: recall,
        clinical_f1: f1,
        clinical_f1_interval: metrics::clinical_f1_interval(&tally.mentioned, &tally.truth),
        clinical_decoder_f1,
        vqa_closed_accuracy: ratio(tally.closed),
        vqa_closed_decoder_accuracy: ratio(tally.closed_decoder),
        vqa_open_accuracy: ratio(tally.open),
        vqa_open_decoder_accuracy: ratio(tally.open_decoder),
    };
    if args.image_only {
        let m = &mut metrics;
        let text = [
            &mut m.zero_shot_macro_auc,
            &mut m.bleu4,
            &mut m.rouge_l,
            &mut m.clinical_precision,
            &mut m.clinical_recall,
            &mut m.clinical_f1,
            &mut m.clinical_decoder_f1,
        ];
        for metric in text.into_iter().chain([
            &mut m.vqa_closed_accuracy,
            &mut m.vqa_closed_decoder_accuracy,
            &mut m.vqa_open_accuracy,
            &mut m.vqa_open_decoder_accuracy,
        ]) {
            *metric = f64::NAN;
        }
        m.clinical_f1_interval = None;
    }
    print_metrics(&metrics);

    let output = EvalOutput {
        weights: args.weights.display().to_string(),
        metrics: metrics.clone(),
        present,
        generated: tally.texts,
    };
    if let Some(baseline) = &args.baseline {
        compare(&output, baseline)?;
    }
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&output).context("cannot serialise the evaluation")?;
        std::fs::write(out, json).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(metrics)
}

fn headline(m: &Metrics) -> [(&'static str, f64); 16] {
    [
        ("box IoU (29 regions)", m.box_iou),
        ("ECLS macro AUC", m.ecls_macro_auc),
        ("  per study", m.ecls_study_macro_auc),
        ("ECLS F1 at thresholds", m.ecls_f1),
        ("grounding accuracy", m.grounding_accuracy),
        ("zero-shot ITC macro AUC", m.zero_shot_macro_auc),
        ("report BLEU-4", m.bleu4),
        ("report ROUGE-L", m.rouge_l),
        ("clinical precision", m.clinical_precision),
        ("clinical recall", m.clinical_recall),
        ("clinical F1", m.clinical_f1),
        ("  the decoder's text alone", m.clinical_decoder_f1),
        ("VQA closed accuracy", m.vqa_closed_accuracy),
        ("  the decoder's answers", m.vqa_closed_decoder_accuracy),
        ("VQA open accuracy", m.vqa_open_accuracy),
        ("  the decoder's answers", m.vqa_open_decoder_accuracy),
    ]
}

/// A headline metric as printed: NaN means nothing was measured (a text metric with `--image-only`, an AUC
/// over one class).
fn shown(value: f64) -> String {
    if value.is_nan() { "n/a".to_string() } else { format!("{value:.3}") }
}

fn print_metrics(m: &Metrics) {
    println!("{} records", m.records);
    for (name, value) in headline(m) {
        println!("{name:<26} {}", shown(value));
    }
    let interval = |i: Option<(f64, f64)>| i.map_or("n/a".to_string(), |(low, high)| format!("{low:.3} to {high:.3}"));
    println!(
        "95 % bootstrap intervals over the studies: ECLS F1 {}, clinical F1 {}",
        interval(m.ecls_f1_interval),
        interval(m.clinical_f1_interval)
    );
    println!("box IoU per region:");
    for (name, iou) in &m.box_iou_per_region {
        println!("  {name:<32} {iou:.3}");
    }
    let or_na = |x: Option<f64>| x.map_or("  n/a".to_string(), |x| format!("{x:.3}"));
    // Older `--out` files have no per-study AUCs.
    let per_study = m.ecls_study_auc_per_entity.iter().map(|(_, auc)| *auc).chain(std::iter::repeat(None));
    println!("ECLS AUC per finding, over its candidates and over studies (n/a: one class only):");
    for ((name, auc), study) in m.ecls_auc_per_entity.iter().zip(per_study) {
        println!("  {name:<32} {}  {}", or_na(*auc), or_na(study));
    }
    println!("ECLS calls per finding, at the thresholds: precision, recall (studies with it):");
    for c in &m.ecls_calls_per_entity {
        println!("  {:<32} {}  {}  ({})", c.name, or_na(c.precision), or_na(c.recall), c.positives);
    }
    if !m.ecls_recall_per_severity.is_empty() {
        println!("ECLS calls' recall by severity (findings):");
        for (name, recall, count) in &m.ecls_recall_per_severity {
            println!("  {name:<32} {}  ({count})", or_na(*recall));
        }
    }
}

/// Prints the largest ECLS probability difference and the metric changes against an earlier run.
fn compare(output: &EvalOutput, baseline: &Path) -> Result<()> {
    let base: EvalOutput = serde_json::from_slice(&crate::read(baseline)?)
        .with_context(|| format!("{}: not a `gkmvlp eval --out` file", baseline.display()))?;
    if base.present.iter().map(|(id, _)| id).ne(output.present.iter().map(|(id, _)| id)) {
        bail!("{}: evaluated other records; use the same --data, --split and --limit", baseline.display());
    }
    let max_diff = base
        .present
        .iter()
        .zip(&output.present)
        .flat_map(|((_, a), (_, b))| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    println!("against {}:", base.weights);
    println!("  max ECLS probability difference {max_diff:.4}");
    for ((name, now), (_, before)) in headline(&output.metrics).iter().zip(headline(&base.metrics)) {
        // NaN on either side: nothing to compare.
        let change = if (now - before).is_nan() { "n/a".to_string() } else { format!("{:+.3}", now - before) };
        println!("  {name:<26} {} -> {} ({change})", shown(before), shown(*now));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_scores_an_entity_by_its_most_probable_labelled_position() {
        let candidates = candidates();
        let mut present = vec![0.1; candidates.len()];
        let mut exist = vec![0i8; candidates.len()];
        let of_first: Vec<usize> = (0..candidates.len()).filter(|&k| candidates[k].entity.index() == 0).collect();
        let of_second: Vec<usize> = (0..candidates.len()).filter(|&k| candidates[k].entity.index() == 1).collect();
        assert!(of_first.len() >= 2 && !of_second.is_empty(), "the test needs two positions of entity 0");
        present[of_first[1]] = 0.7;
        // An unlabelled position does not count, however probable.
        present[of_first[0]] = 0.9;
        exist[of_first[0]] = -1;
        for &k in &of_second {
            exist[k] = -1;
        }
        let scores = study_scores(&present, &exist);
        assert_eq!(scores[0], Some(0.7));
        assert_eq!(scores[1], None, "an entity without labelled positions has no study score");
    }
}
