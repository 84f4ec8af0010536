//! nanobragg's WebGPU engine: the plan packed into buffers, one compute dispatch per detector
//! tile, each invocation summing one pixel with the same terms, order and caching rules as
//! `cpu::render_pixel` (the arithmetic differs step by step: docs/gpu.md, "The twin pact"),
//! with the precision-critical geometry carried in f64 or double-float (docs/gpu.md); the
//! detector-response stages on the device (`response`, `background`, `gather`); and the
//! `Simulator`, which renders frame after frame on the engine chosen (`engine::EngineChoice`)
//! and records each as the detector does (`Simulator::record`, `DetectorResponse`: the noise
//! stages on the device after a GPU render).
//!
//! Prints nothing and reads no environment variable: the caller reports the adapter from
//! `EngineUsed::Gpu` and passes what the environment says in `GpuOptions`.
//!
//! A library caller opens a `GpuDevice` and hands clones to its simulators
//! (`Simulator::with_device`); the device is freed when the last holder drops it. The one-call
//! helpers below (`render_spots`, `render_spots_with`, `render_on_gpu`, `trace_pixel_with`) and
//! `Simulator::new` use the process-wide `GpuDevice::shared` instead, which the CLI relies on
//! for one device per run. The render path is `async` from top to bottom: the core's
//! `engine::render_finished_async` over `GpuEngine` (spots, gather, background, read-back),
//! `Simulator::render_async`/`record_async` (the noise and PSF stages too),
//! `GpuDevice::open_async`; pipelines compile and error scopes pop as futures. The blocking
//! calls (`render`, `record`, `open`, ...) are `pollster::block_on` of those futures for the
//! native faces, and the only places that block (the test `only_entry_points_block` fails on
//! one added deeper). A browser face awaits the futures on a device it opened with
//! `open_async` (the shared device and `-trace_pixel` stay native conveniences).
//!
//! A short rotation series with noise, written as SMV images, without any command line
//! (`examples/series.rs` is the longer version: `cargo run --release -p nanobragg-gpu
//! --example series`):
//!
//! ```
//! # fn main() -> nanobragg_core::error::Result<()> {
//! use nanobragg_core::{control::RenderControl, model, params::ExperimentParams, structure::StructureFactors};
//! use nanobragg_gpu::{EngineChoice, GpuOptions, NoisePixels, Simulator};
//! use nanobragg_io::smv::{SmvHeader, encode_smv};
//! use std::sync::Arc;
//!
//! // F = 100 for every h, k, l in −5..=5, from an array instead of an HKL file
//! let sf = StructureFactors { h_min: -5, h_max: 5, k_min: -5, k_max: 5, l_min: -5, l_max: 5, values: vec![100.0; 11 * 11 * 11] };
//! let inputs = model::Inputs { reflections: sf.values.len(), structure_factors: Some(Arc::new(sf)), ..Default::default() };
//! // -cell 50 50 50 90 90 90 -N 5 -distance 100 -detpixels 64 -oversample 1 -osc 1 -seed 3
//! let mut params = ExperimentParams::default();
//! params.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])?.n_cells(5)?.distance(100.0)?.detpixels(64)?.oversample(1).osc(1.0)?.seed(3);
//! let mut warnings = Vec::new(); // what resolving warns of, as values
//! let exp = model::resolve(&params, &inputs, &Default::default(), &mut warnings)?;
//! let mut sim = Simulator::new(exp, EngineChoice::Auto, GpuOptions::default());
//! # let dir = tempfile::tempdir().unwrap();
//! # let out = dir.path();
//! for k in 1..=3 {
//!     let frame = sim.frame().with_phi_deg((k - 1) as f64).numbered(k);
//!     // photons, integer image and noise image, each stage on the engine that suits it
//!     let recorded = sim.record(&frame, &RenderControl::default())?;
//!     let Some(NoisePixels::Bits16(pixels)) = recorded.noise.map(|n| n.pixels) else { unreachable!("16-bit noise by default") };
//!     // the header of the frame the simulator is set to: its φ
//!     let bytes = encode_smv(&SmvHeader::from_experiment(sim.experiment()), &pixels);
//!     nanobragg_io::write_atomic(&out.join(format!("frame_{k:03}.img")), &bytes)?;
//! }
//! # assert_eq!(std::fs::read_dir(out).unwrap().count(), 3);
//! # Ok(()) }
//! ```

