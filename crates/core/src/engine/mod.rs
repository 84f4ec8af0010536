//! The f64 CPU engine and what every engine shares: the plan both engines read, the image and
//! statistics a render returns, the sub-pixel positions, and the amorphous background added
//! after the spots.

pub mod background;
pub mod cpu;
pub mod plan;
pub mod subpixel;

use crate::control::RenderControl;
use plan::Plan;

/// nanoBragg.c's end-of-run statistics over the rendered pixels.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderStats {
    pub max_i: f64,
    /// image index of the (first) brightest pixel
    pub max_at: usize,
    pub mean: f64,
    pub rms: f64,
    pub rmsd: f64,
    /// solid angle summed over all sub-pixels (divide by steps for the detector's share)
    pub omega_sum: f64,
}

/// Which engine produced an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineUsed {
    Cpu,
    Gpu { adapter: String, backend: String },
}

#[derive(Clone, Debug)]
pub struct Rendered {
    /// float image, fast-major (index = slow·fpixels + fast)
    pub image: Vec<f32>,
    pub stats: RenderStats,
    /// c-parity: the pixel where nanoBragg.c's one-shot interpolation switch flipped
    pub interpolation_switched_at: Option<usize>,
    pub engine: EngineUsed,
    /// the GPU kernel's own time, where the adapter writes timestamps (`TIMESTAMP_QUERY`)
    pub kernel_seconds: Option<f64>,
}

/// The CPU engine's image with the amorphous background of `-stol` added after the spots
/// (in f64; the GPU engine adds it on the device), stopped through `control`: a cancelled
/// render is an `Error::Interrupted`.
pub fn render_on_cpu(plan: &Plan, control: &RenderControl) -> crate::error::Result<Rendered> {
    let mut rendered = cpu::render_watched(plan, control);
    control.stop_if_cancelled()?;
    background::add_to(plan, &mut rendered);
    Ok(rendered)
}

