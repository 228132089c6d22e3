//! Guard against DICOM length bombs, run before dicom-object parses the file.
//!
//! dicom-parser 0.10.1 reserves and zero-fills an element's declared length before reading it: a
//! 6 KB file whose Pixel Data claims 0xF0000000 bytes made it allocate 3.9 GB and spend 16 s before
//! failing (natively; on wasm32 it grows the module's memory, which never shrinks). Here every
//! element header is walked with dicom-encoding's own header decoders and each defined length is
//! checked against the bytes that remain; values are skipped, never read or allocated.
//!
//! The same walk bounds how deeply sequences nest ([`MAX_SEQUENCE_DEPTH`]): dicom-object parses a
//! nested sequence by recursion, and 10,000 nested sequences overflowed the stack and aborted the
//! process.
//!
//! Deflated data sets cannot be walked without inflating them and are left to the parser.

use std::io::Cursor;

use dicom_core::header::{HasLength, Header};
use dicom_core::{DataElementHeader, Tag, VR};
use dicom_encoding::decode::Decode;
use dicom_encoding::decode::explicit_be::ExplicitVRBigEndianDecoder;
use dicom_encoding::decode::explicit_le::ExplicitVRLittleEndianDecoder;
use dicom_encoding::decode::implicit_le::ImplicitVRLittleEndianDecoder;

use crate::{ImagingError, SourceFormat};

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);

/// Deepest accepted nesting of sequences (a sequence inside an item of a sequence counts 2). Real
/// objects nest a few levels; the parser recurses per level, and this keeps it within a small
/// (wasm-sized) stack.
pub const MAX_SEQUENCE_DEPTH: usize = 32;
const TRANSFER_SYNTAX: Tag = Tag(0x0002, 0x0010);

/// Checks every defined element length of a Part 10 file against the bytes left after it.
/// Headers it cannot decode are left for the real parser to report.
pub(crate) fn check(bytes: &[u8]) -> Result<(), ImagingError> {
    let mut pos = if bytes.get(128..132) == Some(b"DICM") { 132 } else { 4 };

    // File meta group: always explicit VR little endian.
    let meta = ExplicitVRLittleEndianDecoder::default();
    let mut ts = String::new();
    while bytes.get(pos..pos + 2) == Some(&[0x02, 0x00]) {
        let Some((header, value_at)) = header_at(&meta, bytes, pos) else {
            return Ok(());
        };
        let Some(len) = header.length().get() else {
            return Ok(());
        };
        let end = fits(bytes, &header, value_at, len)?;
        if header.tag() == TRANSFER_SYNTAX {
            ts = String::from_utf8_lossy(&bytes[value_at..end])
                .trim_matches(|c: char| c == '\0' || c == ' ')
                .to_string();
        }
        pos = end;
    }

    match ts.as_str() {
        "1.2.840.10008.1.2" => walk(&ImplicitVRLittleEndianDecoder::default(), bytes, pos),
        "1.2.840.10008.1.2.2" => walk(&ExplicitVRBigEndianDecoder::default(), bytes, pos),
        "1.2.840.10008.1.2.1.99" => Ok(()), // deflated: see the module note
        _ => walk(&ExplicitVRLittleEndianDecoder::default(), bytes, pos),
    }
}

/// The header at `pos` and where its value starts, if one can be decoded there.
fn header_at(decoder: &impl Decode, bytes: &[u8], pos: usize) -> Option<(DataElementHeader, usize)> {
    let mut source = Cursor::new(bytes.get(pos..)?);
    let (header, read) = decoder.decode_header(&mut source).ok()?;
    Some((header, pos + read))
}

/// End of the value starting at `value_at`, or an error naming the element whose length
/// overruns the input.
fn fits(bytes: &[u8], header: &DataElementHeader, value_at: usize, len: u32) -> Result<usize, ImagingError> {
    let remaining = bytes.len().saturating_sub(value_at);
    if len as usize > remaining {
        let tag = header.tag();
        return Err(ImagingError::corrupt(
            SourceFormat::Dicom,
            format!(
                "element ({:04X},{:04X}) declares {len} bytes but only {remaining} remain \
                 (truncated or malformed file)",
                tag.0, tag.1
            ),
        ));
    }
    Ok(value_at + len as usize)
}

