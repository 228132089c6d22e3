//! `gkmvlp eval-real`: the model on real radiographs with image-level labels (NIH ChestX-ray14, either a
//! `labels.csv` folder or NIH's `Data_Entry_2017*.csv` with its images). A finding's image score is its
//! highest grounded probability over its positions; per finding it prints the AUC with a 95 % bootstrap
//! interval over patients (a patient's follow-up films are not independent), and how often the finding is
//! called present on the images labelled with it and on the "No Finding" images.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use gkmvlp::inference::pipeline::{Pipeline, read_f32};
use gkmvlp::vocab::{Entity, NUM_ENTITIES, Region, candidates};
use gkmvlp_data::nih::{Label, NIH_ENTITIES, NihRecord, read_nih};
use gkmvlp_data::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::data::decode_file;
use crate::eval::load_pipeline;
use crate::metrics::{self, BOOTSTRAP_RESAMPLES};

#[derive(Args)]
pub struct EvalRealArgs {
    /// Weights folder (manifest.json, model.safetensors, tokenizer.json). Given N times, a
    /// cross-validation: the images of patient fold k of N (`gkmvlp train --real-holdout-fold k
    /// --real-folds N`) are scored by the k-th weights, which did not train on them.
    #[arg(long, required = true, num_args = 1..)]
    pub weights: Vec<PathBuf>,
    /// NIH ChestX-ray14 folder: `labels.csv` with the images it lists, or `Data_Entry_2017*.csv` with the
    /// images anywhere below it.
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluate at most this many images, in file order (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Write the metrics and every image's scores to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Boxes drawn by hand on some of the images (`docs/realcxr-boxes.json`: `{"boxes": {IMAGE_INDEX:
    /// {REGION_NAME: [x0, y0, x1, y1]}}}`, normalised): the predicted boxes' mean IoU with them, per region.
    #[arg(long)]
    pub boxes: Option<PathBuf>,
}

/// Hand-drawn boxes: per image index, per region name.
#[derive(Debug, Deserialize)]
struct DrawnBoxes {
    boxes: BTreeMap<String, BTreeMap<String, [f32; 4]>>,
}

/// The predicted boxes against hand-drawn ones, for one region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrawnBoxIou {
    pub region: String,
    pub images: usize,
    pub mean_iou: f64,
}

/// One labelled finding's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingResult {
    /// NIH's name ("Cardiomegaly").
    pub nih: String,
    /// The entity it maps to ("enlarged cardiac silhouette").
    pub entity: String,
    pub positives: usize,
    pub negatives: usize,
    /// None without positives or negatives.
    pub auc: Option<f64>,
    /// 2.5th and 97.5th percentiles of the AUC over patient resamples.
    pub auc_interval: Option<(f64, f64)>,
    /// Share of the images labelled with the finding on which it is called present.
    pub called_on_positives: Option<f64>,
    /// Share of the "No Finding" images on which it is called present.
    pub called_on_no_finding: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealMetrics {
    pub images: usize,
    pub patients: usize,
    pub no_finding_images: usize,
    pub findings: Vec<FindingResult>,
    /// Mean AUC over the findings that have one.
    pub macro_auc: Option<f64>,
    pub macro_auc_interval: Option<(f64, f64)>,
    /// Share of the "No Finding" images on which any of the labelled findings is called.
    pub no_finding_any_labelled_called: Option<f64>,
    /// Share of the "No Finding" images on which any entity at all is called (NIH does not label the
    /// devices, the hila, the mediastinum or the hemidiaphragms, so some of these calls may be right).
    pub no_finding_any_called: Option<f64>,
    /// With `--boxes`: per region drawn, the predicted boxes' mean IoU with the drawn ones.
    #[serde(default)]
    pub drawn_box_iou: Vec<DrawnBoxIou>,
}

/// One image's scores: per entity, its highest probability over its positions and whether it is called.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageScores {
    pub index: String,
    pub patient: u32,
    pub scores: Vec<f32>,
    pub called: Vec<bool>,
    /// The 29 region boxes, normalised (x0, y0, x1, y1), in vocabulary order.
    pub boxes: Vec<[f32; 4]>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EvalRealOutput {
    /// One folder, or one per fold.
    weights: Vec<String>,
    data: String,
    metrics: RealMetrics,
    images: Vec<ImageScores>,
}

