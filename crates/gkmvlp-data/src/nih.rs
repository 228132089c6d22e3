//! NIH ChestX-ray14 image-level labels, mapped onto the vocabulary's entities.
//!
//! Two layouts:
//! - a folder with `labels.csv` (columns `file, nih_image_index, labels, view_position, patient_age,
//!   patient_sex, patient_id, follow_up`; `file` relative to the folder), as in `shared/realcxr`:
//!   [`read_nih_labels_csv`];
//! - NIH's own `Data_Entry_2017*.csv` (columns `Image Index, Finding Labels, Follow-up #, Patient ID,
//!   Patient Age, Patient Gender, View Position, …`) and a folder holding the images at any depth (NIH
//!   ships them in `images_001/images/` … `images_012/images/`): [`read_nih_data_entry`].
//!
//! NIH's labels were mined from reports and are image-level: no boxes, no positions. Nine of its
//! fourteen findings are vocabulary entities ([`NIH_ENTITIES`]); for those a record says present or
//! absent, for the other five entities (enlarged hilum, mediastinal widening, elevated hemidiaphragm,
//! the two devices) unknown. NIH's five other findings (Fibrosis, Hernia, Infiltration,
//! Pleural_Thickening, Pneumonia) are accepted and kept in [`NihRecord::nih_labels`] only.

use crate::DataError;
use crate::Record;
use crate::read::walk;
use gkmvlp_vocab::{Entity, NUM_ENTITIES, NUM_REGIONS, candidates};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// NIH's findings and the vocabulary entity each maps to (None: no entity of ours).
pub const NIH_ENTITIES: [(&str, Option<Entity>); 14] = [
    ("Atelectasis", Some(Entity::Atelectasis)),
    ("Cardiomegaly", Some(Entity::EnlargedCardiacSilhouette)),
    ("Consolidation", Some(Entity::Consolidation)),
    ("Edema", Some(Entity::PulmonaryEdema)),
    ("Effusion", Some(Entity::PleuralEffusion)),
    ("Emphysema", Some(Entity::Hyperaeration)),
    ("Fibrosis", None),
    ("Hernia", None),
    ("Infiltration", None),
    ("Mass", Some(Entity::LungMass)),
    ("Nodule", Some(Entity::LungNodule)),
    ("Pleural_Thickening", None),
    ("Pneumonia", None),
    ("Pneumothorax", Some(Entity::Pneumothorax)),
];

/// NIH's label for an image with none of its fourteen findings.
pub const NO_FINDING: &str = "No Finding";

/// An image-level label for one entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Present,
    Absent,
    /// The source does not label this entity.
    Unknown,
}

impl Label {
    /// 1 present, 0 absent, -1 unknown (as [`crate::Record::exist`]).
    pub fn as_i8(self) -> i8 {
        match self {
            Label::Present => 1,
            Label::Absent => 0,
            Label::Unknown => -1,
        }
    }
}

/// One NIH ChestX-ray14 image with its image-level labels.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NihRecord {
    /// The image file (the folder joined with the CSV's path, or where it was found).
    pub image: PathBuf,
    /// NIH's "Image Index" (`PPPPPPPP_FFF.png`).
    pub index: String,
    pub patient: u32,
    pub follow_up: Option<u32>,
    /// "PA" or "AP".
    pub view: String,
    pub age: Option<u32>,
    /// "M" or "F" (empty where the file does not say).
    pub sex: String,
    /// One label per entity, in `gkmvlp_vocab::Entity::ALL` order.
    pub labels: Vec<Label>,
    /// NIH's "No Finding": none of its fourteen findings.
    pub no_finding: bool,
    /// NIH's own finding names for this image, as listed (empty for "No Finding").
    pub nih_labels: Vec<String>,
}

impl NihRecord {
    /// The label of the entity named `name` (an [`Entity::name`]); None if no such entity.
    pub fn label(&self, name: &str) -> Option<Label> {
        Entity::from_name(name).and_then(|e| self.label_of(e))
    }

    /// The label of `entity`.
    pub fn label_of(&self, entity: Entity) -> Option<Label> {
        self.labels.get(entity.index()).copied()
    }

    /// Which of `folds` patient-disjoint folds this image belongs to: a hash of the patient, so a patient's
    /// films share a fold and a fold does not depend on which other images are listed.
    pub fn fold(&self, folds: usize) -> usize {
        let hash = u64::from(self.patient).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (hash % folds.max(1) as u64) as usize
    }

