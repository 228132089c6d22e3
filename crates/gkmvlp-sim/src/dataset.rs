//! Dataset writer (`gkmvlp simulate`) and readers: the simulator's own JSONL layout and the real
//! MIMIC-CXR-JPG + Chest ImaGenome silver scene-graph layout, both into the same [`Record`].

use crate::SimError;
use crate::findings::{FindingConfig, Kind};
use crate::report::Qa;
use crate::rng::Rng;
use crate::sim::{Simulator, Study, StudyConfig};
use gkmvlp_vocab::{ENTITIES, NUM_REGIONS, Region, candidates};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum ViewArg {
    Pa,
    Ap,
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum SplitArg {
    Train,
    Val,
    Test,
    /// Train, val and test by --val-share / --test-share.
    All,
}

/// `gkmvlp simulate` arguments.
#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
pub struct SimulateArgs {
    /// Number of studies to write (over all splits).
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Base seed; every study's seed derives from it, its split and its index.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Image side in pixels (square).
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Projection grid side (rays per row); capped at --size.
    #[arg(long, default_value_t = 224)]
    pub render_size: usize,
    #[arg(long, value_enum, default_value_t = ViewArg::Mixed)]
    pub view: ViewArg,
    /// Share of AP views when --view mixed.
    #[arg(long, default_value_t = 0.3)]
    pub ap_share: f64,
    /// Share of studies with no finding.
    #[arg(long, default_value_t = 0.3)]
    pub normal_share: f64,
    /// Scale all finding prevalences (1 = defaults).
    #[arg(long, default_value_t = 1.0)]
    pub prevalence_scale: f64,
    /// One finding's probability among abnormal studies, replacing its scaled default; repeatable
    /// (`--prevalence "lung nodule=0.4"`). Meant for training sets; keep test sets at the defaults.
    #[arg(long = "prevalence", value_parser = parse_prevalence)]
    #[serde(default)]
    pub prevalence: Vec<(Kind, f64)>,
    /// Maximum findings per study.
    #[arg(long, default_value_t = 4)]
    pub max_findings: usize,
    /// Share of hedged sentences among hedgeable findings.
    #[arg(long, default_value_t = 0.1)]
    pub hedge_share: f64,
    /// 0 = the CT as scanned, 1 = full variation.
    #[arg(long, default_value_t = 1.0)]
    pub variation: f64,
    #[arg(long, value_enum, default_value_t = SplitArg::All)]
    pub split: SplitArg,
    #[arg(long, default_value_t = 0.1)]
    pub val_share: f64,
    #[arg(long, default_value_t = 0.1)]
    pub test_share: f64,
    /// PNG bit depth: 8 or 16.
    #[arg(long, default_value_t = 8)]
    pub bits: u8,
    /// Folder with cxr.nii.gz and mask.nii.gz.
    #[arg(long, default_value = "assets/ct")]
    pub ct: PathBuf,
    /// Also write a Chest ImaGenome-style scene graph JSON per image.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub scene_graphs: bool,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl SimulateArgs {
    pub fn new(out: impl Into<PathBuf>, n: usize, seed: u64) -> SimulateArgs {
        SimulateArgs {
            n,
            seed,
            out: out.into(),
            size: 512,
            render_size: 224,
            view: ViewArg::Mixed,
            ap_share: 0.3,
            normal_share: 0.3,
            prevalence_scale: 1.0,
            prevalence: Vec::new(),
            max_findings: 4,
            hedge_share: 0.1,
            variation: 1.0,
            split: SplitArg::All,
            val_share: 0.1,
            test_share: 0.1,
            bits: 8,
            ct: PathBuf::from("assets/ct"),
            scene_graphs: true,
            threads: 0,
        }
    }

    pub fn study_config(&self) -> StudyConfig {
        let mut f = FindingConfig {
            normal_share: self.normal_share,
            max_findings: self.max_findings,
            ..FindingConfig::default()
        };
        for p in &mut f.prevalence {
            *p = (*p * self.prevalence_scale).clamp(0.0, 1.0);
        }
        for &(kind, p) in &self.prevalence {
            f.prevalence[kind as usize] = p;
        }
        StudyConfig {
            size: self.size,
            render_size: self.render_size.min(self.size),
            ap_share: match self.view {
                ViewArg::Pa => 0.0,
                ViewArg::Ap => 1.0,
                ViewArg::Mixed => self.ap_share,
            },
            variation: self.variation,
            findings: f,
            hedge_share: self.hedge_share,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Invalid(m));
        if self.bits != 8 && self.bits != 16 {
            return bad(format!("--bits must be 8 or 16, not {}", self.bits));
        }
        if !(32..=4096).contains(&self.size) {
            return bad(format!("--size must be within 32..=4096, not {}", self.size));
        }
        for (name, v) in [
            ("--ap-share", self.ap_share),
            ("--normal-share", self.normal_share),
            ("--val-share", self.val_share),
            ("--test-share", self.test_share),
            ("--hedge-share", self.hedge_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be within [0, 1], not {v}"));
            }
        }
        if let Some((kind, p)) = self.prevalence.iter().find(|(_, p)| !(0.0..=1.0).contains(p)) {
            return bad(format!("--prevalence of {} must be within [0, 1], not {p}", kind.name()));
        }
        if self.val_share + self.test_share > 1.0 {
            return bad("--val-share + --test-share exceed 1".into());
        }
        Ok(())
    }
}

/// `NAME=P`, NAME a finding's vocabulary name, any case (`lung nodule=0.4`).
fn parse_prevalence(arg: &str) -> Result<(Kind, f64), String> {
    let (name, p) =
        arg.rsplit_once('=').ok_or_else(|| format!("expected NAME=P, as in \"lung nodule=0.4\", not {arg:?}"))?;
    let kind = gkmvlp_vocab::entity_index(name).and_then(Kind::from_entity).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown finding {:?}; one of: {}", name.trim(), names.join(", "))
    })?;
    let p: f64 = p.trim().parse().map_err(|_| format!("{:?} is not a probability", p.trim()))?;
    Ok((kind, p))
}

