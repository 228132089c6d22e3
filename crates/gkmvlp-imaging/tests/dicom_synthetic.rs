//! DICOM objects built in the test with dicom-object: rescale, windows, inversion, signedness,
//! multi-frame and the choice of frame, colour (interleaved and planar), RLE, JPEG baseline, JPEG-LS,
//! unsupported encodings and bomb headers.

mod common;

use common::{mutated, xorshift};
use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{InMemDicomObject, mem::InMemElement};
use gkmvlp_imaging::{DecodeOptions, ImagingError, MAX_SEQUENCE_DEPTH, Radiograph, Window, decode, decode_with};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const RLE: &str = "1.2.840.10008.1.2.5";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LS: &str = "1.2.840.10008.1.2.4.80";
const JPEG_LS_NEAR: &str = "1.2.840.10008.1.2.4.81";
const JPEG_XL: &str = "1.2.840.10008.1.2.4.110";

struct Spec {
    ts: &'static str,
    rows: u16,
    cols: u16,
    bits: u16,
    signed: bool,
    samples: u16,
    photometric: &'static str,
    planar: bool,
    extra: Vec<InMemElement>,
    pixels: Option<InMemElement>,
}

impl Spec {
    fn grey(rows: u16, cols: u16, bits: u16) -> Spec {
        Spec {
            ts: EXPLICIT_LE,
            rows,
            cols,
            bits,
            signed: false,
            samples: 1,
            photometric: "MONOCHROME2",
            planar: false,
            extra: vec![],
            pixels: None,
        }
    }

    fn bytes(self) -> Vec<u8> {
        let mut obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5.6"),
            DataElement::new(tags::ROWS, VR::US, dicom_value!(U16, [self.rows])),
            DataElement::new(tags::COLUMNS, VR::US, dicom_value!(U16, [self.cols])),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, dicom_value!(U16, [self.bits])),
            DataElement::new(tags::BITS_STORED, VR::US, dicom_value!(U16, [self.bits])),
            DataElement::new(tags::HIGH_BIT, VR::US, dicom_value!(U16, [self.bits - 1])),
            DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, dicom_value!(U16, [u16::from(self.signed)])),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, dicom_value!(U16, [self.samples])),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, self.photometric),
        ]);
        if self.samples > 1 {
            obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, dicom_value!(U16, [u16::from(self.planar)])));
        }
        for e in self.extra {
            obj.put(e);
        }
        if let Some(p) = self.pixels {
            obj.put(p);
        }
        let file = obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(self.ts)).expect("meta");
        let mut out = Vec::new();
        file.write_all(&mut out).expect("write DICOM");
        out
    }
}

fn native_u8(data: Vec<u8>) -> InMemElement {
    DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(data))
}
fn native_u16(data: Vec<u16>) -> InMemElement {
    DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(data.into()))
}
fn encapsulated(fragment: Vec<u8>) -> InMemElement {
    encapsulated_frames(vec![fragment])
}
/// Encapsulated pixel data of one fragment per frame, without an offset table.
fn encapsulated_frames(fragments: Vec<Vec<u8>>) -> InMemElement {
    DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), fragments))
}
fn number_of_frames(n: u32) -> InMemElement {
    DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, n.to_string())
}
fn frame(bytes: &[u8], frame: u32) -> Result<Radiograph, ImagingError> {
    decode_with(bytes, &DecodeOptions { frame: Some(frame) })
}
fn ds(tag: dicom_core::Tag, v: &str) -> InMemElement {
    DataElement::new(tag, VR::DS, v)
}

/// A 32×32 ramp of `0..=255` (8-bit) values: v(x, y) = (x + 8 y) % 256.
fn ramp8() -> Vec<u8> {
    (0..32 * 32).map(|i: u32| ((i % 32 + 8 * (i / 32)) % 256) as u8).collect()
}

