//! Pre-training of GK-MVLP (`gkmvlp train`): the paper's four objectives — ITC, ITM, LM (with VQA pairs as
//! `question: … answer: …`), ECLS — plus region-box localisation, on the simulator's data or the real
//! MIMIC-CXR + Chest ImaGenome layout. The text encoder and decoder start from all-MiniLM-L6-v2.

pub mod augment;
pub mod calibrate;
pub mod data;
pub mod eval;
pub mod eval_real;
pub mod losses;
pub mod metrics;
mod objectives;
mod optimizer_state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail, ensure};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use clap::Args;
use gkmvlp::GkMvlpConfig;
use gkmvlp::network::knowledge::Knowledge;
use gkmvlp::network::text_transformer::TextTransformer;
use gkmvlp::storage::weights::{self, MANIFEST_FILE, MODEL_FILE, Manifest};
use gkmvlp::tokenizer::TextTokenizer;
use gkmvlp_data::Record;
use serde::{Deserialize, Serialize};

/// Loss weights, schedule and batch: the contents of `--settings FILE` (JSON), every field optional: a
/// missing field takes its value from [`TrainSettings::default`], so a settings file (`configs/*.json`)
/// states only what differs. An unknown field is refused, not ignored: a misspelt setting would otherwise
/// train without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub itc_weight: f32,
    pub itm_weight: f32,
    pub lm_weight: f32,
    pub ecls_weight: f32,
    pub box_weight: f32,
    /// Longest report or question, in tokens.
    pub max_text_tokens: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Fine-tune E_T's own MiniLM weights too. Off, E_T stays all-MiniLM-L6-v2 (its cross-attention, the
    /// ITM part, still trains), so the knowledge encodings are computed once and no gradient flows into
    /// 22 M parameters: several times faster on a CPU.
    pub train_text_encoder: bool,
    /// Prune the decoder's vocabulary to the words of the training corpus (fresh starts only).
    pub prune_decoder_vocabulary: bool,
    /// Images of each batch whose true and hard-negative reports go through ITM (0: all). ITM runs the
    /// 6-layer text encoder with cross-attention forwards and backwards, the dearest part of a step.
    pub itm_images: usize,
    /// The decoder learns from the report and from a question–answer pair at every step; off, the two
    /// take turns (half the decoder's cost, half its signal).
    pub lm_both_texts: bool,
    /// Another study's report that states the same findings matches the image too: ITC spreads its target
    /// over such reports and ITM draws its negatives from the others. Off, every other report is a
    /// negative, so a normal study's hardest negative can be another normal report, labelled "no match".
    pub findings_match: bool,
    /// ECLS weight of a present triplet against an absent one ([`losses::entity_existence`]).
    pub ecls_positive_weight: f32,
    /// With the findings prompt, the decoder trains behind a prompt naming the study's true findings
    /// instead of what ECLS calls present: it learns to write what it is told, so that at inference, when
    /// ECLS writes the prompt, the report states ECLS's calls. Behind ECLS's own calls on training images,
    /// it learns instead to leave out a named finding the report does not have, and so it also leaves out
    /// calls that are right.
    pub prompt_from_truth: bool,
    /// With the findings prompt, a question–answer pair is learnt from its answer alone: the question is
    /// given, as it is at inference. Off, every token of `question: … answer: …` is a target, and a
    /// one-word answer ("yes") is about a fifteenth of the pair's loss.
    pub answers_only: bool,
    /// Each batch is split into this many shards, whose forwards and backwards run on threads of their
    /// own and whose gradients are summed, each shard's losses weighing its share of the batch. On a
    /// CPU, burn's element-wise kernels use one core while matrix products use all: two shards keep two
    /// cores busy. A shard's losses are means over the shard, so the gradient equals the whole batch's
    /// up to how ECLS, boxes and LM normalise. ITC and ITM contrast within the batch: they cannot be split.
    pub batch_shards: usize,
    /// Pool the region tokens from the region head's own boxes, as inference does, instead of the true
    /// boxes. On the true boxes, ECLS learns to trust them: a finding told by a region's size or place
    /// (an enlarged heart, a raised hemidiaphragm) is then misjudged whenever the predicted box is off.
    /// For rounds that start from trained boxes: early on the predicted boxes are noise.
    pub pool_predicted_boxes: bool,
    /// Shift, zoom, gamma and resolution loss of each training image ([`augment::Augmentation`]); none by
    /// default.
    pub augmentation: augment::Augmentation,
    /// Images of each batch drawn from the real radiographs of `--real`, labelled as a whole: ECLS learns
    /// their absent findings at every position, and each labelled entity's image score (its highest
    /// probability over its positions) against the image's label. The rest of the batch is simulated and
    /// keeps teaching boxes and grounding.
    pub real_per_batch: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            batch_size: 8,
            learning_rate: 2e-4,
            warmup_steps: 50,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            itc_weight: 1.0,
            itm_weight: 1.0,
            lm_weight: 1.0,
            ecls_weight: 2.0,
            box_weight: 2.0,
            max_text_tokens: 96,
            checkpoint_every: 100,
            train_text_encoder: false,
            prune_decoder_vocabulary: true,
            itm_images: 0,
            lm_both_texts: false,
            findings_match: false,
            ecls_positive_weight: 1.0,
            prompt_from_truth: false,
            answers_only: false,
            batch_shards: 1,
            pool_predicted_boxes: false,
            augmentation: augment::Augmentation::default(),
            real_per_batch: 0,
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// Model preset: tiny, demo or base.
    #[arg(long, default_value = "demo")]
    pub config: String,
    /// Dataset folder (`gkmvlp simulate --out`); its `train` split is used.
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder: `checkpoint/` holds the weights format plus the optimizer state.
    #[arg(long)]
    pub out: PathBuf,
    /// Total optimisation steps: the learning-rate schedule runs over these.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Stop (with a checkpoint) after this step, to train in stages: `--steps 1400 --until 700`, then
    /// `--steps 1400 --resume` continues the same schedule exactly.
    #[arg(long)]
    pub until: Option<usize>,
    /// Settings JSON (loss weights, learning rate, batch size...).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Continue from the checkpoint in `--out`.
    #[arg(long)]
    pub resume: bool,
    /// all-MiniLM-L6-v2 safetensors for a fresh start.
    #[arg(long, default_value = "assets/minilm/model.safetensors")]
    pub minilm: PathBuf,
    /// Tokenizer.
    #[arg(long, default_value = "models/tokenizer.json")]
    pub tokenizer: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Backend: `flex` (burn's CPU backend, the fastest here) or `wgpu` (a GPU, or lavapipe on a CPU).
    #[arg(long, default_value = "flex", value_parser = ["flex", "wgpu"])]
    pub device: String,
    /// Start from these weights (e.g. an earlier stage's `checkpoint` folder) with a fresh optimizer and
    /// schedule, instead of from the preset with MiniLM's text weights.
    #[arg(long, conflicts_with_all = ["resume", "config", "no_grounding"])]
    pub init: Option<PathBuf>,
    /// Ablation: the GK module without its grounding mask (every knowledge token sees every region).
    #[arg(long)]
    pub no_grounding: bool,
    /// The decoder reads the findings ECLS calls present before each text (`GkMvlpConfig::findings_prompt`);
    /// with `--init`, the weights gain it from this run on.
    #[arg(long, conflicts_with = "resume")]
    pub findings_prompt: bool,
    /// Knowledge tokens also read the image patches inside their region (`GkMvlpConfig::region_patches`);
    /// it adds no parameters, so with `--init` the weights gain it from this run on.
    #[arg(long, conflicts_with = "resume")]
    pub region_patches: bool,
    /// Real radiographs with NIH ChestX-ray14 image-level labels (a `labels.csv` folder or
    /// `Data_Entry_2017*.csv` with its images), mixed into each batch by the `real_per_batch` setting.
    #[arg(long)]
    pub real: Option<PathBuf>,
    /// Leave out the patients of this fold of `--real` (of `--real-folds`), to evaluate on them:
    /// `gkmvlp eval-real --folds`.
    #[arg(long, requires = "real")]
    pub real_holdout_fold: Option<usize>,
    #[arg(long, default_value_t = 5, requires = "real_holdout_fold")]
    pub real_folds: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    step: usize,
    /// The schedule's length (`--steps`).
    #[serde(default)]
    total_steps: usize,
    seed: u64,
    settings: TrainSettings,
    /// With `--init`: the training record of the weights this run started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_from: Option<serde_json::Value>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Learning rate at `step`: linear warm-up, then cosine decay to 10 %.
fn learning_rate(settings: &TrainSettings, step: usize, total: usize) -> f64 {
    if step < settings.warmup_steps {
        return settings.learning_rate * (step + 1) as f64 / settings.warmup_steps as f64;
    }
    let progress = (step - settings.warmup_steps) as f64 / (total.saturating_sub(settings.warmup_steps)).max(1) as f64;
    settings.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos()))
}

