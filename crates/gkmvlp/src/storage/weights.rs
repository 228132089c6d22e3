//! The weights format of our trained models: one safetensors file (tensor names = module paths), the
//! tokenizer, the knowledge candidates' encodings (so nobody re-runs the text encoder over them at load) and
//! a small JSON manifest holding the config, the vocabulary version and the sha256 and size of every file.
//! Loading checks all of it before any tensor is touched, so a truncated, tampered or mismatched file gives
//! an error naming the file and the problem, never a panic and never a silently random layer.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleStore, SafetensorsStore};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::GkMvlpConfig;
use crate::error::{GkError, Result};
use crate::network::ecls_head::PresentThresholds;
use crate::network::knowledge::Knowledge;
use crate::network::model::GkMvlp;
use crate::storage::int8;
use crate::tokenizer::TextTokenizer;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const KNOWLEDGE_FILE: &str = "knowledge.safetensors";
/// The one tensor of [`KNOWLEDGE_FILE`]: `[candidates, text width]`, f32.
const KNOWLEDGE_TENSOR: &str = "sentence_features";
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
    /// With `int8`: the modules kept in f32 all the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f32_modules: Vec<String>,
    /// With `int8`: the modules stored in `finer_bits`-bit integers (`module:bits`: in a width of its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finer_modules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finer_bits: Option<u32>,
    /// Per-entity ECLS thresholds fitted by `gkmvlp calibrate`; without them, 0.5 for every entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present_thresholds: Option<PresentThresholds>,
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
            return Err(GkError::weights(
                MANIFEST_FILE,
                format!("weights of type `{}` are not supported (f32 or int8)", manifest.dtype),
            ));
        }
        Ok(manifest)
    }

    pub fn model_config(&self) -> Result<GkMvlpConfig> {
        let mut config = self.config.clone();
        // Weights written before the findings prompt or the region patches existed were trained without them.
        if let Some(fields) = config.as_object_mut() {
            for switch in ["findings_prompt", "region_patches"] {
                fields.entry(switch).or_insert(serde_json::Value::Bool(false));
            }
        }
        let config: GkMvlpConfig = serde_json::from_value(config)
            .map_err(|e| GkError::weights(MANIFEST_FILE, format!("config does not describe a GK-MVLP model: {e}")))?;
        config.validate().map_err(|e| GkError::weights(MANIFEST_FILE, e.to_string()))?;
        Ok(config)
    }

    /// Checks `bytes` against the manifest's entry for `name`: present, same size, same sha256.
    pub fn verify(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let entry = self.files.get(name).ok_or_else(|| GkError::weights(name, "not listed in manifest.json"))?;
        if bytes.len() as u64 != entry.bytes {
            return Err(GkError::weights(
                name,
                format!("{} bytes, manifest says {} (truncated or wrong file)", bytes.len(), entry.bytes),
            ));
        }
        let actual = sha256_hex(bytes);
        if actual != entry.sha256 {
            return Err(GkError::weights(
                name,
                format!("sha256 {actual} differs from the manifest's {} (corrupt or altered)", entry.sha256),
            ));
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

/// Applies a safetensors file to `model`; every tensor must match, in name and shape, both ways, and hold
/// only finite values.
pub fn apply_strict(model: &mut GkMvlp, bytes: Vec<u8>, file: &str) -> Result<()> {
    refuse_non_finite(&bytes, file)?;
    let result = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true).apply_to(model).map_err(|e| {
        GkError::weights(file, format!("cannot load into the model: {}", crate::error::abbreviate(&e.to_string())))
    })?;
    if let Some(error) = result.errors.first() {
        return Err(GkError::weights(
            file,
            format!("{} tensor(s) do not fit the model, first: {error}", result.errors.len()),
        ));
    }
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).take(5).collect();
        return Err(GkError::weights(
            file,
            format!("{} tensor(s) missing, e.g. {}", result.missing.len(), names.join(", ")),
        ));
    }
    if !result.unused.is_empty() {
        let names: Vec<&str> = result.unused.iter().map(String::as_str).take(5).collect();
        return Err(GkError::weights(
            file,
            format!("{} tensor(s) belong to another architecture, e.g. {}", result.unused.len(), names.join(", ")),
        ));
    }
    Ok(())
}

