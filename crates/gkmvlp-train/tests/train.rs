//! End to end on the tiny model: simulate a few studies, train a few steps, stop, resume, and load the
//! checkpoint as trained weights, and evaluate it; a run trained in two stages ends with the same weights as one trained
//! straight through. An image-only stage leaves the text side alone, and `--init` starts a run from it
//! (with or without the findings prompt).

use std::path::PathBuf;

use gkmvlp::storage::weights::{MANIFEST_FILE, MODEL_FILE, Manifest, WeightFiles};
use gkmvlp_train::calibrate::CalibrateArgs;
use gkmvlp_train::eval::EvalArgs;
use gkmvlp_train::{TrainArgs, run};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)
}

/// Training seeds burn's one random generator, so the runs of these tests take turns.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh folder with 12 simulated studies at 96 pixels.
fn simulated(name: &str) -> PathBuf {
    simulated_with(name, |_| {})
}

/// [`simulated`], with the simulator's arguments changed by `adjust`.
fn simulated_with(name: &str, adjust: impl FnOnce(&mut gkmvlp_sim::SimulateArgs)) -> PathBuf {
    let ct = repo("assets/ct");
    assert!(ct.join("cxr.nii.gz").exists(), "{}: missing; run scripts/fetch-assets.sh --with-ct", ct.display());
    let work = std::env::temp_dir().join(format!("gkmvlp-{name}-{}", std::process::id()));
    let mut sim = gkmvlp_sim::SimulateArgs::new(work.join("data"), 12, 5);
    sim.size = 96;
    sim.ct = ct;
    adjust(&mut sim);
    gkmvlp_sim::run(&sim).expect("simulate");
    work
}

/// Four steps of the tiny model on `work`'s data into `work/run`.
fn tiny_args(work: &std::path::Path, run: &str) -> TrainArgs {
    TrainArgs {
        config: "tiny".into(),
        data: work.join("data"),
        out: work.join(run),
        steps: 4,
        until: None,
        settings: None,
        resume: false,
        init: None,
        minilm: repo("assets/minilm/model.safetensors"),
        tokenizer: repo("models/tokenizer.json"),
        seed: 3,
        no_grounding: false,
        findings_prompt: false,
        region_patches: false,
        device: "flex".into(),
        real: None,
        real_holdout_fold: None,
        real_folds: 5,
    }
}

/// The largest difference between two checkpoints' values, relative to the largest value.
fn largest_difference(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    assert_eq!(a.len(), b.len());
    let (mut difference, mut scale) = (0.0f32, 0.0f32);
    for ((name_a, a), (name_b, b)) in a.iter().zip(b) {
        assert_eq!(name_a, name_b);
        for (x, y) in a.iter().zip(b) {
            difference = difference.max((x - y).abs());
            scale = scale.max(x.abs());
        }
    }
    difference / scale
}

