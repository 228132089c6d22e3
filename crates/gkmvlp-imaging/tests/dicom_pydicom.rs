//! pydicom's and pydicom-data's DICOM test files (fetched by scripts/fetch-assets.sh): JPEG-LS and the
//! other compressed encodings against their uncompressed twins, frame by frame; planar colour against
//! its interleaved twin; JPEG Extended 12-bit refused by name.

mod common;

use common::asset;
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

/// jpeg-decoder reads 8-bit DCT frames only; a 12-bit one is refused naming its transfer syntax.
#[test]
fn jpeg_extended_12_bit_is_refused_by_name() {
    for name in ["JPEG-lossy.dcm", "JPGExtended.dcm"] {
        let err = decode(&pydicom(name)).unwrap_err();
        assert!(matches!(err, ImagingError::UnsupportedTransferSyntax { .. }), "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("12-bit") && msg.contains("1.2.840.10008.1.2.4.51"), "{name}: {msg}");
    }
}
