//! Detector response and image processing: bilinear resampling to the output size, radiopaque devices
//! drawn as line integrals, focal-spot/detector blur, scatter, quantum noise, log conversion, the
//! unsharp-mask "processing" of digital radiography, windowing with gamma, collimation and the lead
//! L/R marker.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Exposure {
    /// Photons per output pixel reaching the detector with nothing in the beam.
    pub photons: f32,
    /// Scatter-to-primary ratio (scatter ≈ `spr` × heavily blurred primary).
    pub spr: f32,
    /// Detector blur, Gaussian sigma in output pixels.
    pub blur_px: f32,
    /// Unsharp-mask gain of the processing (0 = none).
    pub unsharp: f32,
    /// Window on −ln(signal): [lo, hi] mapped to [0, 1].
    pub window: [f32; 2],
    pub gamma: f32,
    /// Collimator blades as fractions of the image: left, top, right, bottom.
    pub collimation: [f32; 4],
    /// Lead marker: None, or Some(true) for "R" at the image's left (patient right), Some(false) for "L".
    pub marker: Option<bool>,
}

/// Separable box blur (radius r), repeated `passes` times: a fast Gaussian approximation.
pub fn box_blur(img: &mut [f32], w: usize, h: usize, r: usize, passes: usize) {
    if r == 0 {
        return;
    }
    let mut tmp = vec![0f32; w.max(h)];
    for _ in 0..passes {
        for y in 0..h {
            let row = &mut img[y * w..(y + 1) * w];
            blur_line(row, &mut tmp[..w], r);
        }
        let mut col = vec![0f32; h];
        for x in 0..w {
            for y in 0..h {
                col[y] = img[y * w + x];
            }
            blur_line(&mut col, &mut tmp[..h], r);
            for y in 0..h {
                img[y * w + x] = col[y];
            }
        }
    }
}

fn blur_line(line: &mut [f32], tmp: &mut [f32], r: usize) {
    let n = line.len();
    let ri = r as isize;
    let at = |i: isize| line[i.clamp(0, n as isize - 1) as usize];
    let mut s: f32 = (-ri..=ri).map(at).sum();
    let norm = 1.0 / (2 * r + 1) as f32;
    for i in 0..n as isize {
        tmp[i as usize] = s * norm;
        s += at(i + ri + 1) - at(i - ri);
    }
    line.copy_from_slice(tmp);
}

/// Gaussian blur with sigma in pixels via three box passes.
pub fn gauss_blur(img: &mut [f32], w: usize, h: usize, sigma: f32) {
    if sigma < 0.3 {
        return;
    }
    // Three boxes of radius r have variance 3 * ((2r+1)^2 - 1) / 12.
    let r = (((4.0 * sigma * sigma + 1.0).sqrt() - 1.0) / 2.0).round().max(1.0) as usize;
    box_blur(img, w, h, r, 3);
}

/// Gaussian low-pass with sigma `frac * n`, computed on a 4× downsampled grid (the kernels are wide).
pub fn lowpass(img: &[f32], n: usize, frac: f32) -> Vec<f32> {
    let f = 4usize;
    if n < 64 || !n.is_multiple_of(f) {
        let mut out = img.to_vec();
        gauss_blur(&mut out, n, n, n as f32 * frac);
        return out;
    }
    let m = n / f;
    let mut small = vec![0f32; m * m];
    for y in 0..n {
        for x in 0..n {
            small[(y / f) * m + x / f] += img[y * n + x];
        }
    }
    let norm = 1.0 / (f * f) as f32;
    small.iter_mut().for_each(|v| *v *= norm);
    gauss_blur(&mut small, m, m, m as f32 * frac);
    resample(&small, m, n)
}

