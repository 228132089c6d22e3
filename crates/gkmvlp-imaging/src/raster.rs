//! PNG and JPEG through the `image` crate: 8- and 16-bit grey, grey+alpha, RGB, RGBA; colour to
//! luminance (Rec. 709 weights, as `image`'s own `to_luma`), alpha ignored.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::{ImagingError, MAX_PIXELS, MAX_SIDE, Radiograph, SourceFormat, check_dimensions};

const LUMA: [f32; 3] = [0.2126, 0.7152, 0.0722];

fn reader(bytes: &[u8], format: SourceFormat) -> ImageReader<Cursor<&[u8]>> {
    let image_format = match format {
        SourceFormat::Jpeg => ImageFormat::Jpeg,
        _ => ImageFormat::Png,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // Largest decoded buffer: 64 Mpx of RGBA16 (8 bytes per pixel).
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    reader
}

fn map_err(format: SourceFormat, err: ImageError) -> ImagingError {
    match err {
        ImageError::Limits(e) => ImagingError::corrupt(format, format!("refused by decoder limits: {e}")),
        ImageError::Unsupported(e) => ImagingError::UnsupportedImage(format!("{format} variant not supported: {e}")),
        other => ImagingError::corrupt(format, other),
    }
}

/// Decodes PNG or JPEG bytes. The dimensions are read from the header (no pixel buffer) and
/// checked first; the decoder then runs under `image` limits as a second guard.
pub(crate) fn decode(bytes: &[u8], format: SourceFormat) -> Result<Radiograph, ImagingError> {
    if format == SourceFormat::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    let mut header = reader(bytes, format);
    header.no_limits(); // reading the header allocates nothing; our own check names the size
    let (width, height) = header.into_dimensions().map_err(|e| map_err(format, e))?;
    check_dimensions(width, height)?;
    let decode_error = |e| match e {
        ImageError::Limits(_) => ImagingError::TooLarge { width, height },
        other => map_err(format, other),
    };
    let mut decoder = reader(bytes, format).into_decoder().map_err(decode_error)?;
    // A camera or phone photo of a film stores its rotation as EXIF orientation rather than turning the
    // pixels: without it the film would be read on its side.
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    let (pixels, bits_stored) = grey(&image)?;
    let chroma = chroma(&image);
    let (width, height) = (image.width(), image.height());
    if pixels.len() != width as usize * height as usize {
        return Err(ImagingError::corrupt(format, "decoded size differs from the header"));
    }
    Ok(Radiograph {
        width,
        height,
        pixels,
        format,
        bits_stored,
        modality_values: None,
        window: None,
        invert: false,
        chroma,
        frames: 1,
        frame: 1,
    })
}

/// Refuses a JPEG whose data ends before its EOI marker, or that has no scan before it. The `image`
/// crate runs zune-jpeg in its lenient mode, which fills whatever a truncated scan lacks with grey and
/// reports success: a file cut in half was analysed as if whole, and a frame header claiming
/// 16000×4000 with no scan at all decoded to a blank 64 Mpx image. The markers are walked (segments
/// by their lengths, entropy-coded data up to the next marker) without decoding anything.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImagingError> {
    let truncated = |what: &str| ImagingError::corrupt(SourceFormat::Jpeg, format!("truncated JPEG: {what}"));
    let mut pos = 2; // after SOI
    let mut scans = 0;
    loop {
        // The next marker: 0xFF then a byte that is neither a fill 0xFF, a stuffed 0x00 nor a restart
        // marker (those occur inside entropy-coded data).
        let Some(at) = (pos..bytes.len().saturating_sub(1))
            .find(|&i| bytes[i] == 0xFF && !matches!(bytes[i + 1], 0x00 | 0xFF | 0xD0..=0xD7))
        else {
            return Err(truncated(if scans == 0 {
                "the data ends before any image scan"
            } else {
                "the image data ends before the end-of-image marker"
            }));
        };
        let marker = bytes[at + 1];
        match marker {
            0xD9 if scans == 0 => return Err(truncated("no image scan before the end-of-image marker")),
            0xD9 => return Ok(()),
            0x01 => pos = at + 2, // TEM: no length
            _ => {
                let len = bytes.get(at + 2..at + 4).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                if len < 2 || at + 2 + len > bytes.len() {
                    return Err(truncated(&format!("marker segment 0x{marker:02X} ends past the data")));
                }
                scans += usize::from(marker == 0xDA);
                pos = at + 2 + len;
            }
        }
    }
}