#[cfg(test)]
mod backends;
pub mod background;
mod cache;
mod context;
pub mod engine;
pub mod gather;
mod job;
mod layout;
mod record;
pub mod response;
mod selftest;
mod shader;
pub mod simulator;
#[cfg(test)]
mod tests;
mod trace;
mod variant;

pub use context::{AdapterChoice, GpuDevice, GpuOptions, Transfers, WeakGpuDevice};
pub use engine::{EngineChoice, RenderedImage};
pub use gather::DeviceImage;
pub use nanobragg_core::response::record::{NoisePixels, Recorded, RecordedNoise};
pub use record::DetectorResponse;
pub use shader::{Fetch, Precision};
pub use simulator::{Frame, Simulator};

// the core's modules under the names this crate's code has always used
pub(crate) use nanobragg_core::{control, error, model, params, physics};

use crate::control::RenderControl;
use crate::error::Result;
use context::{GpuContext, GridSlot};
use job::{Job, Rect};
use nanobragg_core::engine::background::Background;
use nanobragg_core::engine::cpu::{self, Tracer};
use nanobragg_core::engine::plan::{Interpolation, Plan};
use nanobragg_core::engine::{EngineUsed, Rendered};

/// The spots of `plan`, without the background of `-stol` (as `cpu::render_spots`), on the
/// process's shared device (`GpuDevice::shared`) for the adapter `backend` selects
/// (`None`/`auto`: any).
pub fn render_spots(plan: &Plan, backend: Option<&str>) -> Result<Rendered> {
    render_spots_with(plan, &GpuOptions::for_backend(backend))
}

/// `render_spots` on the process's shared device for `opts`.
pub fn render_spots_with(plan: &Plan, opts: &GpuOptions) -> Result<Rendered> {
    GpuDevice::shared(opts)?.render_spots(plan)
}

/// The GPU engine's finished image (`engine::render_finished_async` with `GpuEngine`) on the
/// process's shared device for `opts`: the spots with the amorphous background of `-stol`
/// added on the device, reporting finished rows to `control` and stopping at its cancel flag
/// (checked as each tile's pixels come back).
pub fn render_on_gpu(plan: &Plan, opts: &GpuOptions, control: &RenderControl) -> Result<RenderedImage> {
    GpuDevice::shared(opts)?.render_finished(plan, control)
}

/// Whether the adapter `backend` selects offers a pipeline cache (`PIPELINE_CACHE`), which a
/// device opened with a cache folder keeps on disk (see `cache`). Opens no device.
pub fn adapter_keeps_pipelines(backend: Option<&str>) -> Result<bool> {
    context::adapter_offers_pipeline_cache(&GpuOptions::for_backend(backend))
}

/// `-engine auto`'s test of an adapter: a software adapter (lavapipe/llvmpipe, WARP) runs on
/// the same CPU cores as the CPU engine and much slower (docs/performance.md), so auto declines
/// it; `-engine gpu` still uses it.
pub fn hardware_only(info: &wgpu::AdapterInfo) -> Result<()> {
    if context::is_software(info) {
        return Err(crate::error::Error::Gpu(format!(
            "only a software adapter ({}) is available, slower than the CPU engine (-engine gpu uses it anyway)",
            info.name
        )));
    }
    Ok(())
}

/// `-engine auto`: `render_on_gpu` on a hardware adapter only (`hardware_only`).
pub fn render_if_hardware(plan: &Plan, opts: &GpuOptions, control: &RenderControl) -> Result<RenderedImage> {
    GpuDevice::shared_if(opts, &hardware_only)?.render_finished(plan, control)
}