/// A seeded permutation (xorshift), so resuming replays the same order.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

fn save(
    model: &gkmvlp::GkMvlp,
    optimizer: &ModuleOptimizer,
    config: &GkMvlpConfig,
    tokenizer_json: &[u8],
    dir: &Path,
    state: &TrainState,
) -> Result<()> {
    let training = serde_json::to_value(state).context("cannot serialise the training state")?;
    let files = weights::package(&model.clone().valid(), config, tokenizer_json, training, weights::Storage::F32, None)
        .context("cannot package the checkpoint's weights")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The optimizer's state first, the weights' manifest last (each file through a temporary name), so a
    // checkpoint whose manifest names a step has every file of that step.
    optimizer_state::save(optimizer, model, dir)?;
    files.write_dir(dir).with_context(|| format!("cannot write the checkpoint to {}", dir.display()))
}

fn adamw(settings: &TrainSettings) -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(settings.weight_decay).init()
}

/// Set by Ctrl-C; the loop saves a checkpoint and stops at the end of the step.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once per process (a second installation is an error in `ctrlc`).
fn catch_interrupt() -> Result<()> {
    // Every later call returns the first one's outcome: an error, which cannot be cloned, is shared.
    static INSTALLED: OnceLock<std::result::Result<(), Arc<ctrlc::Error>>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst)).map_err(Arc::new))
        .clone()
        .context("cannot catch Ctrl-C")
}

