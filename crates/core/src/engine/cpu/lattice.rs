//! The lattice factor of one term: the grating factor of the parallelepiped (Chebyshev
//! recurrence up to N = 16, polynomial sines above; C's `sincg` in c-parity mode) and the
//! round, Gaussian and top-hat shapes through the C formulas.

use super::Prepared;
use super::lanes::{Lv, fused, lane};
use crate::params::XtalShape;
use crate::engine::plan::Plan;
use crate::physics::{V3, sinc3, sincg};
use std::f64::consts::PI;

pub(super) enum LatticeShape {
    /// parallelepiped: per axis N, whether it takes part (N > 1) and whether N is even (the
    /// sign of the grating factor then alternates with the nearest index)
    Square { n: [f64; 3], active: [bool; 3], even: [bool; 3] },
    /// parallelepiped in -c_parity mode: C's sin(πNh)/sin(πh) with libm sines of the full
    /// arguments, so that the image matches the C program bit for bit (at C's speed)
    SquareAsC { n: [f64; 3], active: [bool; 3] },
    /// round, Gaussian and top-hat spots, through the C formulas
    Other,
}

/// Lattice factor of one term for every lane.
///
/// Twin: render.wgsl `lattice_factor` (through physics.wgsl `grating_factor`). Both take the
/// per-axis grating factor from δ = h − h0 only, with the sign (−1)^((N−1)·h0); they differ
/// in method and precision: here f64, the Chebyshev recurrence U_{N−1}(cos πδ) up to N = 16
/// ([`grating_recurrence`]) and the polynomial-sine quotient above ([`grating_parts`]); there
/// f32, the product over the zeros of U_{N−1} up to N = 8 (`sincg_product`) and the f32 sine
/// quotient above (`sincg_split`). In c-parity mode this side uses C's own `sincg` on the full
/// argument (bit-identical to C); the kernel has no such variant.
#[inline(always)]
pub(super) fn lattice_factors<const L: usize, const FUSED: bool>(plan: &Plan, prep: &Prepared, hkl: &Lv<L>, hkl0: &Lv<L>) -> [f64; L] {
    let mut f = [0.0; L];
    match prep.lattice {
        LatticeShape::Square { n, active, even } => {
            // an axis with N = 1 is skipped (factor 1), as C; the sine quotients of large-N
            // axes share one division
            let (mut num, mut den) = ([1.0; L], [1.0; L]);
            let mut divide = false;
            for i in (0..3).filter(|&i| active[i]) {
                if n[i] <= RECURRENCE_MAX_N {
                    let g = grating_recurrence::<L, FUSED>(&hkl[i], &hkl0[i], n[i], even[i]);
                    for l in 0..L {
                        num[l] *= g[l];
                    }
                    continue;
                }
                let (s_n, s_1) = grating_parts::<L, FUSED>(&hkl[i], &hkl0[i], n[i], even[i]);
                for l in 0..L {
                    num[l] *= s_n[l];
                    den[l] *= s_1[l];
                }
                divide = true;
            }
            for l in 0..L {
                f[l] = if divide { num[l] / den[l] } else { num[l] };
            }
        }
        LatticeShape::SquareAsC { n, active } => {
            for l in 0..L {
                f[l] = 1.0;
                for i in (0..3).filter(|&i| active[i]) {
                    f[l] *= sincg(PI * hkl[i][l], n[i]);
                }
            }
        }
        LatticeShape::Other => {
            for l in 0..L {
                f[l] = shaped_factor(plan, lane(hkl, l), lane(hkl0, l));
            }
        }
    }
    f
}

/// Offsets from an integer index are raised to at least this: the grating factor there is
/// ±N to far better than f64 precision (its first correction is N²π²δ²/6), and it keeps
/// 0/0 and underflowing products of three tiny sines away.
const GRATING_LIMIT: f64 = 1e-20;

