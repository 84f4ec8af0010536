//! The crystal lattice: reciprocal vectors from `-cell` or a MOSFLM matrix, misset, then the
//! real-space vectors, following nanoBragg.c's sequence (spec: crystal orientation).

use crate::params::{Misset, Mode, ExperimentParams};
use super::Warning;
use crate::error::{Error, Result};
use crate::physics::{V3, cross, dot, magnitude, rescale, rotate_umat, rotate_xyz, scale};
use crate::rng::{Ran1, mosaic_rotation_umat, umat2misset};

pub struct Lattice {
    /// real-space vectors in metres
    pub a: V3,
    pub b: V3,
    pub c: V3,
    /// reciprocal vectors in Å⁻¹
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
    pub cell: [f64; 6],
    pub volume_a3: f64,
    pub misset: Option<V3>,
}

/// Reciprocal vectors of a cell given by lengths (Å) and angles (radians), in the standard
/// setting with a* along x; also returns the cell volume. A cell without volume (angles that
/// close no parallelepiped) is refused: every later quantity would be infinite.
fn reciprocal_from_cell(p: [f64; 6], mode: Mode) -> Result<([V3; 3], f64)> {
    let [a, mut b, mut c, mut alpha, mut beta, mut gamma] = p;
    if b <= 0.0 { b = a; }
    if c <= 0.0 { c = a; }
    let right = std::f64::consts::FRAC_PI_2;
    if alpha <= 0.0 { alpha = right; }
    if beta <= 0.0 { beta = right; }
    if gamma <= 0.0 { gamma = right; }
    let aavg = (alpha + beta + gamma) / 2.0;
    // negative for angles no parallelepiped has (one larger than the other two together), zero
    // up to rounding (sin π ≈ 1e-16) for flat ones such as 120° 120° 120°
    let skew = aavg.sin() * (aavg - alpha).sin() * (aavg - beta).sin() * (aavg - gamma).sin();
    let v_cell = 2.0 * a * b * c * skew.max(0.0).sqrt();
    if !(skew > 1e-12 && v_cell > 0.0) {
        let degrees = [alpha, beta, gamma].map(f64::to_degrees);
        return Err(Error::Usage(format!(
            "-cell: the cell {a} {b} {c} {} {} {} has no volume (its angles close no parallelepiped)",
            degrees[0], degrees[1], degrees[2]
        )));
    }
    let v_star = 1.0 / v_cell;
    let fix = |x: f64| if x <= 0.0 { (x.abs()).max(f64::MIN_POSITIVE) } else { x };
    let a_star_len = fix(b * c * alpha.sin() * v_star);
    let b_star_len = fix(c * a * beta.sin() * v_star);
    let c_star_len = fix(a * b * gamma.sin() * v_star);
    let clamp_sin = |x: f64| x.clamp(-1.0, 1.0);
    let clamp_cos = |x: f64| if x * x > 1.0 { 1.0 } else { x };
    let sin_gamma_star = clamp_sin(c * v_star / a_star_len / b_star_len);
    let cos_alpha_star = clamp_cos((beta.cos() * gamma.cos() - alpha.cos()) / (beta.sin() * gamma.sin()));
    let cos_beta_star = clamp_cos((gamma.cos() * alpha.cos() - beta.cos()) / (gamma.sin() * alpha.sin()));
    let cos_gamma_star = clamp_cos((alpha.cos() * beta.cos() - gamma.cos()) / (alpha.sin() * beta.sin()));
    let a_star = [a_star_len, 0.0, 0.0];
    let b_star = [b_star_len * cos_gamma_star, b_star_len * sin_gamma_star, 0.0];
    // With a* along x and b* in the xy plane, the real axis c is perpendicular to both, i.e.
    // along z, and c·c* = 1 makes c*_z = 1/c exactly. C computes it as c*·V/(a·b·c·sin γ*),
    // which equals sin γ/(c·sin γ*): right only when γ = γ* (e.g. orthogonal cells), so an
    // oblique cell comes out with angles up to ~0.05° off and a·a* ≈ 1.0002 (70 80 90 75 85
    // 95). c-parity keeps C's value (the golden triclinic cases depend on it). Where C's
    // expression is exact (α = β = 90°, so γ* = 180° − γ), the default mode keeps it too: the
    // two agree mathematically but not to the last bit, and a last bit can move the automatic
    // -oversample across an integer (a cubic 100 Å cell at N = 5: 3 with C's, 4 with 1/c).
    let cs_expression_exact = (alpha - right).abs() < 1e-12 && (beta - right).abs() < 1e-12;
    let c_star_z = if mode == Mode::CParity || cs_expression_exact { c_star_len * v_cell / (a * b * c * sin_gamma_star) } else { 1.0 / c };
    let c_star = [
        c_star_len * cos_beta_star,
        c_star_len * (cos_alpha_star - cos_beta_star * cos_gamma_star) / sin_gamma_star,
        c_star_z,
    ];
    Ok(([a_star, b_star, c_star], v_cell))
}

