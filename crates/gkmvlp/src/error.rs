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
}

impl GkError {
    pub(crate) fn weights(file: impl Into<String>, problem: impl Into<String>) -> Self {
        GkError::Weights { file: file.into(), problem: problem.into() }
    }
}

/// Result with [`GkError`].
pub type Result<T> = std::result::Result<T, GkError>;