#[test]
fn rescale_and_first_window_of_a_multivalued_pair() {
    let mut spec = Spec::grey(32, 32, 8);
    spec.extra = vec![
        ds(tags::RESCALE_SLOPE, "2"),
        ds(tags::RESCALE_INTERCEPT, "-100"),
        ds(tags::WINDOW_CENTER, "100\\200"),
        ds(tags::WINDOW_WIDTH, "51\\80"),
    ];
    spec.pixels = Some(native_u8(ramp8()));
    let r = decode(&spec.bytes()).expect("decode");
    assert_eq!(r.bits_stored, 8);
    assert!(!r.invert);
    assert_eq!(r.window, Some(Window { center: 100.0, width: 51.0 }));
    let values = r.modality_values.as_ref().expect("values");
    for (i, &raw) in ramp8().iter().enumerate() {
        let v = 2.0 * f32::from(raw) - 100.0;
        assert_eq!(values[i], v);
        // PS3.3 C.11.2.1.2.1 with c = 100, w = 51: 0 below 74.5, 1 above 124.5.
        let want = if v <= 74.5 {
            0.0
        } else if v > 124.5 {
            1.0
        } else {
            (v - 99.5) / 50.0 + 0.5
        };
        assert!((r.pixels[i] - want).abs() < 1e-6, "{v}: {} vs {want}", r.pixels[i]);
    }
}

#[test]
fn no_window_falls_back_to_the_value_range() {
    let mut spec = Spec::grey(32, 32, 8);
    spec.pixels = Some(native_u8(ramp8()));
    let r = decode(&spec.bytes()).expect("decode");
    let w = r.window.expect("window");
    assert!(w.width > 200.0 && w.width < 260.0, "{w:?}");
    let (min, max) = r.pixels.iter().fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!((min, max), (0.0, 1.0));
}

#[test]
fn signed_16_bit_monochrome1_is_inverted() {
    let mut spec = Spec::grey(16, 16, 16);
    spec.signed = true;
    spec.photometric = "MONOCHROME1";
    spec.extra = vec![ds(tags::WINDOW_CENTER, "0"), ds(tags::WINDOW_WIDTH, "2000")];
    // -1000 ..= +1000 across the rows.
    let raw: Vec<i16> = (0..256).map(|i| ((i / 16) * 2000 / 15 - 1000) as i16).collect();
    spec.pixels = Some(native_u16(raw.iter().map(|&v| v as u16).collect()));
    let r = decode(&spec.bytes()).expect("decode");
    assert!(r.invert);
    let values = r.modality_values.as_ref().expect("values");
    assert_eq!(values[0], -1000.0);
    assert_eq!(values[255], 1000.0);
    assert_eq!(r.pixels[0], 1.0, "lowest value white in MONOCHROME1");
    assert_eq!(r.pixels[255], 0.0);
    let again = r.rewindow(Window { center: 0.0, width: 2000.0 }).expect("rewindow");
    assert_eq!(again.pixels, r.pixels);
}

/// A native 16×16 8-bit file of three frames, each uniform: 10, 20, 30.
fn three_frames() -> Vec<u8> {
    let mut spec = Spec::grey(16, 16, 8);
    spec.extra = vec![number_of_frames(3)];
    let data = [10u8, 20, 30].iter().flat_map(|&v| [v; 256]).collect();
    spec.pixels = Some(native_u8(data));
    spec.bytes()
}

#[test]
fn multi_frame_uses_the_first_frame_and_says_how_many_there_are() {
    let r = decode(&three_frames()).expect("decode");
    assert_eq!((r.frames, r.frame), (3, 1));
    assert_eq!(r.pixels.len(), 256);
    assert!(r.modality_values.as_ref().expect("values").iter().all(|&v| v == 10.0));
    assert_eq!(decode_with(&three_frames(), &DecodeOptions::default()), Ok(r));
}

