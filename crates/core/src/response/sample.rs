//! Uniform, Gaussian and Poisson deviates from Philox words, in `f32` arithmetic built only from
//! operations that IEEE 754 and WGSL both round exactly (`+`, `-`, `*`, comparisons, integer
//! and bit operations), plus `sqrt`. Transcendentals (`ln`, `exp`, `cos`) are polynomials
//! written out here rather than library calls, because library and GPU versions differ in the
//! last bits and a last-bit difference can move a count. Divisions are kept out of the
//! inversion walk (reciprocals of small integers come from a table) and out of the PTRS
//! per-mean constants' hot path; PTRS still divides by `us` twice per trial and by k in its
//! rare slow branch. WGSL allows 2.5 ulp for `/`, so the GPU twin must use a correctly rounded
//! division there (a reciprocal refined by one Newton step and a remainder check) for its
//! counts to equal these.
//!
//! WGSL twin notes: `bitcast<u32>`/`bitcast<f32>` for the exponent tricks; `floor`; `sqrt`
//! (correctly rounded on the CPU; the GPU twin must use a correctly rounded form or accept a
//! rare one-count difference in the Gaussian stages, never in the Poisson stage below 2^23,
//! whose only `sqrt` is in per-mean constants that the CPU can precompute and upload); and no
//! fused multiply–add contraction (the shader must keep every product rounded).

use super::philox::Draws;

/// 2^-23 exactly.
const TWO_M23: f32 = 1.0 / 8_388_608.0;

/// A uniform deviate in (0, 1) from the top 23 bits of a word: (m + ½)·2⁻²³, exact in `f32`,
/// never 0 or 1 (so `ln` is always finite).
#[inline]
pub fn uniform(word: u32) -> f32 {
    ((word >> 9) as f32 + 0.5) * TWO_M23
}

/// ln x for finite x > 0 (Cephes `logf` scheme: exponent split, mantissa in [√½, √2),
/// degree-9 polynomial). Absolute error below 1e-7 near 1, relative below 2e-7 elsewhere.
#[inline]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    // mantissa in [0.5, 1)
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    for c in [-1.151_461e-1_f32, 1.167_699_9e-1, -1.242_014_1e-1, 1.424_932_3e-1, -1.666_805_8e-1, 2.000_071_5e-1, -2.499_999_4e-1, 3.333_333_1e-1] {
        y = y * m + c;
    }
    y = y * m * z;
    let ef = e as f32;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    (m + y) + 0.693_359_4 * ef
}

/// eˣ for x in [-87, 88] (Cephes `expf` scheme: x = n·ln2 + r with ln2 split in two, degree-5
/// polynomial, scale by 2ⁿ through the exponent bits). Relative error below 2e-7.
#[inline]
pub fn exp(x: f32) -> f32 {
    let n = (1.442_695_f32 * x + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let z = r * r;
    let mut p = 1.987_569_1e-4_f32;
    for c in [1.398_199_9e-3_f32, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1] {
        p = p * r + c;
    }
    let y = p * z + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    y * scale
}

/// cos(2π·u) for the uniform made from `word` (see [`uniform`]), reduced exactly through the
/// word's integer bits: the top two of the 23 bits give the quadrant, the rest the angle inside
/// it, folded to at most π/4 where short Taylor series are accurate to 3e-8.
#[inline]
pub fn cos_two_pi(word: u32) -> f32 {
    let m = word >> 9;
    let quadrant = m >> 21;
    let r = m & 0x1f_ffff;
    // angle inside the quadrant as a fraction t of π/2, t = (r + ½)/2²¹ (exact)
    let twice = 2 * r + 1; // t·2²² as an odd integer
    let (fold, swapped) = if twice < (1 << 21) { (twice, false) } else { ((1 << 22) - twice, true) };
    let a = fold as f32 * (std::f32::consts::FRAC_PI_2 / 4_194_304.0);
    let a2 = a * a;
    let cos = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40_320.0))));
    let sin = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362_880.0)))));
    let (c, s) = if swapped { (sin, cos) } else { (cos, sin) };
    // quadrants 0, 1, 2, 3: c, −s, −c, s; written as two selects (no branch, so that the noise
    // lanes vectorise it), negation being exact
    let v = if quadrant & 1 == 0 { c } else { s };
    if (quadrant ^ (quadrant >> 1)) & 1 == 1 { -v } else { v }
}

