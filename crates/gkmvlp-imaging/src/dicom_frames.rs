//! Checks of a compressed DICOM frame against the DICOM attributes, run before its codec.
//!
//! dicom-rs 0.10.1's adapters size their output from Rows × Columns × Samples × Bits Allocated but
//! copy in whatever the codec decodes, and panic (slice index out of range) when that is larger; a
//! codec also allocates whatever its own header claims. A mutation test (tests/dicom_synthetic.rs)
//! found these panics; the checks here refuse such frames with an error instead. The frame to be
//! decoded is inspected, gathered from its fragments as the adapters gather it.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use crate::ImagingError;
use crate::dicom::corrupt;
use crate::dicom_native::{frame_bytes, is_jpeg_ls};
use crate::jpeg12::is_grey_12_bit;

/// JPEG Extended (processes 2 and 4): 8-bit frames go to jpeg-decoder, 12-bit ones to `jpeg12`.
pub(crate) const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Checks compressed frame `index` (0-based) against the DICOM attributes (`geometry`):
///
/// - JPEG (all processes) and JPEG-LS: exactly one SOF before the first SOS, whose width, height,
///   component count and precision must match Columns, Rows, Samples per Pixel and Bits Allocated;
///   DCT samples of more than 8 bits are refused as undecodable here, but for the grey 12-bit
///   sequential frames of JPEG Extended;
/// - JPEG 2000: the SIZ of the codestream (raw, or inside a JP2 `jp2c` box) likewise;
/// - RLE: the segment table and each segment's decoded length (the adapter indexes past a short
///   segment).
pub(crate) fn check_compressed_frame(
    obj: &DefaultDicomObject,
    ts_uid: &str,
    geometry: Geometry,
    index: u32,
) -> Result<(), ImagingError> {
    let encapsulated =
        obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some_and(|e| e.value().fragments().is_some());
    if !encapsulated {
        return Ok(());
    }
    let frame = frame_bytes(obj, index)?;
    let family = |prefix: &str| ts_uid.starts_with(prefix);
    if ts_uid == "1.2.840.10008.1.2.5" {
        let bytes_per_sample = geometry.bits_allocated.div_ceil(8) as usize;
        return check_rle(
            &frame,
            geometry.width as usize * geometry.height as usize,
            geometry.samples as usize * bytes_per_sample,
        );
    }
    let claimed = if family("1.2.840.10008.1.2.4.9") || family("1.2.840.10008.1.2.4.20") {
        j2k_header(&frame)
    } else if ["50", "51", "57", "70"].iter().any(|p| ts_uid == format!("1.2.840.10008.1.2.4.{p}"))
        || is_jpeg_ls(ts_uid)
    {
        let sof = jpeg_header(&frame).ok_or_else(|| corrupt("compressed frame header unreadable"))?;
        // jpeg-decoder decodes DCT frames of 8-bit samples only; lossless (SOF3) and JPEG-LS (SOF55)
        // take any precision, and grey 12-bit sequential frames of JPEG Extended go to `jpeg12`.
        let extended = ts_uid == JPEG_EXTENDED && is_grey_12_bit(sof.marker, sof.precision, sof.geometry.samples);
        if sof.precision > 8 && !matches!(sof.marker, 0xC3 | 0xF7) && !extended {
            return Err(ImagingError::UnsupportedTransferSyntax {
                name: format!("JPEG Extended with {}-bit DCT samples", sof.precision),
                uid: ts_uid.to_string(),
            });
        }
        Some(sof.geometry)
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub width: u32,
    pub height: u32,
    pub samples: u32,
    pub bits_allocated: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 2).map(|v| u32::from(u16::from_be_bytes([v[0], v[1]])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
}

/// A JPEG or JPEG-LS frame header: its marker (0xC0 to 0xCF, or 0xF7 for JPEG-LS), sample precision
/// and geometry.
#[derive(Debug, PartialEq)]
pub(crate) struct Sof {
    pub marker: u8,
    pub precision: u32,
    pub geometry: Geometry,
}

/// The SOF of a JPEG or JPEG-LS stream, walking marker segments from SOI to the first SOS. `None`
/// when the structure is broken or there is not exactly one SOF.
pub(crate) fn jpeg_header(jpeg: &[u8]) -> Option<Sof> {
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
        if matches!(marker, 0xC0..=0xCF | 0xF7) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let precision = u32::from(*segment.first()?);
            sof.push(Sof {
                marker,
                precision,
                geometry: Geometry {
                    height: be16(segment, 1)?,
                    width: be16(segment, 3)?,
                    samples: u32::from(*segment.get(5)?),
                    bits_allocated: if precision > 8 { 16 } else { 8 },
                },
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
    let le32 = |at: usize| fragment.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
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
            return Err(corrupt(format!("RLE segment {k} decodes to {decoded} bytes, the frame has {pixels} pixels")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_lengths() {
        // Literal of 3, repeat of 4 (-3), no-op (-128), truncated literal of 5 with 2 bytes left.
        assert_eq!(packbits_len(&[2, 1, 2, 3, 0xFD, 9, 0x80, 4, 7, 7]), 3 + 4 + 2);
        assert_eq!(packbits_len(&[]), 0);
    }

    #[test]
    fn jpeg_sof_is_found_and_checked() {
        let img = image::GrayImage::from_fn(40, 24, |x, _| image::Luma([x as u8]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).expect("encode");
        let want = Geometry { width: 40, height: 24, samples: 1, bits_allocated: 8 };
        assert_eq!(jpeg_header(&jpeg), Some(Sof { marker: 0xC0, precision: 8, geometry: want }));
        assert_eq!(jpeg_header(&jpeg[..20]), None);
        assert_eq!(jpeg_header(b"not a jpeg"), None);
    }

    #[test]
    fn j2k_siz_is_read() {
        // SOC, SIZ (Lsiz 41), Rsiz, 100×50 at offset (10, 0), tiles, 1 component of 12 bits.
        let mut cs = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [110u32, 50, 10, 0, 110, 50, 0, 0] {
            cs.extend(v.to_be_bytes());
        }
        cs.extend([0, 1, 11, 1, 1]);
        let want = Geometry { width: 100, height: 50, samples: 1, bits_allocated: 16 };
        assert_eq!(j2k_header(&cs), Some(want));
        assert_eq!(j2k_header(&cs[..30]), None);
    }
}
