//! The images the input check is fitted and judged on, shared by `tests/input_check.rs` and
//! `examples/fit_input_check.rs`. Positives: the real NIH radiographs of `../shared/realcxr` (or
//! `$GKMVLP_REALCXR`; never in the repository), RG1, the simulated samples in `models/samples` and any
//! folder of simulated PNGs in `$GKMVLP_SIMULATED`. Negatives: the sample images of scikit-image and the
//! DICOM test files of pydicom and pydicom-data that `scripts/fetch-assets.sh` puts in
//! `assets/negatives`, lateral views it renders from the simulator's CT (`render_lateral.py`, when the
//! CT is fetched), and pictures made here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gkmvlp_imaging::Radiograph;

pub const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Files the decoder refuses: name and error.
pub type Undecodable = Vec<(String, String)>;

/// One image of the corpus. `group` keeps related images in one fold: a patient, a file.
pub struct Sample {
    pub source: String,
    pub name: String,
    pub group: u64,
    pub image: Radiograph,
}

/// The real radiographs' folder, if present.
pub fn realcxr_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GKMVLP_REALCXR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join("../shared/realcxr"));
    dir.join("labels.csv").exists().then_some(dir)
}

/// The real radiographs, each with its patient as its group and its view (PA/AP) in its source.
pub fn realcxr(dir: &Path) -> Vec<Sample> {
    let labels = std::fs::read_to_string(dir.join("labels.csv")).expect("labels.csv is readable");
    let mut lines = labels.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column"));
    let (file, patient, view) = (column("file"), column("patient_id"), column("view_position"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            let bytes = std::fs::read(dir.join(cells[file])).expect("a listed image is readable");
            Sample {
                source: format!("realcxr {}", cells[view]),
                name: cells[file].to_string(),
                group: cells[patient].parse().expect("a numeric patient id"),
                image: gkmvlp_imaging::decode(&bytes).expect("a real radiograph decodes"),
            }
        })
        .collect()
}

/// Image files (PNG, JPEG, DICOM by extension) in `dir`, sorted.
pub fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "dcm")
    });
    files.sort();
    files
}

/// Decodes every image file of `dir`; each file is its own group. Files that do not decode are
/// returned by name, with the decoder's error.
pub fn decode_dir(dir: &Path, source: &str) -> (Vec<Sample>, Undecodable) {
    let (mut samples, mut failed) = (Vec::new(), Vec::new());
    for (i, path) in image_files(dir).into_iter().enumerate() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| gkmvlp_imaging::decode(&b).map_err(|e| e.to_string()))
        {
            Ok(image) => samples.push(Sample { source: source.into(), name, group: i as u64, image }),
            Err(e) => failed.push((name, e)),
        }
    }
    (samples, failed)
}

/// Simulated radiographs: the shipped samples and `$GKMVLP_SIMULATED` (a folder of PNGs), and RG1 when
/// fetched (a real chest DICOM, kept with these as it is one file).
pub fn other_positives() -> Vec<Sample> {
    let mut samples = decode_dir(&Path::new(REPO).join("models/samples"), "simulated").0;
    if let Some(dir) = std::env::var_os("GKMVLP_SIMULATED") {
        samples.extend(decode_dir(Path::new(&dir), "simulated").0);
    }
    let rg1 = Path::new(REPO).join("assets/dicom/RG1_UNCR.dcm");
    if let Ok(bytes) = std::fs::read(rg1) {
        let image = gkmvlp_imaging::decode(&bytes).expect("RG1 decodes");
        samples.push(Sample { source: "RG1 DICOM".into(), name: "RG1_UNCR.dcm".into(), group: 0, image });
    }
    for (i, s) in samples.iter_mut().enumerate() {
        s.group = i as u64;
    }
    samples
}

/// The fetched negative sources (`assets/negatives/<source>/`), if fetched: decoded samples by source,
/// and the files the decoder refuses.
pub fn fetched_negatives() -> Option<(Vec<Sample>, Undecodable)> {
    let root = Path::new(REPO).join("assets/negatives");
    if !root.is_dir() {
        return None;
    }
    let (mut samples, mut failed) = (Vec::new(), Vec::new());
    for source in ["scikit-image", "pydicom", "pydicom-data", "lateral-drr"] {
        let (s, f) = decode_dir(&root.join(source), source);
        samples.extend(s);
        failed.extend(f.into_iter().map(|(name, e)| (format!("{source}/{name}"), e)));
    }
    Some((samples, failed))
}

