//! The f64 CPU engine: the reference every GPU result is checked against. One pixel is summed
//! in nanoBragg.c's loop order (layers → sub-pixels → sources → φ → mosaic) with its caching
//! rules (solid angle, polarization and capture fraction from the first sub-pixel unless the
//! matching `-oversample_*` flag is set); pixels run in parallel with rayon.

use super::plan::{FirstTerm, Interpolation, Plan, PlanSource};
use super::{RenderStats, Rendered};
use crate::cli::raw::XtalShape;
use crate::progress::RenderControl;
use crate::physics::{V3, dot, polarization_factor, polin3, sinc3, sincg, unitize};
use rayon::prelude::*;
use std::f64::consts::PI;

/// What one pixel produced.
#[derive(Clone, Copy, Debug, Default)]
pub struct PixelOut {
    pub value: f32,
    /// sum of the solid angles used (for the "solid angle subtended" statistic)
    pub omega_sum: f64,
    /// a term's interpolation neighbourhood left the structure-factor grid
    pub left_grid: bool,
}

/// Per-pixel switches that come from outside the pixel.
#[derive(Clone, Copy, Debug)]
pub struct PixelContext {
    /// tricubic interpolation is still on when the pixel starts
    pub interpolate: bool,
}

/// Observer for `-trace_pixel`: receives the named quantities of each term.
pub trait Tracer {
    fn value(&mut self, name: &str, v: f64);
    fn vector(&mut self, name: &str, v: V3);
    fn phi_step(&mut self, tic: usize, phi_deg: f64, k: f64, f_latt_b: f64, f_latt: f64);
}

/// Render every pixel; `-c_parity`'s one-shot interpolation switch needs a second pass over
/// the pixels after the first one where the switch flips.
pub fn render(plan: &Plan) -> Rendered {
    render_watched(plan, &RenderControl::default())
}

/// `render`, reporting finished rows to `control` and stopping early once it is cancelled;
/// the image is then incomplete, and the caller turns it into `Error::Interrupted`.
pub fn render_watched(plan: &Plan, control: &RenderControl) -> Rendered {
    let interpolate = plan.interpolation != Interpolation::Nearest;
    let mut pixels = render_pass(plan, 0, interpolate, control);
    let mut switched_at = None;
    if plan.interpolation == Interpolation::OneShotSwitch
        && !control.cancelled()
        && let Some(first) = pixels.iter().position(|p| p.left_grid)
    {
        // C: pixels up to `first` are exact as rendered (the switch flips inside it, and the
        // pixel itself falls back from that term on); every later pixel uses nearest F
        let rest = render_pass(plan, first + 1, false, control);
        pixels.truncate(first + 1);
        pixels.extend(rest);
        switched_at = Some(first);
    }
    Rendered::from_pixels(plan, &pixels, switched_at)
}

fn render_pass(plan: &Plan, start: usize, interpolate: bool, control: &RenderControl) -> Vec<PixelOut> {
    let ctx = PixelContext { interpolate };
    (start..plan.pixels())
        .into_par_iter()
        .with_min_len(64)
        .map(|idx| {
            // progress/cancel hook: once cancelled, the remaining pixels are skipped (the
            // caller discards the image); a row's last pixel counts the row as done
            if control.cancelled() {
                return PixelOut::default();
            }
            let (fast, slow) = (idx % plan.fpixels, idx / plan.fpixels);
            let out = if plan.renders(fast, slow) { render_pixel(plan, fast, slow, ctx, None) } else { PixelOut::default() };
            if fast + 1 == plan.fpixels {
                control.row_done();
            }
            out
        })
        .collect()
}

