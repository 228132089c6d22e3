//! Errors of the model crate. Each says what failed and on which file or input, so the CLI and the browser
//! can show it as it is.

/// Anything that can go wrong loading or running GK-MVLP.
#[derive(Debug, thiserror::Error)]
pub enum GkError {
    #[error("weights file `{file}`: {problem}")]
    Weights { file: String, problem: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("input: {0}")]
    Input(String),
    #[error("device: {0}")]
    Device(String),
    #[error("model configuration: {0}")]
    Config(String),
}

impl GkError {
    pub(crate) fn weights(file: impl Into<String>, problem: impl Into<String>) -> Self {
        GkError::Weights { file: file.into(), problem: problem.into() }
    }
}

/// Result with [`GkError`].
pub type Result<T> = std::result::Result<T, GkError>;

/// The first 400 characters of a (possibly very long) library message, e.g. burn-store's list of every
/// mismatched tensor.
pub(crate) fn abbreviate(message: &str) -> String {
    const LIMIT: usize = 400;
    match message.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}… ({} characters in all)", &message[..cut], message.chars().count()),
        None => message.to_string(),
    }
}