pub fn run(args: &EvalRealArgs) -> Result<RealMetrics> {
    let pipelines = args.weights.iter().map(|w| load_pipeline(w)).collect::<Result<Vec<_>>>()?;
    let folds = pipelines.len();
    let mut records = read_nih(&args.data).with_context(|| format!("cannot read {}", args.data.display()))?;
    if args.limit > 0 {
        records.truncate(args.limit);
    }
    if records.is_empty() {
        bail!("{} lists no images", args.data.display());
    }
    let mut images = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let pipeline = &pipelines[record.fold(folds)];
        let scores = pollster::block_on(score_image(pipeline, record))
            .with_context(|| format!("cannot evaluate {}", record.image.display()))?;
        images.push(scores);
        if (i + 1) % 100 == 0 {
            eprintln!("{} of {} images", i + 1, records.len());
        }
    }
    let mut metrics = real_metrics(&records, &images);
    if let Some(path) = &args.boxes {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let drawn: DrawnBoxes =
            serde_json::from_str(&text).with_context(|| format!("{}: not a file of drawn boxes", path.display()))?;
        metrics.drawn_box_iou = drawn_box_iou(&drawn, &images).with_context(|| path.display().to_string())?;
    }
    print_metrics(&metrics);
    if let Some(path) = &args.out {
        let out = EvalRealOutput {
            weights: args.weights.iter().map(|w| w.display().to_string()).collect(),
            data: args.data.display().to_string(),
            metrics: metrics.clone(),
            images,
        };
        let json = serde_json::to_string_pretty(&out).context("cannot serialise the results")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(metrics)
}

async fn score_image(pipeline: &Pipeline, record: &NihRecord) -> Result<ImageScores> {
    let radiograph = decode_file(&record.image)?;
    let image = pipeline.image_tensor(&radiograph.resize_square(pipeline.image_size() as u32).pixels)?;
    let encoding = pipeline.encode(image);
    let present = read_f32(encoding.present).await?;
    let boxes = read_f32(encoding.boxes).await?.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]).collect();
    let (scores, called) = entity_scores(pipeline, &present);
    Ok(ImageScores { index: record.index.clone(), patient: record.patient, scores, called, boxes })
}

/// Per entity: the highest probability over its positions, and whether any position is called present.
fn entity_scores(pipeline: &Pipeline, present: &[f32]) -> (Vec<f32>, Vec<bool>) {
    let mut scores = vec![f32::NEG_INFINITY; NUM_ENTITIES];
    let mut called = vec![false; NUM_ENTITIES];
    for (candidate, &p) in candidates().iter().zip(present) {
        let e = candidate.entity.index();
        scores[e] = scores[e].max(p);
        called[e] |= pipeline.thresholds.is_present(candidate, p);
    }
    (scores, called)
}

/// The metrics of `images` (scored in the order of `records`).
pub fn real_metrics(records: &[NihRecord], images: &[ImageScores]) -> RealMetrics {
    let labelled: Vec<(&str, Entity)> = NIH_ENTITIES.iter().filter_map(|(nih, e)| e.map(|e| (*nih, e))).collect();
    let no_finding: Vec<usize> = (0..records.len()).filter(|&i| records[i].no_finding).collect();
    let share = |hits: usize, of: usize| (of > 0).then(|| hits as f64 / of as f64);
    let patients = patient_groups(records);
    let all: Vec<usize> = (0..records.len()).collect();

    let findings: Vec<FindingResult> = labelled
        .iter()
        .map(|&(nih, entity)| {
            let e = entity.index();
            let (mut positives, mut negatives) = (0, 0);
            let mut called_positive = 0;
            for (record, image) in records.iter().zip(images) {
                match record.labels[e] {
                    Label::Present => {
                        positives += 1;
                        called_positive += usize::from(image.called[e]);
                    }
                    Label::Absent => negatives += 1,
                    Label::Unknown => {}
                }
            }
            let called_no_finding = no_finding.iter().filter(|&&i| images[i].called[e]).count();
            let auc_of = |sample: &[usize]| finding_auc(records, images, entity, sample);
            FindingResult {
                nih: nih.to_string(),
                entity: entity.name().to_string(),
                positives,
                negatives,
                auc: auc_of(&all),
                auc_interval: bootstrap_interval(&patients, |sample| auc_of(sample)),
                called_on_positives: share(called_positive, positives),
                called_on_no_finding: share(called_no_finding, no_finding.len()),
            }
        })
        .collect();

    let macro_of = |sample: &[usize]| {
        let aucs: Vec<f64> =
            labelled.iter().filter_map(|&(_, entity)| finding_auc(records, images, entity, sample)).collect();
        // A resample that lost a finding's positives would average over fewer findings: not comparable.
        (aucs.len() == findings.iter().filter(|f| f.auc.is_some()).count()).then(|| metrics::mean(&aucs)).flatten()
    };
    let labelled_indices: Vec<usize> = labelled.iter().map(|(_, e)| e.index()).collect();
    let all_indices: Vec<usize> = (0..NUM_ENTITIES).collect();
    let calls_any =
        |entities: &[usize]| no_finding.iter().filter(|&&i| entities.iter().any(|&e| images[i].called[e])).count();
    let (no_finding_labelled, no_finding_any) = (calls_any(&labelled_indices), calls_any(&all_indices));
    RealMetrics {
        images: records.len(),
        patients: patients.len(),
        no_finding_images: no_finding.len(),
        macro_auc: macro_of(&all),
        macro_auc_interval: bootstrap_interval(&patients, macro_of),
        findings,
        no_finding_any_labelled_called: share(no_finding_labelled, no_finding.len()),
        no_finding_any_called: share(no_finding_any, no_finding.len()),
        drawn_box_iou: Vec::new(),
    }
}