/// Refuses a safetensors file with a NaN or infinite float, naming the first such tensor: a file altered and
/// re-hashed into its manifest would otherwise load, and every probability downstream would be NaN.
fn refuse_non_finite(bytes: &[u8], file: &str) -> Result<()> {
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| GkError::weights(file, format!("not a safetensors file: {e}")))?;
    for (name, view) in tensors.tensors() {
        let data = view.data();
        let finite = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
            Dtype::F64 => data
                .chunks_exact(8)
                .all(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]).is_finite()),
            // A half float is NaN or infinite when its exponent bits are all set.
            Dtype::F16 => data.chunks_exact(2).all(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 != 0x7c00),
            Dtype::BF16 => data.chunks_exact(2).all(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 != 0x7f80),
            _ => true,
        };
        if !finite {
            return Err(GkError::weights(file, format!("tensor `{name}` holds NaN or infinite values")));
        }
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
#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    F32,
    /// Matrices as per-block symmetric int8 (about a quarter of the size), except those of the modules the
    /// precision names (kept in f32 or stored in 9 to 16 bits).
    Int8(int8::Precision),
}

/// Serialises `model`, encodes the knowledge candidates with its text encoder and writes the manifest.
/// `present_thresholds` are a calibration to carry over (see [`PresentThresholds`]), if any.
pub fn package(
    model: &GkMvlp,
    config: &GkMvlpConfig,
    tokenizer_json: &[u8],
    training: serde_json::Value,
    storage: Storage,
    present_thresholds: Option<PresentThresholds>,
) -> Result<WeightFiles> {
    let model_bytes = match &storage {
        Storage::F32 => model_bytes(model)?,
        Storage::Int8(precision) => int8::quantize(&model_bytes(model)?, MODEL_FILE, precision)?,
    };
    let device = model.devices().into_iter().next().unwrap_or_else(Device::flex);
    let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
    let knowledge =
        knowledge_bytes(&Knowledge::encode(&model.text_encoder, &tokenizer, config.text.max_positions, &device)?)?;
    let entry = |b: &[u8]| FileEntry { sha256: sha256_hex(b), bytes: b.len() as u64 };
    let files = BTreeMap::from([
        (MODEL_FILE.to_string(), entry(&model_bytes)),
        (TOKENIZER_FILE.to_string(), entry(tokenizer_json)),
        (KNOWLEDGE_FILE.to_string(), entry(&knowledge)),
    ]);
    let precision = match &storage {
        Storage::F32 => int8::Precision::default(),
        Storage::Int8(precision) => precision.clone(),
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        config: serde_json::to_value(config).map_err(|e| GkError::weights(MANIFEST_FILE, e.to_string()))?,
        vocab_version: gkmvlp_vocab::VOCAB_VERSION,
        dtype: match storage {
            Storage::F32 => "f32",
            Storage::Int8(_) => "int8",
        }
        .into(),
        f32_modules: precision.keep_f32,
        finer_bits: (!precision.finer.is_empty()).then_some(precision.finer_bits),
        finer_modules: precision.finer,
        present_thresholds,
        files,
        training,
    };
    let manifest_json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| GkError::weights(MANIFEST_FILE, e.to_string()))?;
    Ok(WeightFiles {
        manifest_json,
        model: model_bytes,
        tokenizer_json: tokenizer_json.to_vec(),
        knowledge: Some(knowledge),
    })
}

/// A weights folder's files, as bytes.
#[derive(Debug, Clone)]
pub struct WeightFiles {
    pub manifest_json: Vec<u8>,
    pub model: Vec<u8>,
    pub tokenizer_json: Vec<u8>,
    /// [`KNOWLEDGE_FILE`], which folders written before it existed lack; their knowledge is encoded at load.
    pub knowledge: Option<Vec<u8>>,
}

impl WeightFiles {
    /// Reads a weights folder: the manifest, then each file it lists.
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| GkError::weights(name, format!("{}: {e}", dir.join(name).display())))
        };
        let manifest_json = read(MANIFEST_FILE)?;
        let listed = Manifest::parse(&manifest_json)?.files.contains_key(KNOWLEDGE_FILE);
        Ok(WeightFiles {
            model: read(MODEL_FILE)?,
            tokenizer_json: read(TOKENIZER_FILE)?,
            knowledge: listed.then(|| read(KNOWLEDGE_FILE)).transpose()?,
            manifest_json,
        })
    }

    /// Writes every file through a temporary name, the manifest last: an interrupted write never leaves a
    /// manifest vouching for files that are not there.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        let io = |name: &str, e: std::io::Error| GkError::weights(name, format!("{}: {e}", dir.join(name).display()));
        std::fs::create_dir_all(dir).map_err(|e| io(MANIFEST_FILE, e))?;
        let mut files = vec![(MODEL_FILE, &self.model), (TOKENIZER_FILE, &self.tokenizer_json)];
        files.extend(self.knowledge.as_ref().map(|k| (KNOWLEDGE_FILE, k)));
        files.push((MANIFEST_FILE, &self.manifest_json));
        for (name, bytes) in &files {
            std::fs::write(dir.join(format!("{name}.tmp")), bytes).map_err(|e| io(name, e))?;
        }
        for (name, _) in &files {
            std::fs::rename(dir.join(format!("{name}.tmp")), dir.join(name)).map_err(|e| io(name, e))?;
        }
        Ok(())
    }
}

