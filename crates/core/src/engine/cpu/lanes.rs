//! The lane code: [`LANES`] neighbouring pixels of one row summed in lock-step, and the
//! run-time choice of its AVX2+FMA build on x86-64.
//!
//! The lanes share every loop bound and every lattice orientation, so each term is the same
//! arithmetic on sixteen scattering vectors, which LLVM turns into SIMD code; each pixel still
//! adds its own terms in C's order.

use super::lattice::{LatticeShape, grating, lattice_factors};
use super::structure::structure_factors;
use super::{PixelContext, PixelOut, Prepared, Source, Totals, Tracer, roi_ranges};
use crate::engine::plan::{FirstTerm, Plan, PlanPanel};
use crate::physics::{V3, dot, sincg};
use std::f64::consts::PI;

/// Pixels summed in lock-step: sixteen f64 lanes are four AVX2 registers per operation,
/// enough independent work to hide the latency of the divisions, square roots and
/// polynomials (measured on W2: 16 lanes 1.6× faster than 8; 24 and 32 slower).
pub(super) const LANES: usize = 16;

/// Whether this x86-64 CPU runs the AVX2 + FMA build of the row code.
#[cfg(target_arch = "x86_64")]
pub(super) fn simd_x86() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Whether the sine polynomials use fused multiply-adds: wherever the hardware has them, so
/// that all such machines give the same bits. x86-64 CPUs without FMA round each step
/// instead (a software fma would be far slower than the C program).
pub(super) fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    return simd_x86();
    #[cfg(not(target_arch = "x86_64"))]
    return cfg!(target_arch = "aarch64");
}

/// One row from fast index `from` on, with the fastest code this CPU runs.
pub(super) fn render_row(plan: &Plan, prep: &Prepared, slow: usize, row: &mut [f32], from: usize, ctx: PixelContext) -> Totals {
    #[cfg(target_arch = "x86_64")]
    {
        if simd_x86() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above)
            return unsafe { render_row_avx2(plan, prep, slow, row, from, ctx) };
        }
    }
    if fused() {
        render_row_portable::<true>(plan, prep, slow, row, from, ctx)
    } else {
        render_row_portable::<false>(plan, prep, slow, row, from, ctx)
    }
}

/// The row code compiled for AVX2 and FMA: ceil and round become single instructions and the
/// lane loops run four f64 per instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn render_row_avx2(plan: &Plan, prep: &Prepared, slow: usize, row: &mut [f32], from: usize, ctx: PixelContext) -> Totals {
    render_row_portable::<true>(plan, prep, slow, row, from, ctx)
}

/// Walk the ROI part of a row in groups of [`LANES`] pixels. The group holding the c-parity
/// first term goes one pixel at a time, since only that pixel sees `lattice_first`.
#[inline(always)]
fn render_row_portable<const FUSED: bool>(plan: &Plan, prep: &Prepared, slow: usize, row: &mut [f32], from: usize, ctx: PixelContext) -> Totals {
    let (cols, _) = roi_ranges(plan);
    let first_pixel = plan.first_term.map(|f| f.pixel);
    let mut totals = Totals::default();
    let mut record = |fast: usize, out: PixelOut, totals: &mut Totals| {
        row[fast] = out.value;
        let left = out.left_grid.then_some(slow * plan.fpixels + fast);
        *totals = totals.then(Totals { omega_sum: out.omega_sum, left_grid_at: left });
    };
    let mut fast = from.max(cols.start);
    while fast < cols.end {
        let end = (fast + LANES).min(cols.end);
        let active: [bool; LANES] = std::array::from_fn(|l| fast + l < end && plan.renders(fast + l, slow));
        let holds_first = first_pixel.is_some_and(|p| (slow * plan.fpixels + fast..slow * plan.fpixels + end).contains(&p));
        if holds_first {
            for (l, f) in (fast..end).enumerate() {
                if active[l] {
                    let [out] = sum_pixels::<1, FUSED>(plan, prep, f, slow, [true], ctx, None);
                    record(f, out, &mut totals);
                }
            }
        } else if active.contains(&true) {
            let outs = sum_pixels::<LANES, FUSED>(plan, prep, fast, slow, active, ctx, None);
            for (l, out) in outs.iter().enumerate().take(end - fast) {
                record(fast + l, if active[l] { *out } else { PixelOut::default() }, &mut totals);
            }
        }
        fast = end;
    }
    totals
}

