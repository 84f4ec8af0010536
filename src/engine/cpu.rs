//! The f64 CPU engine: the reference every GPU result is checked against. One pixel is summed
//! in nanoBragg.c's loop order (layers → sub-pixels → sources → φ → mosaic) with its caching
//! rules (solid angle, polarization and capture fraction from the first sub-pixel unless the
//! matching `-oversample_*` flag is set).
//!
//! Speed comes from three things, none of which changes what a pixel sums or in which order:
//! * [`LANES`] neighbouring pixels of a row run in lock-step. They share every loop bound and
//!   every lattice orientation, so each term is the same arithmetic on eight scattering
//!   vectors, which LLVM turns into SIMD code; each pixel still adds its own terms in C's order.
//! * The grating factor sin(πNh)/sin(πh) is evaluated on the offset from the nearest integer
//!   with a polynomial sine ([`sinpi`]), instead of two libm sines of large arguments.
//! * Rows run in parallel with rayon; on x86-64 the row code is also compiled for AVX2 and
//!   picked at run time. There is no FMA contraction anywhere, so both builds give the same
//!   bits.

// Lane loops index several arrays in step (`a[l] = b[l] * c[l]`); iterator chains would hide
// the one-operation-per-loop shape that LLVM vectorises.
#![allow(clippy::needless_range_loop)]

use super::plan::{FirstTerm, Interpolation, Plan, PlanSource};
use super::{EngineUsed, RenderStats, Rendered};
use crate::cli::raw::{Mode, XtalShape};
use crate::physics::{V3, cross, dot, sinc3, sincg, unitize};
use crate::progress::RenderControl;
use rayon::prelude::*;
use std::f64::consts::PI;
use std::ops::Range;

/// Pixels summed in lock-step: sixteen f64 lanes are four AVX2 registers per operation,
/// enough independent work to hide the latency of the divisions, square roots and
/// polynomials (measured on W2: 16 lanes 1.6× faster than 8; 24 and 32 slower).
const LANES: usize = 16;

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
    let prep = Prepared::new(plan);
    let mut image = vec![0.0f32; plan.pixels()];
    let interpolate = plan.interpolation != Interpolation::Nearest;
    let first = render_pass(plan, &prep, &mut image, 0, interpolate, control);
    let mut switched_at = None;
    if plan.interpolation == Interpolation::OneShotSwitch
        && !control.cancelled()
        && let Some(at) = first.left_grid_at
    {
        // C: pixels up to `at` are exact as rendered (the switch flips inside it, and the
        // pixel itself falls back from that term on); every later pixel uses nearest F. Solid
        // angles do not depend on F, so the first pass's sum stands.
        render_pass(plan, &prep, &mut image, at + 1, false, control);
        switched_at = Some(at);
    }
    let mut stats = statistics(plan, &image);
    stats.omega_sum = first.omega_sum;
    Rendered { image, stats, interpolation_switched_at: switched_at, engine: EngineUsed::Cpu }
}

/// Sums over the pixels of one pass.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    omega_sum: f64,
    /// first pixel (in C's visiting order) whose interpolation left the grid
    left_grid_at: Option<usize>,
}

impl Totals {
    /// Fold a later stretch of pixels into this one (order matters for the f64 sum).
    fn then(self, later: Totals) -> Totals {
        Totals { omega_sum: self.omega_sum + later.omega_sum, left_grid_at: self.left_grid_at.or(later.left_grid_at) }
    }
}

/// Render the pixels with image index ≥ `start` into `image`, rows in parallel. Row sums are
/// folded in row order, so the totals do not depend on the thread count. Every row of the
/// pass is counted into `control` when done (rows outside the ROI at once); once `control`
/// is cancelled the remaining rows are skipped.
fn render_pass(plan: &Plan, prep: &Prepared, image: &mut [f32], start: usize, interpolate: bool, control: &RenderControl) -> Totals {
    let ctx = PixelContext { interpolate };
    let (_, slows) = roi_ranges(plan);
    let first_row = start / plan.fpixels;
    let rows: Vec<Totals> = image
        .par_chunks_mut(plan.fpixels)
        .enumerate()
        .skip(first_row)
        .map(|(slow, row)| {
            if control.cancelled() {
                return Totals::default();
            }
            let from = if slow == first_row { start % plan.fpixels } else { 0 };
            let totals = if slows.contains(&slow) { render_row(plan, prep, slow, row, from, ctx) } else { Totals::default() };
            control.row_done();
            totals
        })
        .collect();
    rows.into_iter().fold(Totals::default(), Totals::then)
}