/// Bilinear resampling of a square grid to `out` × `out` (pixel centres aligned).
pub fn resample(src: &[f32], n: usize, out: usize) -> Vec<f32> {
    if n == out {
        return src.to_vec();
    }
    let mut dst = vec![0f32; out * out];
    let sc = n as f32 / out as f32;
    for y in 0..out {
        let fy = ((y as f32 + 0.5) * sc - 0.5).clamp(0.0, (n - 1) as f32);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(n - 1);
        let ty = fy - y0 as f32;
        for x in 0..out {
            let fx = ((x as f32 + 0.5) * sc - 0.5).clamp(0.0, (n - 1) as f32);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(n - 1);
            let tx = fx - x0 as f32;
            let a = src[y0 * n + x0] + (src[y0 * n + x1] - src[y0 * n + x0]) * tx;
            let b = src[y1 * n + x0] + (src[y1 * n + x1] - src[y1 * n + x0]) * tx;
            dst[y * out + x] = a + (b - a) * ty;
        }
    }
    dst
}

/// A radiopaque tube or wire seen in projection: a polyline in pixel coordinates with a cross-section
/// profile, added to the line integral (so it attenuates like the object it is).
#[derive(Clone, Debug)]
pub struct Device {
    pub points: Vec<[f64; 2]>,
    /// Outer radius in pixels.
    pub radius: f64,
    /// Peak added line integral at the centre.
    pub strength: f32,
    /// Tube wall only (hollow, e.g. an endotracheal tube) with a radiopaque stripe.
    pub hollow: bool,
}

pub fn draw_device(line: &mut [f32], n: usize, dev: &Device) {
    for seg in dev.points.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let pad = dev.radius + 2.0;
        let xmin = (a[0].min(b[0]) - pad).floor().max(0.0) as usize;
        let xmax = ((a[0].max(b[0]) + pad).ceil() as usize).min(n);
        let ymin = (a[1].min(b[1]) - pad).floor().max(0.0) as usize;
        let ymax = ((a[1].max(b[1]) + pad).ceil() as usize).min(n);
        let ab = [b[0] - a[0], b[1] - a[1]];
        let l2 = ab[0] * ab[0] + ab[1] * ab[1];
        for y in ymin..ymax {
            for x in xmin..xmax {
                let p = [x as f64 + 0.5 - a[0], y as f64 + 0.5 - a[1]];
                let t = if l2 > 0.0 { ((p[0] * ab[0] + p[1] * ab[1]) / l2).clamp(0.0, 1.0) } else { 0.0 };
                let d = ((p[0] - t * ab[0]).powi(2) + (p[1] - t * ab[1]).powi(2)).sqrt();
                if d >= dev.radius {
                    continue;
                }
                let r = dev.radius;
                // Chord through a cylinder (solid) or through its wall (hollow), normalised to 1 at
                // the thickest point; hollow tubes add a thin radiopaque stripe on one side.
                let solid = ((r * r - d * d).max(0.0)).sqrt() / r;
                let val = if dev.hollow {
                    let ri = r * 0.72;
                    let inner = if d < ri { ((ri * ri - d * d).max(0.0)).sqrt() / r } else { 0.0 };
                    let stripe = (-(d - 0.55 * r).powi(2) / (0.02 * r * r + 0.3)).exp();
                    0.35 * (solid - inner) + 1.2 * stripe
                } else {
                    solid
                };
                let o = y * n + x;
                // Segments share endpoints: keep the max, not the sum.
                let add = dev.strength * val as f32;
                line[o] = line[o].max(add + 0.0);
            }
        }
    }
}

/// exp(-x) for x ≥ 0 by table (step 1/256 up to 16, linear interpolation; relative error < 1e-5).
fn exp_neg(x: f32) -> f32 {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| (0..=16 * 256 + 1).map(|i| (-(i as f64) / 256.0).exp() as f32).collect());
    if x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    let f = x * 256.0;
    if f >= (16 * 256) as f32 {
        return (-x).exp();
    }
    let k = f as usize;
    t[k] + (t[k + 1] - t[k]) * (f - k as f32)
}

/// 4096 standard-normal quantiles, Φ⁻¹((i + 0.5) / 4096) (Acklam's rational approximation, relative
/// error < 1.2e-9), for fast, portable quantum noise.
fn normal_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (0..4096).map(|i| inv_norm((i as f64 + 0.5) / 4096.0) as f32).collect())
}

#[allow(clippy::excessive_precision)]
fn inv_norm(p: f64) -> f64 {
    let a = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    let b =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    let c = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    let d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let pl = 0.02425;
    if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    } else {
        -inv_norm(1.0 - p)
    }
}