#[test]
fn a_chosen_frame_is_decoded_and_one_out_of_range_refused() {
    let bytes = three_frames();
    for (n, want) in [(1, 10.0), (2, 20.0), (3, 30.0)] {
        let r = frame(&bytes, n).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        assert_eq!((r.frames, r.frame), (3, n));
        assert!(r.modality_values.as_ref().expect("values").iter().all(|&v| v == want), "frame {n}");
    }
    for n in [0, 4, u32::MAX] {
        let err = frame(&bytes, n).unwrap_err();
        assert_eq!(err, ImagingError::FrameOutOfRange { frame: n, frames: 3 });
        assert!(err.to_string().contains("the file has 3 frame(s)"), "{err}");
    }
    // A single-frame file and a PNG have frame 1 only.
    let mut single = Spec::grey(32, 32, 8);
    single.pixels = Some(native_u8(ramp8()));
    let single = single.bytes();
    assert_eq!(frame(&single, 1).map(|r| (r.frames, r.frame)), Ok((1, 1)));
    assert_eq!(frame(&single, 2).unwrap_err(), ImagingError::FrameOutOfRange { frame: 2, frames: 1 });
    let mut png = Vec::new();
    image::GrayImage::from_fn(32, 32, |x, _| image::Luma([x as u8]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode PNG");
    assert_eq!(frame(&png, 1).map(|r| (r.frames, r.frame)), Ok((1, 1)));
    assert_eq!(frame(&png, 2).unwrap_err(), ImagingError::FrameOutOfRange { frame: 2, frames: 1 });
}

#[test]
fn invalid_number_of_frames_is_refused() {
    for n in ["0", "-2"] {
        let mut spec = Spec::grey(16, 16, 8);
        spec.extra = vec![DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, n)];
        spec.pixels = Some(native_u8(vec![0; 256]));
        let err = decode(&spec.bytes()).unwrap_err();
        assert!(err.to_string().contains(&format!("Number of Frames is {n}")), "{err}");
    }
}

#[test]
fn rgb_becomes_luminance() {
    let mut spec = Spec::grey(16, 16, 8);
    spec.samples = 3;
    spec.photometric = "RGB";
    let data: Vec<u8> = (0..256).flat_map(|i| [(i % 16 * 16) as u8; 3]).collect();
    spec.pixels = Some(native_u8(data));
    let r = decode(&spec.bytes()).expect("decode");
    assert_eq!(r.modality_values, None);
    assert!((r.pixels[5] - 80.0 / 255.0).abs() < 1e-5);
    assert!(r.rewindow(Window { center: 1.0, width: 2.0 }).is_err());
}

/// RLE Lossless of one 16-bit grey frame: two byte segments (high, low), literal runs only.
fn rle_frame(values: &[u16]) -> Vec<u8> {
    let packbits = |bytes: Vec<u8>| -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(128) {
            out.push((chunk.len() - 1) as u8);
            out.extend(chunk);
        }
        if out.len() % 2 == 1 {
            out.push(0x80); // no-op padding to an even length
        }
        out
    };
    let hi = packbits(values.iter().map(|v| (v >> 8) as u8).collect());
    let lo = packbits(values.iter().map(|v| (v & 0xFF) as u8).collect());
    let mut header = [0u32; 16];
    header[0] = 2;
    header[1] = 64;
    header[2] = 64 + hi.len() as u32;
    let mut out: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
    out.extend(hi);
    out.extend(lo);
    out
}

/// Compressed multi-frame data, one fragment per frame: the chosen frame is the one decoded, and the
/// one whose header is checked against Rows and Columns.
#[test]
fn compressed_frames_are_chosen_and_checked_each() {
    let first: Vec<u16> = (0..32 * 32).map(|i| (i * 37 % 4096) as u16).collect();
    let second: Vec<u16> = first.iter().map(|v| 4095 - v).collect();
    let mut rle = Spec::grey(32, 32, 16);
    rle.ts = RLE;
    rle.extra = vec![number_of_frames(2)];
    rle.pixels = Some(encapsulated_frames(vec![rle_frame(&first), rle_frame(&second)]));
    let rle = rle.bytes();
    for (n, values) in [(1, &first), (2, &second)] {
        let r = frame(&rle, n).unwrap_or_else(|e| panic!("RLE frame {n}: {e}"));
        let want: Vec<f32> = values.iter().map(|&v| f32::from(v)).collect();
        assert_eq!(r.modality_values.as_deref(), Some(&want[..]), "RLE frame {n}");
        assert_eq!((r.frames, r.frame), (2, n));
    }
    assert_eq!(frame(&rle, 3).unwrap_err(), ImagingError::FrameOutOfRange { frame: 3, frames: 2 });

    // Frame 2 is a JPEG of another size: frame 1 decodes, frame 2 is refused by its header.
    let jpeg = |w: u32, h: u32| {
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 8 + y) as u8]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95).encode_image(&img).expect("encode");
        if out.len() % 2 == 1 {
            out.push(0);
        }
        out
    };
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_BASELINE;
    spec.extra = vec![number_of_frames(2)];
    spec.pixels = Some(encapsulated_frames(vec![jpeg(32, 32), jpeg(64, 48)]));
    let bytes = spec.bytes();
    assert!(frame(&bytes, 1).is_ok());
    let err = frame(&bytes, 2).unwrap_err();
    assert!(err.to_string().contains("64×48"), "{err}");
}

