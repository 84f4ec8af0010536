//! Image-to-image agreement: the numbers every parity check and `nanobragg compare` report.

/// How two float images of the same size agree (`a` is the candidate, `b` the reference).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImageDiff {
    pub pixels: usize,
    /// Pearson correlation (1 when both images are constant and identical)
    pub correlation: f64,
    pub rmse: f64,
    pub max_abs_diff: f64,
    /// largest |a − b| divided by max |b|
    pub max_diff_over_max: f64,
    /// index of the pixel with the largest |a − b|
    pub worst_index: usize,
    pub worst_a: f64,
    pub worst_b: f64,
    pub sum_a: f64,
    pub sum_b: f64,
    /// sum_a / sum_b (1 when both are 0)
    pub sum_ratio: f64,
    pub max_b: f64,
}

/// Compare over the pixels `include` selects (all when it always returns true).
pub fn diff(a: &[f32], b: &[f32], include: impl Fn(usize) -> bool) -> ImageDiff {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab, mut sq) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut worst, mut worst_d, mut max_b) = (0usize, -1.0f64, 0.0f64);
    for i in (0..a.len()).filter(|&i| include(i)) {
        let (x, y) = (a[i] as f64, b[i] as f64);
        n += 1;
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
        let d = (x - y).abs();
        sq += d * d;
        if d > worst_d || d.is_nan() {
            (worst, worst_d) = (i, d);
        }
        max_b = max_b.max(y.abs());
    }
    let nf = n.max(1) as f64;
    let cov = sab - sa * sb / nf;
    let var_a = saa - sa * sa / nf;
    let var_b = sbb - sb * sb / nf;
    let correlation = if var_a > 0.0 && var_b > 0.0 {
        cov / (var_a * var_b).sqrt()
    } else if worst_d == 0.0 || n == 0 {
        1.0
    } else {
        0.0
    };
    let worst_d = worst_d.max(0.0);
    ImageDiff {
        pixels: n,
        correlation,
        rmse: (sq / nf).sqrt(),
        max_abs_diff: worst_d,
        max_diff_over_max: if max_b > 0.0 { worst_d / max_b } else if worst_d == 0.0 { 0.0 } else { f64::INFINITY },
        worst_index: worst,
        worst_a: a.get(worst).map_or(0.0, |&v| v as f64),
        worst_b: b.get(worst).map_or(0.0, |&v| v as f64),
        sum_a: sa,
        sum_b: sb,
        sum_ratio: if sb != 0.0 { sa / sb } else if sa == 0.0 { 1.0 } else { f64::INFINITY },
        max_b,
    }
}

impl ImageDiff {
    /// One line for reports: correlation, max |Δ|/max, sum ratio and the worst pixel.
    pub fn summary(&self, fpixels: usize) -> String {
        let w = self.worst_index;
        format!(
            "corr={:.9} max|d|/max={:.3e} sum_ratio={:.9} worst=(fast {}, slow {}) {:.6e} vs {:.6e}",
            self.correlation,
            self.max_diff_over_max,
            self.sum_ratio,
            w % fpixels.max(1),
            w / fpixels.max(1),
            self.worst_a,
            self.worst_b
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_agree_perfectly() {
        let a = [1.0f32, 2.0, 3.0];
        let d = diff(&a, &a, |_| true);
        assert_eq!(d.correlation, 1.0);
        assert_eq!(d.max_abs_diff, 0.0);
        assert_eq!(d.sum_ratio, 1.0);
    }

    #[test]
    fn planted_difference_is_found() {
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [1.0f32, 2.0, 3.5, 4.0];
        let d = diff(&a, &b, |_| true);
        assert_eq!(d.worst_index, 2);
        assert!((d.max_abs_diff - 0.5).abs() < 1e-12);
        assert!((d.max_diff_over_max - 0.125).abs() < 1e-12);
        assert!(d.correlation < 1.0 && d.correlation > 0.9);
    }

    #[test]
    fn excluded_pixels_do_not_count() {
        let a = [1.0f32, 100.0];
        let b = [1.0f32, 0.0];
        assert_eq!(diff(&a, &b, |i| i == 0).max_abs_diff, 0.0);
    }
}