/// 5×7 glyphs for the lead markers.
const GLYPH_R: [u8; 7] = [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001];
const GLYPH_L: [u8; 7] = [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111];

/// Turn line integrals into a displayed radiograph in [0, 1]. `line` is `n × n` (already resampled).
pub fn expose(line: &[f32], devices: &[f32], n: usize, ex: &Exposure, rng: &mut Rng) -> Vec<f32> {
    // Primary fluence exp(-L) (from a table: this runs for every output pixel), blurred by the focal
    // spot and detector.
    let mut primary: Vec<f32> = line.iter().zip(devices).map(|(a, b)| exp_neg(a + b)).collect();
    gauss_blur(&mut primary, n, n, ex.blur_px);
    // Scatter: a heavily low-passed fraction of the primary (computed at a quarter of the resolution).
    let scatter = lowpass(&primary, n, 0.08);
    let mut q = vec![0f32; n * n];
    let normals = normal_table();
    let mut bits = 0u64;
    for i in 0..n * n {
        // Five standard normals per 64-bit draw, from a 4096-quantile table.
        if i % 5 == 0 {
            bits = rng.next_u64();
        }
        let z = normals[((bits >> (12 * (i % 5))) & 4095) as usize];
        let mean = ex.photons * (primary[i] + ex.spr * scatter[i]);
        let count = (mean + mean.max(0.0).sqrt() * z).max(0.5);
        q[i] = -(count / ex.photons).ln();
    }
    // Processing: unsharp masking with a wide kernel (local contrast equalisation).
    if ex.unsharp > 0.0 {
        let low = lowpass(&q, n, 0.04);
        for i in 0..n * n {
            q[i] += ex.unsharp * (q[i] - low[i]);
        }
    }
    let [lo, hi] = ex.window;
    // Characteristic curve: gamma on the windowed log signal, then a film-like shoulder that compresses
    // the dense mediastinum and spine; tabulated over the windowed value.
    let shoulder = |x: f32| (1.0 - (-1.6 * x).exp()) / (1.0 - (-1.6f32).exp());
    const T: usize = 4096;
    let tone: Vec<f32> = (0..=T).map(|i| shoulder((i as f32 / T as f32).powf(ex.gamma))).collect();
    let mut out: Vec<f32> = q
        .iter()
        .map(|&v| {
            let x = ((v - lo) / (hi - lo)).clamp(0.0, 1.0) * T as f32;
            let k = (x as usize).min(T - 1);
            tone[k] + (tone[k + 1] - tone[k]) * (x - k as f32)
        })
        .collect();
    // Collimation: outside the blades the detector is unexposed (white, with a little noise).
    let [cl, ct, cr, cb] = ex.collimation;
    for y in 0..n {
        for x in 0..n {
            let fx = (x as f32 + 0.5) / n as f32;
            let fy = (y as f32 + 0.5) / n as f32;
            if fx < cl || fy < ct || fx > 1.0 - cr || fy > 1.0 - cb {
                out[y * n + x] = (0.93 + 0.02 * rng.normal() as f32).clamp(0.0, 1.0);
            }
        }
    }
    if let Some(right) = ex.marker {
        let glyph = if right { &GLYPH_R } else { &GLYPH_L };
        let scale = (n / 100).max(1);
        let (ox, oy) = if right {
            (cl_px(cl, n) + 3 * scale, ct_px(ct, n) + 3 * scale)
        } else {
            (n - cl_px(cr, n) - 8 * scale, ct_px(ct, n) + 3 * scale)
        };
        for (r, bits) in glyph.iter().enumerate() {
            for c in 0..5 {
                if bits & (1 << (4 - c)) != 0 {
                    for yy in 0..scale {
                        for xx in 0..scale {
                            let (x, y) = (ox + c * scale + xx, oy + r * scale + yy);
                            if x < n && y < n {
                                out[y * n + x] = 0.98;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn cl_px(f: f32, n: usize) -> usize {
    (f * n as f32) as usize
}
fn ct_px(f: f32, n: usize) -> usize {
    (f * n as f32) as usize
}
