//! GK-MVLP in the browser: a thin skin over [`gkmvlp::inference::pipeline::Pipeline`] and
//! [`gkmvlp_imaging::decode`], the same code the CLI runs. There is no model code here.
//!
//! [`session`] holds everything that is not JavaScript (loading, decoding, the per-image state, the
//! result types the page reads) and is tested natively on Flex; `bindings` (wasm32 only) exports it
//! to JavaScript with wasm-bindgen as the `GkMvlpApp` class, with typed results (see the TypeScript
//! section there) and typed errors.

pub mod error;
pub mod session;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{ErrorKind, WebError};
pub use session::{CheckedImage, ImageInfo, ModelInfo, Session};
