//! DICOM Part 10 through dicom-rs (`dicom-object` parses, `dicom-pixeldata` decodes): rescale
//! slope/intercept, VOI window (file's first, else robust percentiles), MONOCHROME1 inversion,
//! first frame of a multi-frame object, colour (RGB / YBR) to luminance.

use std::io::Cursor;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{DecodedPixelData, PhotometricInterpretation, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::voi::{self, Window};
use crate::{ImagingError, Radiograph, SourceFormat, check_dimensions};

const DICOM: SourceFormat = SourceFormat::Dicom;

fn corrupt(detail: impl ToString) -> ImagingError {
    ImagingError::corrupt(DICOM, detail)
}

/// A dicom-rs error with its causes ("Could not read data set token: ... : unexpected end of file"),
/// since the top-level message alone rarely says what was wrong.
fn corrupt_chain(err: &dyn std::error::Error) -> ImagingError {
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !detail.ends_with(&text) {
            detail = format!("{detail}: {text}");
        }
        source = cause.source();
    }
    corrupt(detail)
}

/// An integer attribute, if present and parseable.
fn int_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<i64> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok())
}

fn str_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| {
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        })
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Radiograph, ImagingError> {
    // Declared lengths first: the parser allocates them before reading.
    crate::dicom_lengths::check(bytes)?;
    let preamble = if bytes.get(128..132) == Some(b"DICM") {
        ReadPreamble::Always
    } else {
        ReadPreamble::Never
    };
    let obj = OpenFileOptions::new()
        .read_preamble(preamble)
        .from_reader(Cursor::new(bytes))
        .map_err(|e| corrupt_chain(&e))?;

    // Transfer syntax: name the one we cannot decode.
    let uid = obj
        .meta()
        .transfer_syntax()
        .trim_matches(|c: char| c == '\0' || c == ' ')
        .to_string();
    match TransferSyntaxRegistry.get(&uid) {
        None => {
            return Err(ImagingError::UnsupportedTransferSyntax {
                name: "unknown".into(),
                uid,
            });
        }
        Some(ts) if !ts.can_decode_all() => {
            return Err(ImagingError::UnsupportedTransferSyntax {
                name: ts.name().into(),
                uid,
            });
        }
        Some(_) => {}
    }

    // Geometry, checked before any pixel is decoded.
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(ImagingError::UnsupportedImage(
            "DICOM object has no Pixel Data".into(),
        ));
    }
    let dim = |tag, name: &str| {
        int_attr(&obj, tag)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| corrupt(format!("missing or invalid {name}")))
    };
    let (width, height) = (dim(tags::COLUMNS, "Columns")?, dim(tags::ROWS, "Rows")?);
    check_dimensions(width, height)?;
    let samples = int_attr(&obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if samples != 1 && samples != 3 {
        return Err(ImagingError::UnsupportedImage(format!(
            "{samples} samples per pixel (expected 1 for grey or 3 for colour)"
        )));
    }
    let photometric = str_attr(&obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if !matches!(
        photometric.as_str(),
        "MONOCHROME1" | "MONOCHROME2" | "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_RCT" | "YBR_ICT"
    ) {
        return Err(ImagingError::UnsupportedImage(format!(
            "photometric interpretation {photometric:?} (expected MONOCHROME1/2, RGB or YBR)"
        )));
    }
    // dicom-pixeldata builds a lookup table of 2^BitsStored entries and asserts 1..=32 bits.
    let bits_allocated = int_attr(&obj, tags::BITS_ALLOCATED).unwrap_or(0);
    let bits_stored = int_attr(&obj, tags::BITS_STORED).unwrap_or(bits_allocated);
    if !matches!(bits_allocated, 8 | 16) || !(1..=bits_allocated).contains(&bits_stored) {
        return Err(ImagingError::UnsupportedImage(format!(
            "{bits_stored} bits stored in {bits_allocated} allocated (expected 8 or 16 allocated)"
        )));
    }
    let geometry = Geometry {
        width,
        height,
        samples: samples as u32,
        bits_allocated: bits_allocated as u32,
    };
    check_compressed_frame(&obj, &uid, geometry)?;
    // Multi-frame objects: the first frame is used (documented behaviour).

    let decoded = obj
        .decode_pixel_data_frame(0)
        .map_err(|e| corrupt_chain(&e))?;
    let bits_allocated = decoded.bits_allocated();
    let n = width as usize * height as usize;
    let spp = decoded.samples_per_pixel() as usize;
    let need = n * spp * (bits_allocated as usize / 8);
    let bits_stored = decoded.bits_stored();
    if decoded.rows() != height
        || decoded.columns() != width
        || !matches!(bits_allocated, 8 | 16)
        || !(1..=bits_allocated).contains(&bits_stored)
        || decoded.data().len() < need
    {
        return Err(corrupt(format!(
            "pixel data holds {} bytes, a {width}×{height} frame needs {need}",
            decoded.data().len()
        )));
    }
    let values: Vec<f32> = decoded.to_vec_frame(0).map_err(|e| corrupt_chain(&e))?;
    if values.len() < n * spp {
        return Err(corrupt("decoded frame is shorter than Rows × Columns"));
    }
    if values[..n * spp].iter().any(|v| !v.is_finite()) {
        return Err(ImagingError::NonFinite);
    }

    match decoded.photometric_interpretation() {
        PhotometricInterpretation::Monochrome1 | PhotometricInterpretation::Monochrome2
            if spp == 1 =>
        {
            grey(width, height, values, bits_stored, &decoded)
        }
        pi => colour(width, height, &values[..n * spp], bits_stored, spp, pi),
    }
}

fn grey(
    width: u32,
    height: u32,
    mut values: Vec<f32>,
    bits_stored: u16,
    decoded: &DecodedPixelData<'_>,
) -> Result<Radiograph, ImagingError> {
    values.truncate(width as usize * height as usize);
    let invert = matches!(
        decoded.photometric_interpretation(),
        PhotometricInterpretation::Monochrome1
    );
    let from_file = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied())
        .map(|w| Window {
            center: w.center as f32,
            width: w.width as f32,
        })
        .and_then(|w| w.validate().ok());
    let window = from_file.unwrap_or_else(|| voi::robust_window(&values));
    Ok(Radiograph {
        width,
        height,
        pixels: voi::apply(&values, window, invert),
        format: SourceFormat::Dicom,
        bits_stored,
        modality_values: Some(values),
        window: Some(window),
        invert,
    })
}