/// A checkpoint's tensors as f32 values, sorted by name.
fn weights(checkpoint: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(checkpoint.join(MODEL_FILE)).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<f32>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (name, view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn tiny_trains_checkpoints_and_resumes() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = simulated("train-test");
    let args = |run: &str, until, resume| TrainArgs { until, resume, ..tiny_args(&work, run) };
    assert_eq!(run(&args("staged", Some(2), false)).unwrap(), 2);
    let checkpoint = work.join("staged/checkpoint");
    let manifest = Manifest::parse(&std::fs::read(checkpoint.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.training["step"], 2);
    assert_eq!(run(&args("staged", None, true)).unwrap(), 4, "resume continues from the checkpoint's step");

    // Exactness: the resumed run has AdamW's moments and the same schedule and batches.
    assert_eq!(run(&args("straight", None, false)).unwrap(), 4);
    let (staged, straight) = (weights(&work.join("staged/checkpoint")), weights(&work.join("straight/checkpoint")));
    assert_eq!(staged.len(), straight.len());
    let mut worst = (0.0f32, String::new());
    for ((name, a), (_, b)) in staged.iter().zip(&straight) {
        for (x, y) in a.iter().zip(b) {
            if (x - y).abs() > worst.0 {
                worst = ((x - y).abs(), name.clone());
            }
        }
    }
    eprintln!("staged vs straight: largest difference {} (`{}`)", worst.0, worst.1);
    assert!(worst.0 < 1e-6, "staged and straight runs differ by {} in `{}`", worst.0, worst.1);

    let files = WeightFiles::read_dir(&checkpoint).expect("checkpoint folder reads");
    assert!(files.knowledge.is_some(), "checkpoints carry the knowledge encodings");
    let pipeline = gkmvlp::inference::pipeline::Pipeline::from_weights(files, burn::tensor::Device::flex())
        .expect("checkpoint loads as trained weights");
    assert!(matches!(pipeline.origin, gkmvlp::inference::pipeline::WeightsOrigin::Trained { .. }));

    // `gkmvlp eval` on the checkpoint: every metric, then the image side again with the true boxes.
    let eval = |true_boxes, out: &str| EvalArgs {
        weights: checkpoint.clone(),
        data: work.join("data"),
        split: "train".into(),
        limit: 3,
        out: Some(work.join(out)),
        image_only: true_boxes,
        true_boxes,
        baseline: true_boxes.then(|| work.join("eval.json")),
    };
    let metrics = gkmvlp_train::eval::run(&eval(false, "eval.json")).expect("eval runs");
    assert_eq!(metrics.records, 3);
    assert_eq!(metrics.ecls_auc_per_entity.len(), gkmvlp::vocab::NUM_ENTITIES);
    assert_eq!(metrics.ecls_study_auc_per_entity.len(), gkmvlp::vocab::NUM_ENTITIES);
    for (name, value) in [
        ("box IoU", metrics.box_iou),
        ("grounding", metrics.grounding_accuracy),
        ("ROUGE-L", metrics.rouge_l),
        ("VQA closed", metrics.vqa_closed_accuracy),
    ] {
        assert!((0.0..=1.0).contains(&value), "{name} {value}");
    }
    let oracle = gkmvlp_train::eval::run(&eval(true, "eval-true-boxes.json")).expect("eval with true boxes runs");
    assert_eq!(oracle.box_iou, metrics.box_iou, "the predicted boxes are scored either way");
    assert!(oracle.bleu4.is_nan(), "an image-only evaluation leaves the text metrics out");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(work.join("eval.json")).unwrap()).unwrap();
    let present = written["present"].as_array().expect("every record's ECLS probabilities");
    assert_eq!(present.len(), 3);
    assert!(present.iter().all(|p| p[1].as_array().is_some_and(|ps| ps.len() == gkmvlp::vocab::candidates().len())));
    let generated = written["generated"].as_array().expect("every record's generated texts");
    assert_eq!(generated.len(), 3);
    assert!(
        generated.iter().all(|g| g["report"].is_string() && g["answers"].as_array().is_some_and(|a| !a.is_empty()))
    );
    // Without a findings prompt there is no findings list to agree with: the report is the decoder's own.
    assert!(generated.iter().all(|g| g.get("decoder_report").is_none()));
    let (agreed, own) = (metrics.clinical_f1, metrics.clinical_decoder_f1);
    assert!(agreed == own || (agreed.is_nan() && own.is_nan()), "clinical F1 {agreed} against the decoder's own {own}");
    // Per-entity calls count each study once; the simulator's findings are tallied by severity.
    let records = gkmvlp_train::eval::split_records(&work.join("data"), "train", 3).unwrap();
    let studies_with = |entity: usize| records.iter().filter(|r| r.findings.iter().any(|f| f.entity == entity)).count();
    assert_eq!(metrics.ecls_calls_per_entity.len(), gkmvlp::vocab::NUM_ENTITIES);
    for (entity, calls) in metrics.ecls_calls_per_entity.iter().enumerate() {
        assert_eq!(calls.positives, studies_with(entity), "{}", calls.name);
        assert_eq!(calls.recall.is_some(), calls.positives > 0, "{}", calls.name);
    }
    let findings: usize = records.iter().map(|r| r.findings.len()).sum();
    assert_eq!(metrics.ecls_recall_per_severity.iter().map(|(_, _, n)| n).sum::<usize>(), findings);

    // `gkmvlp calibrate` writes per-entity thresholds into the manifest, and the weights load with them.
    let calibrate = |split: &str| {
        gkmvlp_train::calibrate::run(&CalibrateArgs {
            weights: checkpoint.clone(),
            data: work.join("data"),
            split: split.into(),
        })
    };
    let refused = format!("{:#}", calibrate("test").unwrap_err());
    assert!(refused.contains("test split"), "{refused}");
    let thresholds = calibrate("train").expect("calibrate runs");
    let manifest = Manifest::parse(&std::fs::read(checkpoint.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.present_thresholds.as_ref(), Some(&thresholds));
    assert_eq!(manifest.training["calibration"]["split"], "train");
    let pipeline = gkmvlp::inference::pipeline::Pipeline::from_weights(
        WeightFiles::read_dir(&checkpoint).unwrap(),
        burn::tensor::Device::flex(),
    )
    .expect("calibrated weights load");
    assert_eq!(pipeline.thresholds, thresholds);
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn an_image_only_stage_trains_no_text_weight_and_a_run_can_start_from_it() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = simulated("image-stage-test");
    let settings = work.join("image-only.json");
    std::fs::write(&settings, r#"{"itc_weight": 0, "itm_weight": 0, "lm_weight": 0}"#).unwrap();
    let image_only = |until| TrainArgs {
        until: Some(until),
        settings: Some(settings.clone()),
        ..tiny_args(&work, &format!("image-{until}"))
    };
    run(&image_only(1)).unwrap();
    run(&image_only(2)).unwrap();

    // Between step 1 and step 2 the image side moves and nothing that only the text objectives reach does.
    let (one, two) = (weights(&work.join("image-1/checkpoint")), weights(&work.join("image-2/checkpoint")));
    let moved = |prefix: &str| {
        one.iter().zip(&two).filter(|((name, _), _)| name.starts_with(prefix)).any(|((_, a), (_, b))| a != b)
    };
    let text_prefixes = ["text_decoder", "text_encoder", "itm_head", "contrastive"];
    for prefix in text_prefixes {
        assert!(one.iter().any(|(name, _)| name.starts_with(prefix)), "no tensor named {prefix}*");
        assert!(!moved(prefix), "the image-only stage changed {prefix}");
    }
    assert!(moved("vision_model") && moved("ecls_head"), "the image-only stage trained nothing");

    let joint_settings = work.join("joint.json");
    std::fs::write(&joint_settings, r#"{"findings_match": true}"#).unwrap();
    let joint = TrainArgs {
        init: Some(work.join("image-2/checkpoint")),
        settings: Some(joint_settings),
        ..tiny_args(&work, "joint")
    };
    assert_eq!(run(&joint).unwrap(), 4, "a run started with --init counts its own steps");
    let manifest = Manifest::parse(&std::fs::read(work.join("joint/checkpoint").join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.training["step"], 4);
    assert_eq!(manifest.training["started_from"]["step"], 2, "the manifest records the stage it started from");
    assert_eq!(manifest.training["started_from"]["settings"]["lm_weight"], 0.0);
    assert_eq!(manifest.training["settings"]["findings_match"], true);
    let after = weights(&work.join("joint/checkpoint"));
    assert!(
        after.iter().zip(&two).any(|((name, a), (_, b))| name.starts_with("text_decoder") && a != b),
        "the joint stage trains the decoder"
    );

    // A stage may add the findings prompt to weights trained without it; its weights then say so. Here
    // the prompt names the true findings, and question–answer pairs are learnt from their answers.
    let truth_settings = work.join("truth.json");
    std::fs::write(&truth_settings, r#"{"prompt_from_truth": true, "answers_only": true}"#).unwrap();
    let prompted = TrainArgs {
        init: Some(work.join("image-2/checkpoint")),
        findings_prompt: true,
        until: Some(2),
        settings: Some(truth_settings),
        ..tiny_args(&work, "prompted")
    };
    let unprompted = TrainArgs {
        init: Some(work.join("image-2/checkpoint")),
        settings: Some(work.join("truth.json")),
        ..tiny_args(&work, "unprompted")
    };
    let unprompted = format!("{:#}", run(&unprompted).unwrap_err());
    assert!(unprompted.contains("prompt_from_truth") && unprompted.contains("--findings-prompt"), "{unprompted}");
    std::fs::write(work.join("answers.json"), r#"{"answers_only": true}"#).unwrap();
    let answers = TrainArgs {
        init: Some(work.join("image-2/checkpoint")),
        settings: Some(work.join("answers.json")),
        ..tiny_args(&work, "answers")
    };
    let answers = format!("{:#}", run(&answers).unwrap_err());
    assert!(answers.contains("answers_only") && answers.contains("--findings-prompt"), "{answers}");
    assert_eq!(run(&prompted).unwrap(), 2);
    let manifest =
        Manifest::parse(&std::fs::read(work.join("prompted/checkpoint").join(MANIFEST_FILE)).unwrap()).unwrap();
    assert!(manifest.model_config().unwrap().findings_prompt);
    assert_eq!(manifest.training["settings"]["prompt_from_truth"], true);
    assert_eq!(manifest.training["settings"]["answers_only"], true);
    let after = weights(&work.join("prompted/checkpoint"));
    assert!(
        after.iter().zip(&two).any(|((name, a), (_, b))| name.starts_with("text_decoder") && a != b),
        "the prompted stage trains the decoder"
    );
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn pooling_from_predicted_boxes_trains_ecls_on_them_and_leaves_the_boxes_to_the_box_loss() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = simulated("pooling-test");
    // Boxes weigh nothing here, so only ECLS could move the region head, and only through the pooled boxes.
    let stage = |name: &str, pooled: bool| {
        let settings = work.join(format!("{name}.json"));
        let json = format!(
            r#"{{"itc_weight": 0, "itm_weight": 0, "lm_weight": 0, "box_weight": 0, "weight_decay": 0, "pool_predicted_boxes": {pooled}}}"#
        );
        std::fs::write(&settings, json).unwrap();
        run(&TrainArgs { until: Some(2), settings: Some(settings), ..tiny_args(&work, name) }).unwrap();
        weights(&work.join(name).join("checkpoint"))
    };
    let (on_true, on_predicted) = (stage("true-boxes", false), stage("predicted-boxes", true));
    let part = |all: &[(String, Vec<f32>)], prefix: &str| {
        all.iter().filter(|(name, _)| name.starts_with(prefix)).cloned().collect::<Vec<_>>()
    };
    assert!(!part(&on_true, "region_head").is_empty());
    assert_eq!(
        part(&on_true, "region_head"),
        part(&on_predicted, "region_head"),
        "no ECLS gradient may reach the region head through the boxes"
    );
    assert!(
        largest_difference(&part(&on_true, "ecls_head"), &part(&on_predicted, "ecls_head")) > 1e-6,
        "ECLS read the same regions from both boxes"
    );
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn real_radiographs_labelled_as_a_whole_train_beside_the_simulated_ones_and_are_evaluated() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = simulated("real-test");
    // Six of the simulated images stand in for real films, in the NIH labels.csv layout.
    let records = gkmvlp_data::read_dataset(work.join("data")).unwrap();
    let nih = work.join("nih");
    std::fs::create_dir_all(&nih).unwrap();
    let labels = ["Effusion", "No Finding", "Cardiomegaly|Effusion", "No Finding", "Nodule", "No Finding"];
    let mut csv = String::from("file,labels,view_position,patient_id\n");
    for (patient, (record, label)) in records.iter().zip(labels).enumerate() {
        csv += &format!("{},{label},PA,{patient}\n", record.image.display());
    }
    std::fs::write(nih.join("labels.csv"), csv).unwrap();
    let settings = |name: &str, pooled: bool| {
        let path = work.join(format!("{name}.json"));
        let json = format!(
            r#"{{"itc_weight": 0, "itm_weight": 0, "lm_weight": 0, "batch_size": 4, "real_per_batch": 2, "pool_predicted_boxes": {pooled}}}"#
        );
        std::fs::write(&path, json).unwrap();
        Some(path)
    };

    let args = TrainArgs { settings: settings("real", true), real: Some(nih.clone()), ..tiny_args(&work, "real") };
    assert_eq!(run(&args).unwrap(), 4);
    let checkpoint = work.join("real").join("checkpoint");
    let metrics = gkmvlp_train::eval_real::run(&gkmvlp_train::eval_real::EvalRealArgs {
        weights: vec![checkpoint],
        data: nih.clone(),
        limit: 0,
        out: None,
        boxes: None,
    })
    .unwrap();
    assert_eq!((metrics.images, metrics.patients, metrics.no_finding_images), (6, 6, 3));
    let effusion = metrics.findings.iter().find(|f| f.nih == "Effusion").unwrap();
    assert_eq!((effusion.positives, effusion.negatives), (2, 4));
    assert!(effusion.auc.is_some_and(|auc| (0.0..=1.0).contains(&auc)));

    let refused = |args: TrainArgs, expected: &str| {
        let error = format!("{:#}", run(&args).unwrap_err());
        assert!(error.contains(expected), "{error}");
    };
    // Real films have no true boxes to pool from; real images need both the setting and the folder; a fold
    // must exist.
    refused(
        TrainArgs { settings: settings("true-boxes", false), real: Some(nih.clone()), ..tiny_args(&work, "r1") },
        "pool_predicted_boxes",
    );
    refused(TrainArgs { settings: settings("no-folder", true), ..tiny_args(&work, "r2") }, "--real");
    refused(
        TrainArgs {
            settings: settings("fold", true),
            real: Some(nih),
            real_holdout_fold: Some(5),
            ..tiny_args(&work, "r3")
        },
        "not one of the 5 folds",
    );
    std::fs::remove_dir_all(&work).ok();
}

#[test]
fn a_batch_split_into_shards_trains_the_weights_the_whole_batch_does() {
    let _turn = TRAINING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // PA views without hedged sentences: every study has its 29 boxes and every label, so each shard's
    // ECLS and box means weigh its studies as the whole batch's means do.
    let work = simulated_with("shards-test", |sim| {
        sim.view = gkmvlp_sim::dataset::ViewArg::Pa;
        sim.hedge_share = 0.0;
    });
    let sharded = |name: &str, settings: &str| {
        let path = work.join(format!("{name}.json"));
        std::fs::write(&path, settings).unwrap();
        TrainArgs { settings: Some(path), until: Some(2), ..tiny_args(&work, name) }
    };
    // Two steps from a fresh start: the initial weights do not depend on the split either.
    let image_only = |shards| {
        sharded(
            &format!("image-{shards}"),
            &format!(
                r#"{{"itc_weight": 0, "itm_weight": 0, "lm_weight": 0, "batch_size": 4, "batch_shards": {shards}, "learning_rate": 0.001, "warmup_steps": 1}}"#
            ),
        )
    };
    for shards in [1, 2, 3, 4] {
        assert_eq!(run(&image_only(shards)).unwrap(), 2);
    }
    let whole = weights(&work.join("image-1/checkpoint"));
    for shards in [2, 3, 4] {
        let difference = largest_difference(&whole, &weights(&work.join(format!("image-{shards}/checkpoint"))));
        assert!(difference < 1e-5, "{shards} shards: the weights differ by {difference} of the largest");
    }

    // The decoder trains in shards too (its means are per shard's tokens, so not equal to the whole's).
    let report = sharded("report", r#"{"itc_weight": 0, "itm_weight": 0, "batch_size": 4, "batch_shards": 2}"#);
    assert_eq!(run(&report).unwrap(), 2);
    let moved = |prefix: &str| {
        weights(&work.join("report/checkpoint"))
            .iter()
            .zip(&whole)
            .any(|((name, a), (_, b))| name.starts_with(prefix) && a != b)
    };
    assert!(moved("text_decoder"), "the sharded report stage did not train the decoder");

    // ITC and ITM need the whole batch; a split into none or more shards than studies means nothing.
    for (name, settings, says) in [
        ("contrastive", r#"{"batch_shards": 2}"#, "ITC and ITM"),
        ("none", r#"{"itc_weight": 0, "itm_weight": 0, "batch_shards": 0}"#, "from 1 to the batch size"),
        (
            "too-many",
            r#"{"itc_weight": 0, "itm_weight": 0, "batch_size": 4, "batch_shards": 5}"#,
            "from 1 to the batch size",
        ),
    ] {
        let error = format!("{:#}", run(&sharded(name, settings)).unwrap_err());
        assert!(error.contains("batch_shards") && error.contains(says), "{name}: {error}");
    }
    std::fs::remove_dir_all(&work).ok();
}
