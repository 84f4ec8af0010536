//! Image-to-image agreement: the numbers every parity check, `nanobragg compare` and
//! `-validate` report, and the f64 spot check of a candidate image on a sample of its pixels.

use crate::engine::cpu::{self, PixelContext};
use crate::engine::plan::{Interpolation, Plan};
use rayon::prelude::*;

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

/// The largest guarded relative difference |a − b| / max(|b|, floor) and how many pixels
/// exceed a tolerance; the floor keeps near-zero background pixels from dominating.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RelativeDiff {
    pub floor: f64,
    pub max_rel_diff: f64,
    /// index of the pixel with the largest relative difference
    pub index: usize,
    pub a: f64,
    pub b: f64,
    pub tolerance: f64,
    pub over_tolerance: usize,
}

/// Guard for relative differences: this fraction of the reference maximum (the `-validate`
/// rule; the acceptance bound for the GPU engine is 1e-3 of the maximum too).
pub const RELATIVE_FLOOR: f64 = 1e-3;

/// Relative differences over the pixels `include` selects, guarded by `floor`.
pub fn relative_diff(a: &[f32], b: &[f32], include: impl Fn(usize) -> bool, floor: f64, tolerance: f64) -> RelativeDiff {
    let mut worst = RelativeDiff { floor, max_rel_diff: 0.0, index: 0, a: 0.0, b: 0.0, tolerance, over_tolerance: 0 };
    for i in (0..a.len().min(b.len())).filter(|&i| include(i)) {
        let (x, y) = (a[i] as f64, b[i] as f64);
        let rel = (x - y).abs() / y.abs().max(floor);
        let rel = if rel.is_nan() && x != y { f64::INFINITY } else { rel };
        if rel > tolerance {
            worst.over_tolerance += 1;
        }
        if rel > worst.max_rel_diff {
            (worst.max_rel_diff, worst.index, worst.a, worst.b) = (rel, i, x, y);
        }
    }
    worst
}

/// The interpolation switch a pixel starts with, given where (if anywhere) the candidate render
/// flipped nanoBragg.c's one-shot switch: pixels up to that one start interpolating.
pub fn pixel_context(plan: &Plan, switched_at: Option<usize>, idx: usize) -> PixelContext {
    let on = plan.interpolation != Interpolation::Nearest && switched_at.is_none_or(|s| idx <= s);
    PixelContext { interpolate: on }
}

/// Which pixels a spot check recomputes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sample {
    /// image indices, ascending
    pub pixels: Vec<usize>,
    pub brightest: usize,
    pub random: usize,
    pub seed: u64,
}

/// Seed of the random part of a sample, fixed so that runs are reproducible.
pub const SAMPLE_SEED: u64 = 0x6e62_5f73_6565;

/// Up to `n` of the `eligible` pixels: the brightest half (by the candidate's values) and a
/// seeded uniform sample of the rest.
pub fn sample_pixels(candidate: &[f32], eligible: impl Fn(usize) -> bool, n: usize, seed: u64) -> Sample {
    let mut pool: Vec<usize> = (0..candidate.len()).filter(|&i| eligible(i)).collect();
    let n = n.min(pool.len());
    let brightest = n.div_ceil(2);
    if brightest > 0 {
        pool.select_nth_unstable_by(brightest - 1, |&x, &y| candidate[y].total_cmp(&candidate[x]));
    }
    let (top, rest) = pool.split_at_mut(brightest);
    let mut pixels = top.to_vec();
    let mut state = seed;
    // partial Fisher–Yates: the first n − brightest entries of `rest` become the random part
    for k in 0..n - brightest {
        let pick = k + (splitmix64(&mut state) % (rest.len() - k) as u64) as usize;
        rest.swap(k, pick);
        pixels.push(rest[k]);
    }
    pixels.sort_unstable();
    Sample { pixels, brightest, random: n - brightest, seed }
}

/// SplitMix64: a small, well-mixed generator for picking sample pixels.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A full-size image holding the f64 engine's values at `pixels` (zero elsewhere).
pub fn recompute(plan: &Plan, switched_at: Option<usize>, pixels: &[usize]) -> Vec<f32> {
    let values: Vec<f32> = pixels
        .par_iter()
        .map(|&i| {
            let (fast, slow) = (i % plan.fpixels, i / plan.fpixels);
            let spots = cpu::render_pixel(plan, fast, slow, pixel_context(plan, switched_at, i), None).value;
            // the -stol background is added after either engine's spots, so here too
            match &plan.background {
                Some(bg) => (f64::from(spots) + bg.pixel_value(fast, slow)) as f32,
                None => spots,
            }
        })
        .collect();
    let mut image = vec![0.0f32; plan.pixels()];
    for (&i, v) in pixels.iter().zip(values) {
        image[i] = v;
    }
    image
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

    #[test]
    fn relative_difference_is_guarded_near_zero() {
        let b = [100.0f32, 0.0, 50.0];
        let a = [100.0f32, 0.05, 50.5];
        let r = relative_diff(&a, &b, |_| true, 0.1, 1e-3);
        // pixel 1: 0.05 / max(0, 0.1) = 0.5; pixel 2: 0.5 / 50 = 0.01
        assert_eq!(r.index, 1);
        assert!((r.max_rel_diff - 0.5).abs() < 1e-6);
        assert_eq!(r.over_tolerance, 2);
        let nan = relative_diff(&[f32::NAN], &[1.0], |_| true, 0.0, 1e-3);
        assert_eq!(nan.max_rel_diff, f64::INFINITY);
    }

    #[test]
    fn sample_takes_the_brightest_half_and_distinct_random_pixels() {
        let image: Vec<f32> = (0..100).map(|i| ((i * 37) % 100) as f32).collect();
        let eligible = |i: usize| i >= 10;
        let s = sample_pixels(&image, eligible, 10, 7);
        assert_eq!((s.brightest, s.random, s.pixels.len()), (5, 5, 10));
        assert!(s.pixels.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(s.pixels.iter().all(|&i| i >= 10));
        let mut by_value: Vec<usize> = (10..100).collect();
        by_value.sort_by(|&x, &y| image[y].total_cmp(&image[x]));
        assert!(by_value[..5].iter().all(|i| s.pixels.contains(i)), "the five brightest are in");
        assert_eq!(sample_pixels(&image, eligible, 10, 7), s, "seeded: reproducible");
        assert_ne!(sample_pixels(&image, eligible, 10, 8).pixels, s.pixels);
        assert_eq!(sample_pixels(&image, eligible, 1000, 7).pixels, (10..100).collect::<Vec<_>>());
    }

    #[test]
    fn splitmix_is_deterministic_and_varied() {
        let (mut s1, mut s2) = (42u64, 42u64);
        let a: Vec<u64> = (0..4).map(|_| splitmix64(&mut s1)).collect();
        let b: Vec<u64> = (0..4).map(|_| splitmix64(&mut s2)).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] != w[1]));
    }
}