/// Deterministic pseudo-random numbers in `[0, 1)` (xorshift64*).
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn picture(width: u32, height: u32, f: impl Fn(f32, f32) -> f32) -> Radiograph {
    let pixels = (0..width * height)
        .map(|i| f((i % width) as f32 / width as f32, (i / width) as f32 / height as f32).clamp(0.0, 1.0))
        .collect();
    Radiograph::grey(width, height, pixels)
}

/// Low-frequency random field: a sum of `n` random blobs.
fn blobs(seed: u64, n: usize, side: u32) -> Radiograph {
    let mut rng = Noise::new(seed);
    let spots: Vec<[f32; 4]> =
        (0..n).map(|_| [rng.next(), rng.next(), 0.05 + 0.2 * rng.next(), rng.next() - 0.5]).collect();
    picture(side, side, |x, y| {
        0.5 + spots
            .iter()
            .map(|[cx, cy, r, a]| a * (-((x - cx).powi(2) + (y - cy).powi(2)) / (r * r)).exp())
            .sum::<f32>()
    })
}

/// A colour picture, through a real RGB PNG so that the decoder measures its chroma.
fn colour(seed: u64, side: u32) -> Radiograph {
    let mut rng = Noise::new(seed);
    let (a, b) = (rng.next(), rng.next());
    let image = image::RgbImage::from_fn(side, side, |x, y| {
        let (u, v) = (x as f32 / side as f32, y as f32 / side as f32);
        image::Rgb([(255.0 * u * a) as u8, (255.0 * v) as u8, (255.0 * (1.0 - u) * b) as u8])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image).write_to(&mut png, image::ImageFormat::Png).expect("encode a PNG");
    gkmvlp_imaging::decode(png.get_ref()).expect("decode the PNG just made")
}

/// Pictures that are plainly not radiographs: blank, noise, gradients, patterns, shapes, text-like
/// rows, smooth random fields, colour, elongated strips. Each is its own group.
pub fn generated() -> Vec<Sample> {
    let mut out: Vec<(String, Radiograph)> = Vec::new();
    for (i, side) in [64u32, 300, 1024].into_iter().enumerate() {
        for level in [0.0, 0.5, 1.0] {
            out.push((format!("blank {level} {side}"), picture(side, side, |_, _| level)));
        }
        let mut rng = Noise::new(i as u64);
        let noise: Vec<f32> = (0..side * side).map(|_| rng.next()).collect();
        out.push((format!("uniform noise {side}"), Radiograph::grey(side, side, noise)));
        out.push((format!("horizontal gradient {side}"), picture(side, side, |x, _| x)));
        out.push((format!("vertical gradient {side}"), picture(side, side, |_, y| y)));
        out.push((format!("radial gradient {side}"), picture(side, side, |x, y| (x - 0.5).hypot(y - 0.5) * 2.0)));
        out.push((
            format!("checkerboard 8 {side}"),
            picture(side, side, |x, y| ((x * 8.0) as u32 + (y * 8.0) as u32) as f32 % 2.0),
        ));
        out.push((format!("stripes {side}"), picture(side, side, |x, _| (x * 20.0).floor() % 2.0)));
        out.push((
            format!("disc {side}"),
            picture(side, side, |x, y| f32::from(u8::from((x - 0.5).hypot(y - 0.5) < 0.3))),
        ));
        out.push((
            format!("two discs {side}"),
            picture(side, side, |x, y| {
                f32::from(u8::from((x - 0.3).hypot(y - 0.5) < 0.18 || (x - 0.7).hypot(y - 0.5) < 0.18))
            }),
        ));
        out.push((
            format!("text rows {side}"),
            picture(side, side, |x, y| {
                let (row, col) = ((y * 24.0) as u32, (x * 60.0) as u32);
                let ink = row % 2 == 0 && (row * 7 + col * 13) % 5 != 0 && x > 0.08 && x < 0.92;
                if ink { 0.1 } else { 0.95 }
            }),
        ));
        out.push((format!("colour {side}"), colour(i as u64, side)));
    }
    for seed in 0..8 {
        out.push((format!("smooth random field {seed}"), blobs(seed, 12, 256)));
    }
    out.push(("strip 4:1".into(), picture(1024, 256, |x, y| 0.5 + 0.4 * (x * 9.0).sin() * y)));
    out.into_iter()
        .enumerate()
        .map(|(i, (name, image))| Sample { source: "generated".into(), name, group: i as u64, image })
        .collect()
}

/// Framings a real film may come in, beyond the thumbnails' tight crop: zoomed out with a black or white
/// border (collimation, a scanned film), shifted, zoomed in. The fitter adds them to the positives so
/// that the check holds when a film is framed otherwise.
pub fn framings(image: &Radiograph) -> Vec<Radiograph> {
    let resample = |fx0: f32, fy0: f32, scale: f32, fill: f32| {
        let (w, h) = (image.width, image.height);
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 / w as f32, (i / w) as f32 / h as f32);
                let (sx, sy) = ((x - fx0) / scale, (y - fy0) / scale);
                if (0.0..1.0).contains(&sx) && (0.0..1.0).contains(&sy) {
                    image.pixels[(sy * h as f32) as usize * w as usize + (sx * w as f32) as usize]
                } else {
                    fill
                }
            })
            .collect();
        Radiograph::grey(w, h, pixels)
    };
    vec![
        resample(0.08, 0.08, 0.84, 0.0),
        resample(0.1, 0.05, 0.85, 1.0),
        resample(0.0, 0.1, 0.9, 0.0),
        resample(-0.06, -0.06, 1.12, 0.0),
    ]
}

