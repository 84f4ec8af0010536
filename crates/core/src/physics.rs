//! The small pieces of physics and geometry both engines share, in f64, written so each
//! operation happens in the same order as in nanoBragg.c (bit-level agreement with the C
//! program matters for the parity tests: no reciprocal-multiply in place of a division, no
//! re-association).

pub mod constants;

pub type V3 = [f64; 3];

pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn cross(x: V3, y: V3) -> V3 {
    [x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]]
}

pub fn magnitude(v: V3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

pub fn scale(v: V3, s: f64) -> V3 {
    [s * v[0], s * v[1], s * v[2]]
}

/// Unit vector and the original length; a zero vector stays zero (as C's `unitize`).
pub fn unitize(v: V3) -> (V3, f64) {
    let mag = magnitude(v);
    if mag != 0.0 { ([v[0] / mag, v[1] / mag, v[2] / mag], mag) } else { ([0.0; 3], mag) }
}

/// Vector with its direction kept and its length set (C `vector_rescale`).
pub fn rescale(v: V3, new_magnitude: f64) -> V3 {
    let mut old = magnitude(v);
    if old <= 0.0 {
        old = 1.0;
    }
    [new_magnitude / old * v[0], new_magnitude / old * v[1], new_magnitude / old * v[2]]
}

/// The misset angles (radians) of rotation `u` (row-major) as `-misset` applies them
/// (`rotate_xyz`: about x, then y, then z, so U = Rz·Ry·Rx); y in [−π/2, π/2]. A shot list's
/// random orientation and the Python package's `orientation=` become `-misset` through it.
pub fn xyz_angles(u: &[f64; 9]) -> [f64; 3] {
    let beta = (-u[6]).clamp(-1.0, 1.0).asin();
    [u[7].atan2(u[8]), beta, u[3].atan2(u[0])]
}

/// Rotation about x, then y, then z (radians); a zero angle is skipped exactly as in C.
pub fn rotate_xyz(v: V3, angles: V3) -> V3 {
    let [mut x, mut y, mut z] = v;
    let [phix, phiy, phiz] = angles;
    if phix != 0.0 {
        let (s, c) = (phix.sin(), phix.cos());
        let ry = y * c + z * -s;
        let rz = y * s + z * c;
        (y, z) = (ry, rz);
    }
    if phiy != 0.0 {
        let (s, c) = (phiy.sin(), phiy.cos());
        let rx = x * c + y * 0.0 + z * s;
        let rz = x * -s + y * 0.0 + z * c;
        (x, z) = (rx, rz);
    }
    if phiz != 0.0 {
        let (s, c) = (phiz.sin(), phiz.cos());
        let rx = x * c + y * -s;
        let ry = x * s + y * c;
        (x, y) = (rx, ry);
    }
    [x, y, z]
}

/// Right-handed rotation of `v` by `phi` about the unit vector `axis` (Rodrigues).
pub fn rotate_axis(v: V3, axis: V3, phi: f64) -> V3 {
    let (sinphi, cosphi) = (phi.sin(), phi.cos());
    let d = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - cosphi);
    [
        axis[0] * d + v[0] * cosphi + (-axis[2] * v[1] + axis[1] * v[2]) * sinphi,
        axis[1] * d + v[1] * cosphi + (axis[2] * v[0] - axis[0] * v[2]) * sinphi,
        axis[2] * d + v[2] * cosphi + (-axis[1] * v[0] + axis[0] * v[1]) * sinphi,
    ]
}

/// Row-major 3×3 matrix times vector.
pub fn rotate_umat(v: V3, u: &[f64; 9]) -> V3 {
    [
        u[0] * v[0] + u[1] * v[1] + u[2] * v[2],
        u[3] * v[0] + u[4] * v[1] + u[5] * v[2],
        u[6] * v[0] + u[7] * v[1] + u[8] * v[2],
    ]
}

/// Lattice transform of a grating of `n` cells: sin(N·x)/sin(x), N at x = 0 (spec §lattice).
pub fn sincg(x: f64, n: f64) -> f64 {
    if x == 0.0 {
        return n;
    }
    (x * n).sin() / x.sin()
}

/// Transform of a sphere: 3(sin x/x − cos x)/x².
pub fn sinc3(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    3.0 * (x.sin() / x - x.cos()) / (x * x)
}

