//! PNG/JPEG round trips, made in the test with the image crate.

mod common;

use common::png_bytes;
use gkmvlp_imaging::{ImagingError, SourceFormat, decode};
use image::{DynamicImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};

const W: u32 = 40;
const H: u32 = 24;

/// Grey level of pixel (x, y) in [0, 1]: a ramp with a bright top-left square (orientation marker).
fn level(x: u32, y: u32) -> f32 {
    if x < 8 && y < 8 { 1.0 } else { (x + y) as f32 / (W + H) as f32 }
}

fn check(decoded: &gkmvlp_imaging::Radiograph, bits: u16, tol: f32) {
    assert_eq!((decoded.width, decoded.height), (W, H));
    assert_eq!(decoded.bits_stored, bits);
    assert_eq!(decoded.modality_values, None);
    assert_eq!(decoded.window, None);
    assert!(!decoded.invert);
    for y in 0..H {
        for x in 0..W {
            let got = decoded.pixels[(y * W + x) as usize];
            assert!((got - level(x, y)).abs() <= tol, "({x},{y}): {got} vs {}", level(x, y));
        }
    }
}

fn q8(v: f32) -> u8 {
    (v * 255.0).round() as u8
}
fn q16(v: f32) -> u16 {
    (v * 65535.0).round() as u16
}

#[test]
fn png_grey_8_and_16_bit() {
    let l8 = ImageBuffer::from_fn(W, H, |x, y| Luma([q8(level(x, y))]));
    let d = decode(&png_bytes(&DynamicImage::ImageLuma8(l8))).expect("L8");
    assert_eq!(d.format, SourceFormat::Png);
    check(&d, 8, 0.5 / 255.0 + 1e-6);

    let l16 = ImageBuffer::from_fn(W, H, |x, y| Luma([q16(level(x, y))]));
    check(&decode(&png_bytes(&DynamicImage::ImageLuma16(l16))).expect("L16"), 16, 1e-5);
}

#[test]
fn png_grey_alpha_ignores_alpha() {
    let la8 = ImageBuffer::from_fn(W, H, |x, y| LumaA([q8(level(x, y)), (x * 6) as u8]));
    check(&decode(&png_bytes(&DynamicImage::ImageLumaA8(la8))).expect("LA8"), 8, 0.5 / 255.0 + 1e-6);
    let la16 = ImageBuffer::from_fn(W, H, |x, y| LumaA([q16(level(x, y)), 0]));
    check(&decode(&png_bytes(&DynamicImage::ImageLumaA16(la16))).expect("LA16"), 16, 1e-5);
}

#[test]
fn png_colour_to_luminance() {
    // Grey stored as RGB/RGBA: luminance equals the grey level.
    let rgb8 = ImageBuffer::from_fn(W, H, |x, y| {
        let v = q8(level(x, y));
        Rgb([v, v, v])
    });
    check(&decode(&png_bytes(&DynamicImage::ImageRgb8(rgb8))).expect("RGB8"), 8, 0.5 / 255.0 + 1e-5);
    let rgba16 = ImageBuffer::from_fn(W, H, |x, y| {
        let v = q16(level(x, y));
        Rgba([v, v, v, 1234])
    });
    check(&decode(&png_bytes(&DynamicImage::ImageRgba16(rgba16))).expect("RGBA16"), 16, 1e-5);
    let rgba8 = ImageBuffer::from_fn(W, H, |x, y| {
        let v = q8(level(x, y));
        Rgba([v, v, v, 0])
    });
    check(&decode(&png_bytes(&DynamicImage::ImageRgba8(rgba8))).expect("RGBA8"), 8, 0.5 / 255.0 + 1e-5);
    let rgb16 = ImageBuffer::from_fn(W, H, |x, y| {
        let v = q16(level(x, y));
        Rgb([v, v, v])
    });
    check(&decode(&png_bytes(&DynamicImage::ImageRgb16(rgb16))).expect("RGB16"), 16, 1e-5);

    // Pure primaries follow Rec. 709 weights.
    let primaries = ImageBuffer::from_fn(W, H, |x, _| match x % 3 {
        0 => Rgb([255u8, 0, 0]),
        1 => Rgb([0, 255, 0]),
        _ => Rgb([0, 0, 255]),
    });
    let d = decode(&png_bytes(&DynamicImage::ImageRgb8(primaries))).expect("primaries");
    for (x, want) in [(0usize, 0.2126f32), (1, 0.7152), (2, 0.0722)] {
        assert!((d.pixels[x] - want).abs() < 1e-5);
    }
}

#[test]
fn jpeg_grey_and_colour() {
    let l8 = ImageBuffer::from_fn(W, H, |x, y| Luma([q8(level(x, y))]));
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 100)
        .encode_image(&DynamicImage::ImageLuma8(l8))
        .expect("encode JPEG");
    let d = decode(&bytes).expect("JPEG grey");
    assert_eq!(d.format, SourceFormat::Jpeg);
    check(&d, 8, 0.04); // lossy

    let rgb = ImageBuffer::from_fn(W, H, |x, y| {
        let v = q8(level(x, y));
        Rgb([v, v, v])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 100)
        .encode_image(&DynamicImage::ImageRgb8(rgb))
        .expect("encode JPEG");
    check(&decode(&bytes).expect("JPEG colour"), 8, 0.04);
}