/// What may happen to a real film on its way to the check and must not get it refused, none of it seen
/// in fitting: tilted a few degrees either way (corners filled black, as a rotated scan), scaled up to a
/// full-resolution size.
pub fn unseen_variants(image: &Radiograph) -> Vec<(&'static str, Radiograph)> {
    vec![
        ("tilted 5° anticlockwise", rotated(image, 5f32.to_radians())),
        ("tilted 5° clockwise", rotated(image, -5f32.to_radians())),
        ("scaled to 1024 px", image.resize_square(1024)),
    ]
}

/// A real film turned a quarter either way or upside down: not a correctly oriented frontal film, which
/// the model would misread, so the check should refuse it.
pub fn turned(image: &Radiograph) -> Vec<(&'static str, Radiograph)> {
    vec![
        ("turned a quarter clockwise", rotated(image, -std::f32::consts::FRAC_PI_2)),
        ("turned a quarter anticlockwise", rotated(image, std::f32::consts::FRAC_PI_2)),
        ("upside down", rotated(image, std::f32::consts::PI)),
    ]
}

/// The film with its grey levels inverted (bones dark), as a MONOCHROME1 image saved without its
/// inversion would look.
pub fn inverted(image: &Radiograph) -> Radiograph {
    Radiograph::grey(image.width, image.height, image.pixels.iter().map(|v| 1.0 - v).collect())
}

/// `image` rotated by `angle` radians (anticlockwise as seen) about its centre, nearest neighbour, what
/// falls outside black.
fn rotated(image: &Radiograph, angle: f32) -> Radiograph {
    let (w, h) = (image.width as f32, image.height as f32);
    let (sin, cos) = angle.sin_cos();
    let pixels = (0..image.width * image.height)
        .map(|i| {
            let (x, y) = ((i % image.width) as f32 + 0.5 - w / 2.0, (i / image.width) as f32 + 0.5 - h / 2.0);
            // Rows run down, so an anticlockwise turn as seen reads its source at the clockwise angle.
            let (sx, sy) = (cos * x - sin * y + w / 2.0, sin * x + cos * y + h / 2.0);
            if (0.0..w).contains(&sx) && (0.0..h).contains(&sy) {
                image.pixels[sy as usize * image.width as usize + sx as usize]
            } else {
                0.0
            }
        })
        .collect();
    Radiograph::grey(image.width, image.height, pixels)
}
