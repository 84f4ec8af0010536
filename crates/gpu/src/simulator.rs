//! The simulator as a library: built once from an experiment (structure factors, detector,
//! plan, and on a GPU the device it holds, with its compiled pipelines and pooled buffers, and
//! its own structure factors uploaded there once), then rendering frame after frame,
//! recomputing only what a frame changes.
//!
//! ```no_run
//! # fn main() -> nanobragg_core::error::Result<()> {
//! use nanobragg_core::params::ExperimentParams;
//! use nanobragg_gpu::{EngineChoice, GpuOptions, Simulator};
//! // -cell 50 50 50 90 90 90 -default_F 10 -N 5 -detpixels 64 -osc 1, without a command line
//! let mut params = ExperimentParams::default();
//! params.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])?.default_f(10.0)?.n_cells(5)?.detpixels(64)?.osc(1.0)?;
//! let mut warnings = Vec::new(); // what the set-up has to say, for the caller to show
//! let exp = nanobragg_core::model::resolve(&params, &Default::default(), &Default::default(), &mut warnings)?;
//! let mut sim = Simulator::new(exp, EngineChoice::Auto, GpuOptions::default());
//! for k in 0..10 {
//!     let frame = sim.frame().with_phi_deg(k as f64).numbered(k + 1);
//!     let image = &sim.render(&frame, &Default::default())?.image;
//! }
//! # Ok(()) }
//! ```
//!
//! On a device of its own (freed when the last simulator holding it is dropped), shared by
//! simulators of different structure factors, each keeping its grid there:
//!
//! ```no_run
//! # fn main() -> nanobragg_core::error::Result<()> {
//! # use nanobragg_gpu::{EngineChoice, GpuDevice, GpuOptions, Simulator};
//! # let (exp_a, exp_b): (nanobragg_core::model::Experiment, nanobragg_core::model::Experiment) = todo!();
//! let device = GpuDevice::open(&GpuOptions::default())?;
//! let mut a = Simulator::with_device(exp_a, EngineChoice::Gpu, device.clone());
//! let mut b = Simulator::with_device(exp_b, EngineChoice::Gpu, device);
//! for k in 0..10 {
//!     let image_a = a.render(&a.frame().with_phi_deg(k as f64), &Default::default())?;
//!     let image_b = b.render(&b.frame().with_phi_deg(k as f64), &Default::default())?;
//! }
//! # Ok(()) }
//! ```
//!
//! What a frame may change is `Frame`'s fields; everything else is fixed at construction,
//! except through `set_experiment`, which turns the simulator to another experiment of the
//! same input files (a shot of a shot list: any flag but the inputs changed) and rebuilds the
//! plan around the structure factors read once. The CLI (`app`) is this API's first user: a
//! single image is the one-frame case.

use crate::context::GridSlot;
use crate::{DetectorResponse, Recorded};
use crate::control::RenderControl;
use crate::{GpuDevice, GpuOptions};
use crate::engine::{self, EngineChoice, RenderedImage};
use crate::error::Result;
use crate::model::Experiment;
use crate::params::RTD;
use nanobragg_core::engine::EngineUsed;
use nanobragg_core::engine::plan::Plan;

/// What distinguishes one frame from another. Grows with what datasets vary (orientation,
/// crystal size, fluence, spectrum); each new field is applied in `Frame::apply`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// the frame number (file names, seeds, reports)
    pub number: u64,
    /// φ at the start of the frame's oscillation (radians)
    pub phi0: f64,
    /// the same start in degrees, as typed or derived (`-phi` of an equivalent single run)
    pub phi_start_deg: f64,
    /// noise seed: the C `seed` variable (`-seed N` sets −N)
    pub seed: i64,
    /// the frame number the default mode's noise counters hold with `seed`: a series frame's
    /// own number (so `-first_frame k -frames 1` reproduces frame k), but 1 for a shot, whose
    /// seed is its own (`dataset::series::shot_noise_seed`) and whose printed line, run alone,
    /// renders frame 1
    pub noise_counter: u64,
}

impl Frame {
    /// This frame starting at `deg` degrees (converted as `-phi` converts its value).
    pub fn with_phi_deg(self, deg: f64) -> Frame {
        Frame { phi0: deg / RTD, phi_start_deg: deg, ..self }
    }

    pub fn numbered(self, number: u64) -> Frame {
        Frame { number, noise_counter: number, ..self }
    }

    /// Puts the frame's values into `exp` (what the plan, the headers and the noise read).
    pub fn apply(&self, exp: &mut Experiment) {
        exp.sampling.phi0 = self.phi0;
        exp.response.seed = self.seed;
    }