    /// As a training record: no boxes, no text; an entity absent from the image is absent at each of its
    /// positions, one present is known only to be somewhere among them (`Record::image_labels`).
    pub fn to_record(&self) -> Record {
        let exist =
            candidates().iter().map(|c| if self.labels[c.entity.index()] == Label::Absent { 0 } else { -1 }).collect();
        Record {
            id: format!("nih/{}", self.index),
            image: self.image.clone(),
            split: "train".into(),
            view: self.view.clone(),
            width: 0,
            height: 0,
            report: Default::default(),
            boxes: vec![None; NUM_REGIONS],
            exist,
            image_labels: self.labels.iter().map(|l| l.as_i8()).collect(),
            findings: Vec::new(),
            qa: Vec::new(),
            source: "nih-chestxray14".into(),
            params: serde_json::json!({ "patient_id": self.patient, "nih_labels": self.nih_labels }),
        }
    }
}

/// A folder of NIH images: `labels.csv` if it has one, else its newest `Data_Entry_2017*.csv` with the
/// images anywhere under the folder.
pub fn read_nih(dir: impl AsRef<Path>) -> Result<Vec<NihRecord>, DataError> {
    let dir = dir.as_ref();
    let labels = dir.join("labels.csv");
    if labels.is_file() {
        return read_nih_labels_csv(&labels);
    }
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io { path: dir.to_path_buf(), source: e })?;
    let mut entries = Vec::new();
    for e in rd {
        let p = e.map_err(|e| DataError::Io { path: dir.to_path_buf(), source: e })?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("Data_Entry_2017") && name.ends_with(".csv") && p.is_file() {
            entries.push(p);
        }
    }
    entries.sort();
    match entries.pop() {
        Some(csv) => read_nih_data_entry(&csv, dir),
        None => Err(DataError::Dataset {
            path: dir.to_path_buf(),
            msg: "no labels.csv and no Data_Entry_2017*.csv (NIH ChestX-ray14) found".into(),
        }),
    }
}

/// `labels.csv` in the layout of `shared/realcxr`: every listed image must exist (paths relative to
/// the CSV's folder). Required columns: `file`, `labels`, `view_position`, `patient_id`; `nih_image_index`
/// (default: the file's name), `follow_up`, `patient_age` and `patient_sex` are read where present.
pub fn read_nih_labels_csv(csv: &Path) -> Result<Vec<NihRecord>, DataError> {
    let folder = csv.parent().unwrap_or(Path::new("."));
    let columns = Columns {
        file: "file",
        index: Some("nih_image_index"),
        labels: "labels",
        view: "view_position",
        patient: "patient_id",
        follow_up: "follow_up",
        age: "patient_age",
        sex: "patient_sex",
    };
    let rows = read_rows(csv, &columns)?;
    let mut out = Vec::with_capacity(rows.len());
    for (line, mut rec) in rows {
        let image = folder.join(&rec.image);
        if !image.is_file() {
            return Err(bad(csv, line, format!("image {} not found", image.display())));
        }
        rec.image = image;
        out.push(rec);
    }
    Ok(out)
}

/// NIH's `Data_Entry_2017*.csv` with the images under `images` (any depth, found by file name).
/// Required columns: `Image Index`, `Finding Labels`, `View Position`, `Patient ID`; `Follow-up #`,
/// `Patient Age` and `Patient Gender` are read where present. NIH ships its 112,120 images in twelve
/// archives, so rows whose image is not under `images` are left out; none found is an error.
pub fn read_nih_data_entry(csv: &Path, images: &Path) -> Result<Vec<NihRecord>, DataError> {
    let columns = Columns {
        file: "Image Index",
        index: None,
        labels: "Finding Labels",
        view: "View Position",
        patient: "Patient ID",
        follow_up: "Follow-up #",
        age: "Patient Age",
        sex: "Patient Gender",
    };
    let rows = read_rows(csv, &columns)?;
    let mut files = Vec::new();
    walk(images, &mut files)?;
    let by_name: HashMap<String, PathBuf> =
        files.into_iter().filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p))).collect();
    let out: Vec<NihRecord> = rows
        .into_iter()
        .filter_map(|(_, mut rec)| {
            rec.image = by_name.get(&rec.index)?.clone();
            Some(rec)
        })
        .collect();
    if out.is_empty() {
        return Err(DataError::Dataset {
            path: csv.to_path_buf(),
            msg: format!("none of its images found under {}", images.display()),
        });
    }
    Ok(out)
}

