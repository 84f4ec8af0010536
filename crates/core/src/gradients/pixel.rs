//! The per-term arithmetic of the default mode in dual numbers: the same loops, rules and
//! order as `engine::cpu` (its lanes), one pixel at a time, so that the value part is the CPU
//! engine's image to f64 rounding and the tangents are exact derivatives of it.

use super::GradientError;
use super::dual::{DV, Dual, ddot};
use crate::engine::plan::{Interpolation, Plan};
use crate::params::XtalShape;
use crate::par::*;
use std::f64::consts::PI;

/// What the dual pixel code cannot carry yet, refused with the reason.
pub(super) fn supported(plan: &Plan) -> Result<(), GradientError> {
    let no = |why: &str| Err(GradientError::Unsupported("the image", why.to_string()));
    if plan.panels.len() != 1 || plan.panels[0].first != [0, 0] {
        return no("a detector of several panels (-detector) is not carried in derivatives yet");
    }
    if plan.thick != 0.0 {
        return no("a thick sensor (-detector_thick) is not carried in derivatives yet");
    }
    if plan.curved {
        return no("a curved detector (-curved_det) is not carried in derivatives yet");
    }
    if plan.background.is_some() {
        return no("the -stol background is not carried in derivatives yet");
    }
    if plan.compound_factors || plan.interpolation == Interpolation::OneShotSwitch {
        return Err(GradientError::CParity);
    }
    Ok(())
}

/// The plan numbers the per-term arithmetic reads, flat: the one panel's (`supported`) pix0,
/// fdet, sdet, odet, close_distance, per source (incident, λ), per φ × domain the lattice (a, b, c), N, a*, b*,
/// c*, scale.
pub(super) fn flatten(p: &Plan) -> Vec<f64> {
    let mut v = Vec::new();
    let panel = &p.panels[0];
    for x in [panel.pix0, panel.fdet, panel.sdet, panel.odet] {
        v.extend(x);
    }
    v.push(panel.close_distance);
    for s in &p.sources {
        v.extend(s.incident);
        v.push(s.lambda);
    }
    for abc in &p.lattice {
        for x in abc {
            v.extend(x);
        }
    }
    v.extend(p.n);
    for x in [p.a_star, p.b_star, p.c_star] {
        v.extend(x);
    }
    v.push(p.scale);
    v
}

pub(super) fn scale_index(p: &Plan) -> usize {
    flatten(p).len() - 1
}

struct DSource<const K: usize> {
    incident: DV<K>,
    lambda: Dual<K>,
    weight: f64,
    incident_unit: DV<K>,
    b_in: DV<K>,
    e_in: DV<K>,
}

/// The plan's numbers as duals.
struct DPlan<const K: usize> {
    pix0: DV<K>,
    fdet: DV<K>,
    sdet: DV<K>,
    odet: DV<K>,
    close_distance: Dual<K>,
    sources: Vec<DSource<K>>,
    lattice: Vec<[DV<K>; 3]>,
    n: DV<K>,
    stars: [DV<K>; 3],
    scale: Dual<K>,
}

fn unitize<const K: usize>(v: DV<K>) -> DV<K> {
    let m = ddot(&v, &v).sqrt();
    if m.v == 0.0 { v } else { v.map(|x| x / m) }
}