/// Mean IoU per drawn region; every drawn image must have been scored and every region name known.
fn drawn_box_iou(drawn: &DrawnBoxes, images: &[ImageScores]) -> Result<Vec<DrawnBoxIou>> {
    let mut per_region: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (index, regions) in &drawn.boxes {
        let Some(image) = images.iter().find(|i| &i.index == index) else {
            bail!("{index} has drawn boxes but was not evaluated");
        };
        for (name, drawn) in regions {
            let region = Region::from_name(name).with_context(|| format!("{index}: no region named {name:?}"))?;
            per_region
                .entry(region.index())
                .or_default()
                .push(f64::from(metrics::box_iou(image.boxes[region.index()], *drawn)));
        }
    }
    Ok(per_region
        .into_iter()
        .map(|(region, ious)| DrawnBoxIou {
            region: Region::ALL[region].name().to_string(),
            images: ious.len(),
            mean_iou: metrics::mean(&ious).unwrap_or(f64::NAN),
        })
        .collect())
}

/// AUC of one entity's image scores over the images of `sample` (indices, repeats allowed) that label it.
fn finding_auc(records: &[NihRecord], images: &[ImageScores], entity: Entity, sample: &[usize]) -> Option<f64> {
    let e = entity.index();
    let (scores, labels): (Vec<f32>, Vec<bool>) = sample
        .iter()
        .filter(|&&i| records[i].labels[e] != Label::Unknown)
        .map(|&i| (images[i].scores[e], records[i].labels[e] == Label::Present))
        .unzip();
    metrics::roc_auc(&scores, &labels)
}

/// Image indices grouped by patient, in patient order.
fn patient_groups(records: &[NihRecord]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        groups.entry(record.patient).or_default().push(i);
    }
    groups.into_values().collect()
}

/// 95 % percentile interval of `statistic` over resamples of whole patients (with replacement); resamples
/// where it is undefined are dropped, and with fewer than half left there is no interval.
fn bootstrap_interval(patients: &[Vec<usize>], statistic: impl Fn(&[usize]) -> Option<f64>) -> Option<(f64, f64)> {
    if patients.is_empty() {
        return None;
    }
    let mut rng = Rng::new(0);
    let values: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let sample: Vec<usize> =
                (0..patients.len()).flat_map(|_| patients[rng.below(patients.len())].iter().copied()).collect();
            statistic(&sample)
        })
        .collect();
    if values.len() < BOOTSTRAP_RESAMPLES / 2 {
        return None;
    }
    metrics::percentile_interval(values)
}