/// Three components, each across the lanes (structure of arrays, for SIMD).
pub(super) type Lv<const L: usize> = [[f64; L]; 3];

/// Running state of the lanes' pixels, mirroring the C variables that persist across a
/// pixel's loops.
pub(super) struct PixelState<const L: usize> {
    pub(super) intensity: [f64; L],
    pub(super) polar: [f64; L],
    pub(super) omega: [f64; L],
    pub(super) capture: [f64; L],
    pub(super) interpolate: [bool; L],
    pub(super) left_grid: [bool; L],
    pub(super) omega_sum: [f64; L],
}

/// A tracer that ignores everything (the normal, untraced render).
struct Silent;

impl Tracer for Silent {
    fn value(&mut self, _: &str, _: f64) {}
    fn vector(&mut self, _: &str, _: V3) {}
    fn phi_step(&mut self, _: usize, _: f64, _: f64, _: f64, _: f64) {}
}

#[inline(always)]
pub(super) fn lane<const L: usize>(v: &Lv<L>, l: usize) -> V3 {
    [v[0][l], v[1][l], v[2][l]]
}

/// Sum `L` neighbouring pixels of row `slow` starting at `fast0`; lanes not `active` are
/// computed but report nothing. Tracing is for single pixels (`L` = 1).
///
/// The hot code here and below uses loops, not closures (`array::from_fn`, `map`): a closure
/// is a function of its own and would not inherit the AVX2 target feature of the caller.
#[inline(always)]
pub(super) fn sum_pixels<const L: usize, const FUSED: bool>(
    plan: &Plan,
    prep: &Prepared,
    fast0: usize,
    slow: usize,
    active: [bool; L],
    ctx: PixelContext,
    tracer: Option<&mut dyn Tracer>,
) -> [PixelOut; L] {
    let tracing = tracer.is_some();
    let mut silent = Silent;
    let tracer: &mut dyn Tracer = match tracer {
        Some(t) => t,
        None => &mut silent,
    };
    let mut st = PixelState::<L> {
        // c-parity: C's water value is where the sum starts (the default mode adds it per term)
        intensity: [if plan.compound_factors { plan.i_bg } else { 0.0 }; L],
        polar: [if plan.nopolar { 1.0 } else { 0.0 }; L],
        omega: [0.0; L],
        capture: [0.0; L],
        interpolate: [ctx.interpolate; L],
        left_grid: [false; L],
        omega_sum: [0.0; L],
    };
    let pixel0 = slow * plan.fpixels + fast0;
    // the lanes are one row of one panel
    let (panel, row) = plan.panel_of(slow);
    let geometry = &plan.panels[panel];
    let os = plan.oversample;
    for layer in 0..plan.thicksteps {
        st.capture = [if plan.thick == 0.0 { 1.0 } else { 0.0 }; L];
        for sub in 0..os * os {
            let (pos, airpath) = subpixel_rays(plan, panel, fast0, row, sub / os, sub % os, layer);
            // unit vector by dividing each component by the length, as C's `unitize`. Twin:
            // physics.wgsl `unitize`, which multiplies by the reciprocal in W (one division; the
            // components can differ in the last bit of W)
            let mut diffracted = pos;
            for c in diffracted.iter_mut() {
                for l in 0..L {
                    let unit = c[l] / airpath[l];
                    c[l] = if airpath[l] != 0.0 { unit } else { 0.0 };
                }
            }
            update_omega(plan, geometry, &mut st, &airpath);
            for l in 0..L {
                st.omega_sum[l] += st.omega[l];
            }
            if plan.thick != 0.0 || plan.oversample_thick {
                update_capture(plan, geometry, &mut st, &diffracted, layer);
            }
            if tracing {
                tracer.vector("pixel_pos_meters", lane(&pos, 0));
                tracer.value("R_distance_meters", airpath[0]);
                tracer.value("omega_pixel_sr", st.omega[0]);
                tracer.vector("diffracted_vec", lane(&diffracted, 0));
            }
            for (source, src) in prep.sources.iter().enumerate() {
                // (d − i)/λ as C. Twin: render.wgsl `scattering`, which multiplies by 1/λ
                let mut scattering: Lv<L> = [[0.0; L]; 3];
                for c in 0..3 {
                    for l in 0..L {
                        scattering[c][l] = (diffracted[c][l] - src.incident[c]) / src.lambda;
                    }
                }
                let mut live = active;
                if plan.dmin > 0.0 {
                    for l in 0..L {
                        live[l] &= !plan.beyond_dmin(lane(&scattering, l));
                    }
                }
                if !live.contains(&true) {
                    continue;
                }
                update_polar(plan, src, &mut st, live, &mut diffracted);
                if plan.has_water && !plan.compound_factors {
                    // the default mode's water: once per (layer, sub-pixel, source), weighted
                    // like this source's terms (Plan::i_bg)
                    let [capture, polar, omega] = term_factors(plan, &st);
                    for l in 0..L {
                        let water = plan.i_bg * src.weight * capture[l] * polar[l] * omega[l];
                        st.intensity[l] = if live[l] { st.intensity[l] + water } else { st.intensity[l] };
                    }
                }
                let first = L == 1 && plan.first_term == Some(FirstTerm { pixel: pixel0, layer, sub, source });
                let trace_term = tracing && source == 0;
                sum_rotations::<L, FUSED>(plan, prep, &mut st, &scattering, live, src, first, tracer, trace_term);
            }
        }
    }
    let mut value = [0.0; L];
    let mut out = [PixelOut::default(); L];
    for l in 0..L {
        value[l] = plan.scale * st.intensity[l];
        if !plan.oversample_thick {
            value[l] *= st.capture[l];
        }
        if !plan.oversample_polar {
            value[l] *= st.polar[l];
        }
        if !plan.oversample_omega {
            value[l] *= st.omega[l];
        }
        out[l] = PixelOut { value: value[l] as f32, omega_sum: st.omega_sum[l], left_grid: st.left_grid[l] };
    }
    if tracing {
        tracer.value("I_before_scaling", st.intensity[0]);
        tracer.value("steps", plan.steps as f64);
        tracer.value("capture_fraction", st.capture[0]);
        tracer.value("polar", st.polar[0]);
        tracer.value("omega_pixel", st.omega[0]);
        tracer.value("I_pixel_final", value[0]);
    }
    out
}

