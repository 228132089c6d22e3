//! Hostile and broken inputs: every one must return an error, quickly, without panicking.

mod common;

use std::time::Instant;

use common::{asset, png_bytes, png_header_only, random_bytes};
use gkmvlp_imaging::{ImagingError, SourceFormat, decode};
use image::{DynamicImage, ImageBuffer, Luma};

fn assert_err(bytes: &[u8], what: &str) -> ImagingError {
    match decode(bytes) {
        Ok(r) => panic!("{what}: decoded to {}x{} instead of failing", r.width, r.height),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

fn prefixes(bytes: &[u8], what: &str) {
    for k in 0..8 {
        let n = bytes.len() * k / 8;
        let e = assert_err(&bytes[..n], &format!("{what} prefix {k}/8 ({n} bytes)"));
        eprintln!("{what} {k}/8: {e}");
    }
}

#[test]
fn truncated_dicom() {
    prefixes(&asset("dicom/RG1_UNCR.dcm"), "RG1_UNCR");
}

#[test]
fn truncated_jpeg2000_dicom() {
    prefixes(&asset("dicom/RG1_J2KR.dcm"), "RG1_J2KR");
}

#[test]
fn truncated_png() {
    let img = ImageBuffer::from_fn(64, 64, |x, y| Luma([(x * 3 + y) as u8]));
    prefixes(&png_bytes(&DynamicImage::ImageLuma8(img)), "PNG");
}

#[test]
fn empty_text_and_random() {
    assert_eq!(decode(&[]).unwrap_err(), ImagingError::Empty);
    assert_eq!(decode(b"Findings: no acute cardiopulmonary process.\n").unwrap_err(), ImagingError::UnknownFormat);
    assert!(ImagingError::UnknownFormat.to_string().contains("PNG, JPEG and DICOM"));
    for seed in 1..20u64 {
        let mut bytes = random_bytes(4096, seed);
        assert_err(&bytes, "random");
        // Random payloads behind each format's magic.
        bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
        assert!(matches!(assert_err(&bytes, "random PNG"), ImagingError::Corrupt { format: SourceFormat::Png, .. }));
        bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        assert_err(&bytes, "random JPEG");
        let mut dicm = random_bytes(4096, seed);
        dicm[128..132].copy_from_slice(b"DICM");
        assert_err(&dicm, "random DICOM");
    }
}

#[test]
fn tiny_png_is_too_small() {
    let img = ImageBuffer::from_fn(1, 1, |_, _| Luma([7u8]));
    let e = decode(&png_bytes(&DynamicImage::ImageLuma8(img))).unwrap_err();
    assert_eq!(e, ImagingError::TooSmall { width: 1, height: 1 });
}

#[test]
fn huge_png_header_is_refused_before_allocating() {
    let start = Instant::now();
    let e = decode(&png_header_only(100_000, 100_000)).unwrap_err();
    assert_eq!(e, ImagingError::TooLarge { width: 100_000, height: 100_000 });
    // Under both side limits but over 64 Mpx.
    let e = decode(&png_header_only(16_000, 16_000)).unwrap_err();
    assert_eq!(e, ImagingError::TooLarge { width: 16_000, height: 16_000 });
    assert!(start.elapsed().as_millis() < 500, "took {:?}", start.elapsed());
    assert!(e.to_string().contains("16384"));
}

#[test]
fn dicom_without_preamble() {
    let bytes = asset("dicom/RG1_UNCR.dcm");
    let bare = decode(&bytes[128..]).expect("DICOM without preamble");
    let full = decode(&bytes).expect("DICOM");
    assert_eq!(bare.pixels, full.pixels);
}

#[test]
fn dicom_length_bomb_is_refused_before_allocating() {
    // RG1's header, then Pixel Data declaring 0xF0000000 bytes with 4 KB behind it. Without the
    // length guard dicom-parser allocated 3.9 GB and took 16 s to fail on this.
    let mut bytes = asset("dicom/RG1_UNCR.dcm");
    let at = bytes.windows(6).position(|w| w == b"\xe0\x7f\x10\x00OW").expect("pixel data header");
    bytes.truncate(at + 12 + 4096);
    bytes[at + 8..at + 12].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    let start = Instant::now();
    let e = decode(&bytes).unwrap_err();
    assert!(e.to_string().contains("(7FE0,0010) declares 4026531840 bytes"), "{e}");
    assert!(start.elapsed().as_millis() < 200, "took {:?}", start.elapsed());
}

#[cfg(feature = "jpeg2000")]
#[test]
fn jpeg2000_frame_larger_than_its_dicom_header_is_refused() {
    // RG1_J2KR with the codestream's SIZ claiming 60000×60000 (Rows/Columns still 1955×1841).
    let mut bytes = asset("dicom/RG1_J2KR.dcm");
    let at = bytes.windows(4).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51]).expect("SOC SIZ");
    bytes[at + 8..at + 12].copy_from_slice(&60_000u32.to_be_bytes());
    bytes[at + 12..at + 16].copy_from_slice(&60_000u32.to_be_bytes());
    let start = Instant::now();
    let e = decode(&bytes).unwrap_err();
    assert!(e.to_string().contains("60000×60000"), "{e}");
    assert!(start.elapsed().as_millis() < 200, "took {:?}", start.elapsed());
}

#[test]
fn mutated_png_and_jpeg_never_panic() {
    let img = ImageBuffer::from_fn(48, 40, |x, y| Luma([(x * 5 + y * 3) as u8]));
    let png = png_bytes(&DynamicImage::ImageLuma8(img.clone()));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&DynamicImage::ImageLuma8(img))
        .expect("encode JPEG");
    let start = Instant::now();
    for (k, file) in [png, jpeg].into_iter().enumerate() {
        let noise = random_bytes(3 * 3000, 7 + k as u64);
        for m in noise.chunks_exact(3) {
            let mut bytes = file.clone();
            let at = (usize::from(m[0]) << 8 | usize::from(m[1])) % bytes.len();
            bytes[at] = m[2];
            let _ = decode(&bytes);
        }
    }
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
}

#[test]
fn input_over_the_byte_limit_is_refused() {
    let mut bytes = vec![0u8; gkmvlp_imaging::MAX_INPUT_BYTES as usize + 1];
    bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    let err = decode(&bytes).unwrap_err();
    assert_eq!(err, ImagingError::InputTooLarge { bytes: gkmvlp_imaging::MAX_INPUT_BYTES + 1 });
}
