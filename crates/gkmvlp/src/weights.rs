//! The weights format of our trained models: one safetensors file (tensor names = module paths) and a small
//! JSON manifest holding the config, the vocabulary version and the sha256 and size of every file. Loading
//! checks all of it before any tensor is touched, so a truncated, tampered or mismatched file gives an error
//! naming the file and the problem, never a panic and never a silently random layer.

use std::collections::BTreeMap;

use burn::store::{ModuleStore, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::GkMvlpConfig;
use crate::error::{GkError, Result};
use crate::int8;
use crate::model::GkMvlp;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
const FORMAT: &str = "gkmvlp-weights";
const FORMAT_VERSION: u32 = 1;

/// One file the manifest vouches for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub sha256: String,
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// `GkMvlpConfig` as JSON.
    pub config: serde_json::Value,
    /// [`gkmvlp_vocab::VOCAB_VERSION`] the model was trained with.
    pub vocab_version: u32,
    /// Element type of the stored weights: `f32`, or `int8` (see `int8.rs`).
    pub dtype: String,
    /// Every file of the model, by name.
    pub files: BTreeMap<String, FileEntry>,
    /// Free-form facts about training (data seeds, steps, metrics).
    #[serde(default)]
    pub training: serde_json::Value,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    pub fn parse(json: &[u8]) -> Result<Self> {
        let manifest: Manifest = serde_json::from_slice(json)
            .map_err(|e| GkError::weights(MANIFEST_FILE, format!("not a valid manifest: {e}")))?;
        if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
            return Err(GkError::weights(
                MANIFEST_FILE,
                format!("format {} v{} is not {FORMAT} v{FORMAT_VERSION}", manifest.format, manifest.format_version),
            ));
        }
        if manifest.vocab_version != gkmvlp_vocab::VOCAB_VERSION {
            return Err(GkError::weights(
                MANIFEST_FILE,
                format!(
                    "trained with vocabulary v{}, this build has v{}: region and finding indices would not match",
                    manifest.vocab_version,
                    gkmvlp_vocab::VOCAB_VERSION
                ),
            ));
        }
        if manifest.dtype != "f32" && manifest.dtype != "int8" {
            return Err(GkError::weights(MANIFEST_FILE, format!("weights of type `{}` are not supported (f32 or int8)", manifest.dtype)));
        }
        Ok(manifest)
    }

    pub fn model_config(&self) -> Result<GkMvlpConfig> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| GkError::weights(MANIFEST_FILE, format!("config does not describe a GK-MVLP model: {e}")))
    }

    /// Checks `bytes` against the manifest's entry for `name`: present, same size, same sha256.
    pub fn verify(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let entry = self
            .files
            .get(name)
            .ok_or_else(|| GkError::weights(name, "not listed in manifest.json"))?;
        if bytes.len() as u64 != entry.bytes {
            return Err(GkError::weights(
                name,
                format!("{} bytes, manifest says {} (truncated or wrong file)", bytes.len(), entry.bytes),
            ));
        }
        let actual = sha256_hex(bytes);
        if actual != entry.sha256 {
            return Err(GkError::weights(name, format!("sha256 {actual} differs from the manifest's {} (corrupt or altered)", entry.sha256)));
        }
        Ok(())
    }
}

/// Builds the model the manifest describes and fills it from `model_bytes`, after checking them.
pub fn load_model(manifest: &Manifest, model_bytes: Vec<u8>, device: &Device) -> Result<(GkMvlpConfig, GkMvlp)> {
    manifest.verify(MODEL_FILE, &model_bytes)?;
    let config = manifest.model_config()?;
    let mut model = config.init(device)?;
    let model_bytes = if manifest.dtype == "int8" { int8::dequantize(&model_bytes, MODEL_FILE)? } else { model_bytes };
    apply_strict(&mut model, model_bytes, MODEL_FILE)?;
    Ok((config, model))
}

/// Applies a safetensors file to `model`; every tensor must match, in name and shape, both ways.
pub fn apply_strict(model: &mut GkMvlp, bytes: Vec<u8>, file: &str) -> Result<()> {
    let result = SafetensorsStore::from_bytes(Some(bytes))
        .allow_partial(true)
        .apply_to(model)
        .map_err(|e| GkError::weights(file, format!("cannot load into the model: {}", crate::error::abbreviate(&e.to_string()))))?;
    if let Some(error) = result.errors.first() {
        return Err(GkError::weights(file, format!("{} tensor(s) do not fit the model, first: {error}", result.errors.len())));
    }
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).take(5).collect();
        return Err(GkError::weights(file, format!("{} tensor(s) missing, e.g. {}", result.missing.len(), names.join(", "))));
    }
    if !result.unused.is_empty() {
        let names: Vec<&str> = result.unused.iter().map(String::as_str).take(5).collect();
        return Err(GkError::weights(file, format!("{} tensor(s) belong to another architecture, e.g. {}", result.unused.len(), names.join(", "))));
    }
    Ok(())
}

/// The safetensors bytes of `model`.
pub fn model_bytes(model: &GkMvlp) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None);
    store.collect_from(model).map_err(|e| GkError::weights(MODEL_FILE, format!("cannot serialise: {e}")))?;
    store.get_bytes().map_err(|e| GkError::weights(MODEL_FILE, format!("cannot serialise: {e}")))
}

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    F32,
    /// Matrices as per-block symmetric int8 (about a quarter of the size).
    Int8,
}

/// Serialises `model` and writes its manifest. Returns `(manifest, model bytes)` for the caller to store
/// (the browser and tests keep them in memory; the CLI writes files).
pub fn package(model: &GkMvlp, config: &GkMvlpConfig, tokenizer_json: &[u8], training: serde_json::Value, storage: Storage) -> Result<(Manifest, Vec<u8>)> {
    let bytes = match storage {
        Storage::F32 => model_bytes(model)?,
        Storage::Int8 => int8::quantize(&model_bytes(model)?, MODEL_FILE)?,
    };
    let entry = |b: &[u8]| FileEntry { sha256: sha256_hex(b), bytes: b.len() as u64 };
    let files = BTreeMap::from([(MODEL_FILE.to_string(), entry(&bytes)), (TOKENIZER_FILE.to_string(), entry(tokenizer_json))]);
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        config: serde_json::to_value(config).map_err(|e| GkError::weights(MANIFEST_FILE, e.to_string()))?,
        vocab_version: gkmvlp_vocab::VOCAB_VERSION,
        dtype: match storage {
            Storage::F32 => "f32",
            Storage::Int8 => "int8",
        }
        .into(),
        files,
        training,
    };
    Ok((manifest, bytes))
}