/// The column names of one layout (optional ones are read where the header has them).
struct Columns {
    file: &'static str,
    index: Option<&'static str>,
    labels: &'static str,
    view: &'static str,
    patient: &'static str,
    follow_up: &'static str,
    age: &'static str,
    sex: &'static str,
}

fn bad(csv: &Path, line: usize, msg: String) -> DataError {
    DataError::Dataset { path: csv.to_path_buf(), msg: format!("line {line}: {msg}") }
}

/// Every data row of `csv` as a record with `image` as written in the file, with its line number.
fn read_rows(csv: &Path, columns: &Columns) -> Result<Vec<(usize, NihRecord)>, DataError> {
    let text = std::fs::read_to_string(csv).map_err(|e| DataError::Io { path: csv.to_path_buf(), source: e })?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, header) = lines.next().ok_or_else(|| bad(csv, 1, "empty file, expected a header".into()))?;
    let mut header = split_csv(header).map_err(|m| bad(csv, 1, m))?;
    // NIH's 2017 table ends its header with an empty column.
    while header.last().is_some_and(|h| h.trim().is_empty()) {
        header.pop();
    }
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| find(name).ok_or_else(|| bad(csv, 1, format!("missing column {name:?}")));
    let (file, labels, view, patient) =
        (need(columns.file)?, need(columns.labels)?, need(columns.view)?, need(columns.patient)?);
    let index = columns.index.and_then(find);
    let (follow_up, age, sex) = (find(columns.follow_up), find(columns.age), find(columns.sex));
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (ln, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(line).map_err(|m| bad(csv, ln, m))?;
        if fields.len() < header.len() || fields[header.len()..].iter().any(|f| !f.trim().is_empty()) {
            return Err(bad(csv, ln, format!("{} fields, the header has {}", fields.len(), header.len())));
        }
        let get = |i: usize| fields[i].trim();
        let number = |i: usize, what: &str| -> Result<u32, DataError> {
            get(i).parse().map_err(|_| bad(csv, ln, format!("{what} {:?} is not a whole number", get(i))))
        };
        let image = PathBuf::from(get(file));
        if get(file).is_empty() {
            return Err(bad(csv, ln, format!("empty {:?}", columns.file)));
        }
        let name = match index.map(get) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => image.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string(),
        };
        if let Some(first) = seen.insert(name.clone(), ln) {
            return Err(bad(csv, ln, format!("image {name} listed twice (first on line {first})")));
        }
        let (labels, no_finding, nih_labels) = parse_labels(get(labels)).map_err(|m| bad(csv, ln, m))?;
        let age = match age.map(get).filter(|a| !a.is_empty()) {
            // The 2017 table writes some ages as "058Y".
            Some(a) => Some(
                a.trim_end_matches(['Y', 'y'])
                    .parse()
                    .map_err(|_| bad(csv, ln, format!("age {a:?} is not a whole number")))?,
            ),
            None => None,
        };
        out.push((
            ln,
            NihRecord {
                image,
                index: name,
                patient: number(patient, "patient id")?,
                follow_up: match follow_up.filter(|&i| !get(i).is_empty()) {
                    Some(i) => Some(number(i, "follow-up")?),
                    None => None,
                },
                view: get(view).to_string(),
                age,
                sex: sex.map(get).unwrap_or("").to_string(),
                labels,
                no_finding,
                nih_labels,
            },
        ));
    }
    Ok(out)
}