impl GpuDevice {
    /// Renders `plan`'s spots on this device (no background, as `cpu::render_spots`), its
    /// structure factors kept in the device's own grid slot (the last grid rendered this way).
    pub fn render_spots(&self, plan: &Plan) -> Result<Rendered> {
        pollster::block_on(self.render_spots_async(plan))
    }

    /// `render_spots` as a future.
    pub async fn render_spots_async(&self, plan: &Plan) -> Result<Rendered> {
        Ok(render_gathered(self, &self.context().grid, plan, &RenderControl::default(), false, None).await?.rendered)
    }

    /// The finished image on this device (`engine::render_finished_async` with `GpuEngine`): spots
    /// and background, rows reported to `control`. Blocks on `render_finished_async`.
    pub fn render_finished(&self, plan: &Plan, control: &RenderControl) -> Result<RenderedImage> {
        pollster::block_on(self.render_finished_async(plan, control))
    }

    /// `render_finished` as a future: nothing in it blocks but the native device polls that
    /// wait for submitted work (`GpuContext::wait`, `map_read_async`), which in a browser
    /// return at once.
    pub async fn render_finished_async(&self, plan: &Plan, control: &RenderControl) -> Result<RenderedImage> {
        render_gathered(self, &self.context().grid, plan, control, true, None).await
    }

    /// `render_finished_async` with the structure factors kept in `grids` (a simulator's own).
    pub(crate) async fn render_keeping(&self, grids: &GridSlot, plan: &Plan, control: &RenderControl) -> Result<RenderedImage> {
        render_gathered(self, grids, plan, control, true, None).await
    }

    /// `-trace_pixel` on this device (`trace_pixel_with`).
    pub fn trace_pixel(&self, plan: &Plan, fast: usize, slow: usize, tracer: &mut dyn Tracer) -> Result<()> {
        check_trace_pixel(plan, fast, slow)?;
        let ctx = self.context();
        // a grid slot of the trace's own: the one pixel uploads its grid and keeps it from no one
        let slots = pollster::block_on(async {
            let job = Job::new(ctx, &GridSlot::default(), plan, self.binding_cap(), trace::slots(plan)).await?;
            let interpolate = interpolation_at(&job, plan, slow * plan.fpixels + fast).await?;
            job.trace(fast, slow, interpolate).await
        })?;
        trace::emit(plan, &slots, tracer);
        Ok(())
    }
}

/// Where a render's tiles go: into one image on the device (`gather`), or back to the host
/// tile by tile (an image larger than one storage binding; tests compare the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gathering {
    OnDevice,
    OnHost,
}

/// A render of `plan` on `device` through the engine's parts (`GpuEngine`): the finished image
/// when `with_background`, else the spots alone; its structure factors kept in `grids`, the
/// tiles gathered where `forced` says (None: on the device when the image fits one storage
/// binding, as the noise and background stages bind it whole too).
async fn render_gathered(device: &GpuDevice, grids: &GridSlot, plan: &Plan, control: &RenderControl, with_background: bool, forced: Option<Gathering>) -> Result<RenderedImage> {
    let engine = GpuEngine { device, grids, gathering: forced };
    if with_background {
        nanobragg_core::engine::render_finished_async(&engine, plan, control).await
    } else {
        nanobragg_core::engine::render_spots_async(&engine, plan, control).await
    }
}

/// The GPU engine's parts of a render (`nanobragg_core::engine::Engine`): the spots tile by
/// tile, the background of `-stol` added on the device, the image read back once finished.
pub struct GpuEngine<'a> {
    device: &'a GpuDevice,
    /// where the plan's structure factors are kept on the device
    grids: &'a GridSlot,
    /// where the tiles go (None: on the device when the image fits one storage binding, as the
    /// noise and background stages bind it whole too)
    gathering: Option<Gathering>,
}

/// The GPU engine's spots before the background: the image on the device (gathered there) or
/// on the host (read back tile by tile), with what the finished render reports.
pub struct GpuSpots {
    ctx: std::sync::Arc<GpuContext>,
    why: String,
    /// whether the image fits one storage binding
    fits: bool,
    /// the image read back tile by tile (`Gathering::OnHost`), else empty until `finish`
    image: Vec<f32>,
    device: Option<DeviceImage>,
    /// background the host added in f64 where the device declined its table, to add to the
    /// device image once it is read back
    on_host: Option<Vec<f64>>,
    omega_sum: f64,
    switched_at: Option<usize>,
    kernel_seconds: Option<f64>,
}