/// What `run` did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub out: PathBuf,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub failed: usize,
    pub load_s: f64,
    pub simulate_s: f64,
    pub images_per_s: f64,
}

pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// The seed of study `index` of `split` (0 train, 1 val, 2 test). The split sits in the top two bits,
/// so the seeds — and with them every deformation and finding — of different splits never coincide.
pub fn study_seed(base: u64, split: usize, index: u64) -> u64 {
    let mut r = Rng::new(base);
    let offset = r.next_u64() >> 2;
    ((split as u64) << 62) | (offset.wrapping_add(index) & ((1u64 << 62) - 1))
}

/// One image with its ground truth: the unit the trainer consumes, for simulated and real data alike.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Image path; relative to the dataset folder in the file, absolute after [`read_dataset`].
    pub image: PathBuf,
    pub split: String,
    /// "PA", "AP" (or what the source says).
    pub view: String,
    pub width: u32,
    pub height: u32,
    pub report: ReportText,
    /// The 29 boxes in vocabulary order, normalised (x0, y0, x1, y1); None where the source has none.
    pub boxes: Vec<Option<[f32; 4]>>,
    /// For every `gkmvlp_vocab::candidates()` entry: 1 present, 0 absent, -1 unknown.
    pub exist: Vec<i8>,
    /// Simulated findings (empty for real data).
    #[serde(default)]
    pub findings: Vec<crate::findings::Finding>,
    #[serde(default)]
    pub qa: Vec<Qa>,
    /// "simulated" or "mimic-cxr+chest-imagenome".
    pub source: String,
    /// Generator parameters (simulated) or source identifiers (real).
    #[serde(default)]
    pub params: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReportText {
    pub findings: String,
    pub impression: String,
}

impl Record {
    pub fn from_study(study: &Study, id: &str, image: PathBuf, split: &str) -> Record {
        Record {
            id: id.to_string(),
            image,
            split: split.to_string(),
            view: study.view.as_str().to_string(),
            width: study.width as u32,
            height: study.height as u32,
            report: ReportText { findings: study.report.findings.clone(), impression: study.report.impression.clone() },
            boxes: study.boxes.iter().map(|b| Some(*b)).collect(),
            exist: study.exist.iter().map(|&e| e as i8).collect(),
            findings: study.findings.clone(),
            qa: study.qa.clone(),
            source: "simulated".into(),
            params: serde_json::json!({
                "seed": study.seed,
                "pose": study.pose,
                "exposure": study.exposure,
                "cardiothoracic_ratio": study.anatomy.ctr,
                "sentences": study.report.sentences,
            }),
        }
    }

    /// Present (entity, position) pairs by name.
    pub fn present(&self) -> Vec<(String, String)> {
        candidates()
            .iter()
            .zip(&self.exist)
            .filter(|(_, e)| **e == 1)
            .map(|(c, _)| (c.entity_name().to_string(), c.position.name().to_string()))
            .collect()
    }
}

