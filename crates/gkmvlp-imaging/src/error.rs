//! The one error type of the crate: every message says what was wrong and, where it helps, what
//! would be accepted.

use crate::{MAX_INPUT_BYTES, MAX_PIXELS, MAX_SIDE, MIN_SIDE, SourceFormat};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImagingError {
    #[error("empty input: no bytes to decode")]
    Empty,

    #[error(
        "unknown image format: supported formats are PNG, JPEG and DICOM (Part 10 file with \"DICM\" \
         at byte 128, or at byte 0 without the preamble)"
    )]
    UnknownFormat,

    #[error("corrupt or truncated {format} file: {detail}")]
    Corrupt { format: SourceFormat, detail: String },

    #[error("unsupported DICOM transfer syntax {name} ({uid}): its pixel data cannot be decoded here")]
    UnsupportedTransferSyntax { name: String, uid: String },

    #[error("not a grey or colour image this decoder reads: {0}")]
    UnsupportedImage(String),

    #[error("frame {frame} does not exist: the file has {frames} frame(s), numbered from 1 to {frames}")]
    FrameOutOfRange { frame: u32, frames: u32 },

    #[error(
        "image too large: {width}×{height} (limit {MAX_SIDE} px on a side and {} Mpx in all)",
        MAX_PIXELS / (1024 * 1024)
    )]
    TooLarge { width: u32, height: u32 },

    #[error("input too large: {bytes} bytes or more (limit {MAX_INPUT_BYTES} bytes, {} MiB)", MAX_INPUT_BYTES / (1024 * 1024))]
    InputTooLarge { bytes: u64 },

    #[error("image too small: {width}×{height} (at least {MIN_SIDE} px on a side)")]
    TooSmall { width: u32, height: u32 },

    #[error("image holds non-finite values (NaN or infinity)")]
    NonFinite,

    #[error("invalid VOI window (center {center}, width {width}): both must be finite and width ≥ 1")]
    InvalidWindow { center: f32, width: f32 },

    #[error("re-windowing needs DICOM modality values; this image came from {0}")]
    NotDicom(SourceFormat),
}

impl ImagingError {
    pub(crate) fn corrupt(format: SourceFormat, detail: impl ToString) -> Self {
        ImagingError::Corrupt { format, detail: detail.to_string() }
    }
}
