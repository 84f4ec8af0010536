//! The f64 CPU engine: the reference every GPU result is checked against. One pixel is summed
//! in nanoBragg.c's loop order (layers → sub-pixels → sources → φ → mosaic) with its caching
//! rules (solid angle, polarization and capture fraction from the first sub-pixel unless the
//! matching `-oversample_*` flag is set; then each term is weighted once by its sub-pixel's
//! factor, or, with `-c_parity`, the factor multiplies the running sum after every term).
//!
//! By job:
//! * this file: the render (rows in parallel with rayon, row sums folded in row order), the
//!   c-parity one-shot interpolation switch's second pass, `render_pixel` for traces, the
//!   per-render preparation and the end-of-run statistics;
//! * [`lanes`]: [`lanes::LANES`] (16) neighbouring pixels of a row summed in lock-step, and the
//!   choice between the AVX2+FMA build of that code and the portable one;
//! * [`lattice`]: the lattice factor (grating factor by Chebyshev recurrence or polynomial
//!   sines, C's `sincg` in c-parity mode, the round / Gaussian / top-hat shapes);
//! * [`structure`]: the structure factor (nearest grid point, tricubic interpolation).
//!
//! Speed comes from three things, none of which changes what a pixel sums or in which order:
//! lock-step lanes that LLVM turns into SIMD code (each pixel still adds its own terms in C's
//! order); the grating factor evaluated on the offset from the nearest integer with polynomial
//! sines instead of two libm sines of large arguments; rows in parallel. The sine polynomials
//! fuse their multiply-adds explicitly where the hardware has FMA (`lanes::fused`); nothing
//! else is contracted.
//!
//! Every per-term step has a twin in the WGSL kernel (shaders/render.wgsl, physics.wgsl); the
//! comment on each step names it and says how the two differ (docs/gpu.md, "the twin pact").

// Lane loops index several arrays in step (`a[l] = b[l] * c[l]`); iterator chains would hide
// the one-operation-per-loop shape that LLVM vectorises.
#![allow(clippy::needless_range_loop)]

mod lanes;
mod lattice;
mod structure;

use super::plan::{Interpolation, Plan, PlanSource};
use super::{EngineUsed, RenderStats, Rendered};
use crate::params::{Mode, XtalShape};
use crate::physics::{V3, cross, unitize};
use crate::control::RenderControl;
use lanes::{fused, render_row, sum_pixels};
use lattice::LatticeShape;
use crate::par::*;
use std::ops::Range;

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

/// The spots of every pixel, without the background of `-stol` (`engine::render_on_cpu` adds
/// it); `-c_parity`'s one-shot interpolation switch needs a second pass over the pixels after
/// the first one where the switch flips.
pub fn render_spots(plan: &Plan) -> Rendered {
    render_spots_watched(plan, &RenderControl::default())
}

/// `render_spots`, reporting finished rows to `control` and stopping early once it is
/// cancelled; the image is then incomplete, and the caller turns it into `Error::Interrupted`.
pub fn render_spots_watched(plan: &Plan, control: &RenderControl) -> Rendered {
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
    Rendered { image, stats, interpolation_switched_at: switched_at, engine: EngineUsed::Cpu, kernel_seconds: None }
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

/// The ROI as ranges of fast and slow indices inside the detector (the ROI may reach past
/// the edge: C's default does).
fn roi_ranges(plan: &Plan) -> (Range<usize>, Range<usize>) {
    region_ranges(&StatsRegion { fpixels: plan.fpixels, spixels: plan.spixels, roi: plan.roi, mask: None })
}

/// The ROI's columns and rows, clipped to the detector.
fn region_ranges(region: &StatsRegion) -> (Range<usize>, Range<usize>) {
    let clamp = |lo: usize, hi: usize, n: usize| {
        let end = (hi + 1).min(n);
        lo.min(end)..end
    };
    let [x0, x1, y0, y1] = region.roi;
    (clamp(x0, x1, region.fpixels), clamp(y0, y1, region.spixels))
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

/// Image statistics as nanoBragg.c computes them (over rendered pixels only), for a render of
/// `plan` (`image_statistics` over its ROI and mask).
pub fn statistics(plan: &Plan, image: &[f32]) -> RenderStats {
    let region = StatsRegion { fpixels: plan.fpixels, spixels: plan.spixels, roi: plan.roi, mask: plan.mask.as_deref() };
    image_statistics(image, &region, DeviationRead::Own)
}

/// `statistics` of each panel of the detector alone (its rows of the image, the ROI and mask
/// there), in the image's order; `max_at` is the index on the panel (`slow·fpixels + fast`).
/// A one-panel detector's is `statistics`.
pub fn panel_statistics(plan: &Plan, image: &[f32]) -> Vec<RenderStats> {
    let (cols, slows) = roi_ranges(plan);
    let (rows, panel_pixels) = (plan.panel_rows, plan.panel_rows * plan.fpixels);
    (0..plan.panels.len())
        .map(|p| {
            let r0 = p * rows;
            let (lo, hi) = (slows.start.clamp(r0, r0 + rows) - r0, slows.end.clamp(r0, r0 + rows) - r0);
            let mask = plan.mask.as_deref().map(|m| &m[p * panel_pixels..(p + 1) * panel_pixels]);
            statistics_over(&image[p * panel_pixels..(p + 1) * panel_pixels], plan.fpixels, cols.clone(), lo..hi, mask, DeviationRead::Own)
        })
        .collect()
}

/// The pixels statistics are taken over: the ROI ([fast0, fast1, slow0, slow1], inclusive,
/// clipped to the detector) less the pixels the mask zeroes.
#[derive(Clone, Copy, Debug)]
pub struct StatsRegion<'a> {
    pub fpixels: usize,
    pub spixels: usize,
    pub roi: [usize; 4],
    pub mask: Option<&'a [u16]>,
}

/// Which value the rmsd's deviation pass reads at a pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviationRead {
    /// the pixel's own
    Own,
    /// its successor's (0 past the image): nonBragg.c's second loop steps its index before
    /// reading (`-c_parity` of `nanobragg nonBragg`)
    Successor,
}

