//! The GPU device a caller opens (`GpuDevice`): instance, adapter, device, queue and the
//! compiled kernels, shared by every simulator and render that holds the device and freed when
//! the last holder drops it. Also the one place that turns wgpu's failure signals (request
//! errors, error scopes, uncaptured errors, device loss, failed maps) into `Error::Gpu`.
//!
//! Nothing here reads the environment or writes files unless told to: what `WGPU_BACKEND`,
//! wgpu's debugging variables and the cache folder say reaches it through `GpuOptions`, filled
//! by the face (the CLI's `gpu_env`). Everything that waits for the device is `async`: opening
//! it (`GpuDevice::open_async`), error scopes (`checked_async`), compiling pipelines, waiting for
//! submitted work (`wait`) and read-backs (`map_read_async`), so that a browser face can await
//! them; the native faces block only at the crate's public entry points (`pollster`; the test
//! `only_entry_points_block` keeps it so). Natively the awaited calls poll the device until the
//! work is done (they return answered); in a browser the poll returns at once and the browser's
//! answer wakes the future.

use super::cache::DiskPipelineCache;
use super::shader::{Fetch, Precision, SUBGROUP_CHUNK, kernel_source};
use super::{selftest, variant};
use super::layout::binding;
use nanobragg_core::engine::plan::{Interpolation, Plan};
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What to open a GPU device with. `Default` = every backend, native f64 when the adapter has
/// it, the adapter's own binding limit, wgpu's default flags, and nothing kept on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// `vulkan`, `metal`, `dx12`, `gl` or `auto` (as `-backend`)
    pub backend: Option<String>,
    /// force a precision variant (`-gpu_precision f64|df`) instead of the one measured
    /// fastest on the adapter (`variant`)
    pub precision: Option<Precision>,
    /// force a lattice-fetch variant instead of choosing by adapter features and workload
    pub fetch: Option<Fetch>,
    /// cap on the bytes of one storage binding, below the device's own limit: forces the
    /// tiling and the grid split to happen on small jobs (tests, constrained devices)
    pub binding_limit: Option<u64>,
    /// which adapter (`-gpu_index`); None: the one wgpu prefers (high performance)
    pub adapter: Option<AdapterChoice>,
    /// the folder for the driver's pipeline cache and the kernel-variant record (`cache`,
    /// `variant`); None: nothing is read from or written to disk, and an unforced precision
    /// is measured again on every open. The CLI passes `$NANOBRAGG_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/nanobragg`, else `~/.cache/nanobragg` (`off`: None).
    pub cache_dir: Option<PathBuf>,
    /// the backends `auto` (or no backend) stands for; None: all of them. The CLI passes
    /// `WGPU_BACKEND`.
    pub auto_backends: Option<wgpu::Backends>,
    /// wgpu's instance flags (validation, debug labels); None: wgpu's defaults for the build.
    /// The CLI passes them as `WGPU_VALIDATION`, `WGPU_DEBUG` and the like set them.
    pub instance_flags: Option<wgpu::InstanceFlags>,
}

/// `-gpu_index`: the Nth adapter of the backends asked for, or the process's local rank
/// modulo the number of adapters (`auto`), so that the ranks on a node spread over its GPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    Index(usize),
    LocalRank(u64),
}

impl GpuOptions {
    /// Defaults except for the backend (`-backend`).
    pub fn for_backend(backend: Option<&str>) -> GpuOptions {
        GpuOptions { backend: backend.map(str::to_string), ..GpuOptions::default() }
    }
}

/// What tells one device of `GpuDevice::shared` from another: the options but the binding
/// limit (a cap each holder applies to its own jobs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ContextKey {
    backends: wgpu::Backends,
    precision: Option<Precision>,
    fetch: Option<Fetch>,
    adapter: Option<AdapterChoice>,
    cache_dir: Option<PathBuf>,
    instance_flags: Option<wgpu::InstanceFlags>,
}

impl ContextKey {
    fn of(opts: &GpuOptions) -> Result<ContextKey> {
        Ok(ContextKey {
            backends: backends_for(opts)?,
            precision: opts.precision,
            fetch: opts.fetch,
            adapter: opts.adapter,
            cache_dir: opts.cache_dir.clone(),
            instance_flags: opts.instance_flags,
        })
    }
}

/// Values of the kernel's overridable constants (`layout::overrides`).
type Constants = Vec<(&'static str, f64)>;

/// An open GPU device and what is kept on it for later work: compiled pipelines, pooled
/// buffers, the transfer counts, and one structure-factor grid for renders that bring no
/// grid slot of their own. Cheap to clone (the device itself is shared); simulators hold one,
/// and the device with everything on it is freed when the last clone, simulator and device
/// image holding it are dropped.
///
/// ```no_run
/// # fn main() -> nanobragg_core::error::Result<()> {
/// use nanobragg_gpu::{EngineChoice, GpuDevice, GpuOptions, Simulator};
/// let device = GpuDevice::open(&GpuOptions::default())?;
/// # let (exp_a, exp_b): (nanobragg_core::model::Experiment, nanobragg_core::model::Experiment) = todo!();
/// // two simulators on one device, each with its structure factors kept on it
/// let mut a = Simulator::with_device(exp_a, EngineChoice::Gpu, device.clone());
/// let mut b = Simulator::with_device(exp_b, EngineChoice::Gpu, device);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GpuDevice {
    context: Arc<GpuContext>,
    /// `GpuOptions::binding_limit` of this holder
    binding_cap: Option<u64>,
    /// which precision variant the device runs and why (the report's backend line)
    why: Arc<str>,
}

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuDevice({}, {})", self.context.info.name, self.why)
    }
}