/// Sub-pixel positions of the lanes (m) on row `row` of panel `panel`, from the one position
/// formula (`SubpixelGrid::positions`, twin of shaders/subpixel.wgsl), and their distances
/// from the sample.
#[inline(always)]
fn subpixel_rays<const L: usize>(plan: &Plan, panel: usize, fast0: usize, row: usize, sub_s: usize, sub_f: usize, layer: usize) -> (Lv<L>, [f64; L]) {
    let pos: Lv<L> = plan.subpixel_grid(panel).positions::<L>(fast0, row, sub_s, sub_f, layer);
    let mut airpath = [0.0; L];
    for l in 0..L {
        airpath[l] = (pos[0][l] * pos[0][l] + pos[1][l] * pos[1][l] + pos[2][l] * pos[2][l]).sqrt();
    }
    (pos, airpath)
}

/// Kahn polarization factor for the live lanes that have none yet (or every live lane with
/// -oversample_polar), as `physics::polarization_factor` computes it. C normalises
/// `diffracted` in place there, which later sources then see. Whether the factor is worked
/// out at all is the plan's resolved rule (`Plan::oversample_polar`, `Plan::nopolar`).
///
/// Twin: physics.wgsl `polarization_factor`, called from render.wgsl `add_source` under the
/// same test. Same formula; differences: f32 instead of f64, cos 2ψ as (x² − y²)/(x² + y²)
/// instead of C's cos(2·atan2), and the incident direction and the B/E frame are not
/// normalised again (here they come normalised from `Prepared`, as C normalises them).
#[inline(always)]
fn update_polar<const L: usize>(plan: &Plan, src: &Source, st: &mut PixelState<L>, live: [bool; L], diffracted: &mut Lv<L>) {
    let mut need = live;
    for l in 0..L {
        need[l] &= st.polar[l] == 0.0 || plan.oversample_polar;
    }
    if !need.contains(&true) {
        return;
    }
    let d = &*diffracted;
    let mut mag = [0.0; L];
    for l in 0..L {
        mag[l] = (d[0][l] * d[0][l] + d[1][l] * d[1][l] + d[2][l] * d[2][l]).sqrt();
    }
    let mut unit: Lv<L> = [[0.0; L]; 3];
    for c in 0..3 {
        for l in 0..L {
            let scaled = d[c][l] / mag[l];
            unit[c][l] = if mag[l] != 0.0 { scaled } else { 0.0 };
        }
    }
    let i = src.incident_unit;
    let mut cos2theta_sqr = [0.0; L];
    for l in 0..L {
        let cos2theta = i[0] * unit[0][l] + i[1] * unit[1][l] + i[2] * unit[2][l];
        cos2theta_sqr[l] = cos2theta * cos2theta;
    }
    let mut polar = [0.0; L];
    for l in 0..L {
        polar[l] = if plan.kahn == 0.0 {
            // with K = 0 the ψ term is an exact zero, so leaving it out gives the same bits
            0.5 * (1.0 + cos2theta_sqr[l])
        } else {
            let d = lane(&unit, l);
            let psi = -dot(d, src.b_in).atan2(dot(d, src.e_in));
            0.5 * (1.0 + cos2theta_sqr[l] - plan.kahn * (2.0 * psi).cos() * (1.0 - cos2theta_sqr[l]))
        };
    }
    for l in 0..L {
        if need[l] {
            st.polar[l] = polar[l];
            for c in 0..3 {
                diffracted[c][l] = unit[c][l];
            }
        }
    }
}