/// 8- or 16-bit grey PNG.
pub fn write_png(path: &Path, w: usize, h: usize, pixels: &[u16], bits: u8) -> Result<(), SimError> {
    let err = |e: image::ImageError| SimError::Image { path: path.to_path_buf(), msg: e.to_string() };
    if bits == 16 {
        let img = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w as u32, h as u32, pixels.to_vec())
            .ok_or_else(|| SimError::Invalid("pixel buffer size".into()))?;
        img.save(path).map_err(err)
    } else {
        let px: Vec<u8> = pixels.iter().map(|&v| ((v as u32 + 128) / 257) as u8).collect();
        let img = image::GrayImage::from_raw(w as u32, h as u32, px)
            .ok_or_else(|| SimError::Invalid("pixel buffer size".into()))?;
        img.save(path).map_err(err)
    }
}

/// A Chest ImaGenome-style scene graph for one simulated image: `objects` with `bbox_name` and
/// `original_*` pixel coordinates, `attributes` with `category|yes/no|name` lists per region.
pub fn scene_graph(study: &Study, id: &str) -> serde_json::Value {
    let (w, h) = (study.width as f32, study.height as f32);
    let objects: Vec<serde_json::Value> = Region::ALL
        .iter()
        .map(|r| {
            let b = study.boxes[r.index()];
            let (x1, y1, x2, y2) = ((b[0] * w).round(), (b[1] * h).round(), (b[2] * w).round(), (b[3] * h).round());
            serde_json::json!({
                "object_id": format!("{id}_{}", r.name()),
                "bbox_name": r.name(),
                "name": r.name(),
                "x1": x1, "y1": y1, "x2": x2, "y2": y2, "width": x2 - x1, "height": y2 - y1,
                "original_x1": x1, "original_y1": y1, "original_x2": x2, "original_y2": y2,
                "original_width": x2 - x1, "original_height": y2 - y1,
            })
        })
        .collect();
    let cands = candidates();
    let attributes: Vec<serde_json::Value> = Region::ALL
        .iter()
        .filter_map(|r| {
            let attrs: Vec<String> = cands
                .iter()
                .zip(&study.exist)
                .filter(|(c, _)| c.position == *r)
                .map(|(c, e)| format!("{}|{}|{}", category(c.entity), if *e == 1 { "yes" } else { "no" }, c.entity_name()))
                .collect();
            (!attrs.is_empty()).then(|| {
                let phrases: Vec<&str> = study
                    .report
                    .sentences
                    .iter()
                    .filter(|s| s.claims.iter().any(|c| c.present && c.positions.iter().any(|p| p == r.name())))
                    .map(|s| s.text.as_str())
                    .collect();
                serde_json::json!({ "bbox_name": r.name(), "object_id": format!("{id}_{}", r.name()), "attributes": [attrs], "phrases": phrases })
            })
        })
        .collect();
    serde_json::json!({
        "image_id": id,
        "viewpoint": study.view.as_str(),
        "objects": objects,
        "attributes": attributes,
        "relationships": [],
    })
}

fn category(entity: usize) -> &'static str {
    match Kind::from_entity(entity) {
        Some(Kind::EndotrachealTube | Kind::CentralVenousCatheter) => "tubesandlines",
        Some(Kind::Consolidation | Kind::PulmonaryEdema | Kind::Atelectasis) => "disease",
        _ => "anatomicalfinding",
    }
}

