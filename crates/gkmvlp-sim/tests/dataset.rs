use gkmvlp_data::read_dataset;
use gkmvlp_sim::dataset::{SimulateArgs, run, study_seed};
use gkmvlp_vocab::{NUM_REGIONS, candidates};
use std::path::PathBuf;

#[test]
fn split_seeds_never_overlap() {
    let mut seen = std::collections::HashSet::new();
    for split in 0..3 {
        for i in 0..5000u64 {
            assert!(seen.insert(study_seed(9, split, i)));
        }
    }
}

#[test]
fn writes_and_reads_back_a_dataset() {
    let ct = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/ct");
    assert!(ct.join("cxr.nii.gz").is_file(), "run `scripts/fetch-assets.sh --with-ct` from the repository root first");
    let out = std::env::temp_dir().join(format!("gkmvlp-sim-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut args = SimulateArgs::new(&out, 10, 5);
    args.size = 96;
    args.render_size = 96;
    args.ct = ct;
    args.val_share = 0.2;
    args.test_share = 0.1;
    args.bits = 16;
    let s = run(&args).expect("run");
    assert_eq!((s.train, s.val, s.test), (7, 2, 1));
    let recs = read_dataset(&out).expect("read");
    assert_eq!(recs.len(), 10 - s.failed);
    for r in &recs {
        assert!(r.image.is_file(), "{}", r.image.display());
        assert_eq!(r.boxes.len(), NUM_REGIONS);
        assert_eq!(r.exist.len(), candidates().len());
        assert!(r.boxes.iter().all(|b| b.is_some()));
        assert!(!r.report.impression.is_empty());
        let img = image::open(&r.image).expect("png");
        assert_eq!((img.width(), img.height()), (96, 96));
        assert!(matches!(img, image::DynamicImage::ImageLuma16(_)));
        let sg = out.join("scene_graph").join(format!("{}_SceneGraph.json", r.id));
        assert!(sg.is_file());
    }
    // The same arguments write the same dataset.
    let out2 = out.with_extension("again");
    let _ = std::fs::remove_dir_all(&out2);
    let mut a2 = args.clone();
    a2.out = out2.clone();
    run(&a2).expect("run again");
    for split in ["train", "val", "test"] {
        let a = std::fs::read(out.join(format!("{split}.jsonl"))).expect("jsonl");
        let b = std::fs::read(out2.join(format!("{split}.jsonl"))).expect("jsonl");
        assert_eq!(a, b, "{split}.jsonl differs between identical runs");
    }
    let a = std::fs::read(out.join("images/train/sim-train-000000.png")).expect("png");
    let b = std::fs::read(out2.join("images/train/sim-train-000000.png")).expect("png");
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&out2);
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let mut args = SimulateArgs::new("/tmp/never-written", 1, 0);
    args.bits = 12;
    assert!(run(&args).unwrap_err().to_string().contains("--bits"));
    let mut args = SimulateArgs::new("/tmp/never-written", 1, 0);
    args.ct = PathBuf::from("/nonexistent");
    assert!(run(&args).unwrap_err().to_string().contains("fetch-assets.sh --with-ct"));
}