fn print_metrics(m: &RealMetrics) {
    let num = |v: Option<f64>| v.map_or("  n/a".to_string(), |v| format!("{v:5.3}"));
    let interval = |v: Option<(f64, f64)>| v.map_or(String::new(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]"));
    println!("{} images of {} patients, {} labelled No Finding", m.images, m.patients, m.no_finding_images);
    println!(
        "{:<14} {:>4} {:>5}  {:>5} {:<16} {:>13} {:>15}",
        "finding", "pos", "neg", "AUC", "95% CI (pat.)", "called: pos.", "called: No F."
    );
    for f in &m.findings {
        println!(
            "{:<14} {:>4} {:>5}  {} {:<16} {:>13} {:>15}",
            f.nih,
            f.positives,
            f.negatives,
            num(f.auc),
            interval(f.auc_interval),
            num(f.called_on_positives),
            num(f.called_on_no_finding)
        );
    }
    println!("macro AUC {} {}", num(m.macro_auc), interval(m.macro_auc_interval));
    println!(
        "No Finding images with a labelled finding called: {}; with any finding called: {}",
        num(m.no_finding_any_labelled_called),
        num(m.no_finding_any_called)
    );
    for b in &m.drawn_box_iou {
        println!("{:<20} box IoU with hand-drawn boxes {:.3} ({} images)", b.region, b.mean_iou, b.images);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(patient: u32, present: &[Entity]) -> NihRecord {
        let mut labels = vec![Label::Unknown; NUM_ENTITIES];
        for (_, entity) in NIH_ENTITIES {
            if let Some(e) = entity {
                labels[e.index()] = if present.contains(&e) { Label::Present } else { Label::Absent };
            }
        }
        NihRecord {
            image: PathBuf::new(),
            index: format!("{patient:08}_000.png"),
            patient,
            follow_up: Some(0),
            view: "PA".into(),
            age: None,
            sex: String::new(),
            labels,
            no_finding: present.is_empty(),
            nih_labels: Vec::new(),
        }
    }

    fn scored(patient: u32, effusion: f32, called: bool) -> ImageScores {
        let mut scores = vec![0.0; NUM_ENTITIES];
        scores[Entity::PleuralEffusion.index()] = effusion;
        let mut calls = vec![false; NUM_ENTITIES];
        calls[Entity::PleuralEffusion.index()] = called;
        ImageScores { index: String::new(), patient, scores, called: calls, boxes: Vec::new() }
    }

    #[test]
    fn counts_aucs_and_calls_per_finding() {
        let effusion = [Entity::PleuralEffusion];
        let records: Vec<NihRecord> = (0..20).map(|p| record(p, if p % 2 == 0 { &effusion } else { &[] })).collect();
        // Effusion images score above the others except one; the first two effusions and one normal are called.
        let images: Vec<ImageScores> = (0..20u32)
            .map(|p| {
                let score = if p % 2 == 0 { 0.6 + p as f32 * 0.01 } else { 0.3 + p as f32 * 0.01 };
                let score = if p == 0 { 0.1 } else { score };
                scored(p, score, p == 2 || p == 4 || p == 1)
            })
            .collect();
        let m = real_metrics(&records, &images);
        assert_eq!((m.images, m.patients, m.no_finding_images), (20, 20, 10));
        let effusion = m.findings.iter().find(|f| f.nih == "Effusion").unwrap();
        assert_eq!((effusion.positives, effusion.negatives), (10, 10));
        assert!((effusion.auc.unwrap() - 0.9).abs() < 1e-9, "{:?}", effusion.auc);
        let (lo, hi) = effusion.auc_interval.unwrap();
        assert!(lo < 0.9 && (0.9..=1.0).contains(&hi), "{lo} {hi}");
        assert_eq!(effusion.called_on_positives, Some(0.2));
        assert_eq!(effusion.called_on_no_finding, Some(0.1));
        // No other finding has positives: no AUC, so the macro is the effusion's.
        assert!(m.findings.iter().filter(|f| f.nih != "Effusion").all(|f| f.auc.is_none()));
        assert_eq!(m.macro_auc, effusion.auc);
        assert_eq!(m.no_finding_any_called, Some(0.1));
    }

    #[test]
    fn bootstrap_resamples_whole_patients() {
        // Two patients: resampling whole patients gives only three distinct samples.
        let patients = vec![vec![0, 1, 2], vec![3]];
        let sizes = std::cell::RefCell::new(std::collections::BTreeSet::new());
        bootstrap_interval(&patients, |s| {
            sizes.borrow_mut().insert(s.len());
            Some(s.len() as f64)
        });
        assert_eq!(sizes.into_inner().into_iter().collect::<Vec<_>>(), [2, 4, 6]);
    }
}