/// A unit normal deviate by Box–Muller from one draw block (words 0 and 1):
/// √(−2 ln u₁)·cos(2π u₂). One block, one deviate: no spare is carried between calls, so the
/// deviate depends on its counter alone.
pub fn gauss(draws: &mut Draws) -> f32 {
    let w = draws.next_block();
    (-2.0 * ln(uniform(w[0]))).sqrt() * cos_two_pi(w[1])
}

/// Below this mean, inversion (one uniform, a walk up the cumulative distribution); from here
/// on, PTRS.
pub const INVERSION_BELOW: f32 = 16.0;
/// From this mean on, counts exceed what an `f32` holds exactly; a rounded normal deviate
/// λ + √λ·z is used (its skewness, 1/√λ < 4e-4, is far below what any image can show).
pub const NORMAL_FROM: f32 = 8_388_608.0;
/// The inversion walk stops here; P(k ≥ 64 | λ < 16) < 1e-17.
pub(super) const INVERSION_CAP: usize = 64;

/// 1/k for k = 0..64 (entry 0 unused), so the inversion walk multiplies instead of divides.
#[inline]
pub(super) fn reciprocal(k: usize) -> f32 {
    const TABLE: [f32; INVERSION_CAP + 1] = {
        let mut t = [0.0f32; INVERSION_CAP + 1];
        let mut k = 1;
        while k <= INVERSION_CAP {
            t[k] = 1.0 / k as f32;
            k += 1;
        }
        t
    };
    TABLE[k]
}

/// ln k! for k < 16, and the Stirling correction beyond (used by PTRS's acceptance test).
const LN_FACTORIAL_SMALL: [f32; 16] = [
    0.0,
    0.0,
    std::f32::consts::LN_2,
    1.791_759_5,
    3.178_054,
    4.787_492,
    6.579_251,
    8.525_161,
    10.604_603,
    12.801_827,
    15.104_413,
    17.502_308,
    19.987_214,
    22.552_164,
    25.191_221,
    27.899_271,
];

/// ln p(k; λ) = −λ + k ln λ − ln k!, written so that no large terms cancel in `f32`: with
/// t = (k − λ)/λ, k ln(λ/k) + k − λ = −λ·φ(t), φ(t) = (1+t)ln(1+t) − t, and ln k! by Stirling
/// (0.5·ln(2πk) + 1/(12k) − 1/(360k³)) for k ≥ 16.
fn ln_poisson_pmf(k: f32, lambda: f32, ln_lambda: f32, inv_lambda: f32) -> f32 {
    if k < 16.0 {
        return -lambda + k * ln_lambda - LN_FACTORIAL_SMALL[k as usize];
    }
    let t = (k - lambda) * inv_lambda;
    let phi = if t.abs() < 0.25 {
        // series t²/2 − t³/6 + t⁴/12 − t⁵/20 + t⁶/30 − t⁷/42 + t⁸/56 (|t| < ¼: error < 1e-8·t²)
        let mut s = 1.0 / 56.0;
        for c in [-1.0 / 42.0, 1.0 / 30.0, -1.0 / 20.0, 1.0 / 12.0, -1.0 / 6.0, 0.5f32] {
            s = s * t + c;
        }
        s * t * t
    } else {
        (1.0 + t) * ln(1.0 + t) - t
    };
    let inv_k = 1.0 / k;
    let stirling = 0.5 * ln(std::f32::consts::TAU * k) + inv_k * (1.0 / 12.0 - inv_k * inv_k * (1.0 / 360.0));
    // ln k! = k ln k − k + stirling, so ln p = −λφ(t) − stirling
    -lambda * phi - stirling
}

/// PTRS constants for one mean (Hörmann 1993, "The transformed rejection method for generating
/// Poisson random variables"), computed once per mean — on the GPU, per pixel or uploaded.
#[derive(Clone, Copy, Debug)]
pub struct Ptrs {
    lambda: f32,
    ln_lambda: f32,
    inv_lambda: f32,
    a: f32,
    b: f32,
    two_a: f32,
    v_r: f32,
    ln_inv_alpha: f32,
}