/// The devices `GpuDevice::shared` opened, kept for the process's life.
static SHARED: Mutex<Vec<(ContextKey, GpuDevice)>> = Mutex::new(Vec::new());

/// Numbers the devices opened, so that a grid kept for one is never bound on another.
static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

impl GpuDevice {
    /// Opens a device of its own for `opts` (blocking on `open_async`): the adapter found, the
    /// precision variant forced or chosen (`variant`; with `cache_dir` the choice is read from
    /// and recorded in its record), the variant self-tested unless a record says it passed.
    pub fn open(opts: &GpuOptions) -> Result<GpuDevice> {
        pollster::block_on(GpuDevice::open_async(opts))
    }

    /// `open`, but the adapter found must pass `accept` first (`open_if_async`): with
    /// `crate::hardware_only`, `-engine auto`'s device, declined without opening anything
    /// on a software adapter.
    pub fn open_if(opts: &GpuOptions, accept: &dyn Fn(&wgpu::AdapterInfo) -> Result<()>) -> Result<GpuDevice> {
        pollster::block_on(GpuDevice::open_if_async(opts, accept))
    }

    /// `open`, as a future (a browser face awaits it; see the crate docs for what still blocks).
    pub async fn open_async(opts: &GpuOptions) -> Result<GpuDevice> {
        GpuDevice::open_if_async(opts, &|_| Ok(())).await
    }

    /// `open_async`, but the adapter found must pass `accept` first, before any device is
    /// opened (a declined adapter costs no device and no kernel compilation).
    pub async fn open_if_async(opts: &GpuOptions, accept: &dyn Fn(&wgpu::AdapterInfo) -> Result<()>) -> Result<GpuDevice> {
        let key = ContextKey::of(opts)?;
        let adapter = find_adapter(&key).await?;
        accept(&adapter.get_info())?;
        let (context, why) = match key.precision {
            Some(precision) => (open_variant(&key, &adapter, precision).await?, format!("{}, forced", precision.name())),
            None => choose_variant(&key, &adapter).await?,
        };
        Ok(GpuDevice { context, binding_cap: opts.binding_limit, why: why.into() })
    }

    /// The process's device for these options, opened on first use (and again after a device
    /// loss) and kept until the process ends: a convenience for the CLI, which opens one device
    /// per run, and for the one-call helpers (`render_with`, `trace_pixel_with`). A library
    /// that wants its device freed opens it with `open` instead.
    pub fn shared(opts: &GpuOptions) -> Result<GpuDevice> {
        GpuDevice::shared_if(opts, &|_| Ok(()))
    }

    /// `shared`, with `accept` as in `open_if_async` (also for a device opened before).
    pub fn shared_if(opts: &GpuOptions, accept: &dyn Fn(&wgpu::AdapterInfo) -> Result<()>) -> Result<GpuDevice> {
        let key = ContextKey::of(opts)?;
        // held while a device is opened, so that parallel first renders share one and a
        // variant is measured once
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        shared.retain(|(_, d)| !d.context.is_lost());
        if let Some((_, found)) = shared.iter().find(|(k, _)| *k == key) {
            accept(&found.context.info)?;
            return Ok(GpuDevice { binding_cap: opts.binding_limit, ..found.clone() });
        }
        let device = pollster::block_on(GpuDevice::open_if_async(opts, accept))?;
        if key.precision.is_none() {
            // the variant chosen is also the device for that variant forced
            let precision = device.context.precision;
            let forced = ContextKey { precision: Some(precision), ..key.clone() };
            if !shared.iter().any(|(k, _)| *k == forced) {
                shared.push((forced, GpuDevice { why: format!("{}, forced", precision.name()).into(), ..device.clone() }));
            }
        }
        shared.push((key, device.clone()));
        Ok(device)
    }

    pub(crate) fn context(&self) -> &Arc<GpuContext> {
        &self.context
    }

    /// The sentence saying which precision variant the device runs and why.
    pub fn variant(&self) -> &str {
        &self.why
    }

    pub fn precision(&self) -> Precision {
        self.context.precision
    }

    pub fn adapter_name(&self) -> &str {
        self.context.adapter_name()
    }

    pub fn backend_name(&self) -> String {
        self.context.backend_name()
    }

    /// A software rasteriser running on the CPU (lavapipe/llvmpipe, WARP), which `-engine auto`
    /// declines.
    pub fn is_software(&self) -> bool {
        is_software(&self.context.info)
    }

    /// Whether the device keeps a pipeline cache on disk (a cache folder was given and the
    /// adapter offers `PIPELINE_CACHE`).
    pub fn keeps_pipelines(&self) -> bool {
        self.context.keeps_pipelines()
    }

