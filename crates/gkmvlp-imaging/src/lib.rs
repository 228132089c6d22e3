//! Radiograph decoding: PNG, JPEG and DICOM into one grey image type.
//!
//! [`decode`] sniffs the format from the bytes and returns a [`Radiograph`]: row-major grey values
//! in `[0, 1]` (0 black, 1 white), ready for display and for the model's preprocessing. DICOM keeps
//! its modality values (after rescale slope/intercept) so that a page can re-window without decoding
//! again ([`Radiograph::rewindow`]). A multi-frame DICOM gives one frame, the first unless
//! [`decode_with`] asks for another; [`Radiograph::frames`] says how many there are. Works natively and
//! on `wasm32-unknown-unknown`.

mod dicom;
mod dicom_frames;
mod dicom_lengths;
mod dicom_native;
mod error;
pub mod input_check;
mod input_check_model;
mod jpeg12;
mod raster;
mod resize;
mod voi;
#[cfg(all(target_arch = "wasm32", feature = "jpeg2000"))]
mod wasm_libc;

use std::fmt;

pub use dicom_lengths::MAX_SEQUENCE_DEPTH;
pub use error::ImagingError;
pub use input_check::InputCheck;
pub use voi::Window;

/// Largest accepted side, in pixels (decompression-bomb guard).
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted pixel count (64 Mpx).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;
/// Smallest accepted side, in pixels.
pub const MIN_SIDE: u32 = 16;
/// Largest accepted input file, in bytes (256 MiB): room for an uncompressed 64 Mpx frame of 16-bit
/// grey (128 MiB) or 8-bit colour (192 MiB) with its headers. Callers reading files should stop
/// reading here rather than load a larger file (or an endless one such as `/dev/zero`) first.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The container the radiograph came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Png,
    Jpeg,
    Dicom,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFormat::Png => "PNG",
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Dicom => "DICOM",
        })
    }
}

/// A decoded radiograph: one grey channel, display-ready.
#[derive(Debug, Clone, PartialEq)]
pub struct Radiograph {
    pub width: u32,
    pub height: u32,
    /// Row-major, `width * height` values in `[0, 1]`: 0 black, 1 white
    /// (MONOCHROME1 already inverted, VOI window applied).
    pub pixels: Vec<f32>,
    pub format: SourceFormat,
    /// Bits per sample in the source: 8 or 16 for PNG/JPEG, Bits Stored for DICOM.
    pub bits_stored: u16,
    /// DICOM only: values after rescale slope/intercept, before windowing, row-major like `pixels`.
    pub modality_values: Option<Vec<f32>>,
    /// DICOM only: the VOI window used (from the file, else from the value range).
    pub window: Option<Window>,
    /// DICOM MONOCHROME1: low values display white.
    pub invert: bool,
    /// How far from grey the source's colours were: the mean over pixels of the largest difference
    /// between its colour channels, in `[0, 1]`. 0 for grey sources and for colour files whose
    /// channels are equal (a radiograph saved as RGB); what tells a colour photograph from a radiograph
    /// once both are grey here.
    pub chroma: f32,
    /// How many frames the source holds: Number of Frames for DICOM, 1 for PNG and JPEG.
    pub frames: u32,
    /// Which frame this is, counted from 1.
    pub frame: u32,
}

/// How to decode: which frame of a multi-frame DICOM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The frame to decode, counted from 1; `None` is the first. A frame the file does not have is
    /// refused ([`ImagingError::FrameOutOfRange`]); PNG and JPEG have frame 1 only.
    pub frame: Option<u32>,
}

/// Decodes a PNG, JPEG or DICOM (Part 10) file's bytes, sniffing the format by its magic bytes; a
/// multi-frame DICOM gives its first frame.
pub fn decode(bytes: &[u8]) -> Result<Radiograph, ImagingError> {
    decode_with(bytes, &DecodeOptions::default())
}

