//! `gkmvlp analyze IMAGE...`: the six outputs of GK-MVLP for each radiograph, after a check that it is
//! a frontal chest radiograph. One image prints text (or `--json`); several, or a folder, one JSON line
//! each, with the model loaded once.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use gkmvlp::GkMvlpConfig;
use gkmvlp::inference::pipeline::{
    Analysis, Answer, AnswerSource, Pipeline, SentenceCheck, WeightsOrigin, ZeroShotScore,
};
use gkmvlp::storage::weights::{MANIFEST_FILE, TOKENIZER_FILE, WeightFiles};
use gkmvlp_imaging::{DecodeOptions, ImagingError, InputCheck, MAX_INPUT_BYTES, Radiograph};
use serde::Serialize;

/// Where `cargo run` finds the repository's files.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// burn's Flex CPU backend.
    Flex,
    /// wgpu (Vulkan, Metal or DX12; lavapipe on a machine without a GPU).
    Wgpu,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// The radiographs (PNG, JPEG or DICOM), or folders of them. With more than one image, one JSON
    /// object per line (JSONL); an image that fails gets a line with its error and the run goes on.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Analyse images that do not look like a frontal chest radiograph instead of refusing them.
    #[arg(long)]
    analyse_anyway: bool,
    /// A question to answer about the image.
    #[arg(long, default_value = "is there a pleural effusion?")]
    question: String,
    /// Trained weights: a folder with manifest.json, model.safetensors and tokenizer.json.
    /// Default: models/demo if it exists, else an untrained `demo` model.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Finding texts to score zero-shot (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = ["pleural effusion".to_string(), "pneumothorax".into(), "cardiomegaly".into(), "lung nodule".into()])]
    findings: Vec<String>,
    /// A report to check sentence by sentence against the image. Default: the generated report.
    #[arg(long)]
    check_report: Option<String>,
    /// How many grounded findings to print (all with --json).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print one JSON object instead of text (always, one per line, with several images).
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    device: Backend,
    /// Also write the image with the lung, heart and diaphragm boxes and the present findings' regions
    /// (one image only).
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// The frame of a multi-frame DICOM to analyse, counted from 1 (default: the first). An image
    /// without that frame is not analysed.
    #[arg(long, value_name = "N")]
    frame: Option<u32>,
}

#[derive(Serialize)]
struct Report {
    image: String,
    image_info: String,
    /// How many frames the file holds (a multi-frame DICOM more than 1), and which was analysed
    /// (counted from 1).
    frames: u32,
    frame: u32,
    /// Whether the image looks like a frontal chest radiograph (analysed anyway when it does not only
    /// with `--analyse-anyway`).
    input_check: InputCheck,
    weights: WeightsOrigin,
    device: String,
    analysis: Analysis,
    zero_shot: Vec<ZeroShotScore>,
    report: String,
    /// Whether the report was written behind the findings called present and made to agree with them.
    report_follows_findings: bool,
    question: String,
    answer: Answer,
    report_check: Vec<SentenceCheck>,
}

/// A path inside the repository, for `cargo run` from anywhere.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(REPO).join(relative)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn load_pipeline(args: &AnalyzeArgs, device: Device) -> Result<Pipeline> {
    let default = repo_path("models/demo");
    let dir = match &args.weights {
        Some(dir) => Some(dir.clone()),
        None => default.join(MANIFEST_FILE).exists().then_some(default),
    };
    if let Some(dir) = dir {
        let context = || format!("cannot load the weights in {}", dir.display());
        let files = WeightFiles::read_dir(&dir).with_context(context)?;
        return Pipeline::from_weights(files, device).with_context(context);
    }
    let tokenizer = read(&repo_path("models").join(TOKENIZER_FILE))?;
    let minilm_path = repo_path("assets/minilm/model.safetensors");
    let minilm = minilm_path.exists().then(|| read(&minilm_path)).transpose()?;
    Pipeline::untrained(GkMvlpConfig::demo(), &tokenizer, minilm, device).context("cannot build the untrained model")
}

/// A JSON line for an image that could not be analysed.
#[derive(Serialize)]
struct Failure {
    image: String,
    error: String,
    /// Set when the image decoded and was refused by the input check.
    input_check: Option<InputCheck>,
}

/// Why one image was not analysed.
struct Refusal {
    error: anyhow::Error,
    input_check: Option<InputCheck>,
}

impl From<anyhow::Error> for Refusal {
    fn from(error: anyhow::Error) -> Refusal {
        Refusal { error, input_check: None }
    }
}

pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let images = expand(&args.images)?;
    let batch = images.len() > 1 || args.images.iter().any(|p| p.is_dir());
    if batch && args.overlay.is_some() {
        bail!("--overlay takes one image; {} were given", images.len());
    }
    let (device, device_name) = match args.device {
        Backend::Flex => (Device::flex(), "Flex (CPU)".to_string()),
        Backend::Wgpu => {
            let (device, setup) =
                Device::wgpu_options().init_with_setup().map_err(|e| anyhow!("no wgpu adapter: {e:?}"))?;
            let info = setup.adapter.get_info();
            (device, format!("wgpu {:?} on {}", info.backend, info.name))
        }
    };
    if !batch {
        let path = &images[0];
        // The image is read and checked before the model loads, so a refusal is quick.
        let radiograph = open(path, args.frame)?;
        let check = radiograph.check_frontal_chest();
        if !check.chest_radiograph && !args.analyse_anyway {
            bail!(
                "{} does not look like a frontal chest radiograph: {} (score {:.2}); pass --analyse-anyway to analyse it all the same",
                path.display(),
                check.reason,
                check.score
            );
        }
        let pipeline = load_pipeline(args, device)?;
        let out = analyse(args, &pipeline, &device_name, path, &radiograph, check)?;
        if let Some(overlay) = &args.overlay {
            crate::overlay::write(overlay, &radiograph, &out.analysis)?;
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&out).context("cannot print the analysis as JSON")?);
        } else {
            print_text(&out, &radiograph, args.top);
        }
        return Ok(());
    }
    let pipeline = load_pipeline(args, device)?;
    let mut failed = 0;
    for path in &images {
        let line = match analyse_checked(args, &pipeline, &device_name, path) {
            Ok(out) => serde_json::to_string(&out),
            Err(Refusal { error, input_check }) => {
                failed += 1;
                serde_json::to_string(&Failure {
                    image: path.display().to_string(),
                    error: format!("{error:#}"),
                    input_check,
                })
            }
        };
        println!("{}", line.context("cannot print the analysis as JSON")?);
    }
    if failed > 0 {
        bail!("{failed} of {} images were not analysed (see their JSON lines)", images.len());
    }
    Ok(())
}

/// The files named, with each folder replaced by the PNG, JPEG and DICOM files directly in it (sorted).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for path in paths {
        if !path.is_dir() {
            images.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                p.is_file() && matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "dcm" | "dicom")
            })
            .collect();
        if found.is_empty() {
            bail!("{} holds no PNG, JPEG or DICOM file", path.display());
        }
        found.sort();
        images.extend(found);
    }
    Ok(images)
}