/// Whether this x86-64 CPU runs the AVX2 + FMA build of the row code.
#[cfg(target_arch = "x86_64")]
fn simd_x86() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Whether the sine polynomials use fused multiply-adds: wherever the hardware has them, so
/// that all such machines give the same bits. x86-64 CPUs without FMA round each step
/// instead (a software fma would be far slower than the C program).
fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    return simd_x86();
    #[cfg(not(target_arch = "x86_64"))]
    return cfg!(target_arch = "aarch64");
}

/// The ROI as ranges of fast and slow indices inside the detector (the ROI may reach past
/// the edge: C's default does).
fn roi_ranges(plan: &Plan) -> (Range<usize>, Range<usize>) {
    let clamp = |lo: usize, hi: usize, n: usize| {
        let end = (hi + 1).min(n);
        lo.min(end)..end
    };
    let [x0, x1, y0, y1] = plan.roi;
    (clamp(x0, x1, plan.fpixels), clamp(y0, y1, plan.spixels))
}

/// One row from fast index `from` on, with the fastest code this CPU runs.
fn render_row(plan: &Plan, prep: &Prepared, slow: usize, row: &mut [f32], from: usize, ctx: PixelContext) -> Totals {
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

/// Sum one pixel (even a masked one). `tracer` receives the C trace quantities as nanoBragg.c
/// prints them: the geometry of every sub-pixel, the lattice terms of source 0 and domain 0
/// (φ step 0, plus one `phi_step` per φ step), then the pixel's final factors (`crate::trace`
/// lists the names).
pub fn render_pixel(plan: &Plan, fast: usize, slow: usize, ctx: PixelContext, tracer: Option<&mut dyn Tracer>) -> PixelOut {
    let prep = Prepared::new(plan);
    let [out] = if fused() {
        sum_pixels::<1, true>(plan, &prep, fast, slow, [true], ctx, tracer)
    } else {
        sum_pixels::<1, false>(plan, &prep, fast, slow, [true], ctx, tracer)
    };
    out
}

/// Everything per render that the plan does not already hold in the form the inner loops want.
struct Prepared {
    sources: Vec<Source>,
    lattice: LatticeShape,
}

/// A source with its polarization basis worked out once instead of once per pixel.
struct Source {
    incident: V3,
    lambda: f64,
    weight: f64,
    /// the incident direction as `polarization_factor` normalises it
    incident_unit: V3,
    /// unit B = axis × incident and E = incident × B: the frame ψ is measured in
    b_in: V3,
    e_in: V3,
}

enum LatticeShape {
    /// parallelepiped: per axis N, whether it takes part (N > 1) and whether N is even (the
    /// sign of the grating factor then alternates with the nearest index)
    Square { n: [f64; 3], active: [bool; 3], even: [bool; 3] },
    /// parallelepiped in -c_parity mode: C's sin(πNh)/sin(πh) with libm sines of the full
    /// arguments, so that the image matches the C program bit for bit (at C's speed)
    SquareAsC { n: [f64; 3], active: [bool; 3] },
    /// round, Gaussian and top-hat spots, through the C formulas
    Other,
}

impl Prepared {
    fn new(plan: &Plan) -> Prepared {
        let polar_axis = unitize(plan.polar_axis).0;
        let sources = plan
            .sources
            .iter()
            .map(|s: &PlanSource| {
                let incident_unit = unitize(s.incident).0;
                let b_in = unitize(cross(polar_axis, incident_unit)).0;
                let e_in = unitize(cross(incident_unit, b_in)).0;
                Source { incident: s.incident, lambda: s.lambda, weight: s.weight, incident_unit, b_in, e_in }
            })
            .collect();
        let active = plan.n.map(|n| n > 1.0);
        let lattice = match (plan.shape, plan.mode) {
            (XtalShape::Square, Mode::CParity) => LatticeShape::SquareAsC { n: plan.n, active },
            // N comes from integer flags (or ceil of a size ratio), which the sign rule needs
            (XtalShape::Square, Mode::Default) => LatticeShape::Square { n: plan.n, active, even: plan.n.map(|n| n % 2.0 == 0.0) },
            _ => LatticeShape::Other,
        };
        Prepared { sources, lattice }
    }
}

/// Three components, each across the lanes (structure of arrays, for SIMD).
type Lv<const L: usize> = [[f64; L]; 3];

/// Running state of the lanes' pixels, mirroring the C variables that persist across a
/// pixel's loops.
struct PixelState<const L: usize> {
    intensity: [f64; L],
    polar: [f64; L],
    omega: [f64; L],
    capture: [f64; L],
    interpolate: [bool; L],
    left_grid: [bool; L],
    omega_sum: [f64; L],
}

/// A tracer that ignores everything (the normal, untraced render).
struct Silent;

impl Tracer for Silent {
    fn value(&mut self, _: &str, _: f64) {}
    fn vector(&mut self, _: &str, _: V3) {}
    fn phi_step(&mut self, _: usize, _: f64, _: f64, _: f64, _: f64) {}
}

#[inline(always)]
fn lane<const L: usize>(v: &Lv<L>, l: usize) -> V3 {
    [v[0][l], v[1][l], v[2][l]]
}

/// Sum `L` neighbouring pixels of row `slow` starting at `fast0`; lanes not `active` are
/// computed but report nothing. Tracing is for single pixels (`L` = 1).
///
/// The hot code here and below uses loops, not closures (`array::from_fn`, `map`): a closure
/// is a function of its own and would not inherit the AVX2 target feature of the caller.
#[inline(always)]
fn sum_pixels<const L: usize, const FUSED: bool>(
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
        intensity: [plan.i_bg; L],
        polar: [if plan.nopolar { 1.0 } else { 0.0 }; L],
        omega: [0.0; L],
        capture: [0.0; L],
        interpolate: [ctx.interpolate; L],
        left_grid: [false; L],
        omega_sum: [0.0; L],
    };
    let pixel0 = slow * plan.fpixels + fast0;
    let os = plan.oversample;
    for layer in 0..plan.thicksteps {
        st.capture = [if plan.thick == 0.0 { 1.0 } else { 0.0 }; L];
        for sub in 0..os * os {
            let (pos, airpath) = subpixel_rays(plan, fast0, slow, sub / os, sub % os, layer);
            let mut diffracted = pos;
            for c in diffracted.iter_mut() {
                for l in 0..L {
                    let unit = c[l] / airpath[l];
                    c[l] = if airpath[l] != 0.0 { unit } else { 0.0 };
                }
            }
            update_omega(plan, &mut st, &airpath);
            for l in 0..L {
                st.omega_sum[l] += st.omega[l];
            }
            if plan.thick != 0.0 || plan.oversample_thick {
                update_capture(plan, &mut st, &diffracted, layer);
            }
            if tracing {
                tracer.vector("pixel_pos_meters", lane(&pos, 0));
                tracer.value("R_distance_meters", airpath[0]);
                tracer.value("omega_pixel_sr", st.omega[0]);
                tracer.vector("diffracted_vec", lane(&diffracted, 0));
            }
            for (source, src) in prep.sources.iter().enumerate() {
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

/// Sub-pixel positions of the lanes (m) and their distances from the sample: the arithmetic
/// of `Plan::flat_subpixel_position`, one operation at a time across the lanes.
#[inline(always)]
fn subpixel_rays<const L: usize>(plan: &Plan, fast0: usize, slow: usize, sub_s: usize, sub_f: usize, layer: usize) -> (Lv<L>, [f64; L]) {
    let os = plan.oversample;
    let size = plan.subpixel_size;
    // sub-pixel indices are integers far below 2⁵³, so adding in f64 is exact
    let first = (fast0 * os + sub_f) as f64;
    let mut fdet = [0.0; L];
    for (l, f) in fdet.iter_mut().enumerate() {
        *f = size * (first + (l * os) as f64) + size / 2.0;
    }
    let sdet = size * (slow * os + sub_s) as f64 + size / 2.0;
    let odet = layer as f64 * plan.thickstep;
    let mut pos: Lv<L> = [[0.0; L]; 3];
    for c in 0..3 {
        let (along_s, along_o) = (sdet * plan.sdet[c], odet * plan.odet[c]);
        for l in 0..L {
            pos[c][l] = fdet[l] * plan.fdet[c] + along_s + along_o + plan.pix0[c];
        }
    }
    if plan.curved {
        for l in 0..L {
            let p = plan.curve(lane(&pos, l));
            for c in 0..3 {
                pos[c][l] = p[c];
            }
        }
    }
    let mut airpath = [0.0; L];
    for l in 0..L {
        airpath[l] = (pos[0][l] * pos[0][l] + pos[1][l] * pos[1][l] + pos[2][l] * pos[2][l]).sqrt();
    }
    (pos, airpath)
}

/// Kahn polarization factor for the live lanes that have none yet (or every live lane with
/// -oversample_polar), as `physics::polarization_factor` computes it. C normalises
/// `diffracted` in place there, which later sources then see.
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

/// Solid angle: worked out at a pixel's first sub-pixel, or at every one with -oversample_omega.
#[inline(always)]
fn update_omega<const L: usize>(plan: &Plan, st: &mut PixelState<L>, airpath: &[f64; L]) {
    // computed for every lane and then selected: divisions under a branch stay scalar
    let mut fresh = [0.0; L];
    if plan.point_pixel {
        for l in 0..L {
            fresh[l] = 1.0 / airpath[l] / airpath[l];
        }
    } else {
        let pix_sqr = plan.pixel_size * plan.pixel_size;
        for l in 0..L {
            fresh[l] = pix_sqr / airpath[l] / airpath[l] * plan.close_distance / airpath[l];
        }
    }
    for l in 0..L {
        st.omega[l] = if st.omega[l] == 0.0 || plan.oversample_omega { fresh[l] } else { st.omega[l] };
    }
}

/// Fraction of the photons this detector layer absorbs, at a layer's first sub-pixel (or
/// every one with -oversample_thick).
#[inline(always)]
fn update_capture<const L: usize>(plan: &Plan, st: &mut PixelState<L>, diffracted: &Lv<L>, layer: usize) {
    for l in 0..L {
        if st.capture[l] == 0.0 || plan.oversample_thick {
            let parallax = dot(lane(diffracted, l), plan.odet);
            let depth = plan.thickstep * plan.mu / parallax;
            st.capture[l] = (-(layer as f64) * depth).exp() - (-((layer + 1) as f64) * depth).exp();
        }
    }
}

/// The φ × mosaic loops of one (sub-pixel, source) for every lane. Each term is computed for
/// all lanes at once; each lane then adds it to its own sum, so every pixel's sum keeps C's
/// order.
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
    // the -oversample_* factors multiply the running sum after every term (1 when off: exact)
    let capture = if plan.oversample_thick { st.capture } else { [1.0; L] };
    let polar = if plan.oversample_polar { st.polar } else { [1.0; L] };
    let omega = if plan.oversample_omega { st.omega } else { [1.0; L] };
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
            keep[l] &= f_latt[l] != 0.0 || plan.has_water;
        }
        let f_cell = structure_factors(plan, st, &keep, &hkl, &hkl0);
        if tracing && tic == 0 && keep[0] {
            t.value("F_cell", f_cell[0]);
        }
        for l in 0..L {
            let term = f_cell[l] * f_cell[l] * f_latt[l] * f_latt[l] * src.weight;
            let summed = (st.intensity[l] + term) * capture[l] * polar[l] * omega[l];
            st.intensity[l] = if keep[l] { summed } else { st.intensity[l] };
        }
    }
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

/// Lattice factor of one term for every lane.
#[inline(always)]
fn lattice_factors<const L: usize, const FUSED: bool>(plan: &Plan, prep: &Prepared, hkl: &Lv<L>, hkl0: &Lv<L>) -> [f64; L] {
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
pub fn grating(h: f64, h0: f64, n: f64) -> f64 {
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
pub fn sinpi<const L: usize, const FUSED: bool>(x: &[f64; L]) -> [f64; L] {
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
pub fn sinpi_reduced<const L: usize, const FUSED: bool>(r: &[f64; L]) -> [f64; L] {
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

/// F_cell of one term for the lanes that `keep` it (the others get 0 and no side effects).
#[inline(always)]
fn structure_factors<const L: usize>(plan: &Plan, st: &mut PixelState<L>, keep: &[bool; L], hkl: &Lv<L>, hkl0: &Lv<L>) -> [f64; L] {
    if plan.grid.is_none() {
        return [plan.default_f; L];
    }
    let mut f = [0.0; L];
    for l in 0..L {
        if keep[l] {
            f[l] = structure_factor(plan, &mut st.interpolate[l], &mut st.left_grid[l], lane(hkl, l), lane(hkl0, l));
        }
    }
    f
}

/// F for one term under the plan's interpolation rule; flips the pixel's switch as C does.
#[inline(always)]
fn structure_factor(plan: &Plan, interpolate: &mut bool, left_grid: &mut bool, hkl: V3, hkl0: V3) -> f64 {
    if *interpolate {
        if let Some(f) = tricubic_f(plan, hkl) {
            return f;
        }
        *left_grid = true;
        if plan.interpolation == Interpolation::OneShotSwitch {
            *interpolate = false;
        }
    }
    nearest_f(plan, hkl0)
}

/// Structure factor by nearest grid point; default_F off the grid.
#[inline(always)]
pub fn nearest_f(plan: &Plan, hkl0: V3) -> f64 {
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
///
/// The same arithmetic as `physics::polin3` on the 64 neighbours, organised so each product
/// is formed once: the grid nodes of an axis are consecutive integers, so every 4-point
/// Lagrange step along that axis shares one set of numerator products and the denominators
/// are −6, 2, −2, 6 exactly.
#[inline(always)]
pub fn tricubic_f(plan: &Plan, hkl: V3) -> Option<f64> {
    let g = plan.grid.as_ref()?;
    for ((&x, &min), &max) in hkl.iter().zip(&g.min).zip(&g.max) {
        let (lo, range) = (min as f64, (max - min + 1) as f64);
        if x - lo + 3.0 > range || x - 2.0 < lo {
            return None;
        }
    }
    let mut first = [0i32; 3];
    let mut weights = [[0.0; 4]; 3];
    for i in 0..3 {
        let node = hkl[i].floor() - 1.0;
        first[i] = node as i32;
        weights[i] = lagrange_numerators(hkl[i], node);
    }
    // the l-neighbours of a (h, k) pair are adjacent in the grid
    let l_offset = (first[2] - g.min[2]) as usize;
    let mut along_h = [0.0; 4];
    for (i, h_value) in along_h.iter_mut().enumerate() {
        let mut along_k = [0.0; 4];
        for (j, k_value) in along_k.iter_mut().enumerate() {
            let row = ((first[0] + i as i32 - g.min[0]) as usize * g.count[1] + (first[1] + j as i32 - g.min[1]) as usize) * g.count[2];
            let ya: &[f64; 4] = g.values[row + l_offset..row + l_offset + 4].try_into().expect("four l-neighbours");
            *k_value = lagrange_step(&weights[2], ya);
        }
        *h_value = lagrange_step(&weights[1], &along_k);
    }
    Some(lagrange_step(&weights[0], &along_h))
}

/// The numerators (x−x_j)(x−x_k)(x−x_l) of the 4-point Lagrange basis on the nodes
/// `node`, `node`+1, `node`+2, `node`+3, multiplied in C's order.
#[inline(always)]
fn lagrange_numerators(x: f64, node: f64) -> [f64; 4] {
    let d = [x - node, x - (node + 1.0), x - (node + 2.0), x - (node + 3.0)];
    [d[1] * d[2] * d[3], d[0] * d[2] * d[3], d[0] * d[1] * d[3], d[0] * d[1] * d[2]]
}

/// One Lagrange interpolation from its numerators: Σ numerator·y / denominator, in C's order.
#[inline(always)]
fn lagrange_step(numerators: &[f64; 4], y: &[f64; 4]) -> f64 {
    numerators[0] * y[0] / -6.0 + numerators[1] * y[1] / 2.0 + numerators[2] * y[2] / -2.0 + numerators[3] * y[3] / 6.0
}

/// Image statistics as nanoBragg.c computes them (over rendered pixels only). Rows are summed
/// in parallel and the row sums added in row order, so the result does not depend on the
/// thread count (C's OpenMP reduction does; the values are printed to 6 digits).
pub fn statistics(plan: &Plan, image: &[f32]) -> RenderStats {
    #[derive(Clone, Copy, Default)]
    struct Row {
        max_i: f64,
        max_at: usize,
        sum: f64,
        sumsqr: f64,
        n: usize,
    }
    let (cols, slows) = roi_ranges(plan);
    let roi_rows = || image.par_chunks(plan.fpixels).enumerate().skip(slows.start).take(slows.len());
    let rows: Vec<Row> = roi_rows()
        .map(|(slow, row)| {
            let mut r = Row::default();
            for fast in cols.clone() {
                if plan.mask.as_ref().is_some_and(|m| m[slow * plan.fpixels + fast] == 0) {
                    continue;
                }
                let v = row[fast] as f64;
                if v > r.max_i {
                    r.max_i = v;
                    r.max_at = slow * plan.fpixels + fast;
                }
                r.sum += v;
                r.sumsqr += v * v;
                r.n += 1;
            }
            r
        })
        .collect();
    let total = rows.iter().fold(Row::default(), |acc, r| Row {
        // the first brightest pixel wins, as in C's single-thread scan
        max_i: if r.max_i > acc.max_i { r.max_i } else { acc.max_i },
        max_at: if r.max_i > acc.max_i { r.max_at } else { acc.max_at },
        sum: acc.sum + r.sum,
        sumsqr: acc.sumsqr + r.sumsqr,
        n: acc.n + r.n,
    });
    let mean = total.sum / total.n.max(1) as f64;
    let rms = (total.sumsqr / (total.n.max(2) - 1) as f64).sqrt();
    // C's second pass tests only the ROI (masked pixels are zero and count)
    let devs: Vec<f64> = roi_rows().map(|(_, row)| row[cols.clone()].iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum()).collect();
    let m = slows.len() * cols.len();
    let rmsd = (devs.iter().sum::<f64>() / (m.max(2) - 1) as f64).sqrt();
    RenderStats { max_i: total.max_i, max_at: total.max_at, mean, rms, rmsd, omega_sum: 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::polarization_factor;

    fn plan(args: &str) -> Plan {
        let mut args: Vec<String> = args.split_whitespace().map(String::from).collect();
        args.extend(["-floatfile", "/dev/null", "-intfile", "/dev/null", "-nopgm", "-nonoise"].map(String::from));
        let Ok(crate::cli::parse::Command::Run(mut raw)) = crate::cli::parse::parse(&args, -1) else { panic!("{args:?} parses") };
        // -c_parity reads a structure-factor cache when -hkl is absent: look for it in an
        // empty directory, never the process's working directory
        let empty = tempfile::tempdir().unwrap();
        raw.fdump = empty.path().join("Fdump.bin");
        Plan::new(&crate::model::resolve(&raw).expect("test plan resolves"))
    }

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
            let (pos, airpath) = subpixel_rays::<LANES>(&p, 9, slow, sub / 3, sub % 3, layer);
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
            let image = render(&p).image;
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

    /// The AVX2 build and the portable build of the row code give the same bits (no FMA
    /// contraction; the polynomials fuse explicitly in both).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_and_portable_rows_are_bit_identical() {
        if !simd_x86() {
            eprintln!("no AVX2+FMA on this CPU: nothing to compare");
            return;
        }
        let p = plan("-cell 70 80 90 85 95 105 -N 20 -Nc 7 -default_F 100 -detpixels 24 -distance 60 -misset 10 5 3 -mosaic 0.5 \
                      -mosaic_dom 2 -oversample 2 -polar 0.5");
        let prep = Prepared::new(&p);
        let ctx = PixelContext { interpolate: false };
        for slow in [0, 11, 23] {
            let (mut simd, mut portable) = (vec![0.0f32; p.fpixels], vec![0.0f32; p.fpixels]);
            // SAFETY: simd_x86() said AVX2 and FMA are present
            let a = unsafe { render_row_avx2(&p, &prep, slow, &mut simd, 0, ctx) };
            let b = render_row_portable::<true>(&p, &prep, slow, &mut portable, 0, ctx);
            assert_eq!(simd, portable, "row {slow}");
            assert_eq!(a.omega_sum.to_bits(), b.omega_sum.to_bits());
            assert!(simd.iter().all(|&v| v > 0.0));
        }
    }

    #[test]
    fn images_and_statistics_do_not_depend_on_the_thread_count() {
        let p = plan("-cell 70 80 90 85 95 105 -N 6 -default_F 100 -detpixels 64 -distance 80 -mosaic 1 -mosaic_dom 4");
        let on = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| render(&p));
        let (one, three) = (on(1), on(3));
        assert_eq!(one.image, three.image);
        let s = |r: &Rendered| [r.stats.max_i, r.stats.mean, r.stats.rms, r.stats.rmsd, r.stats.omega_sum].map(f64::to_bits);
        assert_eq!(s(&one), s(&three));
        assert_eq!(one.stats.max_at, three.stats.max_at);
    }

    #[test]
    fn tricubic_is_the_c_polin3_bit_for_bit() {
        use crate::engine::plan::StructureGrid;
        use crate::physics::polin3;
        let mut p = plan("-cell 100 100 100 90 90 90 -default_F 10 -detpixels 4");
        let (min, count) = ([-4, -3, -5], [9usize, 8, 11]);
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let values = (0..count.iter().product::<usize>()).map(|_| 50.0 + 100.0 * next()).collect();
        let max = std::array::from_fn(|i| min[i] + count[i] as i32 - 1);
        p.grid = Some(StructureGrid { min, max, count, values });
        let g = p.grid.clone().unwrap();
        let mut checked = 0;
        for _ in 0..2000 {
            let hkl: V3 = std::array::from_fn(|i| min[i] as f64 + 1.0 + (count[i] as f64 - 3.0) * next());
            let Some(got) = tricubic_f(&p, hkl) else { continue };
            let flr = hkl.map(|x| x.floor() as i32);
            let axis = |i: usize| -> [f64; 4] { std::array::from_fn(|j| (flr[i] - 1 + j as i32) as f64) };
            let (ha, ka, la) = (axis(0), axis(1), axis(2));
            let ya = std::array::from_fn(|i| std::array::from_fn(|j| std::array::from_fn(|k| g.at(ha[i] as i32, ka[j] as i32, la[k] as i32))));
            assert_eq!(got.to_bits(), polin3(&ha, &ka, &la, &ya, hkl[0], hkl[1], hkl[2]).to_bits(), "{hkl:?}");
            checked += 1;
        }
        assert!(checked > 500, "only {checked} points inside the grid");
    }

    #[test]
    fn statistics_follow_c_over_roi_and_mask() {
        let mut p = plan("-cell 100 100 100 90 90 90 -default_F 10 -detpixels 4 -roi 1 3 0 1");
        let mut mask = vec![1u16; 16];
        mask[5] = 0;
        p.mask = Some(mask);
        let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let st = statistics(&p, &image);
        // rendered: fast 1..=3 of rows 0 and 1, without pixel 5
        let rendered = [1.0, 2.0, 3.0, 6.0, 7.0];
        let mean = rendered.iter().sum::<f64>() / 5.0;
        assert_eq!((st.max_i, st.max_at, st.mean), (7.0, 7, mean));
        assert_eq!(st.rms, (rendered.iter().map(|v| v * v).sum::<f64>() / 4.0).sqrt());
        // C's deviation pass counts the masked pixel (ROI only)
        let roi = [1.0, 2.0, 3.0, 5.0, 6.0, 7.0];
        assert_eq!(st.rmsd, (roi.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 5.0).sqrt());
    }
}
