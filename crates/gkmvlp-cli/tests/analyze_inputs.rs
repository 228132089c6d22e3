//! `gkmvlp analyze` before and around the model: a picture that is not a frontal chest radiograph is
//! refused (non-zero exit, the reason on stderr) unless `--analyse-anyway`; several images or a folder
//! give one JSON line each, a failing image its error, and the exit status says whether any failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn gkmvlp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gkmvlp")).args(args).output().expect("the gkmvlp binary runs")
}

/// A fresh folder holding a colour picture, a file that is no image, and a simulated radiograph.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test folder");
    let colour = image::RgbImage::from_fn(128, 128, |x, y| image::Rgb([(2 * x) as u8, (2 * y) as u8, 90]));
    colour.save(dir.join("colour.png")).expect("write a colour PNG");
    std::fs::write(dir.join("broken.png"), b"not an image").expect("write a broken file");
    std::fs::copy(format!("{REPO}/models/samples/simulated-right-effusion.png"), dir.join("simulated.png"))
        .expect("copy a simulated radiograph");
    dir
}

#[test]
fn a_colour_picture_is_refused_unless_analysed_anyway() {
    let dir = folder("refusal");
    let colour = dir.join("colour.png");
    let colour = colour.to_str().expect("a UTF-8 path");
    let refused = gkmvlp(&["analyze", colour]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a colour picture must be refused");
    assert!(stderr.contains("does not look like a frontal chest radiograph") && stderr.contains("colour"), "{stderr}");
    assert!(stderr.contains("--analyse-anyway"), "the way past the refusal is named: {stderr}");

    let anyway = gkmvlp(&["analyze", colour, "--analyse-anyway", "--json"]);
    assert!(anyway.status.success(), "{}", String::from_utf8_lossy(&anyway.stderr));
    let out: Value = serde_json::from_slice(&anyway.stdout).expect("JSON");
    assert_eq!(out["input_check"]["chest_radiograph"], false);
    assert_eq!(out["analysis"]["regions"].as_array().map(Vec::len), Some(29));
}

#[test]
fn a_folder_gives_one_json_line_per_image_and_fails_if_any_failed() {
    let dir = folder("batch");
    let output = gkmvlp(&["analyze", dir.to_str().expect("a UTF-8 path")]);
    assert!(!output.status.success(), "two of three images fail");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    let by_name = |name: &str| {
        lines.iter().find(|l| l["image"].as_str().is_some_and(|i| i.ends_with(name))).expect("a line per image")
    };
    assert_eq!(lines.len(), 3);
    assert!(by_name("broken.png")["error"].as_str().is_some_and(|e| e.contains("cannot decode")));
    assert_eq!(by_name("colour.png")["input_check"]["chest_radiograph"], false);
    let simulated = by_name("simulated.png");
    assert!(simulated.get("error").is_none(), "{simulated}");
    assert_eq!(simulated["input_check"]["chest_radiograph"], true);
    assert!(simulated["report"].is_string());
}

/// An input over the decoder's limit is refused before it is read: a 3 GB sparse file by its size,
/// and `/dev/zero`, which has none, after reading one byte past the limit.
#[test]
fn an_oversized_or_endless_input_is_refused_before_it_is_read_whole() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oversized");
    std::fs::create_dir_all(&dir).expect("create the test folder");
    let sparse = dir.join("sparse.png");
    let file = std::fs::File::create(&sparse).expect("create a sparse file");
    file.set_len(3 << 30).expect("make it 3 GB");
    let mut inputs = vec![sparse.to_str().expect("a UTF-8 path").to_string()];
    if Path::new("/dev/zero").exists() {
        inputs.push("/dev/zero".into());
    }
    for input in &inputs {
        let output = gkmvlp(&["analyze", input]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{input} must be refused");
        assert!(stderr.contains("input too large") && stderr.contains("limit 268435456 bytes"), "{input}: {stderr}");
    }
    let _ = std::fs::remove_file(&sparse);
}

/// pydicom-data's emri_small: ten 64×64 MR frames (fetched by scripts/fetch-assets.sh). Not a chest
/// radiograph, so analysed only when asked to go on.
fn ten_frames() -> String {
    let path = format!("{REPO}/assets/negatives/pydicom-data/emri_small.dcm");
    assert!(Path::new(&path).exists(), "{path} is missing: run scripts/fetch-assets.sh first");
    path
}

#[test]
fn a_multi_frame_dicom_says_its_frames_and_analyses_the_one_chosen() {
    let path = ten_frames();
    let first = gkmvlp(&["analyze", &path, "--analyse-anyway", "--json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("10 frames") && stderr.contains("--frame"), "the frames are said: {stderr}");
    let out: Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!((out["frames"].as_u64(), out["frame"].as_u64()), (Some(10), Some(1)));

    let third = gkmvlp(&["analyze", &path, "--analyse-anyway", "--json", "--frame", "3"]);
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
    let out3: Value = serde_json::from_slice(&third.stdout).expect("JSON");
    assert_eq!(out3["frame"].as_u64(), Some(3));
    assert_ne!(out["analysis"]["regions"], out3["analysis"]["regions"], "another frame gives other boxes");

    let absent = gkmvlp(&["analyze", &path, "--analyse-anyway", "--frame", "11"]);
    assert!(!absent.status.success());
    let stderr = String::from_utf8_lossy(&absent.stderr);
    assert!(stderr.contains("frame 11 does not exist") && stderr.contains("10 frame"), "{stderr}");
}