/// RGB written plane after plane (PlanarConfiguration 1) decodes as its interleaved twin, 8- and
/// 16-bit, and per frame.
#[test]
fn planar_colour_equals_the_interleaved_twin() {
    // Pixel p of frame f: (R, G, B) = (p, 2p + 40 f, 255 - p) % 256, scaled to 16 bits by 257.
    let rgb = |f: usize, p: usize| [p % 256, (2 * p + 40 * f) % 256, 255 - p % 256];
    let pixels = 16 * 16;
    let build = |bits: u16, planar: bool| {
        let mut spec = Spec::grey(16, 16, bits);
        spec.samples = 3;
        spec.photometric = "RGB";
        spec.planar = planar;
        spec.extra = vec![number_of_frames(2)];
        let samples: Vec<usize> = (0..2)
            .flat_map(|f| {
                if planar {
                    (0..3).flat_map(|c| (0..pixels).map(move |p| rgb(f, p)[c])).collect::<Vec<_>>()
                } else {
                    (0..pixels).flat_map(|p| rgb(f, p)).collect()
                }
            })
            .collect();
        spec.pixels = Some(if bits == 8 {
            native_u8(samples.iter().map(|&v| v as u8).collect())
        } else {
            native_u16(samples.iter().map(|&v| v as u16 * 257).collect())
        });
        spec.bytes()
    };
    for bits in [8, 16] {
        let (planar, interleaved) = (build(bits, true), build(bits, false));
        for n in [1, 2] {
            let a = frame(&planar, n).unwrap_or_else(|e| panic!("{bits}-bit planar frame {n}: {e}"));
            let b = frame(&interleaved, n).expect("interleaved");
            assert_eq!(a, b, "{bits}-bit frame {n}");
            assert!(a.chroma > 0.3, "{}", a.chroma);
            // Pixel 5 of frame n: Rec. 709 luminance of (5, 10 + 40 (n - 1), 250).
            let g = f32::from(10 + 40 * (n as u16 - 1));
            let want = (0.2126 * 5.0 + 0.7152 * g + 0.0722 * 250.0) / 255.0;
            assert!((a.pixels[5] - want).abs() < 1e-4, "{bits}-bit frame {n}: {} vs {want}", a.pixels[5]);
        }
        assert_ne!(frame(&planar, 1).map(|r| r.pixels), frame(&planar, 2).map(|r| r.pixels));
    }
}

