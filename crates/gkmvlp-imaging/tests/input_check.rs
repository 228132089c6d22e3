//! The input check: its features on made pictures, and the committed model on the corpus (every real
//! and simulated radiograph accepted; the negatives refused). Real radiographs are read from
//! `../shared/realcxr` (or `$GKMVLP_REALCXR`) and the fetched negatives from `assets/negatives`; each
//! part says so and is skipped when its images are missing.

mod corpus;

use gkmvlp_imaging::Radiograph;
use gkmvlp_imaging::input_check::{Features, SHIPPED};

fn features(image: &Radiograph) -> Features {
    Features::of(image, SHIPPED.components)
}

#[test]
fn blank_noise_colour_and_strips_are_refused_by_their_rule() {
    let blank = Radiograph::grey(64, 64, vec![0.5; 64 * 64]);
    let check = blank.check_frontal_chest();
    assert!(!check.chest_radiograph && check.reason.contains("blank"), "{check:?}");

    let mut noise = corpus::Noise::new(1);
    let noisy = Radiograph::grey(256, 256, (0..256 * 256).map(|_| noise.next()).collect());
    let check = noisy.check_frontal_chest();
    assert!(!check.chest_radiograph && check.reason.contains("noise"), "{check:?}");

    let colour = corpus::generated().into_iter().find(|s| s.name.starts_with("colour")).expect("a colour picture");
    assert!(colour.image.chroma > 0.1, "chroma {}", colour.image.chroma);
    let check = colour.image.check_frontal_chest();
    assert!(!check.chest_radiograph && check.reason.contains("colour"), "{check:?}");

    let strip = Radiograph::grey(400, 100, (0..400 * 100).map(|i| (i % 400) as f32 / 400.0).collect());
    let check = strip.check_frontal_chest();
    assert!(!check.chest_radiograph && check.reason.contains("longer than wide"), "{check:?}");
}

#[test]
fn features_read_symmetry_smoothness_and_aspect() {
    let symmetric = Radiograph::grey(64, 64, (0..64 * 64).map(|i| ((i % 64) as f32 - 31.5).abs() / 32.0).collect());
    let f = features(&symmetric);
    assert!(f.symmetry > 0.99, "a mirror-symmetric picture: {}", f.symmetry);
    assert!(f.smoothness > 0.9, "a smooth picture: {}", f.smoothness);
    let ramp = Radiograph::grey(128, 64, (0..128 * 64).map(|i| (i % 128) as f32 / 128.0).collect());
    let f = features(&ramp);
    assert!(f.symmetry < -0.99, "a left-to-right ramp is its mirror's opposite: {}", f.symmetry);
    assert!((f.log_aspect - 2f32.ln()).abs() < 1e-6);
    assert_eq!(f.chroma, 0.0);
}

#[test]
fn the_check_reads_the_same_film_at_any_resolution() {
    let Some(dir) = corpus::realcxr_dir() else {
        println!("skipped: no real radiographs at ../shared/realcxr (set GKMVLP_REALCXR)");
        return;
    };
    for sample in corpus::realcxr(&dir).iter().take(20) {
        let small = sample.image.check_frontal_chest();
        for side in [256, 1024, 2048] {
            let large = sample.image.resize_square(side).check_frontal_chest();
            assert!(large.chest_radiograph, "{} at {side}: {large:?}", sample.name);
            assert!(
                (large.score - small.score).abs() < 0.1,
                "{}: {} at 64, {} at {side}",
                sample.name,
                small.score,
                large.score
            );
        }
    }
}

#[test]
fn every_real_and_simulated_radiograph_is_accepted() {
    let mut positives = corpus::other_positives();
    match corpus::realcxr_dir() {
        Some(dir) => positives.extend(corpus::realcxr(&dir)),
        None => println!("note: no real radiographs at ../shared/realcxr (set GKMVLP_REALCXR); simulated only"),
    }
    let refused: Vec<String> = positives
        .iter()
        .map(|s| (s, s.image.check_frontal_chest()))
        .filter(|(_, c)| !c.chest_radiograph)
        .map(|(s, c)| format!("{} ({}): {}", s.name, s.source, c.reason))
        .collect();
    let lowest = positives.iter().map(|s| s.image.check_frontal_chest().score).fold(1.0f32, f32::min);
    println!("{} positives, lowest score {lowest:.3}", positives.len());
    assert!(refused.is_empty(), "real or simulated radiographs refused: {refused:#?}");
}