    /// What has moved between host and device on this device so far, by every holder.
    pub fn transfers(&self) -> Transfers {
        *self.context.transfers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Largest storage binding a job of this holder may use (the device's, under the
    /// holder's `binding_limit`).
    pub fn binding_limit(&self) -> u64 {
        self.context.binding_limit(self.binding_cap)
    }

    /// `GpuOptions::binding_limit` of this holder.
    pub(crate) fn binding_cap(&self) -> Option<u64> {
        self.binding_cap
    }

    pub(crate) fn info(&self) -> &wgpu::AdapterInfo {
        &self.context.info
    }

    /// Whether wgpu reported the device lost.
    pub fn is_lost(&self) -> bool {
        self.context.is_lost()
    }

    /// A handle on this device that does not keep it open: a face's cache of devices (the
    /// Python package's, shared by its simulators) frees each with its last holder.
    pub fn downgrade(&self) -> WeakGpuDevice {
        WeakGpuDevice { context: Arc::downgrade(&self.context), binding_cap: self.binding_cap, why: self.why.clone() }
    }
}

/// A `GpuDevice` that is not kept open by this handle (`GpuDevice::downgrade`).
#[derive(Clone)]
pub struct WeakGpuDevice {
    context: std::sync::Weak<GpuContext>,
    binding_cap: Option<u64>,
    why: Arc<str>,
}

impl WeakGpuDevice {
    /// The device, while any holder keeps it open and it was not lost.
    pub fn upgrade(&self) -> Option<GpuDevice> {
        let context = self.context.upgrade().filter(|c| !c.is_lost())?;
        Some(GpuDevice { context, binding_cap: self.binding_cap, why: self.why.clone() })
    }
}

impl std::fmt::Debug for WeakGpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeakGpuDevice({})", self.why)
    }
}

/// Whether the adapter `opts` select offers a pipeline cache (`PIPELINE_CACHE`), which a device
/// opened with a cache folder keeps on disk. Opens no device.
pub fn adapter_offers_pipeline_cache(opts: &GpuOptions) -> Result<bool> {
    let adapter = pollster::block_on(find_adapter(&ContextKey::of(opts)?))?;
    Ok(adapter.features().contains(wgpu::Features::PIPELINE_CACHE))
}

/// The backends a `-backend` value selects; `auto` (or none) means `auto_backends` if set,
/// else all of them.
fn backends_for(opts: &GpuOptions) -> Result<wgpu::Backends> {
    Ok(match opts.backend.as_deref().unwrap_or("auto") {
        "auto" => opts.auto_backends.unwrap_or(wgpu::Backends::all()),
        "vulkan" => wgpu::Backends::VULKAN,
        "metal" => wgpu::Backends::METAL,
        "dx12" => wgpu::Backends::DX12,
        "gl" => wgpu::Backends::GL,
        other => {
            return Err(Error::Gpu(format!("unknown backend '{other}' (use vulkan, metal, dx12, gl or auto)")));
        }
    })
}

/// The device of `precision` on `adapter`, self-tested unless the variant record says the
/// variant passed on this adapter, driver and kernel.
async fn open_variant(key: &ContextKey, adapter: &wgpu::Adapter, precision: Precision) -> Result<Arc<GpuContext>> {
    let info = adapter.get_info();
    let tested = key.cache_dir.as_deref().and_then(|dir| variant::recorded(dir, &info)).is_some_and(|(record, _)| record.passed(precision));
    let ctx = Arc::new(GpuContext::create(key, precision, adapter).await?);
    if !tested {
        selftest::require(&ctx).await?;
    }
    Ok(ctx)
}

pub struct GpuContext {
    /// which device this is (`NEXT_DEVICE_ID`)
    id: u64,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub bind_group_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    /// the lattice-fetch variants this context may use
    fetches: Vec<Fetch>,
    /// the kernel in each variant used so far (compiled on first use: a run needs one)
    modules: Mutex<Vec<(Fetch, wgpu::ShaderModule)>>,
    /// one specialisation of the kernel per fetch variant and set of overridable constants
    pipelines: Mutex<Vec<((Fetch, Constants), wgpu::ComputePipeline)>>,
    /// the stages after the spots (noise, PSF, background): one module per shader and one
    /// pipeline per entry point, compiled on first use (see `stage_pipeline`)
    stage_pipelines: Mutex<StagePipelines>,
    /// the driver's compiled pipelines, kept on disk between runs where the adapter allows
    pipeline_cache: Option<DiskPipelineCache>,
    /// a pipeline was compiled since the pipeline cache was last saved
    unsaved_pipelines: AtomicBool,
    pub precision: Precision,
    /// the fetch variant forced by `GpuOptions::fetch`
    forced_fetch: Option<Fetch>,
    pub limits: wgpu::Limits,
    info: wgpu::AdapterInfo,
    /// nanoseconds per timestamp tick, where the device writes timestamps (`TIMESTAMP_QUERY`)
    pub timestamp_period: Option<f32>,
    /// uncaptured errors and device loss reported by wgpu's callbacks
    failures: Arc<Mutex<Vec<String>>>,
    lost: Arc<AtomicBool>,
    /// held by one job at a time (see `exclusive`)
    gate: Mutex<()>,
    /// buffers of finished jobs, one per role, for the next job to reuse (see `buffer`)
    pool: Mutex<Vec<Pooled>>,
    /// buffers allocated so far (not taken from the pool)
    allocated: std::sync::atomic::AtomicUsize,
    /// bytes moved between host and device so far (`Transfers`)
    transfers: Mutex<Transfers>,
    /// the structure-factor grid of renders that bring no slot of their own (`GridSlot`)
    pub grid: GridSlot,
}

