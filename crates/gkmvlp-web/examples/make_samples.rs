//! Writes the page's bundled sample images into OUT_DIR with an `index.json` listing them:
//! the RG1 chest radiograph (a real PA chest DICOM from pydicom-data, fetched into assets/ by
//! scripts/fetch-assets.sh) converted to PNG with the same decoder the page and the CLI use, the DICOM
//! itself, and simulated radiographs. Samples whose source is missing are skipped, never faked.
//!
//! `cargo run --release -p gkmvlp-web --example make_samples -- OUT_DIR [SIMULATED.png ...]`

use std::path::{Path, PathBuf};

use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp_imaging::{Radiograph, SourceFormat};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: make_samples OUT_DIR [SIMULATED.png ...]")?);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut index = Vec::new();
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).map_err(|e| format!("{}: {e}", out.join(name).display()))
    };

    let rg1 = Path::new(REPO).join("assets/dicom/RG1_UNCR.dcm");
    if let Ok(dicom) = std::fs::read(&rg1) {
        let r = gkmvlp_imaging::decode(&dicom).map_err(|e| format!("{}: {e}", rg1.display()))?;
        write("rg1.png", &r.to_png_8bit())?;
        write("rg1.dcm", &dicom)?;
        index.push(serde_json::json!({"file": "rg1.png", "label": "RG1 chest PA (real, PNG)"}));
        index.push(serde_json::json!({"file": "rg1.dcm", "label": "RG1 chest PA (real, DICOM)"}));
    } else {
        eprintln!("make_samples: {} missing (run scripts/fetch-assets.sh); RG1 samples skipped", rg1.display());
    }

    for (k, path) in args.enumerate() {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        gkmvlp_imaging::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
        let name = format!("simulated-{}.png", k + 1);
        write(&name, &bytes)?;
        index.push(serde_json::json!({"file": name, "label": format!("simulated radiograph {}", k + 1)}));
    }

    // The deterministic chest-like test picture the parity tests use (not the simulator).
    let size = 256;
    let pixels = synthetic_radiograph(size);
    let picture = Radiograph {
        width: size as u32,
        height: size as u32,
        pixels,
        format: SourceFormat::Png,
        bits_stored: 8,
        modality_values: None,
        window: None,
        invert: false,
    };
    write("synthetic.png", &picture.to_png_8bit())?;
    index.push(serde_json::json!({"file": "synthetic.png", "label": "synthetic test picture"}));

    write("index.json", serde_json::to_string_pretty(&index).map_err(|e| e.to_string())?.as_bytes())?;
    println!("{} samples in {}", index.len(), out.display());
    Ok(())
}