/// An open sequence or item: whether it is a sequence, and where it ends when its length is defined
/// (otherwise at its delimiter).
struct Open {
    sequence: bool,
    end: Option<usize>,
}

/// Walks the data set flat: sequences and their items are entered (their contents are more
/// headers); encapsulated pixel data fragments and every other value are skipped. Open sequences and
/// items are tracked (at most [`MAX_SEQUENCE_DEPTH`] sequences) to bound their nesting.
fn walk(decoder: &impl Decode, bytes: &[u8], mut pos: usize) -> Result<(), ImagingError> {
    let mut in_fragments = false;
    let mut open: Vec<Open> = Vec::new();
    while pos < bytes.len() {
        // Everything inside a defined-length container ends with it.
        if let Some(k) = open.iter().position(|o| o.end.is_some_and(|end| end <= pos)) {
            open.truncate(k);
        }
        let Some((header, value_at)) = header_at(decoder, bytes, pos) else {
            return Ok(());
        };
        let tag = header.tag();
        let defined = header.length().get();
        if let Some(len) = defined {
            fits(bytes, &header, value_at, len)?;
        }
        let end = defined.map(|len| value_at + len as usize);
        let enter = if tag.0 == 0xFFFE {
            let closes = |o: Option<&Open>, sequence| o.is_some_and(|o| o.sequence == sequence && o.end.is_none());
            if tag == SEQUENCE_DELIMITER && in_fragments {
                in_fragments = false;
            } else if (tag == SEQUENCE_DELIMITER && closes(open.last(), true))
                || (tag == ITEM_DELIMITER && closes(open.last(), false))
            {
                open.pop();
            }
            // An item of a sequence holds a data set; a fragment of pixel data holds bytes.
            let item = tag == ITEM && !in_fragments;
            if item {
                open.push(Open { sequence: false, end });
            }
            item
        } else if defined.is_none() && tag == PIXEL_DATA {
            in_fragments = true;
            true
        } else if defined.is_none() || header.vr() == VR::SQ {
            let depth = open.iter().filter(|o| o.sequence).count() + 1;
            if depth > MAX_SEQUENCE_DEPTH {
                return Err(ImagingError::corrupt(
                    SourceFormat::Dicom,
                    format!(
                        "sequence ({:04X},{:04X}) is nested {depth} deep (at most {MAX_SEQUENCE_DEPTH} \
                         nested sequences are accepted)",
                        tag.0, tag.1
                    ),
                ));
            }
            open.push(Open { sequence: true, end });
            true
        } else {
            false
        };
        pos = match (enter, end) {
            (false, Some(end)) => end,
            _ => value_at,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal Part 10 prefix: preamble, DICM, and a meta group naming explicit VR LE.
    fn meta_prefix() -> Vec<u8> {
        let mut out = vec![0u8; 128];
        out.extend(b"DICM");
        let uid = b"1.2.840.10008.1.2.1\0";
        out.extend([0x02, 0x00, 0x10, 0x00, b'U', b'I']);
        out.extend((uid.len() as u16).to_le_bytes());
        out.extend(uid);
        out
    }

    #[test]
    fn a_huge_declared_length_is_refused() {
        let mut bytes = meta_prefix();
        bytes.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0]);
        bytes.extend(0xF000_0000u32.to_le_bytes());
        bytes.extend([0u8; 64]);
        let err = check(&bytes).unwrap_err();
        assert!(err.to_string().contains("(7FE0,0010) declares 4026531840 bytes"), "{err}");
    }

    #[test]
    fn sequences_and_fragments_are_walked() {
        let mut bytes = meta_prefix();
        // (0008,1140) SQ, undefined length, one item of defined length holding one UI element.
        bytes.extend([0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
        bytes.extend([0x08, 0x00, 0x50, 0x11, b'U', b'I', 4, 0, b'1', b'.', b'2', 0]);
        bytes.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        // Encapsulated pixel data: empty offset table, one 4-byte fragment, delimiter.
        bytes.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 1, 2, 3, 4]);
        bytes.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(check(&bytes), Ok(()));
        // A fragment claiming more than is there.
        let n = bytes.len();
        bytes[n - 16..n - 12].copy_from_slice(&1000u32.to_le_bytes());
        assert!(check(&bytes).is_err());
    }
}