/// Reads an input image, refusing one over the decoder's input limit before reading it, and
/// reading at most one byte past the limit so that endless or growing files (`/dev/zero`, a pipe)
/// are bounded too.
fn read_image(path: &Path) -> Result<Vec<u8>> {
    let limit = MAX_INPUT_BYTES;
    let too_large = |bytes: u64| {
        anyhow::Error::new(ImagingError::InputTooLarge { bytes }).context(format!("cannot read {}", path.display()))
    };
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let metadata = file.metadata().with_context(|| format!("cannot read {}", path.display()))?;
    if metadata.is_file() && metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads and decodes an image (`frame` of a multi-frame DICOM, counted from 1, or the first), saying on
/// stderr which frame of a multi-frame file is analysed.
fn open(path: &Path, frame: Option<u32>) -> Result<Radiograph> {
    let bytes = read_image(path)?;
    let radiograph = gkmvlp_imaging::decode_with(&bytes, &DecodeOptions { frame })
        .with_context(|| format!("cannot decode {}", path.display()))?;
    if radiograph.frames > 1 {
        let hint = if frame.is_none() { " (choose another with --frame N)" } else { "" };
        eprintln!(
            "note: {} has {} frames; analysing frame {}{hint}",
            path.display(),
            radiograph.frames,
            radiograph.frame
        );
    }
    Ok(radiograph)
}

/// Decodes, checks (refusing unless `--analyse-anyway`) and analyses one image of a batch.
fn analyse_checked(args: &AnalyzeArgs, pipeline: &Pipeline, device_name: &str, path: &Path) -> Result<Report, Refusal> {
    let radiograph = open(path, args.frame)?;
    let check = radiograph.check_frontal_chest();
    if !check.chest_radiograph && !args.analyse_anyway {
        let error = anyhow!("does not look like a frontal chest radiograph: {}", check.reason);
        return Err(Refusal { error, input_check: Some(check) });
    }
    Ok(analyse(args, pipeline, device_name, path, &radiograph, check)?)
}

/// The six outputs for one decoded image.
fn analyse(
    args: &AnalyzeArgs,
    pipeline: &Pipeline,
    device_name: &str,
    path: &Path,
    radiograph: &Radiograph,
    input_check: InputCheck,
) -> Result<Report> {
    let image = pipeline
        .image_tensor(&radiograph.resize_square(pipeline.image_size() as u32).pixels)
        .with_context(|| format!("cannot prepare {} for the model", path.display()))?;

    let encoding = pipeline.encode(image);
    let analysis = block(pipeline.analysis(&encoding)).context("cannot read the regions and findings")?;
    let zero_shot =
        block(pipeline.zero_shot(&encoding, &args.findings)).context("cannot score the findings zero-shot")?;
    let report =
        block(pipeline.generate_report(&encoding, |_| ControlFlow::Continue(()))).context("cannot write the report")?;
    let answer = block(pipeline.answer(&encoding, &args.question)).context("cannot answer the question")?;
    let to_check = args.check_report.clone().unwrap_or_else(|| report.clone());
    let report_check = if to_check.trim().is_empty() {
        Vec::new()
    } else {
        block(pipeline.check_report(&encoding, &to_check)).context("cannot check the report")?
    };
    Ok(Report {
        image: path.display().to_string(),
        image_info: describe(radiograph),
        frames: radiograph.frames,
        frame: radiograph.frame,
        input_check,
        weights: pipeline.origin.clone(),
        device: device_name.to_string(),
        analysis,
        zero_shot,
        report,
        report_follows_findings: pipeline.config.findings_prompt,
        question: args.question.clone(),
        answer,
        report_check,
    })
}

/// Waits for a pipeline step on the native device.
fn block<T>(step: impl std::future::Future<Output = gkmvlp::Result<T>>) -> Result<T> {
    Ok(pollster::block_on(step)?)
}

fn describe(r: &Radiograph) -> String {
    format!(
        "{:?}, {}×{} pixels, {} bits stored{}{}",
        r.format,
        r.width,
        r.height,
        r.bits_stored,
        if r.invert { ", MONOCHROME1 (inverted)" } else { "" },
        if r.frames > 1 { format!(", frame {} of {}", r.frame, r.frames) } else { String::new() }
    )
}

fn print_text(out: &Report, radiograph: &Radiograph, top: usize) {
    println!("GK-MVLP analysis of {} ({})", out.image, out.image_info);
    println!("Device: {}", out.device);
    match &out.weights {
        WeightsOrigin::Trained { manifest_sha256 } => println!("Weights: trained (manifest sha256 {manifest_sha256})"),
        WeightsOrigin::Untrained { text_encoder_from_minilm } => println!(
            "WARNING: UNTRAINED WEIGHTS — random{}. The outputs below are not meaningful; train a model or pass --weights.",
            if *text_encoder_from_minilm { ", text encoder and decoder from all-MiniLM-L6-v2" } else { "" }
        ),
    }
    let check = &out.input_check;
    match (check.chest_radiograph, check.borderline) {
        (false, _) => println!(
            "WARNING: this does not look like a frontal chest radiograph ({}); analysed anyway as asked.",
            check.reason
        ),
        (true, true) => println!("CAUTION: {} (input check score {:.2}).", check.reason, check.score),
        (true, false) => {}
    }
    println!("Not for clinical use.\n");
    let (w, h) = (radiograph.width as f32, radiograph.height as f32);
    println!("1. Anatomical regions (box in image pixels: x0 y0 x1 y1)");
    for r in &out.analysis.regions {
        let [x0, y0, x1, y1] = r.bbox;
        println!("   {:2} {:<24} {:6.0} {:6.0} {:6.0} {:6.0}", r.index, r.name, x0 * w, y0 * h, x1 * w, y1 * h);
    }
    println!(
        "\n2. Grounded findings (ECLS probability present, * = called present; top {top} of {})",
        out.analysis.findings.len()
    );
    for f in out.analysis.findings.iter().take(top) {
        println!("   {:5.3}{} {} at the {}", f.probability, if f.present { "*" } else { " " }, f.entity, f.position);
    }
    println!("\n3. Zero-shot scores (ITC, 'there is X' vs 'no X')");
    for s in &out.zero_shot {
        println!("   {:5.3}  {}", s.probability, s.finding);
    }
    println!("\n4. Generated report\n   {}", if out.report.is_empty() { "(empty)" } else { &out.report });
    if out.report_follows_findings {
        println!("   (written by the report decoder behind the findings called present, then made to agree with them)");
    }
    println!(
        "\n5. Question: {}\n   Answer: {}",
        out.question,
        if out.answer.text.is_empty() { "(empty)" } else { &out.answer.text }
    );
    match &out.answer.finding {
        Some(f) => println!(
            "   (from the findings: {}{}, probability {:.3}, called present from {:.2})",
            f.entity,
            f.position.map(|p| format!(" at the {p}")).unwrap_or_default(),
            f.probability,
            f.threshold
        ),
        None if out.answer.source == AnswerSource::Decoder => println!("   (written by the report decoder)"),
        None => println!("   (not answered: the question is beyond what the model knows)"),
    }
    println!("\n6. Report check (ITM probability that the image supports each sentence)");
    if out.report_check.is_empty() {
        println!("   (no sentences to check)");
    }
    for c in &out.report_check {
        println!("   {:5.3}  {}", c.match_probability, c.sentence);
    }
}
