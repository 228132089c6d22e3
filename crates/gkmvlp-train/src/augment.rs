//! Training-time augmentation: each study is seen through a slightly shifted and zoomed window, with its
//! contrast bent, and its region boxes are moved with the window. Every simulated radiograph is taken
//! with the same detector geometry, so without it the network can learn where regions sit in the frame
//! rather than what they look like; real films are framed and exposed less evenly.
//!
//! The window is cut from the source image in whole pixels and then resized as at inference, so an
//! augmented image is as sharp as an unaugmented one. Labels do not change: the shifts are small enough
//! that a finding stays in the frame.

use anyhow::{Result, ensure};
use gkmvlp_data::rng::Rng;
use gkmvlp_imaging::Radiograph;
use serde::{Deserialize, Serialize};

/// How far each study may be moved, zoomed and re-exposed; every field 0 (the default) is no augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augmentation {
    /// Largest shift of the window, each axis, as a share of the image's side.
    pub shift: f32,
    /// Largest zoom either way, as a share: 0.05 shows between 95 % and 105 % of the side.
    pub zoom: f32,
    /// Largest change of gamma either way, in natural log: pixels become `p^exp(u)`, `u` within ±`gamma`.
    pub gamma: f32,
    /// Share of images first shrunk to a side between [`THUMBNAIL_SIDES`] and enlarged again: the
    /// resolution of a downsampled film (NIH's teaching thumbnails are 64 pixels), which the simulator's
    /// sharp renders never show.
    pub thumbnail: f32,
}

/// The smallest and largest side a thumbnail is shrunk to.
pub const THUMBNAIL_SIDES: (u32, u32) = (48, 128);

impl Augmentation {
    pub fn is_none(&self) -> bool {
        *self == Augmentation::default()
    }

    /// Refuses values that would leave the image or invert it.
    pub fn validate(&self) -> Result<()> {
        let in_range = |name: &str, value: f32, max: f32| {
            ensure!(
                value.is_finite() && (0.0..=max).contains(&value),
                "augmentation {name} is {value}; it must be between 0 and {max}"
            );
            Ok(())
        };
        in_range("shift", self.shift, 0.25)?;
        in_range("zoom", self.zoom, 0.5)?;
        in_range("gamma", self.gamma, 1.0)?;
        in_range("thumbnail", self.thumbnail, 1.0)
    }

    /// `image` resized to `size` × `size` through a window drawn from `rng` (see [`draws`]), and `boxes`
    /// (normalised x0, y0, x1, y1 of the source) in the window's coordinates: clipped to it, None where a
    /// box falls wholly outside.
    pub fn apply(
        &self,
        image: &Radiograph,
        boxes: &[Option<[f32; 4]>],
        size: u32,
        rng: &mut Rng,
    ) -> (Vec<f32>, Vec<Option<[f32; 4]>>) {
        if self.is_none() {
            return (image.resize_square(size).pixels, boxes.to_vec());
        }
        let mut symmetric = || rng.uniform(-1.0, 1.0) as f32;
        let zoom = 1.0 + self.zoom * symmetric();
        let (width, height) = (image.width as f32, image.height as f32);
        // The window in source pixels: its side shrinks as the zoom grows.
        let window_width = ((width / zoom).round() as u32).max(1);
        let window_height = ((height / zoom).round() as u32).max(1);
        let left = ((width - window_width as f32) / 2.0 + self.shift * width * symmetric()).round() as i64;
        let top = ((height - window_height as f32) / 2.0 + self.shift * height * symmetric()).round() as i64;
        let gamma = (self.gamma * symmetric()).exp();
        let thumbnail_side = rng.chance(f64::from(self.thumbnail)).then(|| {
            let (smallest, largest) = THUMBNAIL_SIDES;
            rng.uniform(f64::from(smallest), f64::from(largest + 1)) as u32
        });

        // Outside the source, the nearest edge pixel: a border, not a black frame the network never sees
        // at inference.
        let mut pixels = Vec::with_capacity((window_width * window_height) as usize);
        for y in 0..window_height as i64 {
            let source_y = (top + y).clamp(0, image.height as i64 - 1) as usize;
            let row = &image.pixels[source_y * image.width as usize..][..image.width as usize];
            pixels.extend(
                (0..window_width as i64).map(|x| row[(left + x).clamp(0, image.width as i64 - 1) as usize].powf(gamma)),
            );
        }
        let window =
            Radiograph { width: window_width, height: window_height, pixels, modality_values: None, ..image.clone() };

        let to_window = |value: f32, origin: i64, source_side: f32, window_side: u32| {
            ((value * source_side - origin as f32) / window_side as f32).clamp(0.0, 1.0)
        };
        let boxes = boxes
            .iter()
            .map(|b| {
                let [x0, y0, x1, y1] = (*b)?;
                let moved = [
                    to_window(x0, left, width, window_width),
                    to_window(y0, top, height, window_height),
                    to_window(x1, left, width, window_width),
                    to_window(y1, top, height, window_height),
                ];
                (moved[2] > moved[0] && moved[3] > moved[1]).then_some(moved)
            })
            .collect();
        let window = match thumbnail_side {
            Some(side) if side < size => window.resize_square(side),
            _ => window,
        };
        (window.resize_square(size).pixels, boxes)
    }
}