/// Colour DICOM: luminance scaled by the sample range; no modality values or window.
fn colour(
    width: u32,
    height: u32,
    values: &[f32],
    bits_stored: u16,
    spp: usize,
    pi: &PhotometricInterpretation,
) -> Result<Radiograph, ImagingError> {
    if spp != 3 {
        return Err(ImagingError::UnsupportedImage(format!(
            "{pi} with {spp} samples per pixel"
        )));
    }
    let max = ((1u64 << bits_stored.clamp(1, 32)) - 1) as f32;
    let is_ybr = matches!(
        pi,
        PhotometricInterpretation::YbrFull | PhotometricInterpretation::YbrFull422
    );
    let pixels = values
        .chunks_exact(3)
        .map(|p| {
            // Y of YBR_FULL is already the luminance (0.299 R + 0.587 G + 0.114 B).
            let y = if is_ybr {
                p[0]
            } else {
                0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2]
            };
            (y / max).clamp(0.0, 1.0)
        })
        .collect();
    Ok(Radiograph {
        width,
        height,
        pixels,
        format: SourceFormat::Dicom,
        bits_stored,
        modality_values: None,
        window: None,
        invert: false,
    })
}

/// The first fragment of encapsulated pixel data (the first frame's data, or its start).
fn first_fragment(obj: &DefaultDicomObject) -> Option<&[u8]> {
    obj.element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .and_then(|e| e.value().fragments())
        .and_then(|f| f.first())
        .map(|f| f.as_slice())
}

/// Checks a compressed first frame against the DICOM attributes before its codec runs. dicom-rs
/// 0.10.1's adapters size their output from Rows × Columns × Samples × Bits Allocated but copy in
/// whatever the codec decodes, and panic (slice index out of range) when that is larger; a codec
/// also allocates whatever its own header claims. So:
///
/// - JPEG (all processes): exactly one SOF before the first SOS, whose width, height, component
///   count and precision must match Columns, Rows, Samples per Pixel and Bits Allocated;
/// - JPEG 2000: the SIZ of the codestream (raw, or inside a JP2 `jp2c` box) likewise;
/// - RLE: the segment table and each segment's decoded length (the adapter indexes past a short
///   segment).
fn check_compressed_frame(
    obj: &DefaultDicomObject,
    ts_uid: &str,
    geometry: Geometry,
) -> Result<(), ImagingError> {
    let Some(fragment) = first_fragment(obj) else {
        return Ok(());
    };
    let family = |prefix: &str| ts_uid.starts_with(prefix);
    if ts_uid == "1.2.840.10008.1.2.5" {
        let bytes_per_sample = geometry.bits_allocated.div_ceil(8) as usize;
        return check_rle(
            fragment,
            geometry.width as usize * geometry.height as usize,
            geometry.samples as usize * bytes_per_sample,
        );
    }
    let claimed = if family("1.2.840.10008.1.2.4.9") || family("1.2.840.10008.1.2.4.20") {
        j2k_header(fragment)
    } else if ["50", "51", "57", "70"]
        .iter()
        .any(|p| ts_uid == format!("1.2.840.10008.1.2.4.{p}"))
    {
        jpeg_header(fragment)
    } else {
        return Ok(());
    };
    let claimed = claimed.ok_or_else(|| corrupt("compressed frame header unreadable"))?;
    if claimed.width != geometry.width
        || claimed.height != geometry.height
        || claimed.samples != geometry.samples
        || claimed.bits_allocated > geometry.bits_allocated
    {
        return Err(corrupt(format!(
            "compressed frame header says {}×{}, {} sample(s) of {} bits, but the DICOM attributes \
             say {}×{}, {} sample(s) of {} bits",
            claimed.width,
            claimed.height,
            claimed.samples,
            claimed.bits_allocated,
            geometry.width,
            geometry.height,
            geometry.samples,
            geometry.bits_allocated
        )));
    }
    Ok(())
}