/// Solid angle: worked out at a pixel's first sub-pixel, or at every one with -oversample_omega
/// (`close_distance`: the panel's).
///
/// Twin: render.wgsl `solid_angle`. Here in C's order, pixel²/R/R·close/R (three divisions);
/// there pixel²·close/(R²·R) with one division in W, then rounded to f32.
#[inline(always)]
fn update_omega<const L: usize>(plan: &Plan, panel: &PlanPanel, st: &mut PixelState<L>, airpath: &[f64; L]) {
    // computed for every lane and then selected: divisions under a branch stay scalar
    let mut fresh = [0.0; L];
    if plan.point_pixel {
        for l in 0..L {
            fresh[l] = 1.0 / airpath[l] / airpath[l];
        }
    } else {
        let pix_sqr = plan.pixel_size * plan.pixel_size;
        for l in 0..L {
            fresh[l] = pix_sqr / airpath[l] / airpath[l] * panel.close_distance / airpath[l];
        }
    }
    for l in 0..L {
        st.omega[l] = if st.omega[l] == 0.0 || plan.oversample_omega { fresh[l] } else { st.omega[l] };
    }
}

/// Fraction of the photons this detector layer absorbs, at a layer's first sub-pixel (or
/// every one with -oversample_thick).
///
/// Twin: render.wgsl `capture_fraction`: the same formula in f32 (here f64).
#[inline(always)]
fn update_capture<const L: usize>(plan: &Plan, panel: &PlanPanel, st: &mut PixelState<L>, diffracted: &Lv<L>, layer: usize) {
    for l in 0..L {
        if st.capture[l] == 0.0 || plan.oversample_thick {
            let parallax = dot(lane(diffracted, l), panel.odet);
            let depth = plan.thickstep * plan.mu / parallax;
            st.capture[l] = (-(layer as f64) * depth).exp() - (-((layer + 1) as f64) * depth).exp();
        }
    }
}

