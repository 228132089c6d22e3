//! pydicom's and pydicom-data's DICOM test files (fetched by scripts/fetch-assets.sh): JPEG-LS and the
//! other compressed encodings against their uncompressed twins, frame by frame; planar colour against
//! its interleaved twin; JPEG Extended 12-bit against pydicom's reference values.

mod common;

use common::{asset, mutated, xorshift};
use gkmvlp_imaging::{DecodeOptions, ImagingError, Radiograph, decode, decode_with};

fn pydicom(name: &str) -> Vec<u8> {
    asset(&format!("negatives/pydicom/{name}"))
}

fn pydicom_data(name: &str) -> Vec<u8> {
    asset(&format!("negatives/pydicom-data/{name}"))
}

fn frame(bytes: &[u8], frame: u32) -> Radiograph {
    decode_with(bytes, &DecodeOptions { frame: Some(frame) }).unwrap_or_else(|e| panic!("frame {frame}: {e}"))
}

#[test]
fn jpeg_ls_lossless_equals_the_uncompressed_twin() {
    let native = decode(&pydicom("MR_small.dcm")).expect("MR_small decodes");
    let jls = decode(&pydicom("MR_small_jpeg_ls_lossless.dcm")).expect("JPEG-LS decodes");
    assert_eq!((jls.width, jls.height, jls.bits_stored), (64, 64, 16));
    assert!(native.modality_values.as_ref().expect("values").iter().any(|&v| v != 0.0));
    assert_eq!(jls, native);
}

/// emri_small: 10 frames of 64×64 MR, 12 bits stored, as native, JPEG-LS, RLE and JPEG 2000 lossless.
#[test]
fn every_frame_of_a_compressed_multi_frame_file_equals_the_uncompressed_one() {
    let native = pydicom_data("emri_small.dcm");
    let first = decode(&native).expect("emri_small decodes");
    assert_eq!((first.frames, first.frame), (10, 1));
    let frames: Vec<Radiograph> = (1..=10).map(|n| frame(&native, n)).collect();
    assert_eq!(frames[0], first);
    for n in 1..10 {
        assert_ne!(frames[n].modality_values, frames[0].modality_values, "frame {} equals frame 1", n + 1);
    }
    for name in ["emri_small_jpeg_ls_lossless.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"] {
        let bytes = pydicom_data(name);
        for (n, want) in (1..=10).zip(&frames) {
            assert_eq!(&frame(&bytes, n), want, "{name} frame {n}");
        }
        let err = decode_with(&bytes, &DecodeOptions { frame: Some(11) }).unwrap_err();
        assert_eq!(err, ImagingError::FrameOutOfRange { frame: 11, frames: 10 }, "{name}");
    }
}

#[test]
fn planar_colour_equals_the_interleaved_twin() {
    let planar = decode(&pydicom_data("color-pl.dcm")).expect("planar RGB decodes");
    let interleaved = decode(&pydicom_data("color-px.dcm")).expect("interleaved RGB decodes");
    assert_eq!((planar.width, planar.height), (256, 120));
    assert!(planar.chroma > 0.01, "chroma {}", planar.chroma);
    assert_eq!(planar, interleaved);
}

/// JPEG Extended 12-bit (JPGExtended.dcm, and JPEG-lossy.dcm, the same frame with an invalid scan
/// end that sequential decoders ignore): a 256×1024 bone scan. pydicom's pixel reference gives
/// 244 at (row 420, column 140) and 95 at (230, 120); the inverse DCT here is T.81's exact one, where
/// libjpeg's integer one rounds differently by at most one count.
#[test]
fn jpeg_extended_12_bit_matches_pydicoms_reference() {
    for name in ["JPGExtended.dcm", "JPEG-lossy.dcm"] {
        let r = decode(&pydicom(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((r.width, r.height, r.bits_stored), (256, 1024, 12), "{name}");
        let values = r.modality_values.as_ref().expect("values");
        let at = |row: usize, column: usize| values[row * 256 + column];
        assert_eq!(at(420, 140), 244.0, "{name}");
        assert!((at(230, 120) - 95.0).abs() <= 1.0, "{name}: {}", at(230, 120));
        assert!(values.iter().all(|v| (0.0..=4095.0).contains(v)));
        // A body on a dark field: the middle of the film is brighter than its corners.
        let mean = |rows: std::ops::Range<usize>, columns: std::ops::Range<usize>| {
            let n = (rows.len() * columns.len()) as f32;
            rows.flat_map(|y| columns.clone().map(move |x| (y, x))).map(|(y, x)| at(y, x)).sum::<f32>() / n
        };
        let (body, corner) = (mean(200..350, 96..160), mean(0..64, 0..64));
        assert!(body > 10.0 * corner + 20.0, "{name}: body {body}, corner {corner}");
    }
}

/// Flipped bytes and cuts in a 12-bit JPEG Extended file: refused or decoded, never a panic, and a
/// file cut inside its scan is refused rather than filled with grey.
#[test]
fn damaged_jpeg_extended_12_bit_never_panics() {
    let file = pydicom("JPGExtended.dcm");
    let start = file.windows(4).rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00]).expect("pixel data");
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..300 {
        match decode(&mutated(&file, start, &mut next)) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    eprintln!("JPEG Extended mutations: {ok} decoded, {refused} refused");
    let cut = start + (file.len() - start) / 2;
    let mut truncated = file[..cut].to_vec();
    // Keep the DICOM structure whole: end the fragment and the sequence where the cut is.
    let fragment_at = file[start..].windows(4).rposition(|w| w == [0xFE, 0xFF, 0x00, 0xE0]).expect("fragment") + start;
    let fragment_len = (cut - fragment_at - 8) & !1;
    truncated.truncate(fragment_at + 8 + fragment_len);
    truncated[fragment_at + 4..fragment_at + 8].copy_from_slice(&(fragment_len as u32).to_le_bytes());
    truncated.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    let err = decode(&truncated).unwrap_err();
    assert!(err.to_string().contains("12-bit"), "{err}");
}