/// [`decode`] with options: the frame of a multi-frame DICOM to decode.
pub fn decode_with(bytes: &[u8], options: &DecodeOptions) -> Result<Radiograph, ImagingError> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ImagingError::InputTooLarge { bytes: bytes.len() as u64 });
    }
    let image = match sniff(bytes)? {
        SourceFormat::Dicom => dicom::decode(bytes, options.frame)?,
        format => {
            check_frame(options.frame, 1)?;
            raster::decode(bytes, format)?
        }
    };
    if image.pixels.iter().any(|v| !v.is_finite()) {
        return Err(ImagingError::NonFinite);
    }
    Ok(image)
}

/// Identifies the container by its magic bytes.
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, ImagingError> {
    if bytes.is_empty() {
        return Err(ImagingError::Empty);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(SourceFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(SourceFormat::Jpeg)
    } else if bytes.get(128..132) == Some(b"DICM") || bytes.starts_with(b"DICM") {
        Ok(SourceFormat::Dicom)
    } else {
        Err(ImagingError::UnknownFormat)
    }
}

/// The 0-based index of the chosen 1-based `frame` (the first when `None`) of `frames`, or the error
/// that names the frames there are.
pub(crate) fn check_frame(frame: Option<u32>, frames: u32) -> Result<u32, ImagingError> {
    match frame.unwrap_or(1) {
        f if (1..=frames).contains(&f) => Ok(f - 1),
        f => Err(ImagingError::FrameOutOfRange { frame: f, frames }),
    }
}

/// Refuses images too large to allocate or too small to be a radiograph, before any pixel is decoded.
pub(crate) fn check_dimensions(width: u32, height: u32) -> Result<(), ImagingError> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImagingError::TooLarge { width, height });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ImagingError::TooSmall { width, height });
    }
    Ok(())
}

impl Radiograph {
    /// A grey picture made in memory rather than decoded: 8-bit PNG semantics, no DICOM metadata.
    /// `pixels` are row-major, `width * height` values in `[0, 1]`.
    pub fn grey(width: u32, height: u32, pixels: Vec<f32>) -> Radiograph {
        Radiograph {
            width,
            height,
            pixels,
            format: SourceFormat::Png,
            bits_stored: 8,
            modality_values: None,
            window: None,
            invert: false,
            chroma: 0.0,
            frames: 1,
            frame: 1,
        }
    }

    /// Recomputes `pixels` from the modality values with another VOI window (DICOM only).
    pub fn rewindow(&self, window: Window) -> Result<Radiograph, ImagingError> {
        let values = self.modality_values.as_ref().ok_or(ImagingError::NotDicom(self.format))?;
        window.validate()?;
        Ok(Radiograph {
            pixels: voi::apply(values, window, self.invert),
            window: Some(window),
            modality_values: Some(values.clone()),
            ..self.metadata()
        })
    }

    /// Stretches the image to `size × size` (aspect ratio not kept, so normalised coordinates stay
    /// valid): area averaging where an axis shrinks, linear interpolation where it grows. Modality
    /// values, if any, are resampled the same way so that [`Radiograph::rewindow`] still works.
    /// `size` 0 is treated as 1.
    pub fn resize_square(&self, size: u32) -> Radiograph {
        let size = size.max(1);
        let resample = |v: &[f32]| resize::resize(v, self.width, self.height, size, size);
        Radiograph {
            width: size,
            height: size,
            pixels: resample(&self.pixels),
            modality_values: self.modality_values.as_deref().map(resample),
            ..self.metadata()
        }
    }

    /// Everything but the two pixel buffers (left empty), so that derived images do not copy
    /// buffers they are about to replace.
    fn metadata(&self) -> Radiograph {
        Radiograph { pixels: Vec::new(), modality_values: None, ..*self }
    }

    /// Encodes the display pixels as an 8-bit greyscale PNG (previews, the CLI).
    /// Returns an empty vector only if the PNG encoder fails, which a consistent `Radiograph`
    /// (`pixels.len() == width * height`) does not make it do.
    pub fn to_png_8bit(&self) -> Vec<u8> {
        raster::encode_png_8bit(self).unwrap_or_default()
    }
}