#[test]
fn to_png_8bit_round_trips() {
    let l8 = ImageBuffer::from_fn(W, H, |x, y| Luma([q8(level(x, y))]));
    let d = decode(&png_bytes(&DynamicImage::ImageLuma8(l8))).expect("L8");
    let again = decode(&d.to_png_8bit()).expect("re-decode");
    assert_eq!(again.pixels, d.pixels);
}

#[test]
fn resize_square_on_a_known_pattern() {
    // 32×16: left half black, right half white, top-left 8×8 grey 0.5.
    let img = ImageBuffer::from_fn(32, 16, |x, y| {
        Luma([if x < 8 && y < 8 {
            128u8
        } else if x < 16 {
            0
        } else {
            255
        }])
    });
    let d = decode(&png_bytes(&DynamicImage::ImageLuma8(img))).expect("pattern");
    let s = d.resize_square(16);
    assert_eq!((s.width, s.height, s.pixels.len()), (16, 16, 256));
    // x shrinks 2:1 (area), y stays: left half black except the grey corner, right half white.
    let at = |x: usize, y: usize| s.pixels[y * 16 + x];
    assert!((at(0, 0) - 128.0 / 255.0).abs() < 1e-6);
    assert_eq!(at(5, 12), 0.0);
    assert_eq!(at(12, 3), 1.0);
    assert_eq!(at(15, 15), 1.0);
    // A normalised coordinate lands in the same region: (0.75, 0.25) is white in both.
    assert_eq!(d.pixels[4 * 32 + 24], at(12, 4));
}

#[test]
fn rewindow_needs_dicom() {
    let l8 = ImageBuffer::from_fn(W, H, |x, y| Luma([q8(level(x, y))]));
    let d = decode(&png_bytes(&DynamicImage::ImageLuma8(l8))).expect("L8");
    let err = d.rewindow(gkmvlp_imaging::Window { center: 100.0, width: 50.0 }).unwrap_err();
    assert_eq!(err, ImagingError::NotDicom(SourceFormat::Png));
}

/// zune-jpeg (through `image`) fills a truncated scan with grey and reports success: a JPEG cut short
/// must be refused, not analysed as if whole.
#[test]
fn truncated_jpeg_is_refused() {
    let img = image::GrayImage::from_fn(256, 192, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
    let mut whole = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut whole, 90).encode_image(&img).expect("encode JPEG");
    assert_eq!(decode(&whole).expect("the whole JPEG").width, 256);
    for cut in [whole.len() / 2, whole.len() * 2 / 3, whole.len() - 2] {
        let err = decode(&whole[..cut]).unwrap_err();
        assert!(err.to_string().contains("truncated JPEG"), "cut at {cut} of {}: {err}", whole.len());
    }
    // Headers only: the frame header claims 16000×4000, and there is no scan (with and without EOI).
    let sos = whole.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a scan");
    let mut headers = whole[..sos].to_vec();
    let sof = headers.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame header");
    headers[sof + 5..sof + 9].copy_from_slice(&[0x0F, 0xA0, 0x3E, 0x80]); // height 4000, width 16000
    for tail in [&[][..], &[0xFF, 0xD9]] {
        let mut bytes = headers.clone();
        bytes.extend(tail);
        let err = decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("truncated JPEG"), "{err}");
    }
}

/// A photo of a film taken on its side stores "rotate 90° clockwise" as EXIF orientation (6); the film
/// must come out upright, its width and height swapped.
#[test]
fn exif_orientation_turns_the_image_upright() {
    // 64 wide, 32 high: bright only in the top-left quarter.
    let img = image::GrayImage::from_fn(64, 32, |x, y| image::Luma([if x < 32 && y < 16 { 250 } else { 10 }]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&img).expect("encode JPEG");
    let plain = decode(&jpeg).expect("the plain JPEG");
    assert_eq!((plain.width, plain.height), (64, 32));

    // An APP1 Exif segment right after SOI: a little-endian TIFF header and one IFD entry, Orientation
    // (0x0112), SHORT, count 1, value 6.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend([1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let length = (app1.len() + 2) as u16;
    let mut rotated = jpeg[..2].to_vec();
    rotated.extend([0xFF, 0xE1]);
    rotated.extend(length.to_be_bytes());
    rotated.extend(app1);
    rotated.extend(&jpeg[2..]);

    let upright = decode(&rotated).expect("the JPEG with EXIF orientation");
    assert_eq!((upright.width, upright.height), (32, 64));
    // Turned 90° clockwise, the bright top-left quarter is now the top-right one.
    let at = |x: u32, y: u32| upright.pixels[(y * upright.width + x) as usize];
    assert!(at(24, 8) > 0.8 && at(8, 8) < 0.2, "top right {}, top left {}", at(24, 8), at(8, 8));
}