/// A JPEG-LS frame of 16-bit grey `values`, 32×32, lossless or near-lossless, at `precision` bits.
fn jpeg_ls_frame(values: &[u16], near: u8, precision: u8) -> Vec<u8> {
    let mut options = jpegls::EncodeOptions::default();
    options.near = near;
    options.precision = Some(precision);
    let mut out = Vec::new();
    jpegls::encode_with_options(values, 32, 32, &options, &mut out).expect("JPEG-LS encode");
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

#[test]
fn jpeg_ls_lossless_and_near_lossless_frames() {
    let first: Vec<u16> = (0..32 * 32).map(|i| (i * 37 % 4096) as u16).collect();
    let second: Vec<u16> = first.iter().map(|v| 4095 - v).collect();
    let mut jls = Spec::grey(32, 32, 16);
    jls.ts = JPEG_LS;
    jls.extra = vec![number_of_frames(2), ds(tags::RESCALE_INTERCEPT, "-1024")];
    jls.pixels = Some(encapsulated_frames(vec![jpeg_ls_frame(&first, 0, 12), jpeg_ls_frame(&second, 0, 12)]));
    let jls = jls.bytes();
    for (n, values) in [(1, &first), (2, &second)] {
        let r = frame(&jls, n).unwrap_or_else(|e| panic!("JPEG-LS frame {n}: {e}"));
        let want: Vec<f32> = values.iter().map(|&v| f32::from(v) - 1024.0).collect();
        assert_eq!(r.modality_values.as_deref(), Some(&want[..]), "JPEG-LS frame {n}");
        assert_eq!((r.frames, r.frame), (2, n));
    }

    // Near-lossless (NEAR = 3), 8-bit: every value within 3 of the original.
    let ramp: Vec<u16> = ramp8().iter().map(|&v| u16::from(v)).collect();
    let mut near = Spec::grey(32, 32, 8);
    near.ts = JPEG_LS_NEAR;
    near.pixels = Some(encapsulated(jpeg_ls_frame(&ramp, 3, 8)));
    let r = decode(&near.bytes()).expect("near-lossless JPEG-LS decodes");
    let values = r.modality_values.expect("values");
    for (i, &v) in ramp.iter().enumerate() {
        assert!((values[i] - f32::from(v)).abs() <= 3.0, "{i}: {} vs {v}", values[i]);
    }
}

#[test]
fn jpeg_ls_header_disagreeing_with_the_attributes_is_refused() {
    let values: Vec<u16> = (0..32 * 32).map(|i| (i % 4096) as u16).collect();
    // 12-bit samples in an 8-bit object: the codec would write values the frame has no room for.
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_LS;
    spec.pixels = Some(encapsulated(jpeg_ls_frame(&values, 0, 12)));
    let err = decode(&spec.bytes()).unwrap_err();
    assert!(err.to_string().contains("1 sample(s) of 16 bits"), "{err}");
    // Rows and Columns that understate the frame.
    let mut spec = Spec::grey(16, 32, 16);
    spec.ts = JPEG_LS;
    spec.pixels = Some(encapsulated(jpeg_ls_frame(&values, 0, 12)));
    let err = decode(&spec.bytes()).unwrap_err();
    assert!(err.to_string().contains("32×32"), "{err}");
    // Not a JPEG-LS stream at all.
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_LS;
    spec.pixels = Some(encapsulated(vec![0xFF, 0xD8, 0xFF, 0xD9]));
    assert!(matches!(decode(&spec.bytes()).unwrap_err(), ImagingError::Corrupt { .. }));
}

#[test]
fn rle_lossless_16_bit() {
    let values: Vec<u16> = (0..32 * 32).map(|i| (i * 37 % 4096) as u16).collect();
    let mut rle = Spec::grey(32, 32, 16);
    rle.ts = RLE;
    rle.pixels = Some(encapsulated(rle_frame(&values)));
    let a = decode(&rle.bytes()).expect("RLE decodes");
    let mut raw = Spec::grey(32, 32, 16);
    raw.pixels = Some(native_u16(values));
    let b = decode(&raw.bytes()).expect("native decodes");
    assert_eq!(a.modality_values, b.modality_values);
    assert_eq!(a.pixels, b.pixels);
}

/// A 32 × 32 8-bit grey gradient, and a DICOM spec holding it as one JPEG baseline frame.
fn jpeg_baseline_spec(quality: u8) -> (image::GrayImage, Spec) {
    let img = image::GrayImage::from_fn(32, 32, |x, y| image::Luma([(x * 8 + y) as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality).encode_image(&img).expect("encode");
    if jpeg.len() % 2 == 1 {
        jpeg.push(0);
    }
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_BASELINE;
    spec.pixels = Some(encapsulated(jpeg));
    (img, spec)
}

#[test]
fn jpeg_baseline_8_bit() {
    let (img, spec) = jpeg_baseline_spec(100);
    let r = decode(&spec.bytes()).expect("JPEG baseline DICOM decodes");
    let values = r.modality_values.as_ref().expect("values");
    for (i, p) in img.pixels().enumerate() {
        assert!((values[i] - f32::from(p.0[0])).abs() <= 4.0, "{i}: {} vs {}", values[i], p.0[0]);
    }
}

#[test]
fn unsupported_transfer_syntax_is_named() {
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_XL;
    spec.pixels = Some(encapsulated(vec![0xFF, 0x0A, 0, 0]));
    let err = decode(&spec.bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ImagingError::UnsupportedTransferSyntax { .. }), "{msg}");
    assert!(msg.contains("JPEG XL") && msg.contains(JPEG_XL), "{msg}");
}

/// DCT frames of more than 8 bits that no decoder here reads (a 12-bit baseline frame, a 12-bit frame
/// under JPEG Baseline's transfer syntax) are refused naming the transfer syntax.
#[test]
fn twelve_bit_dct_frames_without_a_decoder_are_refused_by_name() {
    let img = image::GrayImage::from_fn(32, 32, |x, y| image::Luma([(x * 8 + y) as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).expect("encode");
    if jpeg.len() % 2 == 1 {
        jpeg.push(0);
    }
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
    jpeg[sof + 4] = 12;
    for (ts, marker) in [("1.2.840.10008.1.2.4.51", 0xC0), (JPEG_BASELINE, 0xC1)] {
        jpeg[sof + 1] = marker;
        let mut spec = Spec::grey(32, 32, 16);
        spec.ts = ts;
        spec.pixels = Some(encapsulated(jpeg.clone()));
        let err = decode(&spec.bytes()).unwrap_err();
        assert!(matches!(err, ImagingError::UnsupportedTransferSyntax { .. }), "{ts}: {err}");
        assert!(err.to_string().contains("12-bit DCT samples") && err.to_string().contains(ts), "{err}");
    }
}

#[test]
fn huge_dimensions_are_refused_before_decoding() {
    let mut spec = Spec::grey(60_000, 60_000, 8);
    spec.pixels = Some(native_u8(vec![0; 64]));
    assert_eq!(decode(&spec.bytes()).unwrap_err(), ImagingError::TooLarge { width: 60_000, height: 60_000 });
    let mut spec = Spec::grey(8, 64, 8);
    spec.pixels = Some(native_u8(vec![0; 512]));
    assert_eq!(decode(&spec.bytes()).unwrap_err(), ImagingError::TooSmall { width: 64, height: 8 });
}

#[test]
fn short_pixel_data_and_missing_pixels_and_palette() {
    let mut spec = Spec::grey(32, 32, 16);
    spec.pixels = Some(native_u16(vec![0; 100]));
    assert!(matches!(decode(&spec.bytes()).unwrap_err(), ImagingError::Corrupt { .. }));

    let spec = Spec::grey(32, 32, 8);
    assert!(matches!(decode(&spec.bytes()).unwrap_err(), ImagingError::UnsupportedImage(_)));

    let mut spec = Spec::grey(32, 32, 8);
    spec.photometric = "PALETTE COLOR";
    spec.pixels = Some(native_u8(ramp8()));
    let err = decode(&spec.bytes()).unwrap_err();
    assert!(err.to_string().contains("PALETTE COLOR"), "{err}");
}

#[test]
fn non_finite_rescale_is_refused() {
    let mut spec = Spec::grey(16, 16, 8);
    spec.extra = vec![ds(tags::RESCALE_SLOPE, "1e39")]; // overflows f32
    spec.pixels = Some(native_u8(vec![200; 256]));
    let err = decode(&spec.bytes()).unwrap_err();
    assert_eq!(err, ImagingError::NonFinite);
}

#[test]
fn implicit_little_and_explicit_big_endian() {
    let values: Vec<u16> = (0..32 * 32).map(|i| (i * 13 % 3000) as u16).collect();
    let decode_with = |ts: &'static str| {
        let mut spec = Spec::grey(32, 32, 16);
        spec.ts = ts;
        spec.extra = vec![ds(tags::WINDOW_CENTER, "1500"), ds(tags::WINDOW_WIDTH, "3000")];
        spec.pixels = Some(native_u16(values.clone()));
        decode(&spec.bytes()).unwrap_or_else(|e| panic!("{ts}: {e}"))
    };
    let explicit = decode_with(EXPLICIT_LE);
    let want: Vec<f32> = values.iter().map(|&v| f32::from(v)).collect();
    assert_eq!(explicit.modality_values.as_deref(), Some(&want[..]));
    for ts in ["1.2.840.10008.1.2", "1.2.840.10008.1.2.2"] {
        assert_eq!(decode_with(ts).pixels, explicit.pixels, "{ts}");
    }
}

#[test]
fn jpeg_frame_disagreeing_with_rows_columns_is_refused() {
    let img = image::GrayImage::from_fn(64, 48, |x, _| image::Luma([x as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).expect("encode");
    if jpeg.len() % 2 == 1 {
        jpeg.push(0);
    }
    let mut spec = Spec::grey(32, 32, 8);
    spec.ts = JPEG_BASELINE;
    spec.pixels = Some(encapsulated(jpeg));
    let err = decode(&spec.bytes()).unwrap_err();
    assert!(err.to_string().contains("64×48"), "{err}");
}

/// Flips bytes all over small valid files (native, planar colour, RLE, JPEG, JPEG-LS DICOM): decoding
/// may succeed or fail but must never panic or hang.
#[test]
fn mutated_files_never_panic() {
    let values: Vec<u16> = (0..32 * 32).map(|i| (i * 37 % 4096) as u16).collect();
    let mut native = Spec::grey(32, 32, 16);
    native.extra = vec![ds(tags::WINDOW_CENTER, "100"), ds(tags::WINDOW_WIDTH, "50")];
    native.pixels = Some(native_u16(values.clone()));
    let mut rle = Spec::grey(32, 32, 16);
    rle.ts = RLE;
    rle.pixels = Some(encapsulated(rle_frame(&values)));
    let (_, jpg) = jpeg_baseline_spec(90);
    let mut jls = Spec::grey(32, 32, 16);
    jls.ts = JPEG_LS;
    jls.pixels = Some(encapsulated(jpeg_ls_frame(&values, 0, 12)));
    let mut planar = Spec::grey(16, 16, 8);
    planar.samples = 3;
    planar.photometric = "RGB";
    planar.planar = true;
    planar.pixels = Some(native_u8((0..3 * 256).map(|i| (i % 251) as u8).collect()));

    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let start = std::time::Instant::now();
    let (mut ok, mut failed) = (0, 0);
    for file in [native.bytes(), rle.bytes(), jpg.bytes(), jls.bytes(), planar.bytes()] {
        for _ in 0..2000 {
            match decode(&mutated(&file, 0, &mut next)) {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
    }
    eprintln!("mutations: {ok} decoded, {failed} refused in {:?}", start.elapsed());
    assert!(start.elapsed().as_secs() < 20);
}

/// A 32×32 8-bit file with `depth` sequences nested inside each other's items just before its
/// Pixel Data, with undefined lengths (closed by delimiters) or defined ones.
fn nested_sequences(depth: usize, defined: bool) -> Vec<u8> {
    let mut spec = Spec::grey(32, 32, 8);
    spec.pixels = Some(native_u8(ramp8()));
    let mut bytes = spec.bytes();
    let at = bytes.windows(4).rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00]).expect("pixel data");
    // Built from the inside out: each level is (0040,0275) SQ > item > the level inside.
    let mut inner = Vec::new();
    for _ in 0..depth {
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend(if defined { inner.len() as u32 } else { u32::MAX }.to_le_bytes());
        item.append(&mut inner);
        if !defined {
            item.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        }
        let mut sq = vec![0x40, 0x00, 0x75, 0x02, b'S', b'Q', 0, 0];
        sq.extend(if defined { item.len() as u32 } else { u32::MAX }.to_le_bytes());
        sq.append(&mut item);
        if !defined {
            sq.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        inner = sq;
    }
    bytes.splice(at..at, inner);
    bytes
}

/// dicom-object parses nested sequences by recursion: 10,000 levels aborted the process on a stack
/// overflow. Run on a 256 KB stack (wasm's is small) so that an unbounded parse would abort here.
#[test]
fn deeply_nested_sequences_are_refused_on_a_small_stack() {
    let run = || {
        for defined in [false, true] {
            let err = decode(&nested_sequences(10_000, defined)).unwrap_err();
            assert!(err.to_string().contains("nested 33 deep"), "{err}");
            assert!(decode(&nested_sequences(MAX_SEQUENCE_DEPTH + 1, defined)).is_err());
            let ok = decode(&nested_sequences(MAX_SEQUENCE_DEPTH, defined));
            assert!(ok.is_ok(), "{MAX_SEQUENCE_DEPTH} levels, defined {defined}: {ok:?}");
        }
    };
    std::thread::Builder::new().stack_size(256 * 1024).spawn(run).expect("thread").join().expect("no panic");
}

/// Native pixel data must be exactly as long as the header implies (plus one pad byte for an odd
/// length): a 64×64 film declared 32×32 was decoded as its first 1024 bytes.
#[test]
fn native_pixel_data_length_must_match_the_header() {
    let with = |rows: u16, cols: u16, data: Vec<u8>, frames: Option<&str>| {
        let mut spec = Spec::grey(rows, cols, 8);
        spec.extra = frames.map(|f| DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, f)).into_iter().collect();
        spec.pixels = Some(native_u8(data));
        decode(&spec.bytes())
    };
    let film: Vec<u8> = (0..64 * 64).map(|i| (i % 251) as u8).collect();
    assert!(with(64, 64, film.clone(), None).is_ok());
    for (rows, cols, frames) in [(32, 32, None), (64, 32, None), (32, 32, Some("2")), (64, 64, Some("2"))] {
        let err = with(rows, cols, film.clone(), frames).unwrap_err();
        assert!(err.to_string().contains("pixel data holds 4096 bytes"), "{rows}×{cols} {frames:?}: {err}");
    }
    assert!(with(32, 32, film, Some("4")).is_ok());
    // An odd length (17×17) takes one pad byte; two are refused.
    assert!(with(17, 17, vec![7; 290], None).is_ok());
    assert!(with(17, 17, vec![7; 291], None).is_err());
}