/// Frame geometry, from the DICOM attributes or from a codestream header (where
/// `bits_allocated` is the bytes the codec will output per sample, in bits).
#[derive(Debug, Clone, Copy)]
struct Geometry {
    width: u32,
    height: u32,
    samples: u32,
    bits_allocated: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 2)
        .map(|v| u32::from(u16::from_be_bytes([v[0], v[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

/// The SOF of a JPEG stream, walking marker segments from SOI to the first SOS. `None` when the
/// structure is broken or there is not exactly one SOF.
fn jpeg_header(jpeg: &[u8]) -> Option<Geometry> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let (mut pos, mut sof) = (2, Vec::new());
    loop {
        if *jpeg.get(pos)? != 0xFF {
            return None;
        }
        while jpeg.get(pos) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let marker = *jpeg.get(pos)?;
        pos += 1;
        if matches!(marker, 0xD0..=0xD7 | 0x01) {
            continue;
        }
        if marker == 0xD9 {
            return None; // EOI before any scan
        }
        let len = be16(jpeg, pos)? as usize;
        let segment = jpeg.get(pos + 2..pos + len.max(2))?;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let precision = u32::from(*segment.first()?);
            sof.push(Geometry {
                height: be16(segment, 1)?,
                width: be16(segment, 3)?,
                samples: u32::from(*segment.get(5)?),
                bits_allocated: if precision > 8 { 16 } else { 8 },
            });
        }
        if marker == 0xDA {
            return if sof.len() == 1 { sof.pop() } else { None };
        }
        pos += len;
    }
}

/// The SIZ of a JPEG 2000 codestream, raw or inside the `jp2c` box of a JP2 file.
fn j2k_header(data: &[u8]) -> Option<Geometry> {
    let soc_siz = [0xFF, 0x4F, 0xFF, 0x51];
    let cs = if data.starts_with(&soc_siz) {
        data
    } else {
        let at = data.windows(4).position(|w| w == b"jp2c")?;
        data.get(at + 4..).filter(|cs| cs.starts_with(&soc_siz))?
    };
    // SOC, SIZ, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz, Ssiz…
    let components = be16(cs, 40)?;
    let mut precision = 0;
    for c in 0..components as usize {
        precision = precision.max(u32::from(*cs.get(42 + 3 * c)? & 0x7F) + 1);
    }
    Some(Geometry {
        width: be32(cs, 8)?.checked_sub(be32(cs, 16)?)?,
        height: be32(cs, 12)?.checked_sub(be32(cs, 20)?)?,
        samples: components,
        bits_allocated: if precision > 8 { 16 } else { 8 },
    })
}

/// RLE Lossless (PS3.5 G): a 64-byte header of up to 15 segment offsets, then PackBits segments,
/// each of which must decode to at least one byte per pixel.
fn check_rle(fragment: &[u8], pixels: usize, segments_used: usize) -> Result<(), ImagingError> {
    let le32 = |at: usize| {
        fragment
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = match le32(0) {
        Some(n) if fragment.len() >= 64 && (1..=15).contains(&n) => n,
        _ => return Err(corrupt("RLE frame without a valid 64-byte segment header")),
    };
    let mut offsets: Vec<usize> = (0..count).filter_map(|k| le32(4 + 4 * k)).collect();
    offsets.push(fragment.len());
    for k in 0..count.min(segments_used) {
        let segment = fragment
            .get(offsets[k]..offsets[k + 1])
            .ok_or_else(|| corrupt(format!("RLE segment {k} lies outside the frame")))?;
        let decoded = packbits_len(segment);
        if decoded < pixels {
            return Err(corrupt(format!(
                "RLE segment {k} decodes to {decoded} bytes, the frame has {pixels} pixels"
            )));
        }
    }
    Ok(())
}

/// How many bytes a PackBits segment expands to (counted, not decoded).
fn packbits_len(segment: &[u8]) -> usize {
    let (mut i, mut out) = (0, 0);
    while i < segment.len() {
        let h = segment[i] as i8;
        i += 1;
        if h >= 0 {
            let n = h as usize + 1;
            out += n.min(segment.len() - i);
            i += n;
        } else if h != -128 {
            out += (1 - h as isize) as usize;
            i += 1;
        }
    }
    out
}