    /// Whether moving from `self` to `next` changes the orientation table of the plan.
    fn moves_crystal(&self, next: &Frame) -> bool {
        self.phi0.to_bits() != next.phi0.to_bits()
    }
}

/// The device a simulator renders on: the one it holds, else (and after the shared one was
/// lost) the process's shared device for `gpu`, then held. `hardware_only`: `-engine auto`'s
/// test (`crate::hardware_only`), failing on a software adapter.
fn gpu_device(held: &mut Option<GpuDevice>, given: bool, gpu: &GpuOptions, hardware_only: bool) -> Result<GpuDevice> {
    match held {
        Some(device) if given || !device.is_lost() => {
            if hardware_only {
                crate::hardware_only(device.info())?;
            }
            Ok(device.clone())
        }
        _ => {
            let accept: &dyn Fn(&wgpu::AdapterInfo) -> Result<()> = if hardware_only { &crate::hardware_only } else { &|_| Ok(()) };
            Ok(held.insert(GpuDevice::shared_if(gpu, accept)?).clone())
        }
    }
}

/// One experiment, rendered as many frames as asked, in one process.
pub struct Simulator {
    exp: Experiment,
    plan: Plan,
    engine: EngineChoice,
    /// backend and forced kernel variants for the GPU engine (`-backend`, `-gpu_precision`),
    /// for the shared device `new` takes
    gpu: GpuOptions,
    /// the GPU device: the one given (`with_device`), or the process's shared one for `gpu`,
    /// taken by the first render on the GPU
    device: Option<GpuDevice>,
    /// whether `device` was given (then kept even when lost: the caller's to replace)
    device_given: bool,
    /// this simulator's structure factors on `device`, uploaded by its first GPU render only
    grid: GridSlot,
    /// the frame `exp` and `plan` currently describe
    current: Frame,
}

impl Simulator {
    /// Builds the plan once. Nothing is rendered and no device is opened yet: the GPU device
    /// is the process's shared one for `gpu` (`GpuDevice::shared`, the CLI's), taken by the
    /// first render that needs it and held, with its compiled pipelines and buffer pool, for
    /// every later frame.
    pub fn new(exp: Experiment, engine: EngineChoice, gpu: GpuOptions) -> Simulator {
        Simulator::build(exp, engine, gpu, None)
    }

    /// `new` on a device the caller opened (`GpuDevice::open`), held until the simulator is
    /// dropped; other simulators may hold the same device, each with its own structure
    /// factors on it. With `EngineChoice::Auto`, a software adapter renders on the CPU instead.
    pub fn with_device(exp: Experiment, engine: EngineChoice, device: GpuDevice) -> Simulator {
        let gpu = GpuOptions { binding_limit: device.binding_cap(), ..GpuOptions::default() };
        Simulator::build(exp, engine, gpu, Some(device))
    }

    fn build(exp: Experiment, engine: EngineChoice, gpu: GpuOptions, device: Option<GpuDevice>) -> Simulator {
        let plan = Plan::new(&exp);
        let current = Frame {
            number: 1,
            phi0: exp.sampling.phi0,
            phi_start_deg: exp.sampling.phi0 * RTD,
            seed: exp.response.seed,
            noise_counter: 1,
        };
        let device_given = device.is_some();
        Simulator { exp, plan, engine, gpu, device, device_given, grid: GridSlot::default(), current }
    }

    /// The GPU device the simulator holds: the one given, or the shared one after a GPU render.
    pub fn device(&self) -> Option<&GpuDevice> {
        self.device.as_ref()
    }

