//! Readers: the simulator's own JSONL layout and the real MIMIC-CXR-JPG + Chest ImaGenome silver
//! scene-graph layout, both into the same [`Record`].

use crate::DataError;
use crate::record::{Record, ReportText, SPLITS};
use gkmvlp_vocab::{Entity, NUM_REGIONS, Region, candidates};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Read a dataset folder: the simulator's layout (`*.jsonl`) or the MIMIC-CXR-JPG + Chest ImaGenome
/// layout (any folder containing `*_SceneGraph.json` files and no `manifest.json`). Image paths come
/// back absolute.
pub fn read_dataset(dir: impl AsRef<Path>) -> Result<Vec<Record>, DataError> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(DataError::Dataset { path: dir.to_path_buf(), msg: "not a folder".into() });
    }
    if dir.join("manifest.json").is_file() {
        return read_simulated(dir);
    }
    read_imagenome(dir)
}

/// The simulator's layout: `DIR/{train,val,test}.jsonl`, one [`Record`] per line, image paths relative
/// to `DIR` (made absolute here). Every record must have 29 boxes and one label per candidate.
pub fn read_simulated(dir: &Path) -> Result<Vec<Record>, DataError> {
    let mut out = Vec::new();
    for split in SPLITS {
        let p = dir.join(format!("{split}.jsonl"));
        if !p.is_file() {
            continue;
        }
        let f = std::fs::File::open(&p).map_err(|e| DataError::Io { path: p.clone(), source: e })?;
        for (ln, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| DataError::Io { path: p.clone(), source: e })?;
            if line.trim().is_empty() {
                continue;
            }
            let mut r: Record = serde_json::from_str(&line)
                .map_err(|e| DataError::Dataset { path: p.clone(), msg: format!("line {}: {e}", ln + 1) })?;
            check_record(&r)
                .map_err(|msg| DataError::Dataset { path: p.clone(), msg: format!("line {}: {msg}", ln + 1) })?;
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

/// Every file under `dir`, recursively.
pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io { path: dir.to_path_buf(), source: e })?;
    for e in rd {
        let e = e.map_err(|e| DataError::Io { path: dir.to_path_buf(), source: e })?;
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
fn imagenome_entity(name: &str) -> Option<Entity> {
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
    Entity::from_name(mapped)
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
pub fn read_imagenome(root: &Path) -> Result<Vec<Record>, DataError> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    let by_name: std::collections::HashMap<String, PathBuf> =
        files.iter().filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p.clone()))).collect();
    let mut split_of: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (file, split) in [("train.csv", "train"), ("valid.csv", "val"), ("test.csv", "test")] {
        if let Some(p) = by_name.get(file) {
            let text = std::fs::read_to_string(p).map_err(|e| DataError::Io { path: p.clone(), source: e })?;
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
        let bad = |msg: String| DataError::Dataset { path: gp.clone(), msg };
        let text = std::fs::read_to_string(gp).map_err(|e| DataError::Io { path: gp.clone(), source: e })?;
        let g: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let stem =
            gp.file_name().and_then(|s| s.to_str()).unwrap_or("").trim_end_matches("_SceneGraph.json").to_string();
        let id = g.get("image_id").and_then(|v| v.as_str()).unwrap_or(&stem).to_string();
        let image = by_name
            .get(&format!("{id}.jpg"))
            .cloned()
            .ok_or_else(|| bad(format!("image {id}.jpg not found under {}", root.display())))?;
        let (w, h) = image::image_dimensions(&image)
            .map_err(|e| DataError::Image { path: image.clone(), msg: e.to_string() })?;
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
                    .map_err(|e| DataError::Io { path: p.clone(), source: e })
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
            image_labels: Vec::new(),
            findings: Vec::new(),
            qa: Vec::new(),
            source: "mimic-cxr+chest-imagenome".into(),
            params: serde_json::json!({ "patient_id": g.get("patient_id"), "study_id": study, "scene_graph": gp }),
        });
    }
    if out.is_empty() {
        return Err(DataError::Dataset {
            path: root.to_path_buf(),
            msg: "no manifest.json (simulated) and no *_SceneGraph.json (Chest ImaGenome) found".into(),
        });
    }
    Ok(out)
}