/// Stops gradients into E_T's MiniLM weights; its cross-attention (E_I→T's, new) keeps learning.
fn freeze_all_but_cross_attention(mut encoder: TextTransformer) -> TextTransformer {
    encoder.embeddings = encoder.embeddings.no_grad();
    encoder.encoder.layer = encoder
        .encoder
        .layer
        .into_iter()
        .map(|mut layer| {
            layer.attention = layer.attention.no_grad();
            layer.intermediate = layer.intermediate.no_grad();
            layer.output = layer.output.no_grad();
            layer
        })
        .collect();
    encoder
}

/// Draws every lazily initialised parameter now, in the order of the network's fields. Drawn at first
/// use, the order would follow the first step's computation, which differs with `batch_shards` (each
/// shard's replica reads all parameters in field order), and so would the initial weights.
fn draw_initial_weights(model: &gkmvlp::GkMvlp) {
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            param.val();
        }
    }
    model.visit(&mut Draw);
}

/// `model`'s parameters as new autodiff leaves (same ids and values, the same ones trainable), so that a
/// shard's graph shares no node with another's. Not `Module::fork`: with it, burn's graph cleanup
/// (`cleanup_orphaned_entries`, 86 % of the time under `perf`) slowed the image stage from 17 samples/s
/// to 4 within 1,000 steps; fork moves every parameter to the device, and that move is an autodiff step.
fn replica(model: &gkmvlp::GkMvlp) -> gkmvlp::GkMvlp {
    struct Leaves;
    impl ModuleMapper for Leaves {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|tensor| {
                let trainable = tensor.is_require_grad();
                tensor.detach().set_require_grad(trainable)
            })
        }
    }
    model.clone().map(&mut Leaves)
}