/// A structure-factor grid on the device as f32, split over the kernel's two grid bindings:
/// read-only, so jobs share the buffers (wgpu buffers are handles to one allocation).
#[derive(Clone)]
pub struct DeviceGrid {
    /// the device's id, the grid's `StructureGrid::generation` and the binding limit that
    /// decided the split
    key: (u64, u64, u64),
    pub lo: wgpu::Buffer,
    pub hi: wgpu::Buffer,
    /// the bytes of each part the kernel reads (a part may be a 4-byte placeholder)
    pub lo_bytes: u64,
    pub hi_bytes: u64,
    /// entries in `lo`: where `hi` starts
    pub split: u32,
}

/// The stage shaders' modules by label, and their pipelines by (label, entry point).
#[derive(Default)]
struct StagePipelines {
    modules: Vec<(&'static str, wgpu::ShaderModule)>,
    pipelines: Vec<((&'static str, &'static str), wgpu::ComputePipeline)>,
}

/// A device buffer kept between jobs: its role (label and usage) and the buffer.
pub struct Pooled {
    pub label: &'static str,
    pub usage: wgpu::BufferUsages,
    pub buffer: wgpu::Buffer,
}

impl GpuContext {
    /// The device of the process's shared `GpuDevice` for `opts` (`GpuDevice::shared`).
    pub fn shared(opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        Ok(GpuDevice::shared(opts)?.context)
    }