/// NIH's pipe-separated finding list → (one label per entity, no finding, NIH's names).
fn parse_labels(list: &str) -> Result<(Vec<Label>, bool, Vec<String>), String> {
    let mut labels: Vec<Label> = vec![Label::Unknown; NUM_ENTITIES];
    for (_, entity) in NIH_ENTITIES {
        if let Some(e) = entity {
            labels[e.index()] = Label::Absent;
        }
    }
    let names: Vec<&str> = list.split('|').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(format!("empty finding label in {list:?}"));
    }
    if names.contains(&NO_FINDING) {
        if names.len() > 1 {
            return Err(format!("{NO_FINDING:?} together with findings in {list:?}"));
        }
        return Ok((labels, true, Vec::new()));
    }
    let mut nih = Vec::with_capacity(names.len());
    for name in names {
        let Some((nih_name, entity)) = NIH_ENTITIES.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = NIH_ENTITIES.iter().map(|(n, _)| *n).collect();
            return Err(format!("unknown label {name:?}; one of: {}, or {NO_FINDING:?}", known.join(", ")));
        };
        if let Some(e) = entity {
            labels[e.index()] = Label::Present;
        }
        nih.push(nih_name.to_string());
    }
    Ok((labels, false, nih))
}

/// One CSV line into its fields: commas separate, double quotes enclose a field that may hold commas,
/// `""` inside quotes is a quote.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_nih_findings_map_onto_vocabulary_entities() {
        assert_eq!(NIH_ENTITIES.iter().filter(|(_, e)| e.is_some()).count(), 9);
    }

    #[test]
    fn csv_fields_with_quotes() {
        assert_eq!(split_csv(r#"a,"b,c",,"d ""e""""#).unwrap(), vec!["a", "b,c", "", "d \"e\""]);
        assert!(split_csv(r#"a,"b"#).is_err());
    }

    #[test]
    fn labels_map_onto_entities() {
        let (labels, no_finding, nih) = parse_labels("Effusion|Infiltration|Emphysema").unwrap();
        let label = |name: &str| labels[Entity::from_name(name).unwrap().index()];
        assert!(!no_finding);
        assert_eq!(nih, vec!["Effusion", "Infiltration", "Emphysema"]);
        assert_eq!(label("pleural effusion"), Label::Present);
        assert_eq!(label("hyperaeration"), Label::Present);
        assert_eq!(label("lung nodule"), Label::Absent);
        assert_eq!(label("endotracheal tube"), Label::Unknown);
        let (labels, no_finding, nih) = parse_labels("No Finding").unwrap();
        assert!(no_finding && nih.is_empty());
        assert_eq!(labels.iter().filter(|l| **l == Label::Absent).count(), 9);
        assert_eq!(labels.iter().filter(|l| **l == Label::Unknown).count(), 5);
        assert!(parse_labels("Effusion|Pleural effusion").unwrap_err().contains("unknown label \"Pleural effusion\""));
        assert!(parse_labels("No Finding|Mass").is_err());
        assert!(parse_labels("Mass||Nodule").is_err());
    }

    fn record(patient: u32, labels: &str) -> NihRecord {
        let (labels, no_finding, nih_labels) = parse_labels(labels).unwrap();
        NihRecord {
            image: PathBuf::from("x.png"),
            index: format!("{patient:08}_000.png"),
            patient,
            follow_up: None,
            view: "PA".into(),
            age: None,
            sex: String::new(),
            labels,
            no_finding,
            nih_labels,
        }
    }

    #[test]
    fn a_training_record_knows_absence_everywhere_and_presence_only_somewhere() {
        let r = record(7, "Effusion").to_record();
        assert_eq!(r.boxes, vec![None; NUM_REGIONS]);
        assert_eq!(r.image_labels[Entity::PleuralEffusion.index()], 1);
        assert_eq!(r.image_labels[Entity::LungNodule.index()], 0);
        assert_eq!(r.image_labels[Entity::EndotrachealTube.index()], -1);
        for (c, &e) in candidates().iter().zip(&r.exist) {
            let expected = if c.entity == Entity::LungNodule { Some(0) } else { None };
            if let Some(expected) = expected {
                assert_eq!(e, expected, "{c:?}");
            }
            if matches!(c.entity, Entity::PleuralEffusion | Entity::EndotrachealTube) {
                assert_eq!(e, -1, "{c:?}");
            }
        }
    }

    #[test]
    fn folds_keep_a_patients_films_together_and_are_balanced() {
        let folds = 5;
        assert_eq!(record(42, "No Finding").fold(folds), record(42, "Mass").fold(folds));
        let mut sizes = [0usize; 5];
        for patient in 0..1000 {
            sizes[record(patient, "No Finding").fold(folds)] += 1;
        }
        assert!(sizes.iter().all(|&n| (150..250).contains(&n)), "{sizes:?}");
    }
}
