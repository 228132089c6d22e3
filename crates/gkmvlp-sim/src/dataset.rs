//! Dataset writer (`gkmvlp simulate`): studies become `gkmvlp_data::Record`s, one JSONL line each, with
//! their images and scene graphs. The readers (`gkmvlp_data::read_dataset`) live in `gkmvlp-data`.

use crate::SimError;
use crate::findings::FindingConfig;
use crate::rng::Rng;
use crate::sim::{Simulator, Study, StudyConfig};
use gkmvlp_data::{Record, ReportText};
use gkmvlp_vocab::{Entity, Region, candidates};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::Write;
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
    pub prevalence: Vec<(Entity, f64)>,
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
        for &(entity, p) in &self.prevalence {
            f.prevalence[entity.index()] = p;
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

    /// Studies per split (train, val, test).
    fn split_counts(&self) -> [usize; 3] {
        match self.split {
            SplitArg::Train => [self.n, 0, 0],
            SplitArg::Val => [0, self.n, 0],
            SplitArg::Test => [0, 0, self.n],
            SplitArg::All => {
                let val = (self.n as f64 * self.val_share).round() as usize;
                let test = ((self.n as f64 * self.test_share).round() as usize).min(self.n - val);
                [self.n - val - test, val, test]
            }
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
        if let Some((entity, p)) = self.prevalence.iter().find(|(_, p)| !(0.0..=1.0).contains(p)) {
            return bad(format!("--prevalence of {} must be within [0, 1], not {p}", entity.name()));
        }
        if self.val_share + self.test_share > 1.0 {
            return bad("--val-share + --test-share exceed 1".into());
        }
        Ok(())
    }
}

/// `NAME=P`, NAME a finding's vocabulary name, any case (`lung nodule=0.4`).
fn parse_prevalence(arg: &str) -> Result<(Entity, f64), String> {
    let (name, p) =
        arg.rsplit_once('=').ok_or_else(|| format!("expected NAME=P, as in \"lung nodule=0.4\", not {arg:?}"))?;
    let entity = Entity::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Entity::ALL.iter().map(|e| e.name()).collect();
        format!("unknown finding {:?}; one of: {}", name.trim(), names.join(", "))
    })?;
    let p: f64 = p.trim().parse().map_err(|_| format!("{:?} is not a probability", p.trim()))?;
    Ok((entity, p))
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

pub use gkmvlp_data::SPLITS;

/// The seed of study `index` of `split` (0 train, 1 val, 2 test). The split sits in the top two bits,
/// so the seeds — and with them every deformation and finding — of different splits never coincide.
pub fn study_seed(base: u64, split: usize, index: u64) -> u64 {
    let mut r = Rng::new(base);
    let offset = r.next_u64() >> 2;
    ((split as u64) << 62) | (offset.wrapping_add(index) & ((1u64 << 62) - 1))
}

/// The record of a simulated study: what `run` writes as one JSONL line (`image` relative to the
/// dataset folder).
pub fn study_record(study: &Study, id: &str, image: PathBuf, split: &str) -> Record {
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
        image_labels: Vec::new(),
        findings: study.findings.iter().map(|f| f.to_record()).collect(),
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
                .map(|(c, e)| format!("{}|{}|{}", category(c.entity), if *e == 1 { "yes" } else { "no" }, c.entity.name()))
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

fn category(entity: Entity) -> &'static str {
    match entity {
        Entity::EndotrachealTube | Entity::CentralVenousCatheter => "tubesandlines",
        Entity::Consolidation | Entity::PulmonaryEdema | Entity::Atelectasis => "disease",
        _ => "anatomicalfinding",
    }
}

/// Simulate study `i` of split `si`, write its image (and scene graph), and return its JSONL line.
fn write_study(
    args: &SimulateArgs,
    sim: &Simulator,
    cfg: &StudyConfig,
    si: usize,
    i: usize,
) -> Result<String, SimError> {
    let split = SPLITS[si];
    let seed = study_seed(args.seed, si, i as u64);
    let study = sim.study(seed, cfg)?;
    let id = format!("sim-{split}-{i:06}");
    let rel = PathBuf::from("images").join(split).join(format!("{id}.png"));
    write_png(&args.out.join(&rel), study.width, study.height, &study.pixels, args.bits)?;
    if args.scene_graphs {
        let p = args.out.join("scene_graph").join(format!("{id}_SceneGraph.json"));
        let s = serde_json::to_vec(&scene_graph(&study, &id)).map_err(|e| SimError::Invalid(e.to_string()))?;
        std::fs::write(&p, s).map_err(|e| SimError::Io { path: p.clone(), source: e })?;
    }
    let rec = study_record(&study, &id, rel, split);
    serde_json::to_string(&rec).map_err(|e| SimError::Invalid(e.to_string()))
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
    let counts = args.split_counts();
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
            let lines: Vec<Result<String, SimError>> =
                pool.install(|| (start..end).into_par_iter().map(|i| write_study(args, &sim, &cfg, si, i)).collect());
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
        "entities": Entity::ALL.map(Entity::name),
        "args": args,
        "summary": summary,
    });
    let mp = args.out.join("manifest.json");
    std::fs::write(&mp, serde_json::to_vec_pretty(&manifest).map_err(|e| SimError::Invalid(e.to_string()))?)
        .map_err(io(&mp))?;
    Ok(summary)
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
        assert_eq!(prevalence[Entity::LungNodule.index()], 0.4);
        assert_eq!(
            prevalence[Entity::LungMass.index()],
            0.5 * crate::findings::DEFAULT_PREVALENCE[Entity::LungMass.index()]
        );
        assert!(parse_prevalence("lung nodules=0.4").unwrap_err().contains("one of: pleural effusion"));
        assert!(parse_prevalence("lung nodule").is_err());
        assert!(parse_prevalence("lung nodule=often").is_err());
        args.prevalence = vec![(Entity::LungNodule, 1.5)];
        assert!(args.validate().unwrap_err().to_string().contains("--prevalence of lung nodule"));
    }
}
