use gkmvlp_data::read_dataset;
use gkmvlp_vocab::{Region, candidates};
use std::path::PathBuf;

#[test]
fn reads_the_mimic_imagenome_layout() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imagenome");
    let recs = read_dataset(&root).expect("fixture");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.id, "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014");
    assert_eq!((r.width, r.height), (80, 64));
    assert_eq!(r.view, "PA");
    assert_eq!(r.split, "val");
    assert_eq!(r.source, "mimic-cxr+chest-imagenome");
    let b = r.boxes[Region::RightLung.index()].expect("right lung box");
    assert!((b[0] - 10.0 / 80.0).abs() < 1e-6 && (b[3] - 56.0 / 64.0).abs() < 1e-6);
    assert!(r.boxes[Region::Trachea.index()].is_none());
    assert_eq!(r.report.findings, "Small right pleural effusion. No pneumothorax. The cardiac silhouette is normal.");
    assert_eq!(r.report.impression, "Small right pleural effusion.");
    let c = candidates();
    let idx = |e: &str, p: Region| c.iter().position(|x| x.entity.name() == e && x.position == p).expect("candidate");
    assert_eq!(r.exist[idx("pleural effusion", Region::RightCostophrenicAngle)], 1);
    assert_eq!(r.exist[idx("pneumothorax", Region::LeftLung)], 0);
    assert_eq!(r.exist[idx("pleural effusion", Region::LeftCostophrenicAngle)], -1);
    assert_eq!(r.present(), vec![("pleural effusion".to_string(), "right costophrenic angle".to_string())]);
}