/// Trained weights, checked and built.
pub struct LoadedWeights {
    pub manifest: Manifest,
    pub manifest_sha256: String,
    pub config: GkMvlpConfig,
    pub model: GkMvlp,
    pub tokenizer: TextTokenizer,
    /// From [`KNOWLEDGE_FILE`] when the folder has it.
    pub knowledge: Option<Knowledge>,
}

impl LoadedWeights {
    pub fn to_device(self, device: &Device) -> Self {
        let knowledge =
            self.knowledge.map(|k| Knowledge { sentence_features: k.sentence_features.to_device(device), ..k });
        LoadedWeights { model: self.model.to_device(device), knowledge, ..self }
    }
}

/// Checks every file against the manifest and builds the model on `device`.
pub fn load(files: WeightFiles, device: &Device) -> Result<LoadedWeights> {
    let manifest = Manifest::parse(&files.manifest_json)?;
    manifest.verify(TOKENIZER_FILE, &files.tokenizer_json)?;
    let tokenizer = TextTokenizer::from_bytes(&files.tokenizer_json)?;
    let listed = manifest.files.contains_key(KNOWLEDGE_FILE);
    let knowledge = match files.knowledge {
        Some(bytes) => {
            manifest.verify(KNOWLEDGE_FILE, &bytes)?;
            Some(bytes)
        }
        None if listed => return Err(GkError::weights(KNOWLEDGE_FILE, "listed in manifest.json but not given")),
        None => None,
    };
    tokenizer.check_fits(manifest.model_config()?.text.vocab_size)?;
    let (config, model) = load_model(&manifest, files.model, device)?;
    let knowledge = knowledge.map(|bytes| parse_knowledge(&bytes, config.text.width, device)).transpose()?;
    Ok(LoadedWeights {
        manifest_sha256: sha256_hex(&files.manifest_json),
        manifest,
        config,
        model,
        tokenizer,
        knowledge,
    })
}

/// [`KNOWLEDGE_FILE`]'s bytes. Reads the tensor back synchronously: native only.
pub fn knowledge_bytes(knowledge: &Knowledge) -> Result<Vec<u8>> {
    let data = knowledge.sentence_features.to_data().convert::<f32>();
    let shape = data.shape().to_vec();
    let values = data
        .try_to_vec::<f32>()
        .map_err(|e| GkError::weights(KNOWLEDGE_FILE, format!("cannot read the encodings: {e:?}")))?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        TensorView::new(Dtype::F32, shape, &bytes).map_err(|e| GkError::weights(KNOWLEDGE_FILE, e.to_string()))?;
    safetensors::tensor::serialize([(KNOWLEDGE_TENSOR, view)], None)
        .map_err(|e| GkError::weights(KNOWLEDGE_FILE, format!("cannot serialise: {e}")))
}

/// The knowledge encodings from [`KNOWLEDGE_FILE`], checked against this build's candidate list and the
/// model's text width.
fn parse_knowledge(bytes: &[u8], text_width: usize, device: &Device) -> Result<Knowledge> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| GkError::weights(KNOWLEDGE_FILE, format!("not a safetensors file: {e}")))?;
    let view = file
        .tensor(KNOWLEDGE_TENSOR)
        .map_err(|_| GkError::weights(KNOWLEDGE_FILE, format!("no `{KNOWLEDGE_TENSOR}` tensor")))?;
    let candidates = gkmvlp_vocab::candidates();
    let expected = [candidates.len(), text_width];
    if view.dtype() != Dtype::F32 || view.shape() != expected {
        return Err(GkError::weights(
            KNOWLEDGE_FILE,
            format!("`{KNOWLEDGE_TENSOR}` is {:?} {:?}, the model needs F32 {expected:?}", view.dtype(), view.shape()),
        ));
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(GkError::weights(KNOWLEDGE_FILE, "holds non-finite values"));
    }
    Ok(Knowledge { candidates, sentence_features: Tensor::from_data(TensorData::new(values, expected), device) })
}