impl nanobragg_core::engine::Engine for GpuEngine<'_> {
    type Spots = GpuSpots;
    type Finished = RenderedImage;

    async fn spots(&self, plan: &Plan, control: &RenderControl) -> Result<GpuSpots> {
        let ctx = self.device.context();
        let fits = (plan.pixels() as u64 * 4) <= ctx.binding_limit(None);
        let gathering = self.gathering.unwrap_or(if fits { Gathering::OnDevice } else { Gathering::OnHost });
        let job = Job::new(ctx, self.grids, plan, self.device.binding_cap(), 1).await?;
        let rect = Rect::roi(plan);
        let interpolate = plan.interpolation != Interpolation::Nearest;
        let one_shot = plan.interpolation == Interpolation::OneShotSwitch;
        let mut switched_at = None;
        let (image, omega_sum, device) = if gathering == Gathering::OnDevice {
            let gather = ctx.checked_async("preparing the image on the device", gather::Gather::new(ctx, plan.fpixels, plan.spixels, rect, job.tile_output())).await?;
            let mut rows = 0;
            job.render_rect_on_device(plan, rect, 0, interpolate, &gather, true, &mut |done| {
                for _ in rows..done / rect.width.max(1) {
                    control.row_done();
                }
                rows = done / rect.width.max(1);
                control.stop_if_cancelled()
            })
            .await?;
            let (omega_sum, left_grid) = gather.totals(ctx).await?;
            if one_shot && let Some(first) = left_grid {
                // as below, on the device
                let switch_pixel = rect.image_index(plan, first);
                job.render_rect_on_device(plan, rect, switch_pixel + 1, false, &gather, false, &mut |_| control.stop_if_cancelled()).await?;
                switched_at = Some(switch_pixel);
            }
            (Vec::new(), omega_sum, Some(gather.into_image()))
        } else {
            let mut image = vec![0.0f32; plan.pixels()];
            let mut omega_sum = 0.0f64;
            let mut left_grid = None;
            job.render_rect(plan, rect, 0, interpolate, &mut |i, p| {
                image[rect.image_index(plan, i)] = p.value;
                omega_sum += p.omega_sum as f64;
                if p.left_grid != 0 && left_grid.is_none() {
                    left_grid = Some(i);
                }
                if (i + 1) % rect.width == 0 {
                    control.row_done();
                    control.stop_if_cancelled()?;
                }
                Ok(())
            })
            .await?;
            if one_shot && let Some(first) = left_grid {
                // as cpu::render_spots: pixels up to the one where C's shared switch flips are
                // final; every later pixel is rendered again with nearest-neighbour F (its solid
                // angles, and so the omega sum, do not change)
                let switch_pixel = rect.image_index(plan, first);
                job.render_rect(plan, rect, switch_pixel + 1, false, &mut |i, p| {
                    image[rect.image_index(plan, i)] = p.value;
                    control.stop_if_cancelled()
                })
                .await?;
                switched_at = Some(switch_pixel);
            }
            (image, omega_sum, None)
        };
        ctx.keep_pipelines();
        let kernel_seconds = job.kernel_seconds();
        drop(job);
        Ok(GpuSpots { ctx: ctx.clone(), why: self.device.variant().to_string(), fits, image, device, on_host: None, omega_sum, switched_at, kernel_seconds })
    }

    /// On the device, in place, where the image is there (or, gathered on the host, fits one
    /// binding: uploaded for it); else, or where the device declines the table, the host's
    /// f64 stage (the CPU engine's), added once the image is on the host.
    async fn add_background(&self, plan: &Plan, bg: &Background, spots: &mut GpuSpots, _: &RenderControl) -> Result<()> {
        if spots.device.is_none() {
            if !spots.fits {
                // the background stage binds the whole image, which does not fit one binding
                log::info!("the image is larger than one GPU storage binding: the -stol background is added on the CPU");
                spots.on_host = Some(nanobragg_core::engine::background::render(&bg.geometry, &bg.table, &bg.scale, false).image);
                return Ok(());
            }
            // only where a test forces the host gathering; the image goes back to the host in
            // `finish`, as the one gathered on the device
            spots.device = Some(DeviceImage::upload(&spots.ctx, &spots.image, plan.fpixels, plan.spixels)?);
        }
        let device = spots.device.as_ref().expect("the image is on the device");
        spots.on_host = background::add_background(bg, device).await?;
        Ok(())
    }

    async fn finish(&self, plan: &Plan, mut spots: GpuSpots) -> Result<RenderedImage> {
        let mut image = match &spots.device {
            // the finished float image is the one image read back
            Some(device) => device.read_async().await?,
            None => std::mem::take(&mut spots.image),
        };
        if let Some(host) = &spots.on_host {
            image.iter_mut().zip(host).for_each(|(v, b)| *v = (f64::from(*v) + b) as f32);
            if let Some(device) = &spots.device {
                // and the device image made the finished one again for the noise stages
                device.write(&image)?;
            }
        }
        // a device image that only a test's host gathering put there is not kept
        let device = if self.gathering == Some(Gathering::OnHost) { None } else { spots.device };
        let mut stats = cpu::statistics(plan, &image);
        stats.omega_sum = spots.omega_sum;
        let ctx = &spots.ctx;
        let rendered = Rendered {
            image,
            stats,
            interpolation_switched_at: spots.switched_at,
            engine: EngineUsed::Gpu { adapter: ctx.adapter_name().to_string(), backend: format!("{}, {}", ctx.backend_name(), spots.why) },
            kernel_seconds: spots.kernel_seconds,
        };
        Ok(RenderedImage { rendered, device })
    }
}