    /// The experiment as the current frame sees it.
    pub fn experiment(&self) -> &Experiment {
        &self.exp
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The frame the simulator is set up for (at first: the experiment as built, frame 1).
    pub fn frame(&self) -> Frame {
        self.current
    }

    /// Sets up `frame`: its values into the experiment, and the plan's orientation table
    /// (lattice vectors per φ step × mosaic domain, and in c-parity the carry-over table,
    /// reset per frame as in separate nanoBragg.c processes) worked out again only when the
    /// crystal moved. Structure factors, detector and sources stay as they are.
    pub fn set_frame(&mut self, frame: &Frame) {
        let moved = self.current.moves_crystal(frame);
        frame.apply(&mut self.exp);
        if moved {
            self.plan.set_rotation(&self.exp);
        }
        self.current = *frame;
    }

    /// Sets up a new experiment of the same inputs (a shot of a shot list: any flag changed
    /// but the input files, `dataset::shots`), keeping the structure factors read once and the
    /// plan's grid built from them; `exp` comes without them (`model::resolve_reusing`). The
    /// rest of the plan is built again from `exp`: detector, sources, scale, and the
    /// orientation table (φ steps × mosaic domains), in c-parity also the carry-over table and
    /// the term that sees it, which scans the detector for the first rendered sub-pixel. That
    /// is the cost of a shot beyond its render: the same as a series frame's rotation table plus
    /// work linear in sources and pixels, never reading or copying the structure factors. On a
    /// GPU the device, compiled pipelines and buffer pool stay (a shot that changes the kernel
    /// variant, e.g. the crystal shape, compiles it once and keeps it).
    pub fn set_experiment(&mut self, mut exp: Experiment, number: u64) {
        let kept = self.exp.crystal.structure_factors.take();
        // built without the structure factors, so that the grid is not copied again
        exp.crystal.structure_factors = None;
        let mut plan = Plan::new(&exp);
        plan.grid = self.plan.grid.take();
        exp.crystal.structure_factors = kept;
        // a shot: its noise is keyed by its own seed and counted as frame 1 (`Frame::noise_counter`)
        self.current = Frame { number, phi0: exp.sampling.phi0, phi_start_deg: exp.sampling.phi0 * RTD, seed: exp.response.seed, noise_counter: 1 };
        self.exp = exp;
        self.plan = plan;
    }

    /// Renders `frame` (stopped through `control`). With `-engine auto`, the engine the first
    /// frame ends up on is kept for the rest, so a missing GPU is reported once. Blocks on
    /// `render_async`.
    pub fn render(&mut self, frame: &Frame, control: &RenderControl) -> Result<RenderedImage> {
        pollster::block_on(self.render_async(frame, control))
    }

    /// `render` as a future: on a device the caller gave (`with_device`, opened with
    /// `GpuDevice::open_async`), nothing in it blocks but the native device polls that wait for
    /// submitted work, which in a browser return at once; the shared device is opened
    /// blocking (a native face's convenience).
    pub async fn render_async(&mut self, frame: &Frame, control: &RenderControl) -> Result<RenderedImage> {
        self.set_frame(frame);
        let (plan, grid) = (&self.plan, &self.grid);
        let (held, given, gpu) = (&mut self.device, self.device_given, &self.gpu);
        let rendered = engine::render_choosing(plan, self.engine, control, async |hardware_only| {
            gpu_device(held, given, gpu, hardware_only)?.render_keeping(grid, plan, control).await
        })
        .await?;
        if self.engine == EngineChoice::Auto {
            self.engine = match rendered.engine {
                EngineUsed::Cpu => EngineChoice::Cpu,
                EngineUsed::Gpu { .. } => EngineChoice::Gpu,
            };
        }
        Ok(rendered)
    }

    /// Renders `frame` and records it as the detector does (`DetectorResponse::record`): the
    /// photons, the integer image and, when the experiment asks for one, the noise image.
    pub fn record(&mut self, frame: &Frame, control: &RenderControl) -> Result<Recorded> {
        pollster::block_on(self.record_async(frame, control))
    }

    /// `record` as a future (as `render_async`).
    pub async fn record_async(&mut self, frame: &Frame, control: &RenderControl) -> Result<Recorded> {
        let rendered = self.render_async(frame, control).await?;
        self.response().record_async(rendered, frame).await
    }

    /// The detector response of the experiment as it stands, on this simulator's GPU: for a
    /// thread that records what `render` returns (a series' writer).
    pub fn response(&self) -> DetectorResponse {
        DetectorResponse::new(&self.exp, self.gpu.clone())
    }

    /// The backend asked for (`-backend`), for diagnostics that render again.
    pub fn backend(&self) -> Option<&str> {
        self.gpu.backend.as_deref()
    }

    /// Forgets the structure factors kept on the device, so that the next render uploads them.
    #[cfg(test)]
    pub(crate) fn forget_structure_grid(&self) {
        self.grid.forget();
    }

    /// The simulator's parts without the large tables (structure factors), for the thread that
    /// encodes frames: what encoding reads (detector, beam, sampling, outputs; the plan's
    /// pixel layout) is all there.
    pub fn encoding_parts(&mut self) -> (Experiment, Plan) {
        let sf = self.exp.crystal.structure_factors.take();
        let grid = self.plan.grid.take();
        let parts = (self.exp.clone(), self.plan.clone());
        self.exp.crystal.structure_factors = sf;
        self.plan.grid = grid;
        parts
    }
}
