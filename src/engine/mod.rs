//! Rendering engines: the f64 CPU reference and the WebGPU kernel, both fed the same plan.

pub mod background;
pub mod cpu;
pub mod gpu;
pub mod plan;

use crate::cli::raw::EngineChoice;
use crate::error::Result;
use crate::progress::RenderControl;
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
    /// the same float image on the GPU engine's device, where it was rendered (the noise
    /// stages read it there instead of uploading `image` again); None from the CPU engine.
    /// Whoever changes `image` afterwards must set this to None.
    pub device: Option<gpu::DeviceImage>,
}

/// Render with the chosen engine. `auto` takes the GPU when a hardware adapter exists and says
/// plainly when it uses the CPU instead.
pub fn render(plan: &Plan, choice: EngineChoice, backend: Option<&str>) -> Result<Rendered> {
    render_watched(plan, choice, backend, &RenderControl::default())
}

/// `render` that can be stopped: both engines report finished rows to `control` and stop when
/// it is cancelled; a cancelled run is an `Error::Interrupted` whichever engine ran.
pub fn render_watched(plan: &Plan, choice: EngineChoice, backend: Option<&str>, control: &RenderControl) -> Result<Rendered> {
    render_watched_with(plan, choice, &gpu::GpuOptions::for_backend(backend), control)
}

/// `render_watched` with everything the GPU engine may be asked for (`-gpu_precision`).
pub fn render_watched_with(plan: &Plan, choice: EngineChoice, gpu_options: &gpu::GpuOptions, control: &RenderControl) -> Result<Rendered> {
    let mut rendered = match choice {
        EngineChoice::Cpu => Ok(cpu::render_watched(plan, control)),
        EngineChoice::Gpu => gpu::render_watched(plan, gpu_options, control),
        EngineChoice::Auto => match gpu::render_if_hardware(plan, gpu_options, control) {
            Ok(r) => Ok(r),
            Err(crate::error::Error::Interrupted) => Err(crate::error::Error::Interrupted),
            Err(e) => {
                // a note through the logger, so that -quiet silences it
                log::info!("{e}; using the CPU engine");
                Ok(cpu::render_watched(plan, control))
            }
        },
    }?;
    control.stop_if_cancelled()?;
    // the amorphous background of -stol, after the spots: here in f64 after the CPU engine's;
    // the GPU engine adds it on the device (gpu::background)
    if rendered.engine == EngineUsed::Cpu {
        background::add_to(plan, &mut rendered);
    }
    Ok(rendered)
}
