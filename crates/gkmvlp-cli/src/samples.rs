//! `gkmvlp samples OUT_DIR [SIMULATED.png ...]`: writes the page's bundled sample images into OUT_DIR with
//! an `index.json` listing them: the RG1 chest radiograph (a real PA chest DICOM from pydicom-data, fetched
//! into assets/ by scripts/fetch-assets.sh) converted to PNG with the same decoder the page and the CLI use,
//! the DICOM itself, and simulated radiographs. Samples whose source is missing are skipped, never faked.
//! `npm run build` (web/scripts/prepare-assets.mjs) runs it into web/public/samples.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use gkmvlp::inference::reference_run::synthetic_radiograph;
use gkmvlp_imaging::Radiograph;

#[derive(Args)]
pub struct SamplesArgs {
    /// Output folder (created).
    #[arg(value_name = "OUT_DIR")]
    out: PathBuf,
    /// Simulated radiographs (PNG) to bundle too, as `simulated-1.png`, `simulated-2.png`, ...
    #[arg(value_name = "SIMULATED.png")]
    simulated: Vec<PathBuf>,
}

pub fn run(args: &SamplesArgs) -> Result<()> {
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut index = Vec::new();
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };

    let rg1 = crate::analyze::repo_path("assets/dicom/RG1_UNCR.dcm");
    if let Ok(dicom) = std::fs::read(&rg1) {
        let r = gkmvlp_imaging::decode(&dicom).with_context(|| format!("cannot decode {}", rg1.display()))?;
        write("rg1.png", &r.to_png_8bit())?;
        write("rg1.dcm", &dicom)?;
        index.push(serde_json::json!({"file": "rg1.png", "label": "RG1 chest PA (real, PNG)"}));
        index.push(serde_json::json!({"file": "rg1.dcm", "label": "RG1 chest PA (real, DICOM)"}));
    } else {
        eprintln!("samples: {} missing (run scripts/fetch-assets.sh); RG1 samples skipped", rg1.display());
    }

    for (k, path) in args.simulated.iter().enumerate() {
        let bytes = read_radiograph(path)?;
        let name = format!("simulated-{}.png", k + 1);
        write(&name, &bytes)?;
        index.push(serde_json::json!({"file": name, "label": format!("simulated radiograph {}", k + 1)}));
    }

    // The deterministic chest-like test picture the parity tests use (not the simulator).
    let size = 256;
    let pixels = synthetic_radiograph(size);
    let picture = Radiograph::grey(size as u32, size as u32, pixels);
    write("synthetic.png", &picture.to_png_8bit())?;
    index.push(serde_json::json!({"file": "synthetic.png", "label": "synthetic test picture"}));

    write("index.json", serde_json::to_string_pretty(&index).context("cannot serialise the index")?.as_bytes())?;
    println!("{} samples in {}", index.len(), out.display());
    Ok(())
}

/// The file's bytes, once they are known to decode as a radiograph.
fn read_radiograph(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    gkmvlp_imaging::decode(&bytes).with_context(|| format!("cannot decode {}", path.display()))?;
    Ok(bytes)
}
