//! Separable resampling of one grey channel: exact area averaging on a shrinking axis, linear
//! interpolation (triangle filter) on a growing one. Pixel centres map as `(i + 0.5) * in / out`,
//! so a normalised coordinate means the same place before and after.

/// For each output index along one axis, the source indices and weights (summing to 1).
fn axis_taps(n_in: u32, n_out: u32) -> Vec<Vec<(usize, f32)>> {
    let (n_in_f, n_out_f) = (f64::from(n_in), f64::from(n_out));
    let scale = n_in_f / n_out_f;
    (0..n_out)
        .map(|i| {
            let i = f64::from(i);
            if scale >= 1.0 {
                // Area: the output pixel covers [i*scale, (i+1)*scale) of the source.
                let (a, b) = (i * scale, ((i + 1.0) * scale).min(n_in_f));
                let first = a.floor() as usize;
                let last = (b.ceil() as usize).min(n_in as usize);
                (first..last)
                    .map(|j| {
                        let j0 = j as f64;
                        let overlap = (b.min(j0 + 1.0) - a.max(j0)).max(0.0);
                        (j, (overlap / (b - a)) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            } else {
                // Linear between the two nearest source centres, clamped at the edges.
                let x = ((i + 0.5) * scale - 0.5).clamp(0.0, n_in_f - 1.0);
                let j = x.floor() as usize;
                let t = (x - j as f64) as f32;
                let k = (j + 1).min(n_in as usize - 1);
                if t == 0.0 || k == j { vec![(j, 1.0)] } else { vec![(j, 1.0 - t), (k, t)] }
            }
        })
        .collect()
}

/// Resamples a row-major `w × h` channel to `out_w × out_h` (all sizes ≥ 1).
pub(crate) fn resize(src: &[f32], w: u32, h: u32, out_w: u32, out_h: u32) -> Vec<f32> {
    if w == 0 || h == 0 || src.len() != w as usize * h as usize {
        return vec![0.0; out_w as usize * out_h as usize];
    }
    let (xs, ys) = (axis_taps(w, out_w), axis_taps(h, out_h));
    // Horizontal pass: h rows of out_w.
    let mut tmp = Vec::with_capacity(h as usize * out_w as usize);
    for row in src.chunks_exact(w as usize) {
        tmp.extend(xs.iter().map(|taps| taps.iter().map(|&(j, wt)| row[j] * wt).sum::<f32>()));
    }
    // Vertical pass.
    let ow = out_w as usize;
    let mut out = Vec::with_capacity(ow * out_h as usize);
    for taps in &ys {
        out.extend((0..ow).map(|x| taps.iter().map(|&(j, wt)| tmp[j * ow + x] * wt).sum::<f32>()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_average_exactly() {
        // 8×8 made of 4×4 blocks 0, 1 / 2, 3 -> 2×2 gives the block values.
        let src: Vec<f32> = (0..64).map(|i| ((i % 8) / 4 + 2 * ((i / 8) / 4)) as f32).collect();
        assert_eq!(resize(&src, 8, 8, 2, 2), vec![0.0, 1.0, 2.0, 3.0]);
        // Non-integer ratio keeps the mean of a constant and of a ramp's ends.
        let out = resize(&src, 8, 8, 3, 3);
        assert!((out.iter().sum::<f32>() / 9.0 - 1.5).abs() < 1e-5);
    }

    #[test]
    fn ramp_stays_a_ramp() {
        // Horizontal ramp 0..=9 (10 px), shrink to 5: averages of pairs.
        let src: Vec<f32> = (0..10 * 4).map(|i| (i % 10) as f32).collect();
        let out = resize(&src, 10, 4, 5, 2);
        assert_eq!(&out[..5], &[0.5, 2.5, 4.5, 6.5, 8.5]);
        // Grow 10 -> 20: interior is linear with slope 0.5, ends clamped.
        let up = resize(&src, 10, 4, 20, 4);
        assert_eq!(up[0], 0.0);
        assert!((up[5] - 2.25).abs() < 1e-6); // x = 5.5*0.5 - 0.5 = 2.25
        assert_eq!(up[19], 9.0);
    }

    #[test]
    fn identity_and_one_pixel() {
        let src: Vec<f32> = (0..12).map(|i| i as f32).collect();
        assert_eq!(resize(&src, 4, 3, 4, 3), src);
        assert_eq!(resize(&src, 4, 3, 1, 1), vec![5.5]);
    }
}