/// A random orientation: C draws it with a 90-radian "cap" (REFERENCE: misset random);
/// the default mode draws a uniform rotation (Shoemake's quaternion) from the same generator.
fn random_orientation(mode: Mode, seed: i64) -> [f64; 9] {
    let mut rng = Ran1::new(seed);
    match mode {
        Mode::CParity => mosaic_rotation_umat(90.0, &mut rng),
        Mode::Default => {
            let (u1, u2, u3) = (rng.next() as f64, rng.next() as f64, rng.next() as f64);
            let tau = 2.0 * std::f64::consts::PI;
            let (x, y) = ((1.0 - u1).sqrt() * (tau * u2).sin(), (1.0 - u1).sqrt() * (tau * u2).cos());
            let (z, w) = (u1.sqrt() * (tau * u3).sin(), u1.sqrt() * (tau * u3).cos());
            [
                1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w),
                2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w),
                2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y),
            ]
        }
    }
}

/// A typed cell (`-cell`) refused as `build_lattice` refuses it, without building the lattice.
pub fn check_cell(r: &ExperimentParams) -> Result<()> {
    reciprocal_from_cell(r.cell, r.mode).map(drop)
}

/// `matrix`: a MOSFLM matrix (`-mat`, reciprocal vectors × λ); `file_cell`: the cell an `-hkl`
/// file carries (MTZ; a, b, c in Å, angles in radians), used as if typed with `-cell` when
/// neither `-cell` nor `-mat` is given.
pub fn build_lattice(r: &ExperimentParams, matrix: Option<[[f64; 3]; 3]>, lambda0: f64, file_cell: Option<[f64; 6]>, warnings: &mut Vec<Warning>) -> Result<Lattice> {
    let cell = if r.user_cell { Some(r.cell) } else if matrix.is_none() { file_cell } else { None };
    if matrix.is_none() && cell.is_none_or(|c| c[0] == 0.0) {
        return Err(Error::Usage(
            "no unit cell: give -cell a b c alpha beta gamma, -mat <matrix file>, or an MTZ -hkl file with a cell".into(),
        ));
    }
    let mut user_v_cell = 0.0;
    let mut stars = [[0.0; 3]; 3];
    if let Some(cell) = cell {
        (stars, user_v_cell) = reciprocal_from_cell(cell, r.mode)?;
    }
    if let Some(m) = matrix {
        // MOSFLM matrices carry the wavelength: divide it out with the λ known now
        stars = m.map(|v| scale(v, 1e-10 / lambda0));
    }
    let mut misset = None;
    match r.misset {
        Misset::None => {}
        Misset::Angles(angles) => {
            stars = stars.map(|v| rotate_xyz(v, angles));
            misset = Some(angles);
        }
        Misset::Random => {
            let umat = random_orientation(r.mode, r.misset_seed);
            let angles = umat2misset(&umat);
            warnings.push(Warning::note(format!("random orientation misset angles: {:?} deg", angles.map(f64::to_degrees))));
            stars = match r.mode {
                Mode::CParity => stars.map(|v| rotate_xyz(v, angles)),
                Mode::Default => stars.map(|v| rotate_umat(v, &umat)),
            };
            misset = Some(angles);
        }
    }
    let [a_star, b_star, c_star] = stars;
    let mut a_star_cross_b_star = cross(a_star, b_star);
    let mut b_star_cross_c_star = cross(b_star, c_star);
    let mut c_star_cross_a_star = cross(c_star, a_star);
    let mut v_star = dot(a_star, b_star_cross_c_star);
    if let Some(cell) = cell {
        // keep the typed cell lengths even when a matrix supplies the orientation
        let [a, b, c] = [cell[0], if cell[1] > 0.0 { cell[1] } else { cell[0] }, if cell[2] > 0.0 { cell[2] } else { cell[0] }];
        b_star_cross_c_star = rescale(b_star_cross_c_star, a / user_v_cell);
        c_star_cross_a_star = rescale(c_star_cross_a_star, b / user_v_cell);
        a_star_cross_b_star = rescale(a_star_cross_b_star, c / user_v_cell);
        v_star = 1.0 / user_v_cell;
    }
    let v_cell = 1.0 / v_star;
    if !v_cell.is_finite() || v_cell == 0.0 {
        return Err(Error::Usage("the unit cell is degenerate (zero volume): check -cell or the matrix file".into()));
    }
    let a = scale(b_star_cross_c_star, v_cell);
    let b = scale(c_star_cross_a_star, v_cell);
    let c = scale(a_star_cross_b_star, v_cell);
    let a_star = scale(cross(b, c), v_star);
    let b_star = scale(cross(c, a), v_star);
    let c_star = scale(cross(a, b), v_star);
    let angle = |x: V3, y: V3| (dot(x, y) / magnitude(x) / magnitude(y)).clamp(-1.0, 1.0).acos().to_degrees();
    let cell = [magnitude(a), magnitude(b), magnitude(c), angle(b, c), angle(a, c), angle(a, b)];
    Ok(Lattice {
        a: scale(a, 1e-10),
        b: scale(b, 1e-10),
        c: scale(c, 1e-10),
        a_star,
        b_star,
        c_star,
        cell,
        volume_a3: v_cell,
        misset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_cell_vectors() {
        let mut r = ExperimentParams::c_initial(Mode::Default, -1);
        r.user_cell = true;
        r.cell = [100.0, 100.0, 100.0, 90f64.to_radians(), 90f64.to_radians(), 90f64.to_radians()];
        let l = build_lattice(&r, None, 1e-10, None, &mut Vec::new()).unwrap();
        assert!((l.a[0] - 100e-10).abs() < 1e-20);
        assert!(l.a[1].abs() < 1e-22 && l.a[2].abs() < 1e-22);
        assert!((l.volume_a3 - 1e6).abs() < 1e-6);
        assert!((dot(l.a_star, scale(l.a, 1e10)) - 1.0).abs() < 1e-12);
    }

    fn triclinic(mode: Mode) -> Lattice {
        let mut r = ExperimentParams::c_initial(mode, -1);
        r.user_cell = true;
        r.cell = [70.0, 80.0, 90.0, 75f64.to_radians(), 85f64.to_radians(), 95f64.to_radians()];
        r.misset = Misset::Angles([0.1, 0.2, 0.3]);
        build_lattice(&r, None, 1e-10, None, &mut Vec::new()).unwrap()
    }

    /// a_i · b*_j for the real axes (Å) and the reciprocal ones (Å⁻¹).
    fn metric(l: &Lattice) -> [[f64; 3]; 3] {
        let real = [l.a, l.b, l.c].map(|v| scale(v, 1e10));
        let recip = [l.a_star, l.b_star, l.c_star];
        std::array::from_fn(|i| std::array::from_fn(|j| dot(real[i], recip[j])))
    }

    #[test]
    fn triclinic_cell_is_exact_in_default_mode() {
        let l = triclinic(Mode::Default);
        for (got, want) in [l.a, l.b, l.c].iter().zip([70.0, 80.0, 90.0]) {
            assert!((magnitude(*got) * 1e10 - want).abs() < 1e-9, "{:?}", l.cell);
        }
        // the real-space angles are the typed ones
        for (got, want) in l.cell[3..].iter().zip([75.0, 85.0, 95.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", l.cell);
        }
        // reciprocal and real bases are dual: a·a* = 1, a·b* = 0, ...
        for (i, row) in metric(&l).iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-12, "a_{i}·b*_{j} = {v}");
            }
        }
        assert!((l.volume_a3 - dot(scale(l.a, 1e10), cross(scale(l.b, 1e10), scale(l.c, 1e10)))).abs() < 1e-6 * l.volume_a3);
    }

    #[test]
    fn triclinic_cell_keeps_cs_construction_in_c_parity() {
        let l = triclinic(Mode::CParity);
        // lengths are forced to the typed ones (C's user_cell rescale)
        for (got, want) in [l.a, l.b, l.c].iter().zip([70.0, 80.0, 90.0]) {
            assert!((magnitude(*got) * 1e10 - want).abs() < 1e-9);
        }
        // C's c*_z = c*·V/(a·b·c·sin γ*) tilts the cell: the angles come out a few hundredths
        // of a degree off, measurably so, and a·a* is not 1
        let off = l.cell[3..].iter().zip([75.0, 85.0, 95.0]).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
        assert!(off > 1e-3 && off < 0.06, "{:?}", l.cell);
        let a_dot_a_star = metric(&l)[0][0];
        assert!((a_dot_a_star - 1.0).abs() > 1e-5 && (a_dot_a_star - 1.0).abs() < 1e-3, "{a_dot_a_star}");
    }

    #[test]
    fn orthogonal_cells_agree_between_modes() {
        // γ = γ* = 90°: C's formula is exact there, so the golden orthogonal cases are unchanged
        let build = |mode| {
            let mut r = ExperimentParams::c_initial(mode, -1);
            r.user_cell = true;
            r.cell = [50.0, 60.0, 70.0, 90f64.to_radians(), 90f64.to_radians(), 90f64.to_radians()];
            build_lattice(&r, None, 1e-10, None, &mut Vec::new()).unwrap()
        };
        let (d, c) = (build(Mode::Default), build(Mode::CParity));
        assert_eq!((d.a, d.b, d.c), (c.a, c.b, c.c));
    }

    #[test]
    fn missing_cell_is_an_error() {
        let r = ExperimentParams::c_initial(Mode::Default, -1);
        assert!(build_lattice(&r, None, 1e-10, None, &mut Vec::new()).is_err());
    }
}