/// A step's losses as numbers, for the progress line.
struct StepLosses {
    total: f32,
    parts: Vec<(&'static str, f32)>,
}

/// The gradients of one step on `records`, and its losses. With several shards, each runs on its own
/// thread on a [`replica`] of `model` and its losses are scaled by its share of the batch, so the summed gradients are those of the
/// shards' weighted mean.
fn gradients(
    model: &gkmvlp::GkMvlp,
    records: &[&Record],
    step: usize,
    inputs: &objectives::StepInputs,
    shards: usize,
) -> Result<(GradientsParams, StepLosses)> {
    let shard = |model: &gkmvlp::GkMvlp, records: &[&Record], share: f32| -> Result<(GradientsParams, StepLosses)> {
        let objectives = objectives::objectives(model, records, step, inputs)?;
        let total = objectives
            .iter()
            .map(|(_, loss, weight)| loss.clone().mul_scalar(*weight))
            .reduce(|a, b| a + b)
            .expect("ECLS and boxes are always there");
        let grads = GradientsParams::from_grads(total.clone().mul_scalar(share).backward(), model);
        let parts = objectives.into_iter().map(|(name, loss, _)| (name, loss.into_scalar::<f32>() * share)).collect();
        Ok((grads, StepLosses { total: total.into_scalar::<f32>() * share, parts }))
    };
    if shards <= 1 {
        return shard(model, records, 1.0);
    }
    // Exactly `shards` parts (at most one per study), their sizes differing by one at most.
    let parts = shards.min(records.len());
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parts)
            .map(|i| {
                let part = &records[i * records.len() / parts..(i + 1) * records.len() / parts];
                let replica = replica(model);
                let share = part.len() as f32 / records.len() as f32;
                scope.spawn(move || shard(&replica, part, share))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|_| Err(anyhow!("a batch shard's thread panicked"))))
            .collect()
    });
    let mut accumulator = GradientsAccumulator::<gkmvlp::GkMvlp>::new();
    let mut losses = StepLosses { total: 0.0, parts: Vec::new() };
    for result in results {
        let (grads, part) = result?;
        accumulator.accumulate(model, grads);
        losses.total += part.total;
        if losses.parts.is_empty() {
            losses.parts = part.parts;
        } else {
            losses.parts.iter_mut().zip(part.parts).for_each(|(sum, (_, loss))| sum.1 += loss);
        }
    }
    Ok((accumulator.grads(), losses))
}

/// The real radiographs of `dir` as training records, less the patients of `holdout` (of `folds`).
fn real_records(dir: &Path, holdout: Option<usize>, folds: usize) -> Result<Vec<Record>> {
    if let Some(fold) = holdout {
        ensure!(fold < folds, "--real-holdout-fold {fold} is not one of the {folds} folds (0 to {})", folds - 1);
    }
    let records =
        gkmvlp_data::read_nih(dir).with_context(|| format!("cannot read the real radiographs in {}", dir.display()))?;
    let kept: Vec<Record> = records.iter().filter(|r| holdout != Some(r.fold(folds))).map(|r| r.to_record()).collect();
    ensure!(!kept.is_empty(), "{}: no real radiographs left to train on", dir.display());
    Ok(kept)
}

/// The `count` real records of `step`: consecutive runs through seeded permutations, one per pass.
fn real_batch(real: &[Record], count: usize, step: usize, seed: u64) -> Vec<&Record> {
    (step * count..(step + 1) * count)
        .map(|drawn| {
            let (pass, at) = (drawn / real.len(), drawn % real.len());
            // A permutation per pass; the pass's id keeps it apart from the simulated data's orders.
            &real[permutation(real.len(), seed ^ 0x5EA1 ^ ((pass as u64) << 20))[at]]
        })
        .collect()
}