/// Hörmann's a, b and v_r for the mean λ.
#[inline(always)]
fn ptrs_shape(lambda: f32) -> (f32, f32, f32) {
    let b = 0.931 + 2.53 * lambda.sqrt();
    let a = -0.059 + 0.024_83 * b;
    (a, b, 0.9277 - 3.6224 / (b - 2.0))
}

/// One PTRS trial from the words `w0`, `w1`: the candidate count k, u, v, u_s, and whether
/// the quick test (u_s ≥ 0.07, v ≤ v_r) accepts k.
#[inline(always)]
fn ptrs_candidate(lambda: f32, two_a: f32, b: f32, v_r: f32, w0: u32, w1: u32) -> (f32, f32, f32, bool) {
    let u = uniform(w0) - 0.5;
    let v = uniform(w1);
    let us = 0.5 - u.abs();
    let k = ((two_a / us + b) * u + lambda + 0.43).floor();
    (k, v, us, us >= 0.07 && v <= v_r)
}

/// The first PTRS trial of the mean λ (16 ≤ λ < 2²³) from its first block's words 0 and 1:
/// `Some(count)` when the quick test accepts it (≈ 89 % of pixels), the count
/// [`poisson`] returns; `None` when only the full sampler can say. Branch-free, so that the
/// noise lanes (`response::lanes`) run it on many pixels at once, set-up included.
#[inline(always)]
pub fn ptrs_first_trial(lambda: f32, w0: u32, w1: u32) -> (f32, bool) {
    let (a, b, v_r) = ptrs_shape(lambda);
    let (k, _, _, quick) = ptrs_candidate(lambda, 2.0 * a, b, v_r, w0, w1);
    (k, quick)
}

impl Ptrs {
    pub fn new(lambda: f32) -> Ptrs {
        let (a, b, v_r) = ptrs_shape(lambda);
        Ptrs {
            lambda,
            ln_lambda: ln(lambda),
            inv_lambda: 1.0 / lambda,
            a,
            b,
            two_a: 2.0 * a,
            v_r,
            ln_inv_alpha: ln(1.1239 + 1.1328 / (b - 3.4)),
        }
    }

    /// One count: trials of two uniforms each (words 0 and 1 of successive blocks) until one is
    /// accepted. Acceptance is ≈ 90 % per trial at every λ; the block number bounds nothing
    /// in practice (2²⁴ blocks).
    fn sample(&self, draws: &mut Draws) -> f32 {
        loop {
            let w = draws.next_block();
            let (k, v, us, quick) = ptrs_candidate(self.lambda, self.two_a, self.b, self.v_r, w[0], w[1]);
            if quick {
                return k;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            let lhs = ln(v) + self.ln_inv_alpha - ln(self.a / (us * us) + self.b);
            if lhs <= ln_poisson_pmf(k, self.lambda, self.ln_lambda, self.inv_lambda) {
                return k;
            }
        }
    }
}

/// A Poisson count of mean `lambda` as an `f32` (0 for λ ≤ 0 or NaN, as no photons arrive).
pub fn poisson(lambda: f32, draws: &mut Draws) -> f32 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0.0;
    }
    if lambda < INVERSION_BELOW {
        let u = uniform(draws.next_block()[0]);
        let mut p = exp(-lambda);
        let mut cdf = p;
        let mut k = 0;
        while u > cdf && k < INVERSION_CAP {
            k += 1;
            p = p * lambda * reciprocal(k);
            cdf += p;
        }
        return k as f32;
    }
    if lambda < NORMAL_FROM {
        return Ptrs::new(lambda).sample(draws);
    }
    if lambda.is_infinite() {
        return lambda;
    }
    (lambda + lambda.sqrt() * gauss(draws)).round().max(0.0)
}

#[cfg(test)]
mod tests {
    use super::super::philox::{Draws, Stage};
    use super::*;

    #[test]
    fn uniform_is_open_and_exact() {
        assert_eq!(uniform(0), 0.5 * TWO_M23);
        assert_eq!(uniform(u32::MAX), 1.0 - 0.5 * TWO_M23);
        assert!(uniform(u32::MAX) < 1.0);
    }

