//! Everything the page does that is not JavaScript: load a model, decode an image (the same
//! [`gkmvlp_imaging::decode`] as the CLI) and check that it looks like a frontal chest radiograph (the
//! CLI's input check) before any model reads it, encode it once, and answer every later request about
//! it from that one encoding. Natively testable on Flex; `bindings` wraps it for the browser.

use std::ops::ControlFlow;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Device, Int, Tensor};
use gkmvlp::inference::pipeline::{
    Analysis, Answer, GroundedFinding, Pipeline, RegionBox, SentenceCheck, StageClock, StageTime, WeightsOrigin,
    ZeroShotScore,
};
use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp::storage::weights::{self, Manifest, WeightFiles};
use gkmvlp::tokenizer::TextTokenizer;
use gkmvlp::{GkMvlpConfig, ImageEncoding};
use gkmvlp_imaging::{DecodeOptions, InputCheck, Radiograph, Window};
use serde::Serialize;

use crate::error::{ErrorKind, Result, WebError};

/// Seed of the untrained model, so that every backend and every visit builds the same random network.
pub const UNTRAINED_SEED: u64 = 7;

/// What the page shows about the loaded model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// False for random weights (built here, or a manifest whose `training.untrained` is true): the
    /// page must say that outputs are meaningless.
    pub trained: bool,
    /// sha256 of `manifest.json` for trained weights.
    pub manifest_sha256: Option<String>,
    /// `tiny`, `demo`, `base`, or `custom`.
    pub preset: String,
    pub image_size: usize,
    /// Number of (finding, position) candidates scored for every image.
    pub candidates: usize,
    pub parameters: usize,
    pub max_generated_tokens: usize,
    /// Whether reports are written behind a findings prompt and made to agree with the findings list.
    pub findings_prompt: bool,
}

/// A decoded radiograph as the page sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// `PNG`, `JPEG` or `DICOM`.
    pub format: String,
    pub bits_stored: u16,
    /// DICOM only: the VOI window in use.
    pub window: Option<WindowInfo>,
    /// DICOM only: smallest and largest modality value, the range window/level may move over.
    pub value_range: Option<[f32; 2]>,
    /// DICOM MONOCHROME1.
    pub invert: bool,
    /// How many frames the file holds (more than 1 for a multi-frame DICOM) and which one is open,
    /// counted from 1.
    pub frames: u32,
    pub frame: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct WindowInfo {
    pub center: f32,
    pub width: f32,
}

/// What the page learns about an upload before any model runs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedImageInfo {
    pub image: ImageInfo,
    /// Whether it looks like a frontal chest radiograph; the model reads a refused one only when the
    /// user asks for it all the same.
    pub input_check: InputCheck,
}

/// Everything `analyze` returns for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageAnalysis {
    pub image: ImageInfo,
    /// The input check the image was analysed after (refused ones only when asked to go on).
    pub input_check: InputCheck,
    /// The 29 anatomical regions, boxes normalised to the image.
    pub regions: Vec<RegionBox>,
    /// Every (finding, position) candidate, most probable first.
    pub findings: Vec<GroundedFinding>,
    /// Zero-shot scores of the 14 finding names.
    pub zero_shot: Vec<ZeroShotScore>,
}

/// An upload decoded and checked, before the model has read it: the display copy (re-windowed by the
/// page) and the input check's verdict.
pub struct CheckedImage {
    pub radiograph: Radiograph,
    pub input_check: InputCheck,
}

impl CheckedImage {
    /// Decodes `bytes` (PNG, JPEG or DICOM) and checks that it looks like a frontal chest radiograph.
    pub fn decode(bytes: &[u8]) -> Result<CheckedImage> {
        CheckedImage::decode_frame(bytes, None)
    }

    /// [`CheckedImage::decode`] of `frame` of a multi-frame DICOM (counted from 1; the first when
    /// `None`).
    pub fn decode_frame(bytes: &[u8], frame: Option<u32>) -> Result<CheckedImage> {
        let radiograph = gkmvlp_imaging::decode_with(bytes, &DecodeOptions { frame })?;
        let input_check = radiograph.check_frontal_chest();
        Ok(CheckedImage { radiograph, input_check })
    }