/// The draws of a study's augmentation at a step: the simulator's generator, seeded by the study's id
/// (hashed, FNV-1a) on a stream of the step, so every run, and `--resume`, draws the same window.
pub fn draws(study_id: &str, step: usize) -> Rng {
    let hash = study_id
        .bytes()
        .fold(0xCBF2_9CE4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3));
    Rng::derive(hash, step as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A black image with one white rectangle, and that rectangle as a normalised box.
    fn image_with_rectangle(side: u32, [x0, y0, x1, y1]: [u32; 4]) -> (Radiograph, [f32; 4]) {
        let pixels = (0..side * side)
            .map(|i| f32::from(u8::from((x0..x1).contains(&(i % side)) && (y0..y1).contains(&(i / side)))))
            .collect();
        let image = Radiograph::grey(side, side, pixels);
        (image, [x0, y0, x1, y1].map(|v| v as f32 / side as f32))
    }

    /// The bounding box of the pixels above one half, normalised.
    fn bright_box(pixels: &[f32], side: u32) -> [f32; 4] {
        let bright: Vec<(u32, u32)> =
            (0..side * side).filter(|&i| pixels[i as usize] > 0.5).map(|i| (i % side, i / side)).collect();
        let (xs, ys): (Vec<u32>, Vec<u32>) = bright.into_iter().unzip();
        [
            *xs.iter().min().unwrap(),
            *ys.iter().min().unwrap(),
            xs.iter().max().unwrap() + 1,
            ys.iter().max().unwrap() + 1,
        ]
        .map(|v| v as f32 / side as f32)
    }

    #[test]
    fn boxes_move_with_the_image() {
        let (image, rectangle) = image_with_rectangle(256, [60, 100, 140, 180]);
        let augmentation = Augmentation { shift: 0.08, zoom: 0.1, ..Default::default() };
        let mut moved_at_all = 0;
        for step in 0..20 {
            let (pixels, boxes) =
                augmentation.apply(&image, &[Some(rectangle)], 224, &mut draws("sim-train-000001", step));
            let moved = boxes[0].unwrap();
            let seen = bright_box(&pixels, 224);
            for (m, s) in moved.iter().zip(seen) {
                assert!((m - s).abs() <= 1.5 / 224.0, "step {step}: box {moved:?}, pixels {seen:?}");
            }
            moved_at_all += usize::from(moved.iter().zip(rectangle).any(|(m, r)| (m - r).abs() > 2.0 / 224.0));
        }
        assert!(moved_at_all >= 15, "only {moved_at_all} of 20 windows moved the box");
    }

    #[test]
    fn no_augmentation_is_the_plain_resize() {
        let (image, rectangle) = image_with_rectangle(256, [60, 100, 140, 180]);
        let (pixels, boxes) = Augmentation::default().apply(&image, &[Some(rectangle), None], 224, &mut Rng::new(7));
        assert_eq!(pixels, image.resize_square(224).pixels);
        assert_eq!(boxes, vec![Some(rectangle), None]);
    }

    #[test]
    fn a_box_pushed_out_of_the_window_is_dropped_and_one_half_out_is_clipped() {
        let (image, _) = image_with_rectangle(100, [0, 0, 1, 1]);
        let at_edge = [0.0, 0.4, 0.02, 0.6];
        let across = [0.0, 0.4, 0.5, 0.6];
        let shift = Augmentation { shift: 0.2, ..Default::default() };
        // A seed whose window moves right by more than the thin box's width.
        let seed = (0..)
            .find(|&s| {
                let mut rng = Rng::new(s);
                rng.uniform(-1.0, 1.0); // the zoom's, drawn first as in `apply`
                rng.uniform(-1.0, 1.0) > 0.5
            })
            .unwrap();
        let (_, boxes) = shift.apply(&image, &[Some(at_edge), Some(across)], 50, &mut Rng::new(seed));
        assert_eq!(boxes[0], None);
        let clipped = boxes[1].unwrap();
        assert_eq!(clipped[0], 0.0);
        assert!(clipped[2] < 0.5);
    }

    #[test]
    fn gamma_bends_grey_but_keeps_black_and_white() {
        let image = Radiograph::grey(3, 1, vec![0.0, 0.5, 1.0]);
        let augmentation = Augmentation { gamma: 0.5, ..Default::default() };
        let greys: Vec<f32> = (0..10).map(|s| augmentation.apply(&image, &[], 3, &mut Rng::new(s)).0[1]).collect();
        assert!(greys.iter().all(|&g| (0.5f32.powf(0.5f32.exp())..=0.5f32.powf((-0.5f32).exp())).contains(&g)));
        assert!(greys.iter().any(|&g| (g - 0.5).abs() > 0.05), "{greys:?}");
        let (ends, _) = augmentation.apply(&image, &[], 3, &mut Rng::new(3));
        assert_eq!((ends[0], ends[2]), (0.0, 1.0));
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        assert!(
            Augmentation { shift: 0.3, ..Default::default() }.validate().unwrap_err().to_string().contains("shift")
        );
        assert!(
            Augmentation { gamma: f32::NAN, ..Default::default() }
                .validate()
                .unwrap_err()
                .to_string()
                .contains("gamma")
        );
        assert!(Augmentation { shift: 0.05, zoom: 0.05, gamma: 0.2, thumbnail: 0.5 }.validate().is_ok());
    }

    #[test]
    fn a_thumbnail_keeps_the_picture_but_loses_its_detail() {
        // Fine stripes one pixel wide, and a bright left half: the stripes cannot survive 128 pixels.
        let side = 256u32;
        let pixels =
            (0..side * side).map(|i| if i % side < side / 2 { 0.9 } else { 0.2 + 0.2 * (i % 2) as f32 }).collect();
        let image = Radiograph::grey(side, side, pixels);
        let augmentation = Augmentation { thumbnail: 1.0, ..Default::default() };
        let (shrunk, _) = augmentation.apply(&image, &[], 224, &mut Rng::new(1));
        let sharp = image.resize_square(224).pixels;
        let stripes = |p: &[f32]| (160..200).map(|x| (p[100 * 224 + x] - p[100 * 224 + x + 1]).abs()).sum::<f32>();
        assert!(stripes(&shrunk) < 0.5 * stripes(&sharp), "{} vs {}", stripes(&shrunk), stripes(&sharp));
        assert!((shrunk[100 * 224 + 20] - 0.9).abs() < 0.02 && (shrunk[100 * 224 + 180] - 0.3).abs() < 0.05);
        let never = Augmentation { thumbnail: 0.0, shift: 0.01, ..Default::default() };
        let (kept, _) = never.apply(&image, &[], 224, &mut Rng::new(1));
        assert!(stripes(&kept) > 0.5 * stripes(&sharp));
    }
}
