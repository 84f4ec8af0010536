//! What a run reports besides its images, on request: the `-trace_pixel` trace, the
//! `-validate` spot check of a GPU render and the `-preview` summary and PNG. These are
//! explicit requests, so they print even with `-quiet`.

use crate::compare::{RELATIVE_FLOOR, SAMPLE_SEED, recompute, relative_diff, sample_pixels};
use crate::engine::plan::Plan;
use crate::engine::{EngineUsed, Rendered};
use crate::error::Result;
use crate::io::cfmt::fmt_g;
use crate::model::{Detector, Experiment};
use crate::output::Output;
use crate::physics::{V3, dot};
use crate::{preview, trace};

/// Checks that must fail before a long render rather than after it, and warnings about the
/// setup.
pub fn before_render(exp: &Experiment, output: &Output, plan: &Plan) -> Result<()> {
    if let Some(warning) = beam_off_detector(&exp.detector, exp.beam.direction) {
        log::warn!("{warning}");
    }
    match output.trace_pixel {
        Some((slow, fast)) => trace::check_pixel(plan, slow, fast),
        None => Ok(()),
    }
}

pub fn after_render(exp: &Experiment, output: &Output, plan: &Plan, rendered: &Rendered, gpu: &crate::engine::gpu::GpuOptions) -> Result<()> {
    if let Some((slow, fast)) = output.trace_pixel {
        crate::out!("{}", trace::trace_rendered(exp, plan, rendered, slow, fast, gpu)?);
    }
    if let Some(n) = output.validate {
        crate::outln!("{}", validate(plan, rendered, n));
    }
    if output.preview {
        preview::write_preview(output, plan, &rendered.image)?;
    }
    Ok(())
}

/// Where the direct beam meets the detector plane, in pixels (fast, slow) from the first
/// pixel's corner; None when it runs parallel to the plane or away from it.
pub fn beam_spot(d: &Detector, beam: V3) -> Option<(f64, f64)> {
    let towards = dot(beam, d.odet);
    let t = dot(d.pix0, d.odet) / towards;
    if !(towards != 0.0 && t.is_finite() && t > 0.0) {
        return None;
    }
    let hit = [t * beam[0] - d.pix0[0], t * beam[1] - d.pix0[1], t * beam[2] - d.pix0[2]];
    Some((dot(hit, d.fdet) / d.pixel_size, dot(hit, d.sdet) / d.pixel_size))
}

/// A warning when the direct beam misses the detector (a typo in -Xbeam/-Ybeam, or mm given
/// for pixels, moves every spot): usually a mistake, sometimes meant (a detector swung out
/// by -twotheta), so a warning and not a refusal.
pub fn beam_off_detector(d: &Detector, beam: V3) -> Option<String> {
    let (w, h) = (d.fpixels as f64, d.spixels as f64);
    match beam_spot(d, beam) {
        None => Some("the direct beam does not meet the detector plane (it points away from the detector)".into()),
        Some((f, s)) if !(0.0..=w).contains(&f) || !(0.0..=h).contains(&s) => Some(format!(
            "the beam centre is off the detector: the direct beam meets its plane at pixel (fast {}, slow {}), \
             outside the {}x{} pixels",
            fmt_g(f),
            fmt_g(s),
            d.fpixels,
            d.spixels
        )),
        Some(_) => None,
    }
}

/// `-validate=N`: recompute N pixels of a GPU render on the f64 engine; the report line.
pub fn validate(plan: &Plan, rendered: &Rendered, n: usize) -> String {
    if rendered.engine == EngineUsed::Cpu {
        return "note: -validate checks a GPU render against the f64 CPU engine; this run used the CPU engine, nothing to check".into();
    }
    let sample = sample_pixels(&rendered.image, |i| plan.renders(i % plan.fpixels, i / plan.fpixels), n, SAMPLE_SEED);
    let reference = recompute(plan, rendered.interpolation_switched_at, &sample.pixels);
    let floor = RELATIVE_FLOOR * rendered.stats.max_i;
    let in_sample = |i: usize| sample.pixels.binary_search(&i).is_ok();
    let worst = relative_diff(&rendered.image, &reference, in_sample, floor, 0.0);
    format!(
        "validate: {} pixels ({} brightest, {} random) recomputed on the f64 CPU engine: worst relative error {:.3e} \
         at (fast {}, slow {}): GPU {} vs f64 {} (relative to max(|f64|, {} = 1e-3 x image max))",
        sample.pixels.len(),
        sample.brightest,
        sample.random,
        worst.max_rel_diff,
        worst.index % plan.fpixels,
        worst.index / plan.fpixels,
        fmt_g(worst.a),
        fmt_g(worst.b),
        fmt_g(floor)
    )
}

