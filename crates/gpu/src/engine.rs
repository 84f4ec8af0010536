//! Which engine renders: the f64 CPU engine (the core's), the GPU engine, or the GPU when a
//! hardware adapter exists and the CPU otherwise; and what a render returns on either.

use crate::control::RenderControl;
use crate::error::{Error, Result};
use crate::{DeviceImage, GpuOptions};
use nanobragg_core::engine::plan::Plan;
use nanobragg_core::engine::{CpuEngine, EngineUsed, Rendered, render_finished_async};

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
/// background of `-stol` added by the same engine (`nanobragg_core::engine::render_finished_async`,
/// through which both engines go), stopped through `control` (a cancelled render is an
/// `Error::Interrupted` whichever engine ran), on the process's shared device for
/// `gpu_options` (`GpuDevice::shared`). `Auto` takes the GPU when a hardware adapter exists and
/// notes (through the logger, so that `-quiet` silences it) when it uses the CPU instead.
pub fn render(plan: &Plan, choice: EngineChoice, gpu_options: &GpuOptions, control: &RenderControl) -> Result<RenderedImage> {
    pollster::block_on(render_choosing(plan, choice, control, async |hardware_only| {
        let device = match hardware_only {
            true => crate::GpuDevice::shared_if(gpu_options, &crate::hardware_only)?,
            false => crate::GpuDevice::shared(gpu_options)?,
        };
        device.render_finished_async(plan, control).await
    }))
}

/// `render`, the GPU's render done by `on_gpu`, which is told whether only a hardware adapter
/// will do (`Auto`) and then fails on a software one (`crate::hardware_only`).
pub(crate) async fn render_choosing(plan: &Plan, choice: EngineChoice, control: &RenderControl, on_gpu: impl AsyncFnOnce(bool) -> Result<RenderedImage>) -> Result<RenderedImage> {
    let on_cpu = async || render_finished_async(&CpuEngine, plan, control).await.map(RenderedImage::from);
    let rendered = match choice {
        EngineChoice::Cpu => on_cpu().await?,
        EngineChoice::Gpu => on_gpu(false).await?,
        EngineChoice::Auto => match on_gpu(true).await {
            Ok(r) => r,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                log::info!("{e}; using the CPU engine");
                on_cpu().await?
            }
        },
    };
    control.stop_if_cancelled()?;
    debug_assert!(rendered.device.is_none() || rendered.engine != EngineUsed::Cpu);
    Ok(rendered)
}
