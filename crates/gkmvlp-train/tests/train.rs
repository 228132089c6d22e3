//! End to end on the tiny model: simulate a few studies, train a few steps, stop, resume, and load the
//! checkpoint as trained weights; a run trained in two stages ends with the same weights as one trained
//! straight through.

use std::path::PathBuf;

use gkmvlp::weights::{MANIFEST_FILE, MODEL_FILE, Manifest, WeightFiles};
use gkmvlp_train::{TrainArgs, run};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path)
}

#[test]
fn tiny_trains_checkpoints_and_resumes() {
    let ct = repo("assets/ct");
    assert!(ct.join("cxr.nii.gz").exists(), "{}: missing; run scripts/fetch-assets.sh --with-ct", ct.display());
    let work = std::env::temp_dir().join(format!("gkmvlp-train-test-{}", std::process::id()));
    let data = work.join("data");
    let mut sim = gkmvlp_sim::SimulateArgs::new(data.clone(), 12, 5);
    sim.size = 96;
    sim.ct = ct;
    gkmvlp_sim::run(&sim).expect("simulate");

    let args = |run: &str, until, resume| TrainArgs {
        config: "tiny".into(),
        data: data.clone(),
        out: work.join(run),
        steps: 4,
        until,
        settings: None,
        resume,
        minilm: repo("assets/minilm/model.safetensors"),
        tokenizer: repo("models/tokenizer.json"),
        seed: 3,
        no_grounding: false,
        device: "flex".into(),
    };
    assert_eq!(run(&args("staged", Some(2), false)).unwrap(), 2);
    let checkpoint = work.join("staged/checkpoint");
    let manifest = Manifest::parse(&std::fs::read(checkpoint.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.training["step"], 2);
    assert_eq!(run(&args("staged", None, true)).unwrap(), 4, "resume continues from the checkpoint's step");

    // Exactness: the resumed run has AdamW's moments and the same schedule and batches.
    assert_eq!(run(&args("straight", None, false)).unwrap(), 4);
    let weights = |run: &str| {
        let bytes = std::fs::read(work.join(run).join("checkpoint").join(MODEL_FILE)).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut all: Vec<(String, Vec<f32>)> = tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    };
    let (staged, straight) = (weights("staged"), weights("straight"));
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
    let pipeline = gkmvlp::pipeline::Pipeline::from_weights(files, burn::tensor::Device::flex()).expect("checkpoint loads as trained weights");
    assert!(matches!(pipeline.origin, gkmvlp::pipeline::WeightsOrigin::Trained { .. }));
    std::fs::remove_dir_all(&work).ok();
}