    #[test]
    fn polynomial_ln_exp_cos_are_accurate() {
        let mut worst = [0.0f64; 3];
        for i in 0..200_000u32 {
            let w = i.wrapping_mul(2_654_435_761);
            let u = uniform(w);
            let x = f64::from(u) * 1.0e3 + 1.0e-30;
            let got = f64::from(ln(x as f32));
            let want = f64::from(x as f32).ln();
            worst[0] = worst[0].max((got - want).abs() / want.abs().max(1.0));
            let e = -40.0 * f64::from(u) + 20.0;
            let got = f64::from(exp(e as f32));
            let want = f64::from(e as f32).exp();
            worst[1] = worst[1].max((got - want).abs() / want);
            let got = f64::from(cos_two_pi(w));
            let want = (std::f64::consts::TAU * f64::from(uniform(w))).cos();
            worst[2] = worst[2].max((got - want).abs());
        }
        assert!(worst[0] < 3e-7 && worst[1] < 3e-7 && worst[2] < 3e-7, "ln, exp, cos errors {worst:?}");
        assert!(ln(1.0).abs() < 1e-8);
    }

    fn moments(samples: &[f64]) -> (f64, f64, f64, f64) {
        let n = samples.len() as f64;
        let m = samples.iter().sum::<f64>() / n;
        let c = |p: i32| samples.iter().map(|x| (x - m).powi(p)).sum::<f64>() / n;
        let v = c(2);
        (m, v, c(3) / v.powf(1.5), c(4) / (v * v))
    }

    /// Mean, variance, skewness and kurtosis of 200 000 deviates against N(0, 1); a sampler off by
    /// a factor (e.g. missing the √2) or with a wrong tail (e.g. a uniform or triangle) fails.
    #[test]
    fn gaussian_moments() {
        let samples: Vec<f64> =
            (0..200_000u32).map(|p| f64::from(gauss(&mut Draws::new(-11, 0, p, Stage::Readout)))).collect();
        let (m, v, skew, kurt) = moments(&samples);
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((v - 1.0).abs() < 0.015, "variance {v}");
        assert!(skew.abs() < 0.03, "skewness {skew}");
        assert!((kurt - 3.0).abs() < 0.06, "kurtosis {kurt}");
    }

    /// ln of the Poisson pmf in f64, for the reference distribution.
    fn ln_pmf64(k: f64, lambda: f64) -> f64 {
        // ln k! by summing logs for small k, Stirling with four terms beyond.
        let ln_fact = if k < 50.0 {
            (1..=k as u64).map(|j| (j as f64).ln()).sum::<f64>()
        } else {
            k * k.ln() - k + 0.5 * (std::f64::consts::TAU * k).ln() + 1.0 / (12.0 * k) - 1.0 / (360.0 * k.powi(3))
                + 1.0 / (1260.0 * k.powi(5))
        };
        -lambda + k * lambda.ln() - ln_fact
    }

    /// χ² of the count histogram against the Poisson distribution, bins merged until each
    /// expects ≥ 20 counts; returns (χ², degrees of freedom), plus mean and variance.
    fn chi_square(lambda: f32, n: u32, seed: i64) -> (f64, usize, f64, f64) {
        let counts: Vec<f64> =
            (0..n).map(|p| f64::from(poisson(lambda, &mut Draws::new(seed, 3, p, Stage::Poisson)))).collect();
        let (m, v, _, _) = moments(&counts);
        let l = f64::from(lambda);
        let sd = l.sqrt();
        let lo = (l - 8.0 * sd - 5.0).floor().max(0.0) as i64;
        let hi = (l + 8.0 * sd + 5.0).ceil() as i64;
        let mut observed = vec![0.0; (hi - lo + 1) as usize];
        for c in &counts {
            let k = (*c as i64).clamp(lo, hi);
            observed[(k - lo) as usize] += 1.0;
        }
        let expected: Vec<f64> = (lo..=hi).map(|k| f64::from(n) * ln_pmf64(k as f64, l).exp()).collect();
        let (mut chi2, mut bins) = (0.0, 0);
        let (mut o_acc, mut e_acc) = (0.0, 0.0);
        for (o, e) in observed.iter().zip(&expected) {
            o_acc += o;
            e_acc += e;
            if e_acc >= 20.0 {
                chi2 += (o_acc - e_acc) * (o_acc - e_acc) / e_acc;
                bins += 1;
                o_acc = 0.0;
                e_acc = 0.0;
            }
        }
        if e_acc > 0.0 || o_acc > 0.0 {
            chi2 += (o_acc - e_acc) * (o_acc - e_acc) / e_acc.max(1e-300);
            bins += 1;
        }
        (chi2, bins.max(2) - 1, m, v)
    }