/// Lattice factor of one term for the crystal shape (spec: lattice factor), from fractional
/// indices `hkl` and their nearest integers `hkl0`.
pub fn lattice_factor(plan: &Plan, hkl: V3, hkl0: [f64; 3]) -> ([f64; 3], f64) {
    let [na, nb, nc] = plan.n;
    match plan.shape {
        XtalShape::Square => {
            let per_axis: [f64; 3] = std::array::from_fn(|i| if plan.n[i] > 1.0 { sincg(PI * hkl[i], plan.n[i]) } else { 1.0 });
            let mut f = 1.0;
            for (i, v) in per_axis.iter().enumerate() {
                if plan.n[i] > 1.0 {
                    f *= v;
                }
            }
            (per_axis, f)
        }
        XtalShape::Round => {
            let d: [f64; 3] = std::array::from_fn(|i| hkl[i] - hkl0[i]);
            let hrad_sqr = d[0] * d[0] * na * na + d[1] * d[1] * nb * nb + d[2] * d[2] * nc * nc;
            // 0.7236: sqrt of the cube-to-sphere volume ratio, as C
            ([1.0; 3], na * nb * nc * 0.723601254558268 * sinc3(PI * (hrad_sqr * plan.fudge).sqrt()))
        }
        XtalShape::Gauss | XtalShape::Tophat => {
            let d: [f64; 3] = std::array::from_fn(|i| hkl[i] - hkl0[i]);
            let dist: V3 = std::array::from_fn(|i| d[0] * plan.a_star[i] + d[1] * plan.b_star[i] + d[2] * plan.c_star[i]);
            let rad_star_sqr = (dist[0] * dist[0] + dist[1] * dist[1] + dist[2] * dist[2]) * na * na * nb * nb * nc * nc;
            let f = if plan.shape == XtalShape::Gauss {
                na * nb * nc * (-(rad_star_sqr / 0.63 * plan.fudge)).exp()
            } else if rad_star_sqr * plan.fudge < 0.3969 {
                na * nb * nc
            } else {
                0.0
            };
            ([1.0; 3], f)
        }
    }
}

/// Structure factor by nearest grid point; default_F off the grid.
pub fn nearest_f(plan: &Plan, hkl0: [f64; 3]) -> f64 {
    match &plan.grid {
        Some(g) => {
            let [h, k, l] = hkl0.map(|x| x as i32);
            if g.contains(h, k, l) { g.at(h, k, l) } else { plan.default_f }
        }
        None => plan.default_f,
    }
}

/// Tricubic structure factor, or None when the 4×4×4 neighbourhood leaves the grid (the C
/// range test uses the fractional index).
pub fn tricubic_f(plan: &Plan, hkl: V3) -> Option<f64> {
    let g = plan.grid.as_ref()?;
    for ((&x, &min), &max) in hkl.iter().zip(&g.min).zip(&g.max) {
        let (lo, range) = (min as f64, (max - min + 1) as f64);
        if x - lo + 3.0 > range || x - 2.0 < lo {
            return None;
        }
    }
    let flr = hkl.map(|x| x.floor() as i32);
    let axis = |i: usize| -> [f64; 4] { std::array::from_fn(|j| (flr[i] - 1 + j as i32) as f64) };
    let (ha, ka, la) = (axis(0), axis(1), axis(2));
    let mut ya = [[[0.0; 4]; 4]; 4];
    for (i, plane) in ya.iter_mut().enumerate() {
        for (j, row) in plane.iter_mut().enumerate() {
            for (k, v) in row.iter_mut().enumerate() {
                *v = g.at(ha[i] as i32, ka[j] as i32, la[k] as i32);
            }
        }
    }
    Some(polin3(&ha, &ka, &la, &ya, hkl[0], hkl[1], hkl[2]))
}

/// Running state of one pixel, mirroring the C variables that persist across its loops.
struct PixelState {
    intensity: f64,
    polar: f64,
    omega: f64,
    capture: f64,
    interpolate: bool,
    left_grid: bool,
    omega_sum: f64,
}

/// A tracer that ignores everything (the normal, untraced render).
struct Silent;

impl Tracer for Silent {
    fn value(&mut self, _: &str, _: f64) {}
    fn vector(&mut self, _: &str, _: V3) {}
    fn phi_step(&mut self, _: usize, _: f64, _: f64, _: f64, _: f64) {}
}