/// Image statistics as nanoBragg.c and nonBragg.c compute them: the brightest pixel, mean and
/// rms over the region's pixels, the rmsd over its ROI. Rows are summed in parallel and the
/// row sums added in row order, so the result does not depend on the thread count (C's
/// OpenMP reduction does; the values are printed to 6 digits).
pub fn image_statistics(image: &[f32], region: &StatsRegion, deviation: DeviationRead) -> RenderStats {
    let (cols, slows) = region_ranges(region);
    statistics_over(image, region.fpixels, cols, slows, region.mask, deviation)
}

/// Statistics over the pixels `cols` × `slows` of an image `fpixels` wide, masked ones left out
/// of the first pass (nanoBragg.c's two passes).
fn statistics_over(image: &[f32], fpixels: usize, cols: Range<usize>, slows: Range<usize>, mask: Option<&[u16]>, deviation: DeviationRead) -> RenderStats {
    #[derive(Clone, Copy, Default)]
    struct Row {
        max_i: f64,
        max_at: usize,
        sum: f64,
        sumsqr: f64,
        n: usize,
    }
    let roi_rows = || image.par_chunks(fpixels).enumerate().skip(slows.start).take(slows.len());
    let rows: Vec<Row> = roi_rows()
        .map(|(slow, row)| {
            let mut r = Row::default();
            for fast in cols.clone() {
                if mask.is_some_and(|m| m[slow * fpixels + fast] == 0) {
                    continue;
                }
                let v = row[fast] as f64;
                if v > r.max_i {
                    r.max_i = v;
                    r.max_at = slow * fpixels + fast;
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
    let read = |idx: usize| match deviation {
        DeviationRead::Own => image[idx] as f64,
        DeviationRead::Successor => image.get(idx + 1).map_or(0.0, |&v| v as f64),
    };
    let devs: Vec<f64> = roi_rows().map(|(slow, _)| cols.clone().map(|fast| read(slow * fpixels + fast)).map(|v| (v - mean) * (v - mean)).sum()).collect();
    let m = slows.len() * cols.len();
    let rmsd = (devs.iter().sum::<f64>() / (m.max(2) - 1) as f64).sqrt();
    RenderStats { max_i: total.max_i, max_at: total.max_at, mean, rms, rmsd, omega_sum: 0.0 }
}

/// A plan from a short command line (`testing::plan`): the unit tests of every part.
#[cfg(test)]
pub(crate) use crate::testing::plan as test_plan;

#[cfg(test)]
mod tests {
    use super::test_plan as plan;
    use super::*;

    #[cfg(feature = "parallel")]
    #[test]
    fn images_and_statistics_do_not_depend_on_the_thread_count() {
        let p = plan("-cell 70 80 90 85 95 105 -N 6 -default_F 100 -detpixels 64 -distance 80 -mosaic 1 -mosaic_dom 4");
        let on = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| render_spots(&p));
        let (one, three) = (on(1), on(3));
        assert_eq!(one.image, three.image);
        let s = |r: &Rendered| [r.stats.max_i, r.stats.mean, r.stats.rms, r.stats.rmsd, r.stats.omega_sum].map(f64::to_bits);
        assert_eq!(s(&one), s(&three));
        assert_eq!(one.stats.max_at, three.stats.max_at);
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