/// The φ × mosaic loops of one (sub-pixel, source) for every lane. Each term is computed for
/// all lanes at once; each lane then adds it to its own sum, so every pixel's sum keeps C's
/// order.
///
/// Twin: render.wgsl `sum_rotations` (with `sum_chunk` in the fetch files and `accumulate`).
/// Here, with `Plan::compound_factors` (c-parity), every kept term turns the f64 sum I into
/// (I + term)·k, k the product of the -oversample_* factors, as C does; the kernel sums a
/// chunk of terms in f32 the same way, starting from 0, keeps the product of the k's, and folds
/// the chunk into its W sum as I·Πk + chunk: the same value up to f32 rounding of the chunk.
/// In the default mode a kept term adds term·k to I, each term weighted once by its own
/// sub-pixel's factors; the kernel sums term·k in f32 per chunk and adds the chunk to I.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sum_rotations<const L: usize, const FUSED: bool>(
    plan: &Plan,
    prep: &Prepared,
    st: &mut PixelState<L>,
    scattering: &Lv<L>,
    live: [bool; L],
    src: &Source,
    first: bool,
    t: &mut dyn Tracer,
    tracing: bool,
) {
    let lattices = if first { &plan.lattice_first } else { &plan.lattice };
    let [capture, polar, omega] = term_factors(plan, st);
    for (tic, abc) in lattices.iter().enumerate() {
        let mut hkl: Lv<L> = [[0.0; L]; 3];
        let mut hkl0: Lv<L> = [[0.0; L]; 3];
        for i in 0..3 {
            for l in 0..L {
                hkl[i][l] = abc[i][0] * scattering[0][l] + abc[i][1] * scattering[1][l] + abc[i][2] * scattering[2][l];
                hkl0[i][l] = (hkl[i][l] - 0.5).ceil();
            }
        }
        let f_latt = lattice_factors::<L, FUSED>(plan, prep, &hkl, &hkl0);
        let (phi_tic, domain) = (tic / plan.domains, tic % plan.domains);
        if tracing && domain == 0 {
            trace_orientation(plan, prep, t, phi_tic, abc, lane(scattering, 0), lane(&hkl, 0), lane(&hkl0, 0), f_latt[0]);
        }
        let mut keep = live;
        for l in 0..L {
            // C keeps a zero term when there is water, for its factors compound into the sum
            keep[l] &= f_latt[l] != 0.0 || (plan.has_water && plan.compound_factors);
        }
        let f_cell = structure_factors(plan, st, &keep, &hkl, &hkl0);
        if tracing && tic == 0 && keep[0] {
            t.value("F_cell", f_cell[0]);
        }
        for l in 0..L {
            let term = f_cell[l] * f_cell[l] * f_latt[l] * f_latt[l] * src.weight;
            // one factor at a time, in C's order (c-parity is bit for bit)
            let summed = if plan.compound_factors {
                (st.intensity[l] + term) * capture[l] * polar[l] * omega[l]
            } else {
                st.intensity[l] + term * capture[l] * polar[l] * omega[l]
            };
            st.intensity[l] = if keep[l] { summed } else { st.intensity[l] };
        }
    }
}

/// The factors a term is weighted by where it is summed (capture fraction, polarization,
/// solid angle, C's order): its sub-pixel's values for those the -oversample_* flags ask per
/// sub-pixel, 1 for the others (exact); those multiply the whole sum at the end of the pixel.
#[inline(always)]
fn term_factors<const L: usize>(plan: &Plan, st: &PixelState<L>) -> [[f64; L]; 3] {
    let capture = if plan.oversample_thick { st.capture } else { [1.0; L] };
    let polar = if plan.oversample_polar { st.polar } else { [1.0; L] };
    let omega = if plan.oversample_omega { st.omega } else { [1.0; L] };
    [capture, polar, omega]
}