    async fn create(key: &ContextKey, precision: Precision, adapter: &wgpu::Adapter) -> Result<GpuContext> {
        let has_f64 = adapter.features().contains(wgpu::Features::SHADER_F64);
        if precision == Precision::F64 && !has_f64 {
            return Err(Error::Gpu(format!("adapter {} has no 64-bit float support (SHADER_F64); use -gpu_precision df or auto", adapter.get_info().name)));
        }
        let info = adapter.get_info();
        let can_broadcast = adapter.features().contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= SUBGROUP_CHUNK;
        if key.fetch == Some(Fetch::Subgroup) && !can_broadcast {
            return Err(Error::Gpu(format!("adapter {} has no subgroups of {SUBGROUP_CHUNK} or more invocations", info.name)));
        }
        // the plain variant is always there: interpolating plans and traces need it
        let fetches: Vec<Fetch> = match key.fetch {
            Some(Fetch::Plain) => vec![Fetch::Plain],
            _ if can_broadcast => vec![Fetch::Subgroup, Fetch::Plain],
            _ => vec![Fetch::Plain],
        };
        let mut features = if precision == Precision::F64 { wgpu::Features::SHADER_F64 } else { wgpu::Features::empty() };
        if fetches.contains(&Fetch::Subgroup) {
            features |= wgpu::Features::SUBGROUP;
        }
        // kernel-only timing (`nanobragg bench`, the variant calibration) where offered
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let keep_pipelines = adapter.features().contains(wgpu::Features::PIPELINE_CACHE) && key.cache_dir.is_some();
        if keep_pipelines {
            features |= wgpu::Features::PIPELINE_CACHE;
        }
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("nanobragg"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("could not open the GPU device ({e})")))?;
        let failures = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(AtomicBool::new(false));
        let sink = failures.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
        }));
        let (sink, flag) = (failures.clone(), lost.clone());
        device.set_device_lost_callback(move |reason, message| {
            flag.store(true, Ordering::SeqCst);
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(format!("device lost ({reason:?}): {message}"));
        });
        let timestamp_period = timestamps.then(|| queue.get_timestamp_period());
        let pipeline_cache = match &key.cache_dir {
            Some(dir) if keep_pipelines => DiskPipelineCache::open(&device, &info, dir),
            _ => None,
        };
        let bind_group_layout = bind_group_layout(&device);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("nanobragg"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        Ok(GpuContext {
            id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
            device,
            queue,
            bind_group_layout,
            pipeline_layout,
            fetches,
            modules: Mutex::new(Vec::new()),
            pipelines: Mutex::new(Vec::new()),
            stage_pipelines: Mutex::new(StagePipelines::default()),
            pipeline_cache,
            unsaved_pipelines: AtomicBool::new(false),
            precision,
            forced_fetch: key.fetch,
            limits,
            info,
            timestamp_period,
            failures,
            lost,
            gate: Mutex::new(()),
            pool: Mutex::new(Vec::new()),
            allocated: std::sync::atomic::AtomicUsize::new(0),
            transfers: Mutex::new(Transfers::default()),
            grid: GridSlot::default(),
        })
    }

    /// Whether wgpu reported the device lost (a shared one is then opened again).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Exclusive use of the device until the guard is dropped. wgpu's GL backend panics when a
    /// thread waits more than a second for the GL context while another thread's long
    /// dispatch holds it (seen with parallel renders on llvmpipe GL), so jobs on one context
    /// run one after the other, buffer creation to buffer release. One queue executes them
    /// in turn anyway.
    pub fn exclusive(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fetch variant for `plan` (`tracing`: a trace job). The subgroup broadcast pays off
    /// only from a whole chunk of φ × mosaic terms per (sub-pixel, source) on (it evaluates a
    /// chunk at a time) and its larger kernel takes longer to compile; it does not interpolate
    /// F or trace, so those jobs always get the plain variant, even when the subgroup one is
    /// forced.
    pub fn fetch_for(&self, plan: &Plan, tracing: bool) -> Fetch {
        let can_broadcast = self.fetches.contains(&Fetch::Subgroup);
        if tracing || plan.interpolation != Interpolation::Nearest || !can_broadcast {
            return Fetch::Plain;
        }
        match self.forced_fetch {
            Some(f) => f,
            None if plan.phisteps * plan.domains >= SUBGROUP_CHUNK as usize => Fetch::Subgroup,
            None => Fetch::Plain,
        }
    }

    /// The kernel in variant `fetch` specialised for these overridable constants (compiled on
    /// first use).
    // No lock is held across an await (in a browser another future of the same thread could
    // ask for the lock meanwhile): a pipeline two jobs compiled at once is kept once.
    pub async fn pipeline(&self, fetch: Fetch, constants: &[(&'static str, f64)]) -> Result<wgpu::ComputePipeline> {
        let kept = |cache: &Vec<((Fetch, Vec<(&'static str, f64)>), wgpu::ComputePipeline)>| cache.iter().find(|((f, k), _)| *f == fetch && k == constants).map(|(_, p)| p.clone());
        if let Some(p) = kept(&self.pipelines.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(p);
        }
        let module = self.module(fetch).await?;
        let pipeline = self
            .checked_async("building the render pipeline", async {
                Ok(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some("nanobragg render"),
                    layout: Some(&self.pipeline_layout),
                    module: &module,
                    entry_point: Some("render"),
                    compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
                    cache: self.pipeline_cache.as_ref().map(DiskPipelineCache::cache),
                }))
            })
            .await?;
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = kept(&cache) {
            return Ok(p);
        }
        cache.push(((fetch, constants.to_vec()), pipeline.clone()));
        self.unsaved_pipelines.store(true, Ordering::SeqCst);
        Ok(pipeline)
    }

    /// The pipeline of entry point `entry` of the stage shader `source` (labelled `label`, one
    /// label per shader), with its automatic layout: compiled on first use and kept for the
    /// context's life, so that a series of images compiles each stage once, not once per image
    /// (the noise stages' module alone takes about half a second on lavapipe). A shader that
    /// fails to compile is not kept: the error is reported, as every time it is asked for.
    /// No lock is held across an await (as `pipeline`).
    pub async fn stage_pipeline(&self, label: &'static str, source: &'static str, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        let stages = || self.stage_pipelines.lock().unwrap_or_else(|p| p.into_inner());
        let kept = |stages: &StagePipelines| stages.pipelines.iter().find(|(key, _)| *key == (label, entry)).map(|(_, p)| p.clone());
        if let Some(p) = kept(&stages()) {
            return Ok(p);
        }
        let module = stages().modules.iter().find(|(l, _)| *l == label).map(|(_, m)| m.clone());
        let module = match module {
            Some(m) => m,
            None => {
                let m = self
                    .checked_async(&format!("compiling the {label} shader"), async {
                        Ok(self.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(source.into()) }))
                    })
                    .await?;
                let mut stages = stages();
                if !stages.modules.iter().any(|(l, _)| *l == label) {
                    stages.modules.push((label, m.clone()));
                }
                m
            }
        };
        let pipeline = self
            .checked_async(&format!("building the {entry} pipeline"), async {
                Ok(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: self.pipeline_cache.as_ref().map(DiskPipelineCache::cache),
                }))
            })
            .await?;
        let mut stages = stages();
        if let Some(p) = kept(&stages) {
            return Ok(p);
        }
        stages.pipelines.push(((label, entry), pipeline.clone()));
        if self.pipeline_cache.is_some() {
            self.unsaved_pipelines.store(true, Ordering::SeqCst);
        }
        Ok(pipeline)
    }

    /// The kernel in variant `fetch`, compiled on first use.
    async fn module(&self, fetch: Fetch) -> Result<wgpu::ShaderModule> {
        if !self.fetches.contains(&fetch) {
            return Err(Error::Gpu(format!("the {} kernel is not available on {}", fetch.name(), self.info.name)));
        }
        let modules = || self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = modules().iter().find(|(f, _)| *f == fetch) {
            return Ok(m.clone());
        }
        let module = compile_kernel(&self.device, self.precision, fetch).await?;
        let mut modules = modules();
        if let Some((_, m)) = modules.iter().find(|(f, _)| *f == fetch) {
            return Ok(m.clone());
        }
        modules.push((fetch, module.clone()));
        Ok(module)
    }

    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    pub fn backend_name(&self) -> String {
        format!("{:?}", self.info.backend)
    }

    pub fn keeps_pipelines(&self) -> bool {
        self.pipeline_cache.is_some()
    }

    /// Stores newly compiled pipelines for later runs (a no-op without a pipeline cache or
    /// when no pipeline was compiled since the last save).
    pub fn keep_pipelines(&self) {
        if let Some(cache) = &self.pipeline_cache
            && self.unsaved_pipelines.swap(false, Ordering::SeqCst)
        {
            cache.save();
        }
    }

    /// A buffer of at least `size` bytes for this role: the one a previous job gave back when
    /// it is large enough, else a new one. Jobs reuse the device's memory this way instead of
    /// allocating (and on a real GPU, clearing) every buffer again.
    pub fn buffer(&self, label: &'static str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = pool.iter().position(|p| p.label == label && p.usage == usage && p.buffer.size() >= size) {
            return pool.swap_remove(i).buffer;
        }
        self.allocated.fetch_add(1, Ordering::Relaxed);
        self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: size.max(4), usage, mapped_at_creation: false })
    }

    /// How many buffers jobs on this context have allocated rather than reused.
    #[cfg(test)]
    pub fn buffers_allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Keeps `buffers` for later jobs (one per role: a larger one replaces a smaller).
    pub fn give_back(&self, buffers: impl IntoIterator<Item = Pooled>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for b in buffers {
            match pool.iter_mut().find(|p| p.label == b.label && p.usage == b.usage) {
                Some(p) if p.buffer.size() < b.buffer.size() => *p = b,
                Some(_) => {}
                None => pool.push(b),
            }
        }
    }


    /// Largest storage binding a job may use.
    pub fn binding_limit(&self, cap: Option<u64>) -> u64 {
        let device = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        cap.map_or(device, |c| c.min(device))
    }

    /// Runs `work` inside validation and out-of-memory error scopes and reports whatever they,
    /// the uncaptured-error handler or the device-lost callback caught, as one `Error::Gpu`
    /// (the scopes are pushed before `work` starts: an async block does nothing until first
    /// polled). There is no blocking twin: the render path awaits, and only the public entry
    /// points block (`pollster`), for native faces.
    pub async fn checked_async<T>(&self, what: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work.await;
        let validation = validation.pop().await;
        let oom = oom.pop().await;
        let caught: Vec<String> = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let mut all: Vec<String> = oom.into_iter().chain(validation).map(|e| e.to_string()).collect();
            all.append(&mut failures);
            all
        };
        if !caught.is_empty() {
            return Err(Error::Gpu(format!("{what} failed on {}: {}", self.info.name, caught.join("; "))));
        }
        result
    }

    /// Adds to the device's `Transfers`.
    fn count_transfer(&self, add: impl FnOnce(&mut Transfers)) {
        add(&mut self.transfers.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// `queue.write_buffer`, counted in the device's `Transfers`.
    pub fn upload(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        self.count_transfer(|t| t.uploaded(data.len() as u64));
        self.queue.write_buffer(buffer, offset, data);
    }

    /// A new buffer holding `contents`, counted in the device's `Transfers`.
    pub fn buffer_init(&self, label: &str, contents: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        self.count_transfer(|t| t.uploaded(contents.len() as u64));
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
    }

    /// Waits until the work submitted so far (`submission` the last of it) is done, without
    /// mapping anything. Natively the device is polled here until it is; in a browser the poll
    /// returns at once and the queue's answer is awaited (as `map_read_async`).
    pub async fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        let (replier, reply) = reply();
        self.queue.on_submitted_work_done(move || replier.send(()));
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(submission), timeout: None })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        reply.await.ok_or_else(|| Error::Gpu("the GPU never answered that its work was done".into()))
    }

    /// Submits `encoder` with a copy of `bytes` bytes of `source` into `staging` appended, and
    /// maps them back to the host (blocking on `read_back_async`; for tests' probes).
    #[cfg(test)]
    pub fn read_back(&self, encoder: wgpu::CommandEncoder, source: &wgpu::Buffer, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        pollster::block_on(self.read_back_async(encoder, source, staging, bytes))
    }

    pub async fn read_back_async(&self, mut encoder: wgpu::CommandEncoder, source: &wgpu::Buffer, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        encoder.copy_buffer_to_buffer(source, 0, staging, 0, bytes);
        let submission = self.queue.submit([encoder.finish()]);
        self.map_read_async(staging, bytes, Some(submission)).await
    }

    /// The first `bytes` of `staging` on the host, once `submission` (or all work) is done:
    /// `map_async`'s answer awaited. Natively the device is polled
    /// here until the work is done (which runs the answer's callback); in a browser the poll
    /// returns at once and the browser answers when the buffer is mapped.
    pub async fn map_read_async(&self, staging: &wgpu::Buffer, bytes: u64, submission: Option<wgpu::SubmissionIndex>) -> Result<Vec<u8>> {
        let slice = staging.slice(..bytes);
        let (replier, reply) = reply();
        slice.map_async(wgpu::MapMode::Read, move |r| replier.send(r));
        self.device
            .poll(wgpu::PollType::Wait { submission_index: submission, timeout: None })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        match reply.await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu(format!("reading the result back failed: {e}"))),
            None => {
                return Err(Error::Gpu("the GPU never answered the read-back request".into()));
            }
        }
        let data = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the result back failed: {e}")))?.to_vec();
        staging.unmap();
        self.count_transfer(|t| t.read(bytes));
        Ok(data)
    }
}