/// Numerator and denominator of the grating factor sin(πNh)/sin(πh) of one axis, from the
/// fractional indices `h` and their nearest integers `h0`, for every lane. With δ = h − h0
/// (exact in floating point) the factor is (−1)^((N−1)·h0) · sin(πN|δ|)/sin(π|δ|): small
/// arguments only, and the sign flips with h0 only for even N.
///
/// The lane code is written as one short loop per operation, without branches, because LLVM
/// unrolls these fixed-length loops completely and only then looks for SIMD, and finds it
/// only in runs of identical straight-line operations.
#[inline(always)]
fn grating_parts<const L: usize, const FUSED: bool>(h: &[f64; L], h0: &[f64; L], n: f64, even_n: bool) -> ([f64; L], [f64; L]) {
    let mut delta = [0.0; L];
    let mut x = [0.0; L];
    for l in 0..L {
        delta[l] = (h[l] - h0[l]).abs().max(GRATING_LIMIT);
        x[l] = n * delta[l];
    }
    let mut num = sinpi::<L, FUSED>(&x);
    if even_n {
        alternate_sign(&mut num, h0);
    }
    (num, sinpi_reduced::<L, FUSED>(&delta))
}

/// Multiply by (−1)^h0: the grating sign for even N (for odd N it is always +1).
#[inline(always)]
fn alternate_sign<const L: usize>(v: &mut [f64; L], h0: &[f64; L]) {
    for l in 0..L {
        v[l] *= 1.0 - 2.0 * parity(h0[l]);
    }
}

/// Up to this N the grating factor comes from [`grating_recurrence`]: N − 2 multiply-adds
/// beat a second sine polynomial and a division, and the recurrence's rounding error
/// (about N²/6 units in the last place of N) stays below 1e-14. The GPU kernel computes the
/// same factor in f32, where this recurrence loses ~N³ ulps of cos πδ at the peak: there it
/// is the product over the zeros of U_{N−1} for N ≤ 8 and the same sine quotient above
/// (physics.wgsl `grating_factor`).
const RECURRENCE_MAX_N: f64 = 16.0;

/// The grating factor of one axis for every lane as (−1)^((N−1)·h0) · U_{N−1}(cos πδ),
/// δ = h − h0: sin(Nθ)/sin θ is the Chebyshev polynomial U_{N−1}(cos θ), which has no
/// 0/0 at the peak and needs no second sine.
#[inline(always)]
fn grating_recurrence<const L: usize, const FUSED: bool>(h: &[f64; L], h0: &[f64; L], n: f64, even_n: bool) -> [f64; L] {
    let mut delta = [0.0; L];
    for l in 0..L {
        delta[l] = h[l] - h0[l];
    }
    let cos = cospi_reduced::<L, FUSED>(&delta);
    // U_0 = 1, U_1 = 2c, U_{k+1} = 2c·U_k − U_{k−1}
    let mut two_c = [0.0; L];
    for l in 0..L {
        two_c[l] = 2.0 * cos[l];
    }
    let (mut before, mut u) = ([1.0; L], two_c);
    for _ in 2..n as usize {
        for l in 0..L {
            let next = if FUSED { two_c[l].mul_add(u[l], -before[l]) } else { two_c[l] * u[l] - before[l] };
            before[l] = u[l];
            u[l] = next;
        }
    }
    if even_n {
        alternate_sign(&mut u, h0);
    }
    u
}

/// The grating factor of one axis (spec: lattice factor, square shape) for N > 1, as the
/// engine computes it.
pub(super) fn grating(h: f64, h0: f64, n: f64) -> f64 {
    let even = n % 2.0 == 0.0;
    if n <= RECURRENCE_MAX_N {
        let g = if fused() { grating_recurrence::<1, true>(&[h], &[h0], n, even) } else { grating_recurrence::<1, false>(&[h], &[h0], n, even) };
        return g[0];
    }
    let (num, den) = if fused() { grating_parts::<1, true>(&[h], &[h0], n, even) } else { grating_parts::<1, false>(&[h], &[h0], n, even) };
    num[0] / den[0]
}

/// 0 or 1 for an even or odd integer-valued `v` (exact for |v| < 2⁵³).
#[inline(always)]
fn parity(v: f64) -> f64 {
    v - 2.0 * (0.5 * v).floor()
}

