//! What a run reports besides its images, on request: the `-trace_pixel` trace, the
//! `-validate` spot check of a GPU render and the `-preview` summary and PNG. These are
//! explicit requests, so they print even with `-quiet`.

use crate::compare::{RELATIVE_FLOOR, SAMPLE_SEED, recompute, relative_diff, sample_pixels};
use crate::engine::plan::Plan;
use crate::engine::{EngineUsed, Rendered};
use crate::error::Result;
use crate::io::cfmt::fmt_g;
use crate::model::Experiment;
use crate::{preview, trace};

/// Checks that must fail before a long render rather than after it.
pub fn before_render(exp: &Experiment, plan: &Plan) -> Result<()> {
    match exp.output.trace_pixel {
        Some((slow, fast)) => trace::check_pixel(plan, slow, fast),
        None => Ok(()),
    }
}

pub fn after_render(exp: &Experiment, plan: &Plan, rendered: &Rendered, backend: Option<&str>) -> Result<()> {
    if let Some((slow, fast)) = exp.output.trace_pixel {
        print!("{}", trace::trace_rendered(exp, plan, rendered, slow, fast, backend)?);
    }
    if let Some(n) = exp.output.validate {
        println!("{}", validate(plan, rendered, n));
    }
    if exp.output.preview {
        preview::write_preview(&exp.output, plan, &rendered.image)?;
    }
    Ok(())
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
