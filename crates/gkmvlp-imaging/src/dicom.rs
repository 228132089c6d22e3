//! DICOM Part 10 through dicom-rs (`dicom-object` parses, `dicom-pixeldata` decodes): rescale
//! slope/intercept, VOI window (file's first, else robust percentiles), MONOCHROME1 inversion, one
//! frame of a multi-frame object (the first unless asked for another), colour (RGB / YBR, interleaved
//! or planar) to luminance. JPEG-LS, JPEG Extended 12-bit and planar colour are made native first
//! (`dicom_native`).

use std::io::Cursor;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{DecodedPixelData, PhotometricInterpretation, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::dicom_frames::{Geometry, JPEG_EXTENDED, check_compressed_frame};
use crate::dicom_native::{decode_jpeg_12, decode_jpeg_ls, interleave_planes, is_jpeg_ls};
use crate::voi::{self, Window};
use crate::{ImagingError, Radiograph, SourceFormat, check_dimensions, check_frame};

const DICOM: SourceFormat = SourceFormat::Dicom;

pub(crate) fn corrupt(detail: impl ToString) -> ImagingError {
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
pub(crate) fn int_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<i64> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_int::<i64>().ok())
}

fn str_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string())
}

/// Decodes frame `frame` (counted from 1; the first when `None`) of a DICOM Part 10 file.
pub(crate) fn decode(bytes: &[u8], frame: Option<u32>) -> Result<Radiograph, ImagingError> {
    // Declared lengths first: the parser allocates them before reading.
    crate::dicom_lengths::check(bytes)?;
    let preamble = if bytes.get(128..132) == Some(b"DICM") { ReadPreamble::Always } else { ReadPreamble::Never };
    let mut obj = OpenFileOptions::new()
        .read_preamble(preamble)
        .from_reader(Cursor::new(bytes))
        .map_err(|e| corrupt_chain(&e))?;

    // Transfer syntax: name the one we cannot decode.
    let uid = obj.meta().transfer_syntax().trim_matches(|c: char| c == '\0' || c == ' ').to_string();
    match TransferSyntaxRegistry.get(&uid) {
        None => {
            return Err(ImagingError::UnsupportedTransferSyntax { name: "unknown".into(), uid });
        }
        Some(ts) if !ts.can_decode_all() && !is_jpeg_ls(&uid) => {
            return Err(ImagingError::UnsupportedTransferSyntax { name: ts.name().into(), uid });
        }
        Some(_) => {}
    }

    // Geometry, checked before any pixel is decoded.
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(ImagingError::UnsupportedImage("DICOM object has no Pixel Data".into()));
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
    check_rescale(&obj)?;
    let frames = int_attr(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    let frames = u32::try_from(frames)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| corrupt(format!("Number of Frames is {frames}")))?;
    let index = check_frame(frame, frames)?;
    check_native_length(&obj, width, height, samples, bits_allocated, frames)?;
    let geometry = Geometry { width, height, samples: samples as u32, bits_allocated: bits_allocated as u32 };
    check_compressed_frame(&obj, &uid, geometry, index)?;
    let native = obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some_and(|e| e.value().primitive().is_some());
    let planar = native && samples == 3 && int_attr(&obj, tags::PLANAR_CONFIGURATION) == Some(1);
    let number = index + 1;
    // These leave a single-frame native object holding the chosen frame.
    let index = if is_jpeg_ls(&uid) {
        decode_jpeg_ls(&mut obj, index, geometry)?;
        0
    } else if planar {
        interleave_planes(&mut obj, index, geometry)?;
        0
    } else if uid == JPEG_EXTENDED && decode_jpeg_12(&mut obj, index, geometry)? {
        0
    } else {
        index
    };

    let decoded = obj.decode_pixel_data_frame(index).map_err(|e| corrupt_chain(&e))?;
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

    let image = match decoded.photometric_interpretation() {
        PhotometricInterpretation::Monochrome1 | PhotometricInterpretation::Monochrome2 if spp == 1 => {
            grey(width, height, values, bits_stored, &decoded)
        }
        pi => colour(width, height, &values[..n * spp], bits_stored, spp, pi),
    }?;
    Ok(Radiograph { frames, frame: number, ..image })
}