/// Kahn polarization factor for an incident and a diffracted unit direction and the E-vector
/// reference axis: ½(1 + cos²2θ − K·cos 2ψ·sin²2θ).
pub fn polarization_factor(kahn: f64, incident: V3, diffracted: V3, axis: V3) -> f64 {
    let (incident, _) = unitize(incident);
    let (diffracted, _) = unitize(diffracted);
    let (axis, _) = unitize(axis);
    let cos2theta = dot(incident, diffracted);
    let cos2theta_sqr = cos2theta * cos2theta;
    let sin2theta_sqr = 1.0 - cos2theta_sqr;
    let mut psi = 0.0;
    if kahn != 0.0 {
        // the E-vector lies closest to `axis`: B = axis × incident, E = incident × B
        let (b_in, _) = unitize(cross(axis, incident));
        let (e_in, _) = unitize(cross(incident, b_in));
        psi = -dot(diffracted, b_in).atan2(dot(diffracted, e_in));
    }
    0.5 * (1.0 + cos2theta_sqr - kahn * (2.0 * psi).cos() * sin2theta_sqr)
}

/// Four-point Lagrange interpolation at `x` through (xa[i], ya[i]).
pub fn polint(xa: &[f64; 4], ya: &[f64; 4], x: f64) -> f64 {
    let x0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] / ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    let x1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] / ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    let x2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] / ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    let x3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] / ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    x0 + x1 + x2 + x3
}

/// Tricubic interpolation of a 4×4×4 neighbourhood `ya[h][k][l]` at (x1, x2, x3), nesting the
/// 1-D interpolation l first, then k, then h (the order nanoBragg.c uses).
pub fn polin3(x1a: &[f64; 4], x2a: &[f64; 4], x3a: &[f64; 4], ya: &[[[f64; 4]; 4]; 4], x1: f64, x2: f64, x3: f64) -> f64 {
    let mut along_h = [0.0; 4];
    for (j, plane) in ya.iter().enumerate() {
        let mut along_k = [0.0; 4];
        for (i, row) in plane.iter().enumerate() {
            along_k[i] = polint(x3a, row, x3);
        }
        along_h[j] = polint(x2a, &along_k, x2);
    }
    polint(x1a, &along_h, x1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn sincg_limits_and_integers() {
        assert_eq!(sincg(0.0, 5.0), 5.0);
        // next to an integer h the grating peaks at ±N
        assert!((sincg(PI * 3.000001, 5.0).abs() - 5.0).abs() < 1e-6);
        // zero crossing at h = 1/N
        assert!(sincg(PI / 5.0, 5.0).abs() < 1e-12);
    }

    #[test]
    fn sinc3_is_one_at_zero_and_small_far_away() {
        assert_eq!(sinc3(0.0), 1.0);
        assert!((sinc3(1e-3) - 1.0).abs() < 1e-6);
        assert!(sinc3(4.4934).abs() < 1e-4); // first zero of the spherical transform
    }

    #[test]
    fn polarization_unpolarized_and_kahn() {
        let inc = [1.0, 0.0, 0.0];
        // forward scattering is unaffected
        assert!((polarization_factor(0.0, inc, inc, [0.0, 0.0, 1.0]) - 1.0).abs() < 1e-15);
        // 90 degrees, unpolarized: 1/2
        let d = [0.0, 1.0, 0.0];
        assert!((polarization_factor(0.0, inc, d, [0.0, 0.0, 1.0]) - 0.5).abs() < 1e-15);
        // fully polarized along z, scattering along y (perpendicular to E): 1
        assert!((polarization_factor(1.0, inc, d, [0.0, 0.0, 1.0]) - 1.0).abs() < 1e-12);
        // scattering along z (parallel to E): 0
        assert!(polarization_factor(1.0, inc, [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]).abs() < 1e-12);
    }

    #[test]
    fn rotations_agree() {
        let v = [0.3, -0.2, 0.9];
        let a = rotate_axis(v, [0.0, 0.0, 1.0], 0.4);
        let b = rotate_xyz(v, [0.0, 0.0, 0.4]);
        for i in 0..3 {
            assert!((a[i] - b[i]).abs() < 1e-15);
        }
        assert!((magnitude(rotate_xyz(v, [0.1, 0.2, 0.3])) - magnitude(v)).abs() < 1e-15);
    }

    #[test]
    fn tricubic_reproduces_cubic_polynomials() {
        let f = |h: f64, k: f64, l: f64| 1.0 + h * h * h - 2.0 * k * k * l + 0.5 * l * l * l + h * k;
        let xs = [-1.0, 0.0, 1.0, 2.0];
        let mut ya = [[[0.0; 4]; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                for k in 0..4 {
                    ya[i][j][k] = f(xs[i], xs[j], xs[k]);
                }
            }
        }
        let got = polin3(&xs, &xs, &xs, &ya, 0.3, 0.7, 1.2);
        assert!((got - f(0.3, 0.7, 1.2)).abs() < 1e-12, "{got}");
    }
}