    pub fn info(&self) -> CheckedImageInfo {
        CheckedImageInfo { image: image_info(&self.radiograph), input_check: self.input_check.clone() }
    }
}

/// An image the model has read: the model's encoding, computed once and reused for every request about
/// the image, and what the page was told about the image.
pub struct OpenImage {
    pub checked: CheckedImageInfo,
    pub encoding: ImageEncoding,
}

/// A loaded model on one device.
pub struct Session {
    pub pipeline: Pipeline,
    /// The manifest's `training.untrained` flag (`gkmvlp package-untrained` sets it): weights in the
    /// trained format that are random all the same.
    pub untrained_manifest: bool,
}

impl Session {
    /// Loads trained weights. The manifest and every file are checked (size and sha256) before any
    /// tensor is built; the tensors are built on Flex and moved to `device`, which never needs a
    /// synchronous read-back from the accelerator (impossible in a browser).
    pub fn from_weights(files: WeightFiles, device: Device) -> Result<Session> {
        let loaded = weights::load(files, &Device::flex())?.to_device(&device);
        let untrained_manifest = loaded.manifest.training.get("untrained").and_then(|v| v.as_bool()).unwrap_or(false);
        Ok(Session { pipeline: Pipeline::from_loaded(loaded, device)?, untrained_manifest })
    }

    /// The `tiny` network with random weights (seeded): what the page runs until trained weights ship.
    pub fn untrained(tokenizer_json: &[u8], device: Device) -> Result<Session> {
        let config = GkMvlpConfig::tiny();
        let tokenizer = TextTokenizer::from_bytes(tokenizer_json)?;
        let flex = Device::flex();
        flex.seed(UNTRAINED_SEED);
        let model = config.init(&flex)?;
        // Parameters are initialised lazily, on the device they live on when first read: draw them on
        // Flex now, or `to_device` would move the initialiser and every backend would get other weights.
        model.visit(&mut Materialize);
        let model = model.to_device(&device);
        let origin = WeightsOrigin::Untrained { text_encoder_from_minilm: false };
        Ok(Session { pipeline: Pipeline::new(model, config, tokenizer, device, origin)?, untrained_manifest: false })
    }

    pub fn model_info(&self) -> ModelInfo {
        let config = &self.pipeline.config;
        let preset = config.preset_name().unwrap_or("custom");
        let (trained, manifest_sha256) = match &self.pipeline.origin {
            WeightsOrigin::Trained { manifest_sha256 } => (!self.untrained_manifest, Some(manifest_sha256.clone())),
            WeightsOrigin::Untrained { .. } => (false, None),
        };
        ModelInfo {
            trained,
            manifest_sha256,
            preset: preset.to_string(),
            image_size: self.pipeline.image_size(),
            candidates: self.pipeline.knowledge.candidates.len(),
            parameters: self.pipeline.model.num_params(),
            max_generated_tokens: config.max_generated_tokens,
            findings_prompt: config.findings_prompt,
        }
    }

    /// Runs every kernel the page will need once on a synthetic radiograph, so that shader compilation
    /// happens behind the "compiling shaders" bar and not on the user's first image.
    pub async fn warm_up(&self) -> Result<()> {
        let pixels = synthetic_radiograph(self.pipeline.image_size());
        let encoding = self.pipeline.encode(self.pipeline.image_tensor(&pixels)?);
        self.pipeline.analysis(&encoding).await?;
        self.pipeline.zero_shot(&encoding, &["pleural effusion".to_string()]).await?;
        self.pipeline.check_report(&encoding, "no pleural effusion.").await?;
        // Two decoder steps, not a whole report: the prompt's (several tokens, causal mask) and a cached
        // one-token step.
        let mut tokens = 0;
        self.pipeline
            .generate_report(&encoding, |_| {
                tokens += 1;
                if tokens < 2 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
            })
            .await?;
        Ok(())
    }

    /// Encodes a checked image once. An image the input check refused is read only with
    /// `analyse_anyway` (the user's choice, as the CLI's `--analyse-anyway`); without it, an `Input`
    /// error with the check's reason.
    pub fn encode(&self, image: &CheckedImage, analyse_anyway: bool) -> Result<OpenImage> {
        let check = &image.input_check;
        if !check.chest_radiograph && !analyse_anyway {
            return Err(WebError::new(
                ErrorKind::Input,
                format!("this does not look like a frontal chest radiograph: {}", check.reason),
            ));
        }
        let size = self.pipeline.image_size() as u32;
        let tensor: Tensor<4> = self.pipeline.image_tensor(&image.radiograph.resize_square(size).pixels)?;
        Ok(OpenImage { checked: image.info(), encoding: self.pipeline.encode(tensor) })
    }