/// sin(πx) for |x| < 2⁵²: x = q + r with q the nearest integer (so r is exact and |r| ≤ ½),
/// and sin(πx) = (−1)^q · sin(πr).
#[inline(always)]
pub(super) fn sinpi<const L: usize, const FUSED: bool>(x: &[f64; L]) -> [f64; L] {
    let mut q = [0.0; L];
    let mut r = [0.0; L];
    for l in 0..L {
        q[l] = x[l].round_ties_even();
        r[l] = x[l] - q[l];
    }
    let mut s = sinpi_reduced::<L, FUSED>(&r);
    for l in 0..L {
        s[l] *= 1.0 - 2.0 * parity(q[l]);
    }
    s
}

/// sin(πr) for |r| ≤ ½ as r·P(r²), P of degree 8: a Chebyshev fit of sin(π√s)/√s on
/// s ∈ [0, ¼] (mpmath, 40 digits; fit error 7e-19), so the error is f64 rounding: under
/// 3e-16 absolute, and relative near 0 where the leading coefficient is π itself.
#[inline(always)]
pub(super) fn sinpi_reduced<const L: usize, const FUSED: bool>(r: &[f64; L]) -> [f64; L] {
    const P: [f64; 9] = [
        PI,
        -5.167712780049969,
        2.5501640398773007,
        -0.5992645293189447,
        0.0821458865731029,
        -0.007370430505916944,
        0.0004662998161898394,
        -2.1903497074626018e-05,
        7.697826768224191e-07,
    ];
    let mut p = poly_in_square::<L, FUSED>(&P, r);
    for l in 0..L {
        p[l] *= r[l];
    }
    p
}

/// c₀ + c₁r² + … + c₈r¹⁶ by Horner's rule in s = r², lane by lane.
#[inline(always)]
fn poly_in_square<const L: usize, const FUSED: bool>(coeffs: &[f64; 9], r: &[f64; L]) -> [f64; L] {
    let mut s = [0.0; L];
    let mut p = [coeffs[8]; L];
    for l in 0..L {
        s[l] = r[l] * r[l];
    }
    for c in coeffs[..8].iter().rev() {
        for l in 0..L {
            p[l] = if FUSED { p[l].mul_add(s[l], *c) } else { p[l] * s[l] + c };
        }
    }
    p
}

/// cos(πr) for |r| ≤ ½ as Q(r²), Q of degree 8: a Chebyshev fit of cos(π√s) on s ∈ [0, ¼]
/// (mpmath, 40 digits; fit error 4e-18); error under 3e-16 absolute.
#[inline(always)]
fn cospi_reduced<const L: usize, const FUSED: bool>(r: &[f64; L]) -> [f64; L] {
    const Q: [f64; 9] = [
        1.0,
        -4.934802200544676,
        4.058712126416497,
        -1.335262768843447,
        0.23533063012953284,
        -0.025806888737002202,
        0.0019295562724817132,
        -0.00010456655338748738,
        4.149564353942586e-06,
    ];
    poly_in_square::<L, FUSED>(&Q, r)
}

