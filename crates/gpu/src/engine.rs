//! Which engine renders: the f64 CPU engine (the core's), the GPU engine, or the GPU when a
//! hardware adapter exists and the CPU otherwise; and what a render returns on either.

use crate::control::RenderControl;
use crate::error::{Error, Result};
use crate::{DeviceImage, GpuOptions};
use nanobragg_core::engine::plan::Plan;
use nanobragg_core::engine::{EngineUsed, Rendered, render_on_cpu};

/// `-engine cpu|gpu|auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    Cpu,
    Gpu,
    /// the GPU on a hardware adapter, else the CPU (said plainly)
    Auto,
}

/// A rendered image and, where the GPU engine rendered it, the same float image still on its
/// device (the noise stages read it there instead of uploading `image` again). Reads as the
/// `Rendered` it holds. Whoever changes `image` afterwards must set `device` to None.
#[derive(Clone, Debug)]
pub struct RenderedImage {
    pub rendered: Rendered,
    pub device: Option<DeviceImage>,
}

impl std::ops::Deref for RenderedImage {
    type Target = Rendered;
    fn deref(&self) -> &Rendered {
        &self.rendered
    }
}

impl std::ops::DerefMut for RenderedImage {
    fn deref_mut(&mut self) -> &mut Rendered {
        &mut self.rendered
    }
}

impl From<Rendered> for RenderedImage {
    /// An image on the host only (the CPU engine's).
    fn from(rendered: Rendered) -> Self {
        RenderedImage { rendered, device: None }
    }
}

/// Render with the chosen engine: the finished image, the engine's spots with the amorphous
/// background of `-stol` added by the same engine (`nanobragg_core::engine::render_finished`,
/// through which both engines go), stopped through `control` (a cancelled render is an
/// `Error::Interrupted` whichever engine ran), on the process's shared device for
/// `gpu_options` (`GpuDevice::shared`). `Auto` takes the GPU when a hardware adapter exists and
/// notes (through the logger, so that `-quiet` silences it) when it uses the CPU instead.
pub fn render(plan: &Plan, choice: EngineChoice, gpu_options: &GpuOptions, control: &RenderControl) -> Result<RenderedImage> {
    render_choosing(plan, choice, control, |hardware_only| match hardware_only {
        true => crate::render_if_hardware(plan, gpu_options, control),
        false => crate::render_on_gpu(plan, gpu_options, control),
    })
}

/// `render`, the GPU's render done by `on_gpu`, which is told whether only a hardware adapter
/// will do (`Auto`) and then fails on a software one (`crate::hardware_only`).
pub(crate) fn render_choosing(plan: &Plan, choice: EngineChoice, control: &RenderControl, on_gpu: impl FnOnce(bool) -> Result<RenderedImage>) -> Result<RenderedImage> {
    let rendered = match choice {
        EngineChoice::Cpu => render_on_cpu(plan, control)?.into(),
        EngineChoice::Gpu => on_gpu(false)?,
        EngineChoice::Auto => match on_gpu(true) {
            Ok(r) => r,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                log::info!("{e}; using the CPU engine");
                render_on_cpu(plan, control)?.into()
            }
        },
    };
    control.stop_if_cancelled()?;
    debug_assert!(rendered.device.is_none() || rendered.engine != EngineUsed::Cpu);
    Ok(rendered)
}