/// The value a wgpu callback is called with, as a future (`reply`): `None` when the callback
/// was dropped without being called.
struct Reply<T>(Arc<Mutex<ReplyState<T>>>);

struct ReplyState<T> {
    answer: Option<Option<T>>,
    waker: Option<std::task::Waker>,
}

/// The callback's end of a `Reply`.
struct Replier<T>(Arc<Mutex<ReplyState<T>>>);

fn reply<T>() -> (Replier<T>, Reply<T>) {
    let state = Arc::new(Mutex::new(ReplyState { answer: None, waker: None }));
    (Replier(state.clone()), Reply(state))
}

impl<T> Replier<T> {
    fn send(self, value: T) {
        self.settle(Some(value));
    }

    fn settle(&self, value: Option<T>) {
        let waker = {
            let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if state.answer.is_some() {
                return;
            }
            state.answer = Some(value);
            state.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Replier<T> {
    fn drop(&mut self) {
        // never called: the future ends with None rather than waiting forever
        self.settle(None);
    }
}

impl<T> Future for Reply<T> {
    type Output = Option<T>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match state.answer.take() {
            Some(answer) => std::task::Poll::Ready(answer),
            None => {
                state.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

/// Where one owner keeps its structure-factor grid on a device: a `Simulator` has one of its
/// own, and the device one for renders that bring none (`GpuContext::grid`). It holds the last
/// grid its owner rendered with, so that a rotation series or a shot list uploads its
/// structure factors once instead of every frame (tens of MB and their conversion), while
/// device memory does not grow with the grids an owner renders; one owner's grid never evicts
/// another's, so simulators with different structure factors can take turns on one device
/// without uploading again. Dropped with its owner (the buffers are freed once no job holds
/// them).
#[derive(Default)]
pub struct GridSlot(Mutex<Option<DeviceGrid>>);

impl GridSlot {
    /// The device copy on `ctx` of the structure-factor grid `generation` split by `limit`: the
    /// one kept from an earlier job when it is that grid on that device, else `pieces` (f32
    /// values of the lower and upper part, and the split index) uploaded and kept in its place.
    pub async fn grid(&self, ctx: &GpuContext, generation: u64, limit: u64, pieces: impl FnOnce() -> Result<(Vec<f32>, Vec<f32>, u32)>) -> Result<DeviceGrid> {
        let key = (ctx.id, generation, limit);
        {
            let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(grid) = kept.as_ref().filter(|g| g.key == key) {
                return Ok(grid.clone());
            }
            // the old grid's memory is freed (once no job holds it) before the new one is allocated
            *kept = None;
        }
        let (lo, hi, split) = pieces()?;
        let grid = ctx
            .checked_async("uploading the structure factors", async {
                let upload = |label, values: &[f32]| ctx.buffer_init(label, bytemuck::cast_slice(values), wgpu::BufferUsages::STORAGE);
                Ok(DeviceGrid {
                    key,
                    lo: upload("structure factors", &lo),
                    hi: upload("structure factors (second part)", &hi),
                    lo_bytes: std::mem::size_of_val(&lo[..]) as u64,
                    hi_bytes: std::mem::size_of_val(&hi[..]) as u64,
                    split,
                })
            })
            .await?;
        log::debug!("structure factors uploaded: {} + {} bytes (grid {generation}), kept for later jobs", grid.lo_bytes, grid.hi_bytes);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(grid.clone());
        Ok(grid)
    }

    /// Forgets the kept grid, so that the next job uploads its grid again.
    #[cfg(test)]
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Bytes moved between host and device through a `GpuContext` (`upload`, `buffer_init`,
/// `map_read`/`read_back`), per device (`GpuDevice::transfers`): what shows that a GPU render
/// reads back finished images only and uploads none, and that a simulator's structure factors
/// stay on the device. Whoever measures one render holds a device no other work uses. The PSF
/// stage's own parameter buffers (`response::psf_buffers`) are not counted; they are a few
/// dozen bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    pub read_back: u64,
    pub reads: u64,
    pub largest_read: u64,
    pub uploaded: u64,
    pub uploads: u64,
    pub largest_upload: u64,
}

impl Transfers {
    fn read(&mut self, bytes: u64) {
        self.read_back += bytes;
        self.reads += 1;
        self.largest_read = self.largest_read.max(bytes);
    }

    fn uploaded(&mut self, bytes: u64) {
        self.uploaded += bytes;
        self.uploads += 1;
        self.largest_upload = self.largest_upload.max(bytes);
    }
}

/// `-gpu_precision auto`: the variant recorded for this adapter, driver and kernel (with a
/// cache folder), else each offered variant self-tested, the ones that pass timed on the
/// calibration render, and the fastest recorded (see `variant`). Returns its device and the
/// sentence for the report; the other variants' devices are closed.
async fn choose_variant(key: &ContextKey, adapter: &wgpu::Adapter) -> Result<(Arc<GpuContext>, String)> {
    let info = adapter.get_info();
    let offered: Vec<Precision> = if adapter.features().contains(wgpu::Features::SHADER_F64) {
        vec![Precision::F64, Precision::DoubleFloat]
    } else {
        vec![Precision::DoubleFloat]
    };
    let dir = key.cache_dir.as_deref();
    if let Some((record, path)) = dir.and_then(|dir| variant::recorded(dir, &info))
        && offered.contains(&record.choice)
    {
        let ctx = open_variant(key, adapter, record.choice).await?;
        return Ok((ctx, format!("{}, auto: from cache {}", record.choice.name(), path.display())));
    }
    let mut variants = Vec::new();
    let mut opened = Vec::new();
    for &p in &offered {
        let result = match open_variant(key, adapter, p).await {
            Ok(ctx) => {
                let timed = calibrate(&ctx).await;
                opened.push((p, ctx));
                timed
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = &result {
            log::warn!("the {} kernel variant is not used on {}: {why}", p.name(), info.name);
        }
        variants.push((p, result));
    }
    let Some(choice) = variant::fastest(&variants) else {
        let reasons: Vec<String> = variants.iter().filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{}: {e}", p.name()))).collect();
        return Err(Error::Gpu(format!("no kernel variant is usable on {} ({})", info.name, reasons.join("; "))));
    };
    let timed: Vec<String> = variants.iter().filter_map(|(p, r)| r.as_ref().ok().map(|s| format!("{} {:.2} ms", p.name(), s * 1e3))).collect();
    let reason = match (offered.len(), timed.len()) {
        (1, _) => "the adapter has no SHADER_F64".to_string(),
        (_, 1) => format!("the only variant that passed the precision self-test ({})", timed.join("")),
        _ => format!("fastest in calibration ({})", timed.join(", ")),
    };
    let record = variant::Record { adapter: variant::adapter_identity(&info), kernel: variant::kernel_hash(), variants, choice };
    let kept = match dir.and_then(|dir| variant::keep(dir, &info, &record)) {
        Some(path) => format!("recorded in {}", path.display()),
        None => "not recorded (no cache folder)".to_string(),
    };
    let Some((_, ctx)) = opened.into_iter().find(|(p, _)| *p == choice) else {
        return Err(Error::Gpu(format!("the {} kernel variant chosen on {} has no device", choice.name(), info.name)));
    };
    Ok((ctx, format!("{}, auto: {reason}, {kept}", choice.name())))
}

/// Seconds the variant of `ctx` takes for the calibration render: the best of three after one
/// that compiles the pipeline; the kernel's own time where the device writes timestamps, else
/// the whole render's. Blocking (the render path is).
async fn calibrate(ctx: &Arc<GpuContext>) -> std::result::Result<f64, String> {
    let plan = variant::calibration_plan();
    let device = GpuDevice { context: ctx.clone(), binding_cap: None, why: Arc::from("calibration") };
    let run = async || -> Result<f64> {
        let start = std::time::Instant::now();
        let rendered = device.render_spots_async(&plan).await?;
        Ok(rendered.kernel_seconds.unwrap_or_else(|| start.elapsed().as_secs_f64()))
    };
    run().await.map_err(|e| e.to_string())?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(run().await.map_err(|e| e.to_string())?);
    }
    // a timer that reports 0 would make the record unreadable: one tick at least
    Ok(best.max(1e-9))
}

/// A software rasteriser running on the CPU (lavapipe/llvmpipe, WARP).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// The wgpu instance for `backends`, with the caller's instance flags (wgpu's defaults for the
/// build otherwise): no environment variable is read here.
fn instance(key: &ContextKey, backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    if let Some(flags) = key.instance_flags {
        desc.flags = flags;
    }
    wgpu::Instance::new(desc)
}

/// The adapter of the first of Vulkan/Metal/DX12 that has one, else of GL, among the key's
/// backends (`-gpu_index`: the one it names): starting GL's EGL as well on every run would cost
/// start-up time for an adapter only used when nothing else exists.
async fn find_adapter(key: &ContextKey) -> Result<wgpu::Adapter> {
    if let Some(choice) = key.adapter {
        return nth_adapter(key, choice).await;
    }
    let mut last_error = None;
    for group in [wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY] {
        let wanted = key.backends & group;
        if wanted.is_empty() {
            continue;
        }
        match instance(key, wanted).request_adapter(&wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() }).await {
            Ok(adapter) => return Ok(adapter),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    Err(Error::Gpu(format!("no GPU adapter found ({})", last_error.unwrap_or_else(|| "no backend selected".into()))))
}

/// The adapter `-gpu_index` asks for, counted in wgpu's order among the adapters of the first
/// of Vulkan/Metal/DX12 that has any, else of GL (as `find_adapter` looks).
async fn nth_adapter(key: &ContextKey, choice: AdapterChoice) -> Result<wgpu::Adapter> {
    let mut adapters = Vec::new();
    for group in [wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY] {
        let wanted = key.backends & group;
        if wanted.is_empty() || !adapters.is_empty() {
            continue;
        }
        adapters = instance(key, wanted).enumerate_adapters(wanted).await;
    }
    let count = adapters.len();
    if count == 0 {
        return Err(Error::Gpu("-gpu_index: no GPU adapter found".into()));
    }
    let index = match choice {
        AdapterChoice::Index(i) => i,
        AdapterChoice::LocalRank(rank) => (rank % count as u64) as usize,
    };
    if index >= count {
        let names: Vec<String> = adapters.iter().enumerate().map(|(i, a)| format!("{i}: {}", a.get_info().name)).collect();
        return Err(Error::Gpu(format!("-gpu_index {index}: there are {count} adapter(s) ({}); use 0 to {}", names.join(", "), count - 1)));
    }
    Ok(adapters.swap_remove(index))
}


async fn compile_kernel(device: &wgpu::Device, precision: Precision, fetch: Fetch) -> Result<wgpu::ShaderModule> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("nanobragg render"),
        source: wgpu::ShaderSource::Wgsl(kernel_source(precision, fetch).into()),
    });
    match scope.pop().await {
        Some(e) => Err(Error::Gpu(format!("the {} render kernel ({}) was rejected: {e}", precision.name(), fetch.name()))),
        None => Ok(module),
    }
}

/// The kernel's bindings (render.wgsl; numbered in layout.rs `binding`): the parameters and the
/// dispatch are uniforms, pixels and trace are written, every other input is read-only storage.
/// Explicit rather than derived from the shader, so that bindings the overridable constants
/// compile out do not change it.
fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let storage = |read_only| wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Storage { read_only },
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    let uniform = wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None };
    let types: [wgpu::BindingType; binding::COUNT] = std::array::from_fn(|i| match i {
        binding::PARAMS | binding::DISPATCH => uniform,
        binding::PIXELS | binding::TRACE => storage(false),
        _ => storage(true),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = types
        .into_iter()
        .enumerate()
        .map(|(i, ty)| wgpu::BindGroupLayoutEntry { binding: i as u32, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("nanobragg"), entries: &entries })
}