/// Round, Gaussian and top-hat lattice factors as C computes them, from fractional indices
/// `hkl` and their nearest integers `hkl0`.
///
/// Twin: the round / Gaussian / top-hat branches of render.wgsl `lattice_factor`, in f32. The
/// round shape's sphere transform is `physics::sinc3` here (C's closed form at every x,
/// 1 at x = 0) and physics.wgsl `sinc3_pi` there, which switches to its Taylor series below
/// x = 1, where the closed form cancels in f32.
fn shaped_factor(plan: &Plan, hkl: V3, hkl0: V3) -> f64 {
    let [na, nb, nc] = plan.n;
    let d: [f64; 3] = std::array::from_fn(|i| hkl[i] - hkl0[i]);
    match plan.shape {
        XtalShape::Round => {
            let hrad_sqr = d[0] * d[0] * na * na + d[1] * d[1] * nb * nb + d[2] * d[2] * nc * nc;
            // 0.7236: sqrt of the cube-to-sphere volume ratio, as C
            na * nb * nc * 0.723601254558268 * sinc3(PI * (hrad_sqr * plan.fudge).sqrt())
        }
        _ => {
            let dist: V3 = std::array::from_fn(|i| d[0] * plan.a_star[i] + d[1] * plan.b_star[i] + d[2] * plan.c_star[i]);
            let rad_star_sqr = (dist[0] * dist[0] + dist[1] * dist[1] + dist[2] * dist[2]) * na * na * nb * nb * nc * nc;
            if plan.shape == XtalShape::Gauss {
                na * nb * nc * (-(rad_star_sqr / 0.63 * plan.fudge)).exp()
            } else if rad_star_sqr * plan.fudge < 0.3969 {
                na * nb * nc
            } else {
                0.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sin(πx) from libm after reducing x exactly to r = x − round(x): the reference is then
    /// accurate to a few 1e-17 (only π·r is rounded).
    fn sinpi_reference(x: f64) -> f64 {
        let q = x.round_ties_even();
        let s = (PI * (x - q)).sin();
        if q % 2.0 == 0.0 { s } else { -s }
    }

    #[test]
    fn sinpi_error_is_below_1e_15_in_both_builds() {
        let mut worst = [0.0f64; 2];
        let mut x = -60.0;
        while x < 60.0 {
            let want = sinpi_reference(x);
            worst[0] = worst[0].max((sinpi::<1, true>(&[x])[0] - want).abs());
            worst[1] = worst[1].max((sinpi::<1, false>(&[x])[0] - want).abs());
            x += 0.000_731_3;
        }
        assert!(worst.iter().all(|&w| w <= 1e-15), "{worst:?}");
        // small arguments keep their relative accuracy (the leading coefficient is π)
        for r in [1e-300, 1e-20, 3e-9, 1e-4] {
            let rel = sinpi_reduced::<1, true>(&[r])[0] / (PI * r).sin() - 1.0;
            assert!(rel.abs() < 1e-15, "r={r}: {rel}");
        }
    }

    #[test]
    fn grating_agrees_with_the_c_formula() {
        for n in [2.0, 3.0, 4.0, 5.0, 8.0, 17.0, 50.0] {
            let mut h = -30.0;
            while h < 30.0 {
                let h0 = (h - 0.5f64).ceil();
                // at (and very near) an integer C's quotient of two rounding residues is noise
                if (h - h0).abs() < 1e-6 {
                    h += 0.013_7;
                    continue;
                }
                // C's sin(πNh)/sin(πh) carries an error of about N·|h|·1e-16/|sin πh|
                let c = sincg(PI * h, n);
                let tolerance = 1e-13 * n * n * (1.0 + h.abs()) / (PI * (h - h0)).sin().abs().max(1e-3);
                assert!((grating(h, h0, n) - c).abs() <= tolerance, "N={n} h={h}: {} vs {c}", grating(h, h0, n));
                h += 0.013_7;
            }
            // at an integer index the factor is ±N: negative for even N at odd h
            for k in -3..=3 {
                let want = if n % 2.0 == 0.0 && k % 2 != 0 { -n } else { n };
                assert!((grating(k as f64, k as f64, n) - want).abs() < 1e-13 * n, "N={n} h={k}");
            }
        }
    }

    #[test]
    fn recurrence_and_sine_quotient_agree_to_1e_14_of_n() {
        for n in 2..=RECURRENCE_MAX_N as usize {
            let n = n as f64;
            let mut worst = 0.0f64;
            let mut h = -3.0;
            while h < 3.0 {
                let h0 = (h - 0.5f64).ceil();
                let even = n % 2.0 == 0.0;
                let recurrence = grating_recurrence::<1, true>(&[h], &[h0], n, even)[0];
                let (num, den) = grating_parts::<1, true>(&[h], &[h0], n, even);
                worst = worst.max((recurrence - num[0] / den[0]).abs() / n);
                h += 0.000_917;
            }
            assert!(worst < 1e-14, "N={n}: {worst:e}");
        }
    }
}
