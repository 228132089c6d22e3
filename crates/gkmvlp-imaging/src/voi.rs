//! VOI windowing: the linear function of DICOM PS3.3 C.11.2.1.2.1, output scaled to `[0, 1]`.

use crate::ImagingError;

/// A VOI window in modality units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f32,
    pub width: f32,
}

impl Window {
    /// A window is usable when both numbers are finite and the width is at least 1
    /// (the linear function's domain, C.11.2.1.2.1).
    pub(crate) fn validate(self) -> Result<Window, ImagingError> {
        if self.center.is_finite() && self.width.is_finite() && self.width >= 1.0 {
            Ok(self)
        } else {
            Err(ImagingError::InvalidWindow { center: self.center, width: self.width })
        }
    }

    /// The window spanning `[lo, hi]` in the linear function: values ≤ lo map to 0 and values
    /// ≥ hi to 1.
    pub(crate) fn spanning(lo: f32, hi: f32) -> Window {
        // C.11.2.1.2.1: 0 at x <= c - 0.5 - (w-1)/2, 1 at x > c - 0.5 + (w-1)/2.
        let width = (hi - lo + 1.0).max(1.0);
        Window { center: lo + 0.5 + (width - 1.0) / 2.0, width }
    }

    /// Display value in `[0, 1]` of one modality value.
    #[inline]
    pub(crate) fn map(self, x: f32) -> f32 {
        let c = self.center - 0.5;
        let half = (self.width - 1.0) / 2.0;
        if x <= c - half {
            0.0
        } else if x > c + half {
            1.0
        } else {
            // Only reached when width > 1, so no division by zero.
            ((x - c) / (self.width - 1.0) + 0.5).clamp(0.0, 1.0)
        }
    }
}

/// Applies `window` (then inversion for MONOCHROME1) to modality values.
pub(crate) fn apply(values: &[f32], window: Window, invert: bool) -> Vec<f32> {
    values
        .iter()
        .map(|&x| {
            let y = window.map(x);
            if invert { 1.0 - y } else { y }
        })
        .collect()
}

/// The window used when the file gives none: the 0.5th to 99.5th percentile of the values, so that
/// a few saturated or dead pixels do not wash the image out; min..max when that range is empty.
pub(crate) fn robust_window(values: &[f32]) -> Window {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return Window::spanning(0.0, 1.0);
    }
    sorted.sort_unstable_by(f32::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.005), at(0.995));
    if hi > lo { Window::spanning(lo, hi) } else { Window::spanning(sorted[0], sorted[sorted.len() - 1]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_function_matches_ps3_3() {
        // c = 2048, w = 4096: x <= 0 -> 0, x > 4095 -> 1, linear between.
        let w = Window { center: 2048.0, width: 4096.0 };
        assert_eq!(w.map(-10.0), 0.0);
        assert_eq!(w.map(0.0), 0.0);
        assert_eq!(w.map(4096.0), 1.0);
        assert!((w.map(2047.5) - 0.5).abs() < 1e-6);
        assert!((w.map(1024.0) - ((1024.0 - 2047.5) / 4095.0 + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn width_one_is_a_threshold() {
        let w = Window { center: 10.0, width: 1.0 };
        assert_eq!(w.map(9.0), 0.0);
        assert_eq!(w.map(9.5), 0.0);
        assert_eq!(w.map(10.0), 1.0);
    }

    #[test]
    fn spanning_maps_ends_to_zero_and_one() {
        let w = Window::spanning(100.0, 300.0);
        assert_eq!(w.map(100.0), 0.0);
        assert_eq!(w.map(300.0), 1.0);
        assert!(w.map(200.0) > 0.45 && w.map(200.0) < 0.55);
    }

    #[test]
    fn invalid_windows_are_refused() {
        assert!(Window { center: 0.0, width: 0.5 }.validate().is_err());
        assert!(Window { center: f32::NAN, width: 10.0 }.validate().is_err());
        assert!(Window { center: 0.0, width: f32::INFINITY }.validate().is_err());
        assert!(Window { center: -5.0, width: 1.0 }.validate().is_ok());
    }

    #[test]
    fn robust_window_ignores_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v[0] = -1e6;
        v[999] = 1e6;
        let w = robust_window(&v);
        assert!(w.map(3.0) == 0.0 && w.map(996.0) == 1.0);
        assert!(w.map(500.0) > 0.45 && w.map(500.0) < 0.55);
        // Constant image: still a valid window.
        let w = robust_window(&[7.0; 10]);
        assert!(w.validate().is_ok());
    }

    #[test]
    fn inversion() {
        let w = Window::spanning(0.0, 10.0);
        assert_eq!(apply(&[0.0, 10.0], w, true), vec![1.0, 0.0]);
    }
}