/// Sum one pixel. `tracer` receives the C trace quantities as nanoBragg.c prints them: the
/// geometry of every sub-pixel, the lattice terms of source 0 and domain 0 (φ step 0, plus one
/// `phi_step` per φ step), then the pixel's final factors (`crate::trace` lists the names).
pub fn render_pixel(plan: &Plan, fast: usize, slow: usize, ctx: PixelContext, tracer: Option<&mut dyn Tracer>) -> PixelOut {
    let tracing = tracer.is_some();
    let mut silent = Silent;
    let tracer: &mut dyn Tracer = match tracer {
        Some(t) => t,
        None => &mut silent,
    };
    let mut st = PixelState {
        intensity: plan.i_bg,
        polar: if plan.nopolar { 1.0 } else { 0.0 },
        omega: 0.0,
        capture: 0.0,
        interpolate: ctx.interpolate,
        left_grid: false,
        omega_sum: 0.0,
    };
    let pixel = slow * plan.fpixels + fast;
    let os = plan.oversample;
    for layer in 0..plan.thicksteps {
        st.capture = if plan.thick == 0.0 { 1.0 } else { 0.0 };
        for sub in 0..os * os {
            let pos = plan.subpixel_position(fast, slow, sub / os, sub % os, layer);
            let (mut diffracted, airpath) = unitize(pos);
            if st.omega == 0.0 || plan.oversample_omega {
                st.omega = if plan.point_pixel {
                    1.0 / airpath / airpath
                } else {
                    plan.pixel_size * plan.pixel_size / airpath / airpath * plan.close_distance / airpath
                };
            }
            st.omega_sum += st.omega;
            if st.capture == 0.0 || plan.oversample_thick {
                let parallax = dot(diffracted, plan.odet);
                let depth = plan.thickstep * plan.mu / parallax;
                st.capture = (-(layer as f64) * depth).exp() - (-((layer + 1) as f64) * depth).exp();
            }
            if tracing {
                tracer.vector("pixel_pos_meters", pos);
                tracer.value("R_distance_meters", airpath);
                tracer.value("omega_pixel_sr", st.omega);
                tracer.vector("diffracted_vec", diffracted);
            }
            for (source, src) in plan.sources.iter().enumerate() {
                let scattering = Plan::scattering(diffracted, src);
                if plan.beyond_dmin(scattering) {
                    continue;
                }
                if st.polar == 0.0 || plan.oversample_polar {
                    st.polar = polarization_factor(plan.kahn, src.incident, diffracted, plan.polar_axis);
                    // C normalises `diffracted` in place here, which later sources then see
                    diffracted = unitize(diffracted).0;
                }
                let first = plan.first_term == Some(FirstTerm { pixel, layer, sub, source });
                let trace_term = tracing && source == 0;
                sum_rotations(plan, &mut st, scattering, src, first, tracer, trace_term);
            }
        }
    }
    let mut value = plan.scale * st.intensity;
    if !plan.oversample_thick {
        value *= st.capture;
    }
    if !plan.oversample_polar {
        value *= st.polar;
    }
    if !plan.oversample_omega {
        value *= st.omega;
    }
    if tracing {
        tracer.value("I_before_scaling", st.intensity);
        tracer.value("steps", plan.steps as f64);
        tracer.value("capture_fraction", st.capture);
        tracer.value("polar", st.polar);
        tracer.value("omega_pixel", st.omega);
        tracer.value("I_pixel_final", value);
    }
    PixelOut { value: value as f32, omega_sum: st.omega_sum, left_grid: st.left_grid }
}

