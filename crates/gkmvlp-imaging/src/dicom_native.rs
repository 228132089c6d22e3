//! Frames dicom-pixeldata 0.10.1 cannot decode itself, made into native pixel data first: JPEG-LS
//! (its adapter is CharLS, C++ that does not build for wasm32, so the frame goes to the pure-Rust
//! `pure_jpegls`), JPEG Extended 12-bit (its jpeg-decoder reads 8-bit DCT only; see `jpeg12`), and
//! planar colour (PlanarConfiguration 1, each colour plane after the other, which its
//! `to_vec` refuses). The object is then rewritten as a single-frame explicit VR little endian one
//! holding that frame, so rescale, signedness and windows are applied by the same path as every other
//! file.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_encoding::adapters::PixelDataObject;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN;

use crate::ImagingError;
use crate::dicom::corrupt;
use crate::dicom_frames::{Geometry, jpeg_header};
use crate::jpeg12;

/// Whether `uid` names a JPEG-LS transfer syntax (lossless, or near-lossless).
pub(crate) fn is_jpeg_ls(uid: &str) -> bool {
    matches!(uid, "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81")
}

/// The encoded bytes of frame `index` (0-based), gathered from its fragments as dicom-rs's own
/// adapters do.
pub(crate) fn frame_bytes(obj: &DefaultDicomObject, index: u32) -> Result<Vec<u8>, ImagingError> {
    obj.frame_pixel_data(index)
        .map(|data| data.into_owned())
        .ok_or_else(|| corrupt(format!("the data of frame {} cannot be found in the pixel data", index + 1)))
}

/// Decodes JPEG-LS frame `index` (its header already checked against `geometry`) and replaces the
/// object's pixel data with it.
pub(crate) fn decode_jpeg_ls(obj: &mut DefaultDicomObject, index: u32, geometry: Geometry) -> Result<(), ImagingError> {
    if geometry.samples != 1 {
        return Err(ImagingError::UnsupportedImage(format!(
            "JPEG-LS with {} samples per pixel (only grey JPEG-LS is decoded)",
            geometry.samples
        )));
    }
    let encoded = frame_bytes(obj, index)?;
    let (values, width, height) = jpegls::decode(&encoded, geometry.width, geometry.height)
        .map_err(|e| corrupt(format!("JPEG-LS frame {}: {e}", index + 1)))?;
    if (width, height) != (geometry.width, geometry.height) || values.len() != width as usize * height as usize {
        return Err(corrupt(format!("JPEG-LS frame decoded to {width}×{height}")));
    }
    let data = if geometry.bits_allocated == 8 {
        // The header check bounds the precision by Bits Allocated, so every value fits.
        PrimitiveValue::U8(values.iter().map(|&v| v as u8).collect())
    } else {
        PrimitiveValue::U16(values.into())
    };
    replace_with_frame(obj, index, data);
    Ok(())
}

/// Decodes JPEG Extended frame `index` and replaces the object's pixel data with it when it is grey
/// 12-bit; returns false, changing nothing, for an 8-bit frame (jpeg-decoder's).
pub(crate) fn decode_jpeg_12(
    obj: &mut DefaultDicomObject,
    index: u32,
    geometry: Geometry,
) -> Result<bool, ImagingError> {
    let encoded = frame_bytes(obj, index)?;
    if !jpeg_header(&encoded).is_some_and(|sof| jpeg12::is_grey_12_bit(sof.marker, sof.precision, sof.geometry.samples))
    {
        return Ok(false);
    }
    let values = jpeg12::decode(&encoded, geometry.width, geometry.height)
        .map_err(|e| corrupt(format!("JPEG Extended 12-bit frame {}: {e}", index + 1)))?;
    replace_with_frame(obj, index, PrimitiveValue::U16(values.into()));
    Ok(true)
}

/// Reorders native planar colour frame `index` (all reds, then greens, then blues) into interleaved
/// pixels and replaces the object's pixel data with it.
pub(crate) fn interleave_planes(
    obj: &mut DefaultDicomObject,
    index: u32,
    geometry: Geometry,
) -> Result<(), ImagingError> {
    let planes = frame_bytes(obj, index)?;
    let pixels = geometry.width as usize * geometry.height as usize;
    let sample = geometry.bits_allocated as usize / 8;
    if planes.len() < 3 * pixels * sample {
        return Err(corrupt(format!(
            "planar colour frame {} is {} bytes short",
            index + 1,
            3 * pixels * sample - planes.len()
        )));
    }
    let mut interleaved = Vec::with_capacity(3 * pixels * sample);
    for p in 0..pixels {
        for plane in 0..3 {
            let at = (plane * pixels + p) * sample;
            interleaved.extend_from_slice(&planes[at..at + sample]);
        }
    }
    replace_with_frame(obj, index, PrimitiveValue::U8(interleaved.into()));
    obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, dicom_value!(U16, [0])));
    Ok(())
}

/// Makes `obj` a single-frame, native, interleaved object holding `data` as frame `index` was: its
/// per-frame functional group (rescale, window) is kept as the only one.
fn replace_with_frame(obj: &mut DefaultDicomObject, index: u32, data: PrimitiveValue) {
    let vr = if matches!(data, PrimitiveValue::U16(_)) { VR::OW } else { VR::OB };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, data));
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, "1"));
    let per_frame = tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE;
    let item = obj
        .element_opt(per_frame)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .map(|items| items.get(index as usize).cloned());
    if let Some(item) = item {
        obj.put(DataElement::new(per_frame, VR::SQ, DataSetSequence::from(item.into_iter().collect::<Vec<_>>())));
    }
    obj.update_meta(|meta| meta.set_transfer_syntax(&EXPLICIT_VR_LITTLE_ENDIAN));
}
