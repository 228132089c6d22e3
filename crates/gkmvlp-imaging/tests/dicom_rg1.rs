//! The real RG1 PA chest radiograph (MONOCHROME1, 15 bits stored), uncompressed and JPEG 2000.

mod common;

use common::{asset, target_dir};
use gkmvlp_imaging::{Radiograph, SourceFormat, Window, decode};

fn rg1() -> Radiograph {
    decode(&asset("dicom/RG1_UNCR.dcm")).expect("RG1_UNCR decodes")
}

/// Mean of `pixels` over the box of fractional coordinates [x0, x1) × [y0, y1).
fn box_mean(r: &Radiograph, x0: f32, x1: f32, y0: f32, y1: f32) -> f32 {
    let (w, h) = (r.width as f32, r.height as f32);
    let (xa, xb) = ((x0 * w) as usize, (x1 * w) as usize);
    let (ya, yb) = ((y0 * h) as usize, (y1 * h) as usize);
    let mut sum = 0.0f64;
    for y in ya..yb {
        for x in xa..xb {
            sum += f64::from(r.pixels[y * r.width as usize + x]);
        }
    }
    (sum / ((xb - xa) * (yb - ya)) as f64) as f32
}

#[test]
fn rg1_metadata() {
    let r = rg1();
    eprintln!(
        "RG1: {}x{}, bits_stored {}, invert {}, window {:?}",
        r.width, r.height, r.bits_stored, r.invert, r.window
    );
    assert_eq!(r.format, SourceFormat::Dicom);
    assert_eq!(r.pixels.len(), (r.width * r.height) as usize);
    assert_eq!(r.bits_stored, 15);
    assert!(r.invert, "RG1 is MONOCHROME1");
    assert!(r.window.is_some());
    let values = r.modality_values.as_ref().expect("DICOM keeps modality values");
    assert_eq!(values.len(), r.pixels.len());
    assert!(r.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    // Golden pixel sum; scripts/wasm-smoke.sh prints the same number from the wasm32 build.
    let sum: f64 = r.pixels.iter().map(|&v| f64::from(v)).sum();
    eprintln!("RG1 pixel sum {sum}");
    assert!((sum - 2_712_358.768).abs() < 0.01, "pixel sum {sum}");
}

#[test]
fn rg1_is_an_upright_chest_with_dark_lungs() {
    let r = rg1();
    // Written first, so that a failure can be looked at.
    std::fs::create_dir_all(target_dir()).expect("target dir");
    std::fs::write(target_dir().join("rg1_preview.png"), r.resize_square(512).to_png_8bit()).expect("write preview");
    // Mid-height band: mediastinum/spine (centre) brighter than both lung fields.
    let centre = box_mean(&r, 0.45, 0.55, 0.35, 0.6);
    let right_lung = box_mean(&r, 0.2, 0.35, 0.35, 0.6); // patient's right = image left on a PA
    let left_lung = box_mean(&r, 0.65, 0.8, 0.35, 0.6);
    eprintln!("centre {centre:.3}, image-left lung {right_lung:.3}, image-right lung {left_lung:.3}");
    assert!(centre > right_lung + 0.1, "centre {centre} vs lung {right_lung}");
    assert!(centre > left_lung + 0.1, "centre {centre} vs lung {left_lung}");
    // The file's own window (c 15000, w 30000) is wide, so the lungs are mid-grey, not black.
    assert!(right_lung < 0.7 && left_lung < 0.7);
    // Bone (clavicle heads, spine) saturates towards white; the air above the shoulders, at the
    // top corners, is the darkest part.
    let corner = box_mean(&r, 0.0, 0.05, 0.02, 0.08).min(box_mean(&r, 0.95, 1.0, 0.02, 0.08));
    let n = r.pixels.len() as f32;
    let bright = r.pixels.iter().filter(|&&v| v > 0.9).count() as f32 / n;
    let min = r.pixels.iter().copied().fold(1.0f32, f32::min);
    eprintln!("top corner {corner:.3}, bright fraction {bright:.3}, min {min:.3}");
    assert!(corner < right_lung && corner < left_lung, "corner {corner}");
    assert!(bright > 0.05, "bright fraction {bright}");
}

#[cfg(feature = "jpeg2000")]
#[test]
fn rg1_jpeg2000_equals_uncompressed() {
    let j2k = decode(&asset("dicom/RG1_J2KR.dcm")).expect("RG1_J2KR decodes");
    let raw = rg1();
    assert_eq!((j2k.width, j2k.height), (raw.width, raw.height));
    assert_eq!(j2k.modality_values, raw.modality_values);
    assert_eq!(j2k.pixels, raw.pixels);
}

#[test]
fn rg1_rewindow() {
    let r = rg1();
    let values = r.modality_values.clone().expect("values");
    let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    // A window covering the full range: pixels are the inverted linear map of the values.
    let full = Window { center: (lo + hi + 1.0) / 2.0, width: hi - lo + 1.0 };
    let w = r.rewindow(full).expect("rewindow");
    assert_eq!(w.window, Some(full));
    assert!(w.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    let i = values.iter().position(|&v| v == lo).expect("min");
    assert_eq!(w.pixels[i], 1.0, "MONOCHROME1: the lowest value displays white");
    // A narrow window saturates more pixels than the full one.
    let narrow = r.rewindow(Window { center: (lo + hi) / 2.0, width: (hi - lo) / 10.0 }).expect("narrow");
    let sat = |p: &[f32]| p.iter().filter(|&&v| v == 0.0 || v == 1.0).count();
    assert!(sat(&narrow.pixels) > sat(&w.pixels));
    // Rewindowing with the original window reproduces the pixels.
    assert_eq!(r.rewindow(r.window.expect("window")).expect("same").pixels, r.pixels);
    // Invalid windows are refused.
    assert!(r.rewindow(Window { center: 0.0, width: 0.0 }).is_err());
    assert!(r.rewindow(Window { center: f32::NAN, width: 100.0 }).is_err());
}

#[test]
fn rg1_resize_keeps_values_consistent() {
    let r = rg1().resize_square(224);
    assert_eq!((r.width, r.height, r.pixels.len()), (224, 224, 224 * 224));
    let values = r.modality_values.as_ref().expect("values");
    assert_eq!(values.len(), 224 * 224);
    let again = r.rewindow(r.window.expect("window")).expect("rewindow");
    // Windowing is not linear at the clamps, so resize-then-window differs a little from
    // window-then-resize; the mean difference stays small.
    let diff: f32 = again.pixels.iter().zip(&r.pixels).map(|(a, b)| (a - b).abs()).sum::<f32>() / (224.0 * 224.0);
    assert!(diff < 0.02, "mean |diff| {diff}");
}

#[cfg(not(feature = "jpeg2000"))]
#[test]
fn rg1_jpeg2000_is_refused_by_name() {
    let err = decode(&asset("dicom/RG1_J2KR.dcm")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("JPEG 2000") && msg.contains("1.2.840.10008.1.2.4.90"), "{msg}");
}