/// `-trace_pixel` on the GPU: renders the one pixel with a debug buffer and reports the same
/// named quantities, in the same order, as the CPU engine's tracer. On the process's shared
/// device for the options (`trace_pixel_with`), the one a render with the same options ran on,
/// so the trace follows that render's precision variant (a forced one included).
pub fn trace_pixel(plan: &Plan, fast: usize, slow: usize, backend: Option<&str>, tracer: &mut dyn Tracer) -> Result<()> {
    trace_pixel_with(plan, fast, slow, &GpuOptions::for_backend(backend), tracer)
}

pub fn trace_pixel_with(plan: &Plan, fast: usize, slow: usize, opts: &GpuOptions, tracer: &mut dyn Tracer) -> Result<()> {
    check_trace_pixel(plan, fast, slow)?;
    GpuDevice::shared(opts)?.trace_pixel(plan, fast, slow, tracer)
}

fn check_trace_pixel(plan: &Plan, fast: usize, slow: usize) -> Result<()> {
    if fast >= plan.fpixels || slow >= plan.spixels {
        return Err(crate::error::Error::Usage(format!("trace pixel ({slow}, {fast}) is outside the detector")));
    }
    Ok(())
}

/// Whether tricubic interpolation is on when `pixel` starts: with -c_parity's one-shot
/// switch, only if no rendered pixel before it left the grid (found by rendering the ROI rows
/// up to its row).
async fn interpolation_at(job: &Job<'_>, plan: &Plan, pixel: usize) -> Result<bool> {
    match plan.interpolation {
        Interpolation::Nearest => Ok(false),
        Interpolation::PerTerm => Ok(true),
        Interpolation::OneShotSwitch => {
            let roi = Rect::roi(plan);
            let rows = Rect { height: (pixel / plan.fpixels + 1).saturating_sub(roi.y0).min(roi.height), ..roi };
            let mut switched = false;
            job.render_rect(plan, rows, 0, true, &mut |i, p| {
                switched |= p.left_grid != 0 && rows.image_index(plan, i) < pixel;
                Ok(())
            })
            .await?;
            Ok(!switched)
        }
    }
}