/// Rescale Slope and Intercept, when given, must be finite numbers and the slope not 0: dicom-pixeldata
/// drops one it cannot read and rescales by 1 and 0, a silently different image.
fn check_rescale(obj: &DefaultDicomObject) -> Result<(), ImagingError> {
    for (tag, name) in [(tags::RESCALE_SLOPE, "Rescale Slope"), (tags::RESCALE_INTERCEPT, "Rescale Intercept")] {
        let Some(element) = obj.element_opt(tag).ok().flatten() else { continue };
        if element.header().len.0 == 0 {
            continue; // present but empty: the default applies
        }
        let value = element.to_float64().ok().filter(|v| v.is_finite());
        if value.is_none() || (tag == tags::RESCALE_SLOPE && value == Some(0.0)) {
            let text = element.to_str().map(|t| t.trim().to_string()).unwrap_or_default();
            return Err(corrupt(format!("{name} {text:?} is not a usable number")));
        }
    }
    Ok(())
}

/// Native (uncompressed) pixel data must hold exactly what the header implies, Rows × Columns ×
/// Samples per Pixel × Bits Allocated / 8 × Number of Frames bytes, plus the one padding byte an odd
/// length needs. dicom-pixeldata reads the frame it is asked for from the start and ignores the rest,
/// so headers that understate the image (a 64×64 film declared 32×32) were decoded as a wrong picture.
fn check_native_length(
    obj: &DefaultDicomObject,
    width: u32,
    height: u32,
    samples: i64,
    bits_allocated: i64,
    frames: u32,
) -> Result<(), ImagingError> {
    let Some(data) = obj.element_opt(tags::PIXEL_DATA).ok().flatten().and_then(|e| e.value().primitive()) else {
        return Ok(()); // encapsulated: the frames are checked by `check_compressed_frame`
    };
    let need = [i64::from(width), i64::from(height), samples, bits_allocated / 8, i64::from(frames)]
        .into_iter()
        .try_fold(1i64, i64::checked_mul)
        .and_then(|n| u64::try_from(n).ok());
    let have = data.calculate_byte_len() as u64;
    match need {
        Some(need) if have == need || (need % 2 == 1 && have == need + 1) => Ok(()),
        _ => Err(corrupt(format!(
            "pixel data holds {have} bytes, but {width}×{height} × {samples} samples × {bits_allocated} bits × \
             {frames} frames needs {}",
            need.map_or("more than can be counted".to_string(), |n| n.to_string())
        ))),
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
    let invert = matches!(decoded.photometric_interpretation(), PhotometricInterpretation::Monochrome1);
    let from_file = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied())
        .map(|w| Window { center: w.center as f32, width: w.width as f32 })
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
        chroma: 0.0,
        // The frame is set by `decode`.
        frames: 1,
        frame: 1,
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
        return Err(ImagingError::UnsupportedImage(format!("{pi} with {spp} samples per pixel")));
    }
    let max = ((1u64 << bits_stored.clamp(1, 32)) - 1) as f32;
    let is_ybr = matches!(pi, PhotometricInterpretation::YbrFull | PhotometricInterpretation::YbrFull422);
    let pixels = values
        .chunks_exact(3)
        .map(|p| {
            // Y of YBR_FULL is already the luminance (0.299 R + 0.587 G + 0.114 B).
            let y = if is_ybr { p[0] } else { 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2] };
            (y / max).clamp(0.0, 1.0)
        })
        .collect();
    let half = (max + 1.0) / 2.0;
    let spread: f64 = values
        .chunks_exact(3)
        .map(|p| {
            // YBR: the two colour-difference samples' distance from their grey midpoint; RGB: the
            // largest channel difference.
            let s = if is_ybr {
                (p[1] - half).abs() + (p[2] - half).abs()
            } else {
                p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2])
            };
            f64::from(s)
        })
        .sum();
    let chroma = ((spread / (width as f64 * height as f64)) as f32 / max).clamp(0.0, 1.0);
    Ok(Radiograph {
        width,
        height,
        pixels,
        format: SourceFormat::Dicom,
        bits_stored,
        modality_values: None,
        window: None,
        invert: false,
        chroma,
        // The frame is set by `decode`.
        frames: 1,
        frame: 1,
    })
}