    /// Means from 0.01 to 10⁶ across all three regimes (inversion, PTRS, and the PTRS/inversion
    /// boundary). Bound: χ² < dof + 6√(2·dof) (the 99.99…% point is ≈ dof + 4.3√(2·dof)); a
    /// sampler with the variance off by 5 %, or a rounding off by one, exceeds it at these
    /// sample sizes. Mean within 5σ of λ, variance within 5σ of its spread (at least 4 %).
    #[test]
    fn poisson_chi_square_mean_variance() {
        for (lambda, n) in [
            (0.01f32, 200_000u32),
            (0.5, 100_000),
            (3.0, 100_000),
            (15.9, 100_000),
            (16.0, 100_000),
            (100.0, 100_000),
            (1.0e4, 100_000),
            (1.0e6, 100_000),
        ] {
            let (chi2, dof, m, v) = chi_square(lambda, n, -7);
            let l = f64::from(lambda);
            let bound = dof as f64 + 6.0 * (2.0 * dof as f64).sqrt();
            assert!(chi2 < bound, "λ={lambda}: χ²={chi2:.1} with {dof} dof (bound {bound:.1})");
            assert!((m - l).abs() < 5.0 * (l / f64::from(n)).sqrt(), "λ={lambda}: mean {m}");
            // the sample variance's relative spread is ≈ 1/√(nλ) for small λ, 1/√(n/2) for large
            let tolerance = (5.0 / (f64::from(n) * l).sqrt()).max(0.04);
            assert!((v / l - 1.0).abs() < tolerance, "λ={lambda}: variance {v}");
        }
    }

    /// The χ² test does catch a wrong sampler: counts of mean λ·1.05 fail it at λ = 100.
    #[test]
    fn chi_square_rejects_a_shifted_sampler() {
        let n = 100_000;
        let counts: Vec<f64> =
            (0..n).map(|p| f64::from(poisson(105.0, &mut Draws::new(-7, 0, p, Stage::Poisson)))).collect();
        let lo = 40i64;
        let mut observed = vec![0.0; 140];
        for c in &counts {
            observed[((*c as i64).clamp(lo, lo + 139) - lo) as usize] += 1.0;
        }
        let chi2: f64 = observed
            .iter()
            .enumerate()
            .map(|(i, o)| (i as f64 + lo as f64, o))
            .filter_map(|(k, o)| {
                let e = f64::from(n) * ln_pmf64(k, 100.0).exp();
                (e >= 20.0).then(|| (o - e) * (o - e) / e)
            })
            .sum();
        assert!(chi2 > 1000.0, "χ² {chi2}");
    }

    #[test]
    fn degenerate_and_huge_means() {
        let mut d = Draws::new(1, 0, 0, Stage::Poisson);
        assert_eq!(poisson(0.0, &mut d), 0.0);
        assert_eq!(poisson(-2.0, &mut d), 0.0);
        assert_eq!(poisson(f32::NAN, &mut d), 0.0);
        assert!(poisson(f32::INFINITY, &mut d).is_infinite());
        let big = poisson(1.0e9, &mut d);
        assert!((big - 1.0e9).abs() < 1.0e6, "{big}");
    }

    /// Same coordinates, same count — whatever was drawn before (no hidden state).
    #[test]
    fn counts_are_pure_functions_of_coordinates() {
        for lambda in [0.3f32, 40.0, 5.0e5] {
            let a = poisson(lambda, &mut Draws::new(9, 2, 77, Stage::Poisson));
            let _ = poisson(lambda * 2.0, &mut Draws::new(9, 2, 78, Stage::Poisson));
            let b = poisson(lambda, &mut Draws::new(9, 2, 77, Stage::Poisson));
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}
