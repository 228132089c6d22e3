//! The errors the page can get, each with a stable kind (the JS error's `name`) and a message that says
//! what was wrong in words a user can act on.

use gkmvlp::GkError;
use gkmvlp_imaging::ImagingError;

/// Stable error kinds; the page switches on these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A weights file is missing from the manifest, truncated, corrupt or of another architecture.
    Weights,
    /// The image could not be decoded (unknown format, corrupt, too small, too large).
    Image,
    /// A question, finding text or report the model cannot take (empty, too long).
    Input,
    /// The accelerator failed (no adapter, lost device, failed read-back).
    Device,
    /// A call in the wrong order: analysing before the model is loaded, asking before an image is open.
    State,
}

impl ErrorKind {
    /// The JS error `name`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Weights => "WeightsError",
            ErrorKind::Image => "ImageError",
            ErrorKind::Input => "InputError",
            ErrorKind::Device => "DeviceError",
            ErrorKind::State => "StateError",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct WebError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WebError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WebError { kind, message: message.into() }
    }

    pub fn state(message: impl Into<String>) -> Self {
        WebError::new(ErrorKind::State, message)
    }
}

impl From<GkError> for WebError {
    fn from(e: GkError) -> Self {
        let kind = match &e {
            GkError::Weights { .. } | GkError::Tokenizer(_) | GkError::Config(_) => ErrorKind::Weights,
            GkError::Input(_) => ErrorKind::Input,
            GkError::Device(_) => ErrorKind::Device,
        };
        WebError::new(kind, e.to_string())
    }
}

impl From<ImagingError> for WebError {
    fn from(e: ImagingError) -> Self {
        WebError::new(ErrorKind::Image, format!("cannot read this image: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, WebError>;