/// The trace lines of one φ step (domain 0); the full set at the first step.
#[allow(clippy::too_many_arguments)]
fn trace_orientation(plan: &Plan, prep: &Prepared, t: &mut dyn Tracer, phi_tic: usize, abc: &[V3; 3], scattering: V3, hkl: V3, hkl0: V3, f_latt: f64) {
    let per_axis: V3 = match prep.lattice {
        LatticeShape::Square { n, active, .. } => std::array::from_fn(|i| if active[i] { grating(hkl[i], hkl0[i], n[i]) } else { 1.0 }),
        LatticeShape::SquareAsC { n, active } => std::array::from_fn(|i| if active[i] { sincg(PI * hkl[i], n[i]) } else { 1.0 }),
        LatticeShape::Other => [1.0; 3],
    };
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

#[cfg(test)]
mod tests {
    use super::super::{Interpolation, render_pixel, render_spots, test_plan as plan};
    use super::*;
    use crate::physics::{polarization_factor, unitize};

    #[test]
    fn lane_polarization_is_the_physics_formula_bit_for_bit() {
        for kahn in [0.0, 0.95] {
            let p = plan(&format!("-cell 70 80 90 85 95 105 -default_F 10 -detpixels 8 -polar {kahn} -divergence 0.5 -divsteps 3"));
            let prep = Prepared::new(&p);
            for (i, src) in prep.sources.iter().enumerate() {
                let mut st = PixelState::<4> {
                    intensity: [0.0; 4],
                    polar: [0.0; 4],
                    omega: [0.0; 4],
                    capture: [0.0; 4],
                    interpolate: [false; 4],
                    left_grid: [false; 4],
                    omega_sum: [0.0; 4],
                };
                let mut d: Lv<4> = [[0.1, 0.3, 0.9, -0.2], [0.02, -0.7, 0.1, 0.5], [-0.3, 0.2, 0.05, 0.8]];
                let before = d;
                update_polar(&p, src, &mut st, [true; 4], &mut d);
                for l in 0..4 {
                    let want = polarization_factor(kahn, p.sources[i].incident, lane(&before, l), p.polar_axis);
                    assert_eq!(st.polar[l].to_bits(), want.to_bits(), "kahn {kahn} source {i} lane {l}");
                    assert_eq!(lane(&d, l), unitize(lane(&before, l)).0);
                }
            }
        }
    }

    #[test]
    fn lane_positions_are_the_plan_positions_bit_for_bit() {
        let p = plan("-cell 100 100 100 90 90 90 -default_F 10 -detpixels 37 -oversample 3 -detector_thick 50 -detector_thicksteps 2 -detector_rotx 3 -twotheta 10");
        for (slow, sub, layer) in [(0, 0, 0), (17, 5, 1), (36, 8, 0)] {
            let (pos, airpath) = subpixel_rays::<LANES>(&p, 0, 9, slow, sub / 3, sub % 3, layer);
            for l in 0..LANES {
                let want = p.subpixel_position(9 + l, slow, sub / 3, sub % 3, layer);
                assert_eq!(lane(&pos, l), want);
                assert_eq!(airpath[l], unitize(want).1);
            }
        }
    }

    /// Every pixel of a lane-rendered image equals the same pixel summed alone (the trace
    /// path), across a ROI and mask edge, a row tail shorter than the lanes and the caching
    /// rules of oversampling, thickness, polarization and -dmin.
    #[test]
    fn lanes_give_the_single_pixel_sums_bit_for_bit() {
        let cases = [
            "-cell 70 80 90 85 95 105 -N 5 -default_F 100 -detpixels 21 -distance 60 -misset 10 5 3 -mosaic 0.5 -mosaic_dom 3 \
             -phisteps 2 -osc 1 -divergence 0.5 -divsteps 3 -oversample 2 -roi 2 18 1 19",
            "-cell 50 50 50 90 90 90 -N 4 -default_F 10 -detpixels 19 -distance 40 -oversample 2 -oversample_omega -oversample_polar \
             -oversample_thick -detector_thick 100 -detector_abs 300 -detector_thicksteps 2 -polar 0.9 -dmin 60",
            "-cell 60 60 60 90 90 90 -Na 3 -Nb 1 -Nc 6 -default_F 20 -detpixels 17 -distance 50 -round_xtal -water 100",
            "-cell 60 60 60 90 90 90 -N 3 -default_F 20 -detpixels 17 -distance 50 -gauss_xtal -curved_det",
            // C's own grating formula, and the φ carry-over that only the first term sees
            "-c_parity -cell 70 80 90 85 95 105 -N 6 -default_F 30 -detpixels 19 -distance 60 -phi 0 -osc 90 -phisteps 3",
        ];
        for args in cases {
            let p = plan(args);
            let image = render_spots(&p).image;
            let ctx = PixelContext { interpolate: p.interpolation != Interpolation::Nearest };
            for slow in 0..p.spixels {
                for fast in 0..p.fpixels {
                    let want = if p.renders(fast, slow) { render_pixel(&p, fast, slow, ctx, None).value } else { 0.0 };
                    assert_eq!(image[slow * p.fpixels + fast].to_bits(), want.to_bits(), "{args}: pixel ({fast}, {slow})");
                }
            }
            assert!(image.iter().any(|&v| v > 0.0), "{args}: empty image");
        }
    }

    /// An experiment whose grating factors take both methods (N = 20 by polynomial sines,
    /// N = 7 by the recurrence), with polarization and oversampling.
    const TWO_METHODS: &str = "-cell 70 80 90 85 95 105 -N 20 -Nc 7 -default_F 100 -detpixels 24 -distance 60 -misset 10 5 3 \
                               -mosaic 0.5 -mosaic_dom 2 -oversample 2 -polar 0.5";

    /// The build a CPU without FMA runs (`render_row_portable::<false>`, every multiply-add
    /// rounded twice): its lane rows are the single-pixel sums of the same build, bit for bit.
    #[test]
    fn no_fma_rows_are_the_no_fma_single_pixel_sums() {
        let p = plan(TWO_METHODS);
        let prep = Prepared::new(&p);
        let ctx = PixelContext { interpolate: false };
        for slow in [0, 11, 23] {
            let mut row = vec![0.0f32; p.fpixels];
            render_row_portable::<false>(&p, &prep, slow, &mut row, 0, ctx);
            for (fast, &v) in row.iter().enumerate() {
                let [want] = sum_pixels::<1, false>(&p, &prep, fast, slow, [true], ctx, None);
                assert_eq!(v.to_bits(), want.value.to_bits(), "pixel ({fast}, {slow})");
            }
            assert!(row.iter().all(|&v| v > 0.0));
        }
    }

    /// What the two kinds of x86-64 machine run: the AVX2+FMA build (`render_row_avx2`) and
    /// the baseline build without FMA (`render_row_portable::<false>`). They differ only in the
    /// fused multiply-adds of the sine and cosine polynomials and the Chebyshev recurrence, each
    /// of which stays within 1e-14·N of the exact grating factor in both builds
    /// (lattice.rs tests), so a pixel's f64 sum moves by well under 1e-12 of the image maximum;
    /// rounding it to f32 can then still land on the neighbouring float. Tolerance: one f32
    /// step of the pixel plus 1e-12 of the maximum. The solid angles involve no multiply-add,
    /// so their sum is the same bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_fma_and_baseline_rows_agree_to_rounding() {
        if !simd_x86() {
            eprintln!("no AVX2+FMA on this CPU: nothing to compare");
            return;
        }
        let p = plan(TWO_METHODS);
        let prep = Prepared::new(&p);
        let ctx = PixelContext { interpolate: false };
        let mut rows = Vec::new();
        for slow in [0, 11, 23] {
            let (mut simd, mut baseline) = (vec![0.0f32; p.fpixels], vec![0.0f32; p.fpixels]);
            // SAFETY: simd_x86() said AVX2 and FMA are present
            let a = unsafe { render_row_avx2(&p, &prep, slow, &mut simd, 0, ctx) };
            let b = render_row_portable::<false>(&p, &prep, slow, &mut baseline, 0, ctx);
            assert_eq!(a.omega_sum.to_bits(), b.omega_sum.to_bits(), "row {slow}");
            assert!(simd.iter().all(|&v| v > 0.0));
            rows.push((slow, simd, baseline));
        }
        let max = rows.iter().flat_map(|(_, s, _)| s.iter()).fold(0.0f32, |m, &v| m.max(v)) as f64;
        for (slow, simd, baseline) in &rows {
            for (fast, (&x, &y)) in simd.iter().zip(baseline).enumerate() {
                let step = f32::EPSILON as f64 * (x as f64).abs();
                assert!((x as f64 - y as f64).abs() <= step + 1e-12 * max, "pixel ({fast}, {slow}): AVX2+FMA {x} vs baseline {y}");
            }
        }
    }
}