/// One grey channel in `[0, 1]` and the source bit depth.
fn grey(image: &DynamicImage) -> Result<(Vec<f32>, u16), ImagingError> {
    fn channels<T: Copy + Into<f32>>(data: &[T], n: usize, max: f32) -> Vec<f32> {
        data.chunks_exact(n)
            .map(|p| {
                let v = if n >= 3 {
                    LUMA[0] * p[0].into() + LUMA[1] * p[1].into() + LUMA[2] * p[2].into()
                } else {
                    p[0].into()
                };
                (v / max).clamp(0.0, 1.0)
            })
            .collect()
    }
    Ok(match image {
        DynamicImage::ImageLuma8(b) => (channels(b.as_raw(), 1, 255.0), 8),
        DynamicImage::ImageLumaA8(b) => (channels(b.as_raw(), 2, 255.0), 8),
        DynamicImage::ImageRgb8(b) => (channels(b.as_raw(), 3, 255.0), 8),
        DynamicImage::ImageRgba8(b) => (channels(b.as_raw(), 4, 255.0), 8),
        DynamicImage::ImageLuma16(b) => (channels(b.as_raw(), 1, 65535.0), 16),
        DynamicImage::ImageLumaA16(b) => (channels(b.as_raw(), 2, 65535.0), 16),
        DynamicImage::ImageRgb16(b) => (channels(b.as_raw(), 3, 65535.0), 16),
        DynamicImage::ImageRgba16(b) => (channels(b.as_raw(), 4, 65535.0), 16),
        other => {
            return Err(ImagingError::UnsupportedImage(format!(
                "pixel type {:?} (expected 8- or 16-bit grey, grey+alpha, RGB or RGBA)",
                other.color()
            )));
        }
    })
}

/// Mean largest channel difference, in `[0, 1]` (see [`Radiograph::chroma`]); 0 for grey pixel types.
fn chroma(image: &DynamicImage) -> f32 {
    fn spread<T: Copy + Into<f32>>(data: &[T], n: usize, max: f32) -> f32 {
        let pixels = data.len() / n;
        if pixels == 0 {
            return 0.0;
        }
        let total: f64 = data
            .chunks_exact(n)
            .map(|p| {
                let (lo, hi) = p[..3].iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &v| {
                    let v: f32 = v.into();
                    (lo.min(v), hi.max(v))
                });
                f64::from(hi - lo)
            })
            .sum();
        (total / pixels as f64) as f32 / max
    }
    match image {
        DynamicImage::ImageRgb8(b) => spread(b.as_raw(), 3, 255.0),
        DynamicImage::ImageRgba8(b) => spread(b.as_raw(), 4, 255.0),
        DynamicImage::ImageRgb16(b) => spread(b.as_raw(), 3, 65535.0),
        DynamicImage::ImageRgba16(b) => spread(b.as_raw(), 4, 65535.0),
        _ => 0.0,
    }
}

/// 8-bit greyscale PNG of the display pixels.
pub(crate) fn encode_png_8bit(image: &Radiograph) -> Result<Vec<u8>, ImageError> {
    use image::ImageEncoder;
    let bytes: Vec<u8> = image.pixels.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out).write_image(
        &bytes,
        image.width,
        image.height,
        image::ExtendedColorType::L8,
    )?;
    Ok(out)
}
