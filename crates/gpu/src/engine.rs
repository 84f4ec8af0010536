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
/// `Error::Interrupted` whichever engine ran). `Auto` takes the GPU when a hardware adapter
/// exists and notes (through the logger, so that `-quiet` silences it) when it uses the CPU
/// instead.
pub fn render(plan: &Plan, choice: EngineChoice, gpu_options: &GpuOptions, control: &RenderControl) -> Result<RenderedImage> {
    let rendered = match choice {
        EngineChoice::Cpu => render_on_cpu(plan, control)?.into(),
        EngineChoice::Gpu => crate::render_on_gpu(plan, gpu_options, control)?,
        EngineChoice::Auto => match crate::render_if_hardware(plan, gpu_options, control) {
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