fn cross<const K: usize>(a: DV<K>, b: DV<K>) -> DV<K> {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

impl<const K: usize> DPlan<K> {
    fn new(p: &Plan, base: &[f64], tangents: &[&[f64]]) -> DPlan<K> {
        let mut at = 0;
        let mut next = || {
            let mut d = [0.0; K];
            for (j, t) in tangents.iter().enumerate() {
                d[j] = t[at];
            }
            let x = Dual { v: base[at], d };
            at += 1;
            x
        };
        let vec3 = |next: &mut dyn FnMut() -> Dual<K>| -> DV<K> { [next(), next(), next()] };
        let (pix0, fdet, sdet, odet) = (vec3(&mut next), vec3(&mut next), vec3(&mut next), vec3(&mut next));
        let close_distance = next();
        let polar_axis: DV<K> = crate::physics::unitize(p.polar_axis).0.map(Dual::c);
        let sources = p
            .sources
            .iter()
            .map(|s| {
                let incident = vec3(&mut next);
                let lambda = next();
                let incident_unit = unitize(incident);
                let b_in = unitize(cross(polar_axis, incident_unit));
                let e_in = unitize(cross(incident_unit, b_in));
                DSource { incident, lambda, weight: s.weight, incident_unit, b_in, e_in }
            })
            .collect();
        let lattice = p.lattice.iter().map(|_| [vec3(&mut next), vec3(&mut next), vec3(&mut next)]).collect();
        let n = vec3(&mut next);
        let stars = [vec3(&mut next), vec3(&mut next), vec3(&mut next)];
        let scale = next();
        DPlan { pix0, fdet, sdet, odet, close_distance, sources, lattice, n, stars, scale }
    }
}

/// The image and its derivative images (one per tangent) of the plan.
pub(super) fn render(plan: &Plan, base: &[f64], tangents: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    // tangents are carried 8 at a time: a fixed width keeps them in registers
    const W: usize = 8;
    let mut image = Vec::new();
    let mut derivatives = Vec::with_capacity(tangents.len());
    let chunks: Vec<&[Vec<f64>]> = if tangents.is_empty() { vec![&[]] } else { tangents.chunks(W).collect() };
    for chunk in chunks {
        let t: Vec<&[f64]> = chunk.iter().map(|v| v.as_slice()).collect();
        let dp = DPlan::<W>::new(plan, base, &t);
        let mut pixels = vec![Dual::<W>::c(0.0); plan.pixels()];
        pixels.par_chunks_mut(plan.fpixels).enumerate().for_each(|(slow, row)| {
            for (fast, px) in row.iter_mut().enumerate() {
                if plan.renders(fast, slow) {
                    *px = sum_pixel(plan, &dp, fast, slow);
                }
            }
        });
        if image.is_empty() {
            image = pixels.iter().map(|x| x.v).collect();
        }
        for j in 0..chunk.len() {
            derivatives.push(pixels.iter().map(|x| x.d[j]).collect());
        }
    }
    (image, derivatives)
}

/// One pixel: `engine::cpu::lanes::sum_pixels` in the default mode, in duals.
fn sum_pixel<const K: usize>(plan: &Plan, dp: &DPlan<K>, fast: usize, slow: usize) -> Dual<K> {
    let zero = Dual::<K>::c(0.0);
    let mut intensity = zero;
    let mut polar = Dual::c(if plan.nopolar { 1.0 } else { 0.0 });
    let mut omega = zero;
    let capture = Dual::c(1.0);
    let mut interpolate = plan.interpolation != Interpolation::Nearest;
    let os = plan.oversample;
    for layer in 0..plan.thicksteps {
        for sub in 0..os * os {
            let (fd, sd) = (plan.subpixel_coordinate(fast, sub % os), plan.subpixel_coordinate(slow, sub / os));
            let od = layer as f64 * plan.thickstep;
            let pos: DV<K> = std::array::from_fn(|c| dp.fdet[c] * fd + sd * dp.sdet[c] + od * dp.odet[c] + dp.pix0[c]);
            let airpath = ddot(&pos, &pos).sqrt();
            let diffracted: DV<K> = if airpath.v != 0.0 { pos.map(|x| x / airpath) } else { [zero; 3] };
            if omega.v == 0.0 || plan.oversample_omega {
                omega = if plan.point_pixel { 1.0 / airpath / airpath } else { plan.pixel_size * plan.pixel_size / airpath / airpath * dp.close_distance / airpath };
            }
            for src in &dp.sources {
                let scattering: DV<K> = std::array::from_fn(|c| (diffracted[c] - src.incident[c]) / src.lambda);
                if plan.beyond_dmin(scattering.map(|x| x.v)) {
                    continue;
                }
                if polar.v == 0.0 || plan.oversample_polar {
                    polar = polarization(plan, src, &diffracted);
                }
                let factors = |x: Dual<K>, per_sub: bool| if per_sub { x } else { Dual::c(1.0) };
                let (fc, fp, fo) = (factors(capture, plan.oversample_thick), factors(polar, plan.oversample_polar), factors(omega, plan.oversample_omega));
                if plan.has_water {
                    intensity += plan.i_bg * src.weight * fc * fp * fo;
                }
                for abc in &dp.lattice {
                    let hkl: DV<K> = std::array::from_fn(|i| ddot(&abc[i], &scattering));
                    let hkl0: [f64; 3] = hkl.map(|x| (x.v - 0.5).ceil());
                    let f_latt = lattice_factor(plan, dp, &hkl, &hkl0);
                    if f_latt.v == 0.0 {
                        continue;
                    }
                    let f_cell = structure_factor(plan, &mut interpolate, &hkl, &hkl0);
                    let term = f_cell * f_cell * f_latt * f_latt * src.weight;
                    intensity += term * fc * fp * fo;
                }
            }
        }
    }
    let mut value = dp.scale * intensity;
    if !plan.oversample_thick {
        value = value * capture;
    }
    if !plan.oversample_polar {
        value = value * polar;
    }
    if !plan.oversample_omega {
        value = value * omega;
    }
    value
}

/// Kahn polarization factor (`lanes::update_polar`).
fn polarization<const K: usize>(plan: &Plan, src: &DSource<K>, diffracted: &DV<K>) -> Dual<K> {
    let unit = unitize(*diffracted);
    let cos2theta = ddot(&src.incident_unit, &unit);
    let c2 = cos2theta * cos2theta;
    if plan.kahn == 0.0 {
        return 0.5 * (1.0 + c2);
    }
    let psi = -(ddot(&unit, &src.b_in).atan2(ddot(&unit, &src.e_in)));
    0.5 * (1.0 + c2 - plan.kahn * (2.0 * psi).cos() * (1.0 - c2))
}

/// Below this |δ| the grating factor is its Taylor series N(1 − π²(N²−1)δ²/6): the quotient
/// sin(πNδ)/sin(πδ) would be 0/0 at δ = 0, and the series' next term (δ⁴) is under 1e-30.
const GRATING_SERIES: f64 = 1e-8;
/// Below this x = π·√(h²·fudge) the sphere transform 3(sin x − x cos x)/x³ is its Taylor
/// series 1 − x²/10 + x⁴/280 − x⁶/15120 (next term x⁸/1330560 < 1e-23), which needs no √ (whose
/// derivative is infinite at 0) and no cancellation.
const SINC3_SERIES: f64 = 1e-2;

/// The lattice factor (`cpu::lattice`), N continuous: the square shape's grating factor is
/// sin(πNδ)/sin(πδ) with δ = h − h0 and the sign (−1)^((N−1)·h0) of the whole N rendered.
fn lattice_factor<const K: usize>(plan: &Plan, dp: &DPlan<K>, hkl: &DV<K>, hkl0: &[f64; 3]) -> Dual<K> {
    let n = dp.n;
    let d: DV<K> = std::array::from_fn(|i| hkl[i] - hkl0[i]);
    match plan.shape {
        XtalShape::Square => {
            let mut f = Dual::c(1.0);
            for i in 0..3 {
                if n[i].v <= 1.0 {
                    continue;
                }
                let g = if d[i].v.abs() < GRATING_SERIES {
                    n[i] * (1.0 - PI * PI * (n[i] * n[i] - 1.0) * d[i] * d[i] / 6.0)
                } else {
                    (PI * n[i] * d[i]).sin() / (PI * d[i]).sin()
                };
                let odd_h0 = hkl0[i].rem_euclid(2.0) == 1.0;
                // the sign of the whole N rendered, so that it stays put while N varies continuously
                let even_n = n[i].v.round() % 2.0 == 0.0;
                f = f * if even_n && odd_h0 { -g } else { g };
            }
            f
        }
        XtalShape::Round => {
            let hrad_sqr = d[0] * d[0] * n[0] * n[0] + d[1] * d[1] * n[1] * n[1] + d[2] * d[2] * n[2] * n[2];
            let x2 = PI * PI * hrad_sqr * plan.fudge;
            let s = if x2.v.sqrt() < SINC3_SERIES {
                1.0 - x2 / 10.0 + x2 * x2 / 280.0 - x2 * x2 * x2 / 15120.0
            } else {
                let x = x2.sqrt();
                3.0 * (x.sin() / x - x.cos()) / (x * x)
            };
            n[0] * n[1] * n[2] * 0.723601254558268 * s
        }
        _ => {
            let s = dp.stars;
            let dist: DV<K> = std::array::from_fn(|c| d[0] * s[0][c] + d[1] * s[1][c] + d[2] * s[2][c]);
            let rad = ddot(&dist, &dist) * n[0] * n[0] * n[1] * n[1] * n[2] * n[2];
            let nnn = n[0] * n[1] * n[2];
            if plan.shape == XtalShape::Gauss {
                nnn * (-(rad / 0.63 * plan.fudge)).exp()
            } else if rad.v * plan.fudge < 0.3969 {
                nnn
            } else {
                Dual::c(0.0)
            }
        }
    }
}

/// F of one term (`cpu::structure`): tricubic in duals while the neighbourhood is on the
/// grid (falling back per term to the nearest point), else the nearest point (constant).
fn structure_factor<const K: usize>(plan: &Plan, interpolate: &mut bool, hkl: &DV<K>, hkl0: &[f64; 3]) -> Dual<K> {
    let Some(g) = plan.grid.as_ref() else { return Dual::c(plan.default_f) };
    if *interpolate {
        if let Some(f) = tricubic(plan, hkl) {
            return f;
        }
    }
    let [h, k, l] = hkl0.map(|x| x as i32);
    Dual::c(if g.contains(h, k, l) { g.at(h, k, l) } else { plan.default_f })
}

fn tricubic<const K: usize>(plan: &Plan, hkl: &DV<K>) -> Option<Dual<K>> {
    let g = plan.grid.as_ref()?;
    for i in 0..3 {
        let (x, lo, range) = (hkl[i].v, g.min[i] as f64, (g.max[i] - g.min[i] + 1) as f64);
        if x - lo + 3.0 > range || x - 2.0 < lo {
            return None;
        }
    }
    let mut first = [0i32; 3];
    let mut weights = [[Dual::<K>::c(0.0); 4]; 3];
    for i in 0..3 {
        let node = hkl[i].v.floor() - 1.0;
        first[i] = node as i32;
        let d = [hkl[i] - node, hkl[i] - (node + 1.0), hkl[i] - (node + 2.0), hkl[i] - (node + 3.0)];
        weights[i] = [d[1] * d[2] * d[3] / -6.0, d[0] * d[2] * d[3] / 2.0, d[0] * d[1] * d[3] / -2.0, d[0] * d[1] * d[2] / 6.0];
    }
    let mut f = Dual::c(0.0);
    for i in 0..4 {
        for j in 0..4 {
            let wij = weights[0][i] * weights[1][j];
            for k in 0..4 {
                let v = g.at(first[0] + i as i32, first[1] + j as i32, first[2] + k as i32);
                f += wij * weights[2][k] * v;
            }
        }
    }
    Some(f)
}