/// The φ × mosaic loops of one (sub-pixel, source).
fn sum_rotations(plan: &Plan, st: &mut PixelState, scattering: V3, src: &PlanSource, first: bool, t: &mut dyn Tracer, tracing: bool) {
    let lattices = if first { &plan.lattice_first } else { &plan.lattice };
    for phi_tic in 0..plan.phisteps {
        for domain in 0..plan.domains {
            let abc = &lattices[phi_tic * plan.domains + domain];
            let hkl = [dot(abc[0], scattering), dot(abc[1], scattering), dot(abc[2], scattering)];
            let hkl0 = hkl.map(|x| (x - 0.5).ceil());
            let (per_axis, f_latt) = lattice_factor(plan, hkl, hkl0);
            if tracing && domain == 0 {
                if phi_tic == 0 {
                    t.vector("scattering_vec_A_inv", scattering);
                    t.vector("rot_a_angstroms", abc[0].map(|x| x * 1e10));
                    t.vector("rot_b_angstroms", abc[1].map(|x| x * 1e10));
                    t.vector("rot_c_angstroms", abc[2].map(|x| x * 1e10));
                    t.vector("hkl_frac", hkl);
                    t.vector("hkl_rounded", hkl0);
                    t.value("F_latt_a", per_axis[0]);
                    t.value("F_latt_b", per_axis[1]);
                    t.value("F_latt_c", per_axis[2]);
                    t.value("F_latt", f_latt);
                }
                t.phi_step(phi_tic, plan.phi_deg[phi_tic], hkl[1], per_axis[1], f_latt);
            }
            if f_latt == 0.0 && !plan.has_water {
                continue;
            }
            let f_cell = structure_factor(plan, st, hkl, hkl0);
            if tracing && domain == 0 && phi_tic == 0 {
                t.value("F_cell", f_cell);
            }
            st.intensity += f_cell * f_cell * f_latt * f_latt * src.weight;
            if plan.oversample_thick {
                st.intensity *= st.capture;
            }
            if plan.oversample_polar {
                st.intensity *= st.polar;
            }
            if plan.oversample_omega {
                st.intensity *= st.omega;
            }
        }
    }
}

/// F for one term under the plan's interpolation rule; flips the pixel's switch as C does.
fn structure_factor(plan: &Plan, st: &mut PixelState, hkl: V3, hkl0: [f64; 3]) -> f64 {
    if st.interpolate {
        if let Some(f) = tricubic_f(plan, hkl) {
            return f;
        }
        st.left_grid = true;
        if plan.interpolation == Interpolation::OneShotSwitch {
            st.interpolate = false;
        }
    }
    nearest_f(plan, hkl0)
}

/// Image statistics as nanoBragg.c computes them (over rendered pixels only).
pub fn statistics(plan: &Plan, image: &[f32]) -> RenderStats {
    let mut max_i = 0.0f64;
    let mut max_at = 0usize;
    let (mut sum, mut sumsqr, mut n) = (0.0f64, 0.0f64, 0usize);
    for slow in 0..plan.spixels {
        for fast in 0..plan.fpixels {
            if !plan.renders(fast, slow) {
                continue;
            }
            let v = image[slow * plan.fpixels + fast] as f64;
            if v > max_i {
                max_i = v;
                max_at = slow * plan.fpixels + fast;
            }
            sum += v;
            sumsqr += v * v;
            n += 1;
        }
    }
    let mean = sum / n.max(1) as f64;
    let rms = (sumsqr / (n.max(2) - 1) as f64).sqrt();
    // C's second pass tests only the ROI (masked pixels are zero and count)
    let [x0, x1, y0, y1] = plan.roi;
    let (mut dev, mut m) = (0.0f64, 0usize);
    for slow in 0..plan.spixels {
        for fast in 0..plan.fpixels {
            if fast < x0 || fast > x1 || slow < y0 || slow > y1 {
                continue;
            }
            let d = image[slow * plan.fpixels + fast] as f64 - mean;
            dev += d * d;
            m += 1;
        }
    }
    let rmsd = (dev / (m.max(2) - 1) as f64).sqrt();
    RenderStats { max_i, max_at, mean, rms, rmsd, omega_sum: 0.0 }
}