/// `a` and `b` taking turns, so that each batch shard gets its share of both.
fn interleave<'a>(a: Vec<&'a Record>, b: Vec<&'a Record>) -> Vec<&'a Record> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// Trains; returns the last step reached.
pub fn run(args: &TrainArgs) -> Result<usize> {
    let mut settings = match &args.settings {
        Some(path) => serde_json::from_slice(&read(path)?)
            .with_context(|| format!("{}: not valid training settings", path.display()))?,
        None => TrainSettings::default(),
    };
    ensure!(
        settings.ecls_positive_weight.is_finite() && settings.ecls_positive_weight > 0.0,
        "ecls_positive_weight is {}; it must be a positive number",
        settings.ecls_positive_weight
    );
    settings.augmentation.validate()?;
    ensure!(
        settings.batch_shards != 0 && settings.batch_shards <= settings.batch_size,
        "batch_shards is {}; it must be from 1 to the batch size ({})",
        settings.batch_shards,
        settings.batch_size
    );
    if settings.batch_shards > 1 && (settings.itc_weight > 0.0 || settings.itm_weight > 0.0) {
        bail!(
            "batch_shards is {}, but ITC and ITM contrast within the whole batch: set it to 1 where their weights are not 0",
            settings.batch_shards
        );
    }
    ensure!(
        (settings.real_per_batch > 0) == args.real.is_some(),
        "real_per_batch is {} and --real is {}: real images need both",
        settings.real_per_batch,
        if args.real.is_some() { "given" } else { "not given" }
    );
    ensure!(
        settings.real_per_batch < settings.batch_size,
        "real_per_batch is {}; it must leave simulated studies in a batch of {}",
        settings.real_per_batch,
        settings.batch_size
    );
    ensure!(
        settings.real_per_batch == 0 || settings.pool_predicted_boxes,
        "real images have no true boxes to pool the region features from: set pool_predicted_boxes"
    );
    let real = match &args.real {
        Some(dir) => real_records(dir, args.real_holdout_fold, args.real_folds)?,
        None => Vec::new(),
    };
    let tokenizer_json = read(&args.tokenizer)?;
    let tokenizer = TextTokenizer::from_bytes(&tokenizer_json)
        .with_context(|| format!("{}: not a tokenizer", args.tokenizer.display()))?;
    let records = gkmvlp_data::read_dataset(&args.data)
        .with_context(|| format!("cannot read the dataset in {}", args.data.display()))?;
    let train: Vec<_> = records.iter().filter(|r| r.split == "train").collect();
    ensure!(
        train.len() >= 2,
        "{}: {} training records; at least 2 are needed (ITC contrasts within a batch)",
        args.data.display(),
        train.len()
    );
    let device = match args.device.as_str() {
        "wgpu" => Device::wgpu_options().init_with_setup().map_err(|e| anyhow!("no wgpu adapter: {e:?}"))?.0,
        _ => Device::flex(),
    }
    .autodiff();
    device.seed(args.seed);
    let checkpoint = args.out.join("checkpoint");

    let mut started_from = None;
    let (config, mut model, mut optimizer, start) = if args.resume {
        let manifest_json = read(&checkpoint.join(MANIFEST_FILE))?;
        let manifest =
            Manifest::parse(&manifest_json).with_context(|| checkpoint.join(MANIFEST_FILE).display().to_string())?;
        let state: TrainState = serde_json::from_value(manifest.training.clone())
            .with_context(|| format!("{}: no training state", checkpoint.display()))?;
        settings = state.settings;
        started_from = state.started_from;
        if state.total_steps != args.steps {
            eprintln!(
                "note: the checkpoint's schedule ran over {} steps, this run's over {}: the learning rate jumps",
                state.total_steps, args.steps
            );
        }
        let (config, model) = weights::load_model(&manifest, read(&checkpoint.join(MODEL_FILE))?, &device)
            .with_context(|| checkpoint.display().to_string())?;
        let (optimizer, model) = optimizer_state::load(adamw(&settings), model, &checkpoint)?;
        (config, model, optimizer, state.step)
    } else if let Some(init) = &args.init {
        let manifest =
            Manifest::parse(&read(&init.join(MANIFEST_FILE))?).with_context(|| init.display().to_string())?;
        let (config, model) = weights::load_model(&manifest, read(&init.join(MODEL_FILE))?, &device)
            .with_context(|| init.display().to_string())?;
        eprintln!("starting from the weights in {}", init.display());
        started_from = Some(manifest.training.clone());
        (config, model, adamw(&settings), 0)
    } else {
        let mut config =
            GkMvlpConfig::preset(&args.config).with_context(|| format!("unknown config `{}`", args.config))?;
        if args.no_grounding {
            config.grounding = gkmvlp::Grounding::Ungrounded;
        }
        if settings.prune_decoder_vocabulary {
            config.decoder_vocabulary = data::decoder_vocabulary(&train, &tokenizer)?;
            eprintln!(
                "decoder vocabulary: {} of {} tokens (those the training corpus uses)",
                config.decoder_vocabulary.len(),
                config.text.vocab_size
            );
        }
        let mut model = config.init(&device).context("cannot build the model")?;
        draw_initial_weights(&model);
        if config.text == gkmvlp::config::minilm_text() {
            let bytes = read(&args.minilm)?;
            gkmvlp::storage::minilm::load_text_encoder(
                &mut model.text_encoder,
                bytes.clone(),
                &args.minilm.display().to_string(),
            )?;
            gkmvlp::storage::minilm::load_decoder(&mut model.text_decoder, bytes, &args.minilm.display().to_string())?;
        }
        (config, model, adamw(&settings), 0)
    };
    let config = if args.findings_prompt { config.with_findings_prompt(true) } else { config };
    let config = if args.region_patches { config.with_region_patches(true) } else { config };
    model.gk_module.region_patches = config.region_patches;
    for (name, set) in [("prompt_from_truth", settings.prompt_from_truth), ("answers_only", settings.answers_only)] {
        ensure!(
            !set || config.findings_prompt,
            "{name} is set, but this model reads no findings prompt: add --findings-prompt, or start from weights trained with it"
        );
    }
    let answer_cue = tokenizer.encode_plain(gkmvlp::protocol::ANSWER_CUE).context("cannot tokenise the answer cue")?;

    catch_interrupt()?;
    if !settings.train_text_encoder {
        model.text_encoder = freeze_all_but_cross_attention(model.text_encoder);
    }
    let frozen_knowledge = if settings.train_text_encoder {
        None
    } else {
        Some(
            Knowledge::encode(&model.text_encoder, &tokenizer, config.text.max_positions, &device)
                .context("cannot encode the knowledge")?,
        )
    };

    let inputs = objectives::StepInputs {
        settings: &settings,
        config: &config,
        tokenizer: &tokenizer,
        frozen_knowledge: frozen_knowledge.as_ref(),
        answer_cue: &answer_cue,
        device: &device,
    };
    let batch_size = settings.batch_size.min(train.len() + settings.real_per_batch);
    let simulated_per_batch = batch_size - settings.real_per_batch;
    let batches_per_epoch = train.len() / simulated_per_batch;
    let started = Instant::now();
    let mut step = start;
    let until = args.until.unwrap_or(args.steps).min(args.steps);
    eprintln!(
        "training `{}` on {} records{} from step {start} to {until} of {}; batch {batch_size}",
        config.preset_name().unwrap_or("custom"),
        train.len(),
        if real.is_empty() { String::new() } else { format!(" and {} real radiographs", real.len()) },
        args.steps
    );
    while step < until {
        let epoch = step / batches_per_epoch;
        let order = permutation(train.len(), args.seed ^ epoch as u64);
        let offset = (step % batches_per_epoch) * simulated_per_batch;
        let simulated = order[offset..offset + simulated_per_batch].iter().map(|&i| train[i]);
        let records: Vec<&Record> =
            interleave(simulated.collect(), real_batch(&real, settings.real_per_batch, step, args.seed));
        let (grads, losses) = gradients(&model, &records, step, &inputs, settings.batch_shards)?;
        model = optimizer.step(learning_rate(&settings, step, args.steps), model, grads);
        step += 1;

        let rate = (step - start) as f64 * batch_size as f64 / started.elapsed().as_secs_f64();
        let parts: String = losses.parts.iter().map(|(name, loss)| format!("  {name} {loss:.3}")).collect();
        eprintln!("step {step:>6}/{}  total {:.3}{parts}  {rate:.2} samples/s", args.steps, losses.total);
        let stop = INTERRUPTED.swap(false, Ordering::SeqCst);
        if step % settings.checkpoint_every == 0 || step == until || stop {
            let state = TrainState {
                step,
                total_steps: args.steps,
                seed: args.seed,
                settings: settings.clone(),
                started_from: started_from.clone(),
            };
            save(&model, &optimizer, &config, &tokenizer_json, &checkpoint, &state)?;
            eprintln!("checkpoint at step {step}: {}", checkpoint.display());
        }
        if stop {
            eprintln!("interrupted: the checkpoint holds step {step}; continue with --resume");
            break;
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each shipped settings file trains with. The files once spelt out every field; each now holds only
    /// the fields that differ from the defaults, and must still read as the full file did.
    fn shipped_settings() -> Vec<(&'static str, TrainSettings)> {
        let default = TrainSettings::default;
        let image_stage = TrainSettings {
            learning_rate: 0.0003,
            warmup_steps: 100,
            itc_weight: 0.0,
            itm_weight: 0.0,
            lm_weight: 0.0,
            checkpoint_every: 250,
            itm_images: 4,
            lm_both_texts: true,
            batch_shards: 2,
            ..default()
        };
        let report_stage = TrainSettings {
            itc_weight: 0.0,
            itm_weight: 0.0,
            itm_images: 4,
            lm_both_texts: true,
            batch_shards: 2,
            ..default()
        };
        vec![
            ("ablation.json", default()),
            ("ablation-no-ecls.json", TrainSettings { ecls_weight: 0.0, ..default() }),
            ("demo-image-stage.json", image_stage.clone()),
            ("demo-image-stage-2.json", TrainSettings { ecls_positive_weight: 4.0, ..image_stage.clone() }),
            (
                "demo-image-stage-pooled.json",
                TrainSettings { ecls_positive_weight: 4.0, pool_predicted_boxes: true, ..image_stage },
            ),
            ("demo-real-stage.json", real_stage()),
            ("demo-report-stage.json", report_stage.clone()),
            ("demo-report-stage-truth.json", TrainSettings { prompt_from_truth: true, ..report_stage.clone() }),
            (
                "demo-report-stage-truth-pooled.json",
                TrainSettings { prompt_from_truth: true, pool_predicted_boxes: true, ..report_stage },
            ),
            (
                "demo.json",
                TrainSettings {
                    itm_images: 4,
                    lm_both_texts: true,
                    findings_match: true,
                    ecls_positive_weight: 4.0,
                    ..default()
                },
            ),
        ]
    }

    /// The real-image round: simulated and real radiographs in each batch, the boxes pooled as at inference.
    fn real_stage() -> TrainSettings {
        TrainSettings {
            learning_rate: 0.0001,
            warmup_steps: 30,
            itc_weight: 0.0,
            itm_weight: 0.0,
            lm_weight: 0.0,
            checkpoint_every: 1000,
            ecls_positive_weight: 4.0,
            batch_shards: 2,
            pool_predicted_boxes: true,
            real_per_batch: 4,
            augmentation: augment::Augmentation { shift: 0.04, zoom: 0.05, gamma: 0.2, thumbnail: 0.5 },
            ..TrainSettings::default()
        }
    }

    #[test]
    fn every_shipped_settings_file_reads_as_it_did_and_states_only_what_differs() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let expected = shipped_settings();
        let mut files: Vec<String> = std::fs::read_dir(&configs)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        files.sort();
        let mut named: Vec<String> = expected.iter().map(|(name, _)| name.to_string()).collect();
        named.sort();
        assert_eq!(files, named, "every settings file in configs/ has its expected settings here");

        for (name, settings) in expected {
            let path = configs.join(name);
            let bytes = std::fs::read(&path).unwrap();
            match serde_json::from_slice::<TrainSettings>(&bytes) {
                Ok(read) => assert_eq!(read, settings, "{}", path.display()),
                Err(error) => panic!("{}: {error}", path.display()),
            }
            // A field whose removal changes nothing restates its default.
            let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
            for field in fields.keys() {
                let mut without = fields.clone();
                without.remove(field);
                let read: TrainSettings = serde_json::from_value(serde_json::Value::Object(without)).unwrap();
                assert_ne!(read, settings, "{}: `{field}` restates its default", path.display());
            }
        }
    }

    fn nih_record(id: usize) -> Record {
        Record {
            id: format!("nih/{id}"),
            image: PathBuf::new(),
            split: "train".into(),
            view: "PA".into(),
            width: 0,
            height: 0,
            report: Default::default(),
            boxes: Vec::new(),
            exist: Vec::new(),
            image_labels: Vec::new(),
            findings: Vec::new(),
            qa: Vec::new(),
            source: "nih-chestxray14".into(),
            params: serde_json::Value::Null,
        }
    }

    #[test]
    fn real_batches_go_through_every_image_once_per_pass() {
        let real: Vec<Record> = (0..10).map(nih_record).collect();
        let ids = |step| real_batch(&real, 4, step, 3).iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        // Steps 0 and 1 take the first 8 of the first pass's order, step 2 its last 2 and 2 of the next pass.
        let mut first_pass: Vec<String> = [ids(0), ids(1), ids(2)[..2].to_vec()].concat();
        first_pass.sort();
        let mut all: Vec<String> = real.iter().map(|r| r.id.clone()).collect();
        all.sort();
        assert_eq!(first_pass, all);
        assert_eq!(ids(5), ids(5), "the same step draws the same images (for --resume)");
    }

    #[test]
    fn interleaving_alternates_and_keeps_the_rest() {
        let records: Vec<Record> = (0..5).map(nih_record).collect();
        let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| &records[i]);
        let ids: Vec<&str> = interleave(vec![a, b, c], vec![d, e]).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["nih/0", "nih/3", "nih/1", "nih/4", "nih/2"]);
    }

    #[test]
    fn a_misspelt_settings_field_is_refused() {
        let error = serde_json::from_str::<TrainSettings>(r#"{"batch_sise": 4}"#).unwrap_err();
        assert!(error.to_string().contains("batch_sise"), "{error}");
        let error = serde_json::from_str::<TrainSettings>(r#"{"augmentaton": {"shift": 0.04}}"#).unwrap_err();
        assert!(error.to_string().contains("augmentaton"), "{error}");
        let error = serde_json::from_str::<TrainSettings>(r#"{"augmentation": {"shfit": 0.04}}"#).unwrap_err();
        assert!(error.to_string().contains("shfit"), "{error}");
        let settings: TrainSettings = serde_json::from_str(r#"{"augmentation": {"shift": 0.04}}"#).unwrap();
        assert_eq!(
            settings,
            TrainSettings {
                augmentation: augment::Augmentation { shift: 0.04, ..Default::default() },
                ..Default::default()
            }
        );
    }
}