/// Write a dataset. Layout:
/// `DIR/manifest.json`, `DIR/{train,val,test}.jsonl` (one [`Record`] per line),
/// `DIR/images/{split}/{id}.png`, `DIR/scene_graph/{id}_SceneGraph.json`.
pub fn run(args: &SimulateArgs) -> Result<Summary, SimError> {
    args.validate()?;
    let t0 = Instant::now();
    let sim = Simulator::load(&args.ct)?;
    let load_s = t0.elapsed().as_secs_f64();
    let cfg = args.study_config();
    let counts: [usize; 3] = match args.split {
        SplitArg::Train => [args.n, 0, 0],
        SplitArg::Val => [0, args.n, 0],
        SplitArg::Test => [0, 0, args.n],
        SplitArg::All => {
            let val = (args.n as f64 * args.val_share).round() as usize;
            let test = ((args.n as f64 * args.test_share).round() as usize).min(args.n - val);
            [args.n - val - test, val, test]
        }
    };
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| SimError::Io { path: p.clone(), source: e }
    };
    std::fs::create_dir_all(&args.out).map_err(io(&args.out))?;
    if args.scene_graphs {
        let d = args.out.join("scene_graph");
        std::fs::create_dir_all(&d).map_err(io(&d))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| SimError::Invalid(e.to_string()))?;
    let t1 = Instant::now();
    let mut failed = 0usize;
    for (si, split) in SPLITS.iter().enumerate() {
        if counts[si] == 0 {
            continue;
        }
        let img_dir = args.out.join("images").join(split);
        std::fs::create_dir_all(&img_dir).map_err(io(&img_dir))?;
        let jsonl = args.out.join(format!("{split}.jsonl"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&jsonl).map_err(io(&jsonl))?);
        let chunk = 256usize;
        let mut start = 0usize;
        while start < counts[si] {
            let end = (start + chunk).min(counts[si]);
            let lines: Vec<Result<String, SimError>> = pool.install(|| {
                (start..end)
                    .into_par_iter()
                    .map(|i| {
                        let seed = study_seed(args.seed, si, i as u64);
                        let study = sim.study(seed, &cfg)?;
                        let id = format!("sim-{split}-{i:06}");
                        let rel = PathBuf::from("images").join(split).join(format!("{id}.png"));
                        write_png(&args.out.join(&rel), study.width, study.height, &study.pixels, args.bits)?;
                        if args.scene_graphs {
                            let p = args.out.join("scene_graph").join(format!("{id}_SceneGraph.json"));
                            let s = serde_json::to_vec(&scene_graph(&study, &id))
                                .map_err(|e| SimError::Invalid(e.to_string()))?;
                            std::fs::write(&p, s).map_err(|e| SimError::Io { path: p.clone(), source: e })?;
                        }
                        let rec = Record::from_study(&study, &id, rel, split);
                        serde_json::to_string(&rec).map_err(|e| SimError::Invalid(e.to_string()))
                    })
                    .collect()
            });
            for l in lines {
                match l {
                    Ok(l) => writeln!(file, "{l}").map_err(io(&jsonl))?,
                    // A study whose anatomy left the field is skipped, not fatal.
                    Err(SimError::Invalid(m)) if m.starts_with("study ") => failed += 1,
                    Err(e) => return Err(e),
                }
            }
            start = end;
        }
        file.flush().map_err(io(&jsonl))?;
    }
    let simulate_s = t1.elapsed().as_secs_f64();
    let total: usize = counts.iter().sum();
    let summary = Summary {
        out: args.out.clone(),
        train: counts[0],
        val: counts[1],
        test: counts[2],
        failed,
        load_s,
        simulate_s,
        images_per_s: total as f64 / simulate_s.max(1e-9),
    };
    let manifest = serde_json::json!({
        "format": "gkmvlp-sim/1",
        "vocab_version": gkmvlp_vocab::VOCAB_VERSION,
        "regions": gkmvlp_vocab::REGIONS,
        "candidates": candidates().iter().map(|c| c.sentence()).collect::<Vec<_>>(),
        "entities": ENTITIES.iter().map(|e| e.name).collect::<Vec<_>>(),
        "args": args,
        "summary": summary,
    });
    let mp = args.out.join("manifest.json");
    std::fs::write(&mp, serde_json::to_vec_pretty(&manifest).map_err(|e| SimError::Invalid(e.to_string()))?)
        .map_err(io(&mp))?;
    Ok(summary)
}

/// Read a dataset folder: the simulator's layout (`*.jsonl`) or the MIMIC-CXR-JPG + Chest ImaGenome
/// layout (any folder containing `*_SceneGraph.json` files and no `manifest.json`). Image paths come
/// back absolute.
pub fn read_dataset(dir: impl AsRef<Path>) -> Result<Vec<Record>, SimError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(SimError::Dataset { path: dir.to_path_buf(), msg: "not a folder".into() });
    }
    if dir.join("manifest.json").is_file() {
        return read_simulated(dir);
    }
    read_imagenome(dir)
}

fn read_simulated(dir: &Path) -> Result<Vec<Record>, SimError> {
    let mut out = Vec::new();
    for split in SPLITS {
        let p = dir.join(format!("{split}.jsonl"));
        if !p.is_file() {
            continue;
        }
        let f = std::fs::File::open(&p).map_err(|e| SimError::Io { path: p.clone(), source: e })?;
        for (ln, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| SimError::Io { path: p.clone(), source: e })?;
            if line.trim().is_empty() {
                continue;
            }
            let mut r: Record = serde_json::from_str(&line)
                .map_err(|e| SimError::Dataset { path: p.clone(), msg: format!("line {}: {e}", ln + 1) })?;
            check_record(&r)
                .map_err(|msg| SimError::Dataset { path: p.clone(), msg: format!("line {}: {msg}", ln + 1) })?;
            r.image = dir.join(&r.image);
            out.push(r);
        }
    }
    Ok(out)
}