#[test]
fn real_films_tilted_a_little_or_scaled_up_are_accepted() {
    let Some(dir) = corpus::realcxr_dir() else {
        println!("skipped: no real radiographs at ../shared/realcxr (set GKMVLP_REALCXR)");
        return;
    };
    let refused: Vec<String> = corpus::realcxr(&dir)
        .iter()
        .flat_map(|s| corpus::unseen_variants(&s.image).into_iter().map(move |(variant, image)| (s, variant, image)))
        .filter_map(|(s, variant, image)| {
            let check = image.check_frontal_chest();
            (!check.chest_radiograph).then(|| format!("{} {variant}: {}", s.name, check.reason))
        })
        .collect();
    assert!(refused.is_empty(), "real films refused: {refused:#?}");
}

/// A film saved with inverted grey levels is refused, as the model would misread it, and told so; the
/// fitter measures 463 of 503 held-out films (92 %) told so, and no negative.
#[test]
fn inverted_real_films_are_refused_as_inverted() {
    let Some(dir) = corpus::realcxr_dir() else {
        println!("skipped: no real radiographs at ../shared/realcxr (set GKMVLP_REALCXR)");
        return;
    };
    let real = corpus::realcxr(&dir);
    let told = real
        .iter()
        .map(|s| corpus::inverted(&s.image).check_frontal_chest())
        .filter(|c| !c.chest_radiograph && c.reason.contains("inverted"))
        .count();
    println!("{told} of {} inverted films refused as inverted", real.len());
    assert!(told as f32 >= 0.9 * real.len() as f32, "only {told} of {}", real.len());
    let mut negatives = corpus::generated();
    negatives.extend(corpus::fetched_negatives().map(|(fetched, _)| fetched).unwrap_or_default());
    let misread: Vec<&str> = negatives
        .iter()
        .filter(|s| s.image.check_frontal_chest().reason.contains("inverted"))
        .map(|s| s.name.as_str())
        .collect();
    assert!(misread.is_empty(), "told they look like an inverted chest film: {misread:?}");
}

/// Issue 36 asks for 95 %. The fitter measures 154 of 158 files refused (97.5 %; 77 of 81 distinct
/// images, 95.1 %); negatives play no part in the fit, so the committed model reads them as unseen too.
const REFUSED_AT_LEAST: f32 = 0.95;

#[test]
fn most_negatives_are_refused() {
    let mut negatives = corpus::generated();
    match corpus::fetched_negatives() {
        Some((fetched, _)) => negatives.extend(fetched),
        None => println!("note: no assets/negatives (run scripts/fetch-assets.sh); generated pictures only"),
    }
    let accepted: Vec<String> = negatives
        .iter()
        .filter(|s| s.image.check_frontal_chest().chest_radiograph)
        .map(|s| format!("{}/{}", s.source, s.name))
        .collect();
    let refused = 1.0 - accepted.len() as f32 / negatives.len() as f32;
    println!("{:.1} % of {} negatives refused; accepted: {accepted:?}", 100.0 * refused, negatives.len());
    assert!(refused >= REFUSED_AT_LEAST, "{:.1} % refused; accepted: {accepted:#?}", 100.0 * refused);
}

#[test]
fn a_grey_picture_saved_as_rgb_has_no_chroma() {
    let grey = image::RgbImage::from_fn(32, 32, |x, _| image::Rgb([(x * 8) as u8; 3]));
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(grey).write_to(&mut png, image::ImageFormat::Png).expect("encode a PNG");
    assert_eq!(gkmvlp_imaging::decode(png.get_ref()).expect("decodes").chroma, 0.0);
}