    /// How long each step of opening and analysing `bytes` takes, as the page runs them: decode, input
    /// check, resize to the model's input, then [`Pipeline::stage_times`]. The benchmark's breakdown; on
    /// Flex, where each operation runs when it is called.
    pub async fn stage_times(&self, bytes: &[u8]) -> Result<Vec<StageTime>> {
        let mut clock = StageClock::start();
        let radiograph = gkmvlp_imaging::decode(bytes)?;
        clock.lap("decode");
        radiograph.check_frontal_chest();
        clock.lap("input_check");
        let pixels = radiograph.resize_square(self.pipeline.image_size() as u32).pixels;
        clock.lap("resize");
        self.pipeline.stage_times(&pixels, &mut clock).await?;
        Ok(clock.into_times())
    }

    /// Boxes, grounded findings and zero-shot scores of the 14 finding names.
    pub async fn analyze(&self, image: &OpenImage) -> Result<ImageAnalysis> {
        let Analysis { regions, findings } = self.pipeline.analysis(&image.encoding).await?;
        let zero_shot = self.pipeline.zero_shot_findings(&image.encoding).await?;
        let CheckedImageInfo { image, input_check } = image.checked.clone();
        Ok(ImageAnalysis { image, input_check, regions, findings, zero_shot })
    }

    pub async fn zero_shot(&self, image: &OpenImage, texts: &[String]) -> Result<Vec<ZeroShotScore>> {
        if texts.len() > 64 {
            return Err(WebError::new(ErrorKind::Input, format!("{} finding texts at once; at most 64", texts.len())));
        }
        Ok(self.pipeline.zero_shot(&image.encoding, texts).await?)
    }

    pub async fn generate_report(
        &self,
        image: &OpenImage,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<String> {
        Ok(self.pipeline.generate_report(&image.encoding, on_text).await?)
    }

    pub async fn answer(&self, image: &OpenImage, question: &str) -> Result<Answer> {
        Ok(self.pipeline.answer(&image.encoding, question).await?)
    }

    pub async fn check_report(&self, image: &OpenImage, report: &str) -> Result<Vec<SentenceCheck>> {
        if report.len() > 20_000 {
            return Err(WebError::new(ErrorKind::Input, "the report is longer than 20,000 characters"));
        }
        Ok(self.pipeline.check_report(&image.encoding, report).await?)
    }
}

/// Reads every parameter once, which runs its (lazy) initialiser where the module is.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let _ = param.val();
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let _ = param.val();
    }
}

/// Checks one file against a manifest (size and sha256), as loading does: the page uses it to tell a
/// good cached copy from a corrupt one before it loads anything.
pub fn verify_file(manifest_json: &[u8], name: &str, bytes: &[u8]) -> Result<()> {
    Ok(Manifest::parse(manifest_json)?.verify(name, bytes)?)
}

fn image_info(r: &Radiograph) -> ImageInfo {
    let value_range = r.modality_values.as_ref().map(|v| {
        let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        [lo, hi]
    });
    ImageInfo {
        width: r.width,
        height: r.height,
        format: r.format.to_string(),
        bits_stored: r.bits_stored,
        window: r.window.map(|w| WindowInfo { center: w.center, width: w.width }),
        value_range,
        invert: r.invert,
        frames: r.frames,
        frame: r.frame,
    }
}

/// The display pixels as RGBA bytes for a canvas `ImageData`.
pub fn rgba(r: &Radiograph) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.pixels.len() * 4);
    for p in &r.pixels {
        let v = (p.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        out.extend_from_slice(&[v, v, v, 255]);
    }
    out
}

/// The radiograph re-windowed for display (DICOM only); the model keeps reading the file's own window.
pub fn rewindow(r: &Radiograph, center: f32, width: f32) -> Result<Radiograph> {
    Ok(r.rewindow(Window { center, width })?)
}