fn check_record(r: &Record) -> Result<(), String> {
    if r.boxes.len() != NUM_REGIONS {
        return Err(format!("{} boxes, expected {NUM_REGIONS}", r.boxes.len()));
    }
    let n = candidates().len();
    if r.exist.len() != n {
        return Err(format!("{} exist labels, expected {n} (vocabulary version mismatch?)", r.exist.len()));
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SimError> {
    let rd = std::fs::read_dir(dir).map_err(|e| SimError::Io { path: dir.to_path_buf(), source: e })?;
    for e in rd {
        let e = e.map_err(|e| SimError::Io { path: dir.to_path_buf(), source: e })?;
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Chest ImaGenome attribute names → vocabulary entities.
fn imagenome_entity(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_lowercase();
    let mapped = match n.as_str() {
        "mass/nodule (not otherwise specified)" | "lung nodule" | "nodule" => "lung nodule",
        "lung mass" | "mass" => "lung mass",
        "pulmonary edema/hazy opacity" | "pulmonary edema" => "pulmonary edema",
        "enlarged cardiac silhouette" | "cardiomegaly" => "enlarged cardiac silhouette",
        "picc" | "ij line" | "subclavian line" | "central venous catheter" | "cvc" => "central venous catheter",
        "endotracheal tube" | "et tube" => "endotracheal tube",
        other => other,
    };
    gkmvlp_vocab::entity_index(mapped)
}

fn report_sections(text: &str) -> ReportText {
    let upper = text.to_ascii_uppercase();
    let grab = |key: &str| -> String {
        let Some(i) = upper.find(key) else { return String::new() };
        let rest = &text[i + key.len()..];
        // Up to the next ALL-CAPS heading ("WORD:").
        let mut end = rest.len();
        for (j, _) in rest.match_indices(':') {
            let head = rest[..j].rsplit('\n').next().unwrap_or("").trim();
            if !head.is_empty() && head.chars().all(|c| c.is_ascii_uppercase() || c == ' ') && j > 0 {
                end = rest[..j].rfind('\n').unwrap_or(j);
                break;
            }
        }
        rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    ReportText { findings: grab("FINDINGS:"), impression: grab("IMPRESSION:") }
}

/// MIMIC-CXR-JPG + Chest ImaGenome silver. Expected under `root` (any depth):
/// `…/{dicom_id}_SceneGraph.json` (Chest ImaGenome `silver_dataset/scene_graph`), the image
/// `…/p1x/p{subject}/s{study}/{dicom_id}.jpg` (MIMIC-CXR-JPG `files/`), and optionally the report
/// `…/s{study}.txt` (MIMIC-CXR `files/`) and split files `…/{train,valid,test}.csv` with a `dicom_id`
/// column. Boxes come from `original_x1…original_y2` divided by the JPEG's size; `exist` is 1/0 for
/// attributes marked yes/no at a region and -1 where Chest ImaGenome says nothing.
pub fn read_imagenome(root: &Path) -> Result<Vec<Record>, SimError> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    let by_name: std::collections::HashMap<String, PathBuf> =
        files.iter().filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p.clone()))).collect();
    let mut split_of: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (file, split) in [("train.csv", "train"), ("valid.csv", "val"), ("test.csv", "test")] {
        if let Some(p) = by_name.get(file) {
            let text = std::fs::read_to_string(p).map_err(|e| SimError::Io { path: p.clone(), source: e })?;
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(|s| s.trim()).collect();
            if let Some(col) = header.iter().position(|h| *h == "dicom_id") {
                for l in lines {
                    if let Some(id) = l.split(',').nth(col) {
                        split_of.insert(id.trim().to_string(), split.to_string());
                    }
                }
            }
        }
    }
    let cands = candidates();
    let mut graphs: Vec<&PathBuf> =
        files.iter().filter(|p| p.to_string_lossy().ends_with("_SceneGraph.json")).collect();
    graphs.sort();
    let mut out = Vec::new();
    for gp in graphs {
        let bad = |msg: String| SimError::Dataset { path: gp.clone(), msg };
        let text = std::fs::read_to_string(gp).map_err(|e| SimError::Io { path: gp.clone(), source: e })?;
        let g: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let stem =
            gp.file_name().and_then(|s| s.to_str()).unwrap_or("").trim_end_matches("_SceneGraph.json").to_string();
        let id = g.get("image_id").and_then(|v| v.as_str()).unwrap_or(&stem).to_string();
        let image = by_name
            .get(&format!("{id}.jpg"))
            .cloned()
            .ok_or_else(|| bad(format!("image {id}.jpg not found under {}", root.display())))?;
        let (w, h) =
            image::image_dimensions(&image).map_err(|e| SimError::Image { path: image.clone(), msg: e.to_string() })?;
        let mut boxes: Vec<Option<[f32; 4]>> = vec![None; NUM_REGIONS];
        for o in g.get("objects").and_then(|v| v.as_array()).into_iter().flatten() {
            let Some(r) = o.get("bbox_name").and_then(|v| v.as_str()).and_then(Region::from_name) else { continue };
            let f = |k: &str| o.get(k).and_then(|v| v.as_f64()).map(|v| v as f32);
            if let (Some(x1), Some(y1), Some(x2), Some(y2)) =
                (f("original_x1"), f("original_y1"), f("original_x2"), f("original_y2"))
            {
                boxes[r.index()] = Some([x1 / w as f32, y1 / h as f32, x2 / w as f32, y2 / h as f32]);
            }
        }
        let mut exist = vec![-1i8; cands.len()];
        for a in g.get("attributes").and_then(|v| v.as_array()).into_iter().flatten() {
            let Some(r) = a.get("bbox_name").and_then(|v| v.as_str()).and_then(Region::from_name) else { continue };
            let lists = a.get("attributes").and_then(|v| v.as_array()).cloned().unwrap_or_default();
            for item in lists.iter().flat_map(|l| l.as_array().cloned().unwrap_or_else(|| vec![l.clone()])) {
                let Some(s) = item.as_str() else { continue };
                let parts: Vec<&str> = s.split('|').collect();
                if parts.len() != 3 {
                    continue;
                }
                let Some(e) = imagenome_entity(parts[2]) else { continue };
                if let Some(ci) = cands.iter().position(|c| c.entity == e && c.position == r) {
                    let v = if parts[1].eq_ignore_ascii_case("yes") { 1 } else { 0 };
                    exist[ci] = exist[ci].max(v);
                }
            }
        }
        let study = g.get("study_id").map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
        let report = by_name
            .get(&format!("s{study}.txt"))
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| report_sections(&t))
                    .map_err(|e| SimError::Io { path: p.clone(), source: e })
            })
            .transpose()?
            .unwrap_or_default();
        out.push(Record {
            id: id.clone(),
            image,
            split: split_of.get(&id).cloned().unwrap_or_else(|| "train".into()),
            view: g.get("viewpoint").and_then(|v| v.as_str()).unwrap_or("").to_string(),
            width: w,
            height: h,
            report,
            boxes,
            exist,
            findings: Vec::new(),
            qa: Vec::new(),
            source: "mimic-cxr+chest-imagenome".into(),
            params: serde_json::json!({ "patient_id": g.get("patient_id"), "study_id": study, "scene_graph": gp }),
        });
    }
    if out.is_empty() {
        return Err(SimError::Dataset {
            path: root.to_path_buf(),
            msg: "no manifest.json (simulated) and no *_SceneGraph.json (Chest ImaGenome) found".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prevalence_override_replaces_one_findings_default_and_bad_ones_are_refused() {
        let mut args = SimulateArgs::new("unused", 1, 0);
        args.prevalence_scale = 0.5;
        args.prevalence = vec![parse_prevalence("lung nodule = 0.4").unwrap()];
        let prevalence = args.study_config().findings.prevalence;
        assert_eq!(prevalence[Kind::LungNodule as usize], 0.4);
        assert_eq!(
            prevalence[Kind::LungMass as usize],
            0.5 * crate::findings::DEFAULT_PREVALENCE[Kind::LungMass as usize]
        );
        assert!(parse_prevalence("lung nodules=0.4").unwrap_err().contains("one of: pleural effusion"));
        assert!(parse_prevalence("lung nodule").is_err());
        assert!(parse_prevalence("lung nodule=often").is_err());
        args.prevalence = vec![(Kind::LungNodule, 1.5)];
        assert!(args.validate().unwrap_err().to_string().contains("--prevalence of lung nodule"));
    }
}
