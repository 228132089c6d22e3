use gkmvlp_data::nih::NIH_ENTITIES;
use gkmvlp_data::{Label, read_nih, read_nih_data_entry, read_nih_labels_csv};
use std::path::{Path, PathBuf};

/// A fresh folder under the system's temp folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gkmvlp-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"not read").unwrap();
}

const LABELS_HEADER: &str = "file,nih_image_index,labels,view_position,patient_age,patient_sex,patient_id,follow_up";

#[test]
fn reads_a_labels_csv() {
    let dir = scratch("labels");
    for name in ["00000001_000.png", "00000001_001.png", "00000002_000.png"] {
        touch(&dir.join("images").join(name));
    }
    std::fs::write(
        dir.join("labels.csv"),
        format!(
            "{LABELS_HEADER}\n\
             images/00000001_000.png,00000001_000.png,Cardiomegaly|Effusion,PA,58,M,1,0\n\
             images/00000001_001.png,00000001_001.png,No Finding,AP,58,M,1,1\r\n\
             \n\
             images/00000002_000.png,00000002_000.png,\"Nodule|Mass|Fibrosis\",PA,,F,2,0\n"
        ),
    )
    .unwrap();
    let recs = read_nih(&dir).expect("labels.csv");
    assert_eq!(recs.len(), 3);
    let label = |i: usize, entity: &str| recs[i].label(entity).unwrap();
    assert_eq!(recs[0].image, dir.join("images/00000001_000.png"));
    assert_eq!((recs[0].index.as_str(), recs[0].patient, recs[0].follow_up), ("00000001_000.png", 1, Some(0)));
    assert_eq!((recs[0].view.as_str(), recs[0].age, recs[0].sex.as_str()), ("PA", Some(58), "M"));
    assert_eq!(label(0, "enlarged cardiac silhouette"), Label::Present);
    assert_eq!(label(0, "pleural effusion"), Label::Present);
    assert_eq!(label(0, "pneumothorax"), Label::Absent);
    assert_eq!(label(0, "central venous catheter"), Label::Unknown);
    assert_eq!(recs[0].nih_labels, vec!["Cardiomegaly", "Effusion"]);
    assert!(!recs[0].no_finding);
    assert!(recs[1].no_finding && recs[1].nih_labels.is_empty());
    assert_eq!(recs[1].view, "AP");
    assert_eq!(label(1, "pleural effusion"), Label::Absent);
    assert_eq!(recs[2].age, None);
    assert_eq!(label(2, "lung nodule"), Label::Present);
    assert_eq!(label(2, "lung mass"), Label::Present);
    assert_eq!(recs[2].labels.iter().map(|l| l.as_i8()).filter(|&l| l == 1).count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reads_nihs_data_entry_table_with_the_images_it_finds() {
    let dir = scratch("data-entry");
    // NIH's archives unpack to images_NNN/images/; one image of the table is not here.
    touch(&dir.join("images_001/images/00000003_000.png"));
    touch(&dir.join("images_002/images/00000004_002.png"));
    std::fs::write(
        dir.join("Data_Entry_2017.csv"),
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,\
         OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n\
         00000003_000.png,Hernia|Pneumothorax,0,3,081Y,F,PA,2582,2905,0.143,0.143,\n\
         00000003_001.png,Edema,1,3,74,F,AP,2500,2048,0.168,0.168,\n\
         00000004_002.png,Atelectasis|Consolidation,2,4,45,M,AP,3056,2544,0.139,0.139,\n",
    )
    .unwrap();
    let recs = read_nih(&dir).expect("Data_Entry_2017.csv");
    assert_eq!(recs.len(), 2, "the row whose image is absent is left out");
    assert_eq!(recs[0].image, dir.join("images_001/images/00000003_000.png"));
    assert_eq!((recs[0].patient, recs[0].age, recs[0].view.as_str()), (3, Some(81), "PA"));
    assert_eq!(recs[0].label("pneumothorax"), Some(Label::Present));
    assert_eq!(recs[0].nih_labels, vec!["Hernia", "Pneumothorax"]);
    assert_eq!(recs[1].index, "00000004_002.png");
    assert_eq!(recs[1].follow_up, Some(2));
    assert_eq!(recs[1].label("atelectasis"), Some(Label::Present));
    assert_eq!(recs[1].label("consolidation"), Some(Label::Present));
    assert_eq!(recs[1].label("pulmonary edema"), Some(Label::Absent));
    // No image of the table under the folder: an error naming the table.
    let empty = scratch("data-entry-empty");
    let err = read_nih_data_entry(&dir.join("Data_Entry_2017.csv"), &empty).unwrap_err().to_string();
    assert!(err.contains("Data_Entry_2017.csv") && err.contains("none of its images"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn bad_input_names_the_file_and_line() {
    let dir = scratch("bad");
    touch(&dir.join("images/a.png"));
    let csv = dir.join("labels.csv");
    let expect = |content: &str, wanted: &[&str]| {
        std::fs::write(&csv, content).unwrap();
        let err = read_nih_labels_csv(&csv).unwrap_err().to_string();
        assert!(err.contains(&csv.display().to_string()), "{err}");
        for w in wanted {
            assert!(err.contains(w), "{err:?} lacks {w:?}");
        }
    };
    expect("file,labels,view_position\nimages/a.png,Mass,PA\n", &["line 1", "missing column \"patient_id\""]);
    expect(
        &format!("{LABELS_HEADER}\nimages/a.png,a.png,Mass|Lung cancer,PA,40,F,9,0\n"),
        &["line 2", "unknown label \"Lung cancer\""],
    );
    expect(&format!("{LABELS_HEADER}\nimages/a.png,a.png,Mass,PA,40,F,nine,0\n"), &["line 2", "patient id \"nine\""]);
    expect(&format!("{LABELS_HEADER}\nimages/a.png,a.png,Mass,PA,40,F\n"), &["line 2", "6 fields, the header has 8"]);
    expect(
        &format!("{LABELS_HEADER}\nimages/a.png,a.png,Mass,PA,40,F,9,0\nimages/b.png,b.png,Mass,PA,40,F,9,1\n"),
        &["line 3", "not found"],
    );
    expect(
        &format!("{LABELS_HEADER}\nimages/a.png,a.png,Mass,PA,40,F,9,0\nimages/a.png,a.png,Nodule,PA,40,F,9,0\n"),
        &["line 3", "listed twice (first on line 2)"],
    );
    let missing = dir.join("nowhere.csv");
    let err = read_nih_labels_csv(&missing).unwrap_err().to_string();
    assert!(err.contains("I/O error") && err.contains("nowhere.csv"), "{err}");
    let err = read_nih(dir.join("images")).unwrap_err().to_string();
    assert!(err.contains("no labels.csv and no Data_Entry_2017"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `shared/realcxr`: in the repository (CI's copy) or beside it (this workplace), or `GKMVLP_REALCXR`.
fn realcxr() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::var_os("GKMVLP_REALCXR")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("shared/realcxr"), root.join("../shared/realcxr")])
        .find(|d| d.join("labels.csv").is_file())
}

#[test]
fn reads_the_real_nih_development_set() {
    let Some(dir) = realcxr() else {
        println!("note: shared/realcxr not found (neither in the repository nor beside it): test skipped");
        return;
    };
    let recs = read_nih(&dir).expect("realcxr");
    assert_eq!(recs.len(), 503);
    assert!(recs.iter().all(|r| r.image.is_file()));
    let count = |nih: &str| recs.iter().filter(|r| r.nih_labels.iter().any(|l| l == nih)).count();
    // The counts of its README.
    for (nih, n) in [
        ("Effusion", 97),
        ("Atelectasis", 53),
        ("Cardiomegaly", 39),
        ("Nodule", 23),
        ("Pneumothorax", 19),
        ("Mass", 18),
        ("Consolidation", 18),
        ("Emphysema", 12),
        ("Edema", 9),
    ] {
        assert_eq!(count(nih), n, "{nih}");
        let entity = NIH_ENTITIES.iter().find(|(name, _)| *name == nih).and_then(|(_, e)| *e).unwrap();
        assert_eq!(recs.iter().filter(|r| r.label_of(entity) == Some(Label::Present)).count(), n, "{entity:?}");
    }
    assert_eq!(recs.iter().filter(|r| r.no_finding).count(), 253);
    assert_eq!(recs.iter().filter(|r| r.view == "PA").count() + recs.iter().filter(|r| r.view == "AP").count(), 503);
    assert!(recs.iter().all(|r| r.label("endotracheal tube") == Some(Label::Unknown)));
    let patients: std::collections::HashSet<u32> = recs.iter().map(|r| r.patient).collect();
    assert_eq!(patients.len(), 144);
    let img = image::open(&recs[0].image).expect("png");
    assert_eq!((img.width(), img.height()), (64, 64));
}
