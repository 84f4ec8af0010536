//! The f64 CPU engine and what every engine shares: the plan both engines read, the image and
//! statistics a render returns, the sub-pixel positions, and the rule that puts a render
//! together on every engine: the engine's spots, then the amorphous background of `-stol`
//! added by the same engine (`Engine`, `render_finished_async`).

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

impl RenderStats {
    /// Where nanoBragg.c and nonBragg.c report the brightest pixel: at its last sub-pixel's
    /// detector coordinates (m) on `grid`, the grid of its panel, `row` its row on that panel
    /// (nanoBragg.c's one panel: the image's row); (0, 0) when no pixel is above 0.
    pub fn max_position(&self, fpixels: usize, grid: &subpixel::SubpixelGrid, row: usize) -> (f64, f64) {
        if self.max_i <= 0.0 {
            return (0.0, 0.0);
        }
        let last = grid.oversample - 1;
        (grid.grid_coordinate(0, self.max_at % fpixels, last), grid.grid_coordinate(1, row, last))
    }
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

/// What an engine does for a render, in the parts that `render_finished_async` and
/// `render_spots_async` put together the same way for every engine: the CPU engine here
/// (`CpuEngine`), the GPU engine in nanobragg-gpu. The parts are futures because a GPU's work
/// and read-backs are answered asynchronously (a browser cannot block on them); the CPU
/// engine's are ready at once.
// Engines are used by static dispatch on the caller's thread; the GPU engine's futures are
// not `Send` in a browser (wgpu's are not), so no `Send` bound is promised.
#[allow(async_fn_in_trait)]
pub trait Engine {
    /// The spots as the engine holds them before the background is added (the GPU engine's may
    /// still be on its device).
    type Spots;
    /// What a render returns.
    type Finished;
    /// The spots of every rendered pixel, stopped through `control`.
    async fn spots(&self, plan: &Plan, control: &RenderControl) -> crate::error::Result<Self::Spots>;
    /// Adds the amorphous background of `-stol` to the spots.
    async fn add_background(&self, plan: &Plan, background: &background::Background, spots: &mut Self::Spots, control: &RenderControl) -> crate::error::Result<()>;
    /// The image as the engine returns it, with the statistics of what it holds.
    async fn finish(&self, plan: &Plan, spots: Self::Spots) -> crate::error::Result<Self::Finished>;
}

/// A render as every engine's public entry points return it (a detector's float image): the
/// engine's spots with the plan's amorphous background of `-stol`, if any, added by the same
/// engine. The one place where the background joins the spots; a cancelled render is an
/// `Error::Interrupted`.
pub async fn render_finished_async<E: Engine>(engine: &E, plan: &Plan, control: &RenderControl) -> crate::error::Result<E::Finished> {
    let mut spots = engine.spots(plan, control).await?;
    control.stop_if_cancelled()?;
    if let Some(bg) = &plan.background {
        engine.add_background(plan, bg, &mut spots, control).await?;
        control.stop_if_cancelled()?;
    }
    engine.finish(plan, spots).await
}

/// The spots alone, without the background of `-stol` (for comparisons of the engines' spots).
pub async fn render_spots_async<E: Engine>(engine: &E, plan: &Plan, control: &RenderControl) -> crate::error::Result<E::Finished> {
    let spots = engine.spots(plan, control).await?;
    control.stop_if_cancelled()?;
    engine.finish(plan, spots).await
}

/// The f64 CPU engine (`cpu`), the background added on the host in f64 (`background::add_to`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuEngine;

impl Engine for CpuEngine {
    type Spots = Rendered;
    type Finished = Rendered;

    async fn spots(&self, plan: &Plan, control: &RenderControl) -> crate::error::Result<Rendered> {
        Ok(cpu::render_spots_watched(plan, control))
    }

    async fn add_background(&self, plan: &Plan, background: &background::Background, spots: &mut Rendered, _: &RenderControl) -> crate::error::Result<()> {
        background::add_to(plan, background, spots);
        Ok(())
    }

    async fn finish(&self, _: &Plan, spots: Rendered) -> crate::error::Result<Rendered> {
        Ok(spots)
    }
}

/// The CPU engine's finished image (`render_finished_async` with `CpuEngine`): the spots with
/// the background of `-stol` added in f64.
pub fn render_on_cpu(plan: &Plan, control: &RenderControl) -> crate::error::Result<Rendered> {
    ready(render_finished_async(&CpuEngine, plan, control))
}

/// The CPU engine's spots alone (`render_spots_async` with `CpuEngine`).
pub fn render_spots_on_cpu(plan: &Plan, control: &RenderControl) -> crate::error::Result<Rendered> {
    ready(render_spots_async(&CpuEngine, plan, control))
}

/// The output of a future that is ready when first polled: the CPU engine's, which never waits
/// for anything (its work is done inside the poll). Taken without an executor, so that the core
/// needs none; an engine that waits for a device is awaited by its own crate's callers.
fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("the CPU engine's parts never wait"),
    }
}

