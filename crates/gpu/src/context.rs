//! The device side that outlives one render: instance, adapter, device, queue and the compiled
//! kernel, created once per (backend choice, precision) and shared by every later render in
//! the process. Also the one place that turns wgpu's failure signals (request errors, error
//! scopes, uncaptured errors, device loss, failed maps) into `Error::Gpu`.

use super::cache::{DiskPipelineCache, cache_dir};
use super::shader::{Fetch, Precision, SUBGROUP_CHUNK, kernel_source};
use super::{selftest, variant};
use super::layout::binding;
use nanobragg_core::engine::plan::{Interpolation, Plan};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What to ask the GPU engine for. `Default` = automatic backend (honouring `WGPU_BACKEND`),
/// native f64 when the adapter has it, the adapter's own binding limit.
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

#[derive(Clone, Debug, PartialEq, Eq)]
struct ContextKey {
    backends: wgpu::Backends,
    precision: Option<Precision>,
    fetch: Option<Fetch>,
    adapter: Option<AdapterChoice>,
}

/// Values of the kernel's overridable constants (`layout::overrides`).
type Constants = Vec<(&'static str, f64)>;

pub struct GpuContext {
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
    /// the structure-factor grid last uploaded, for the next job of the same grid (see
    /// `structure_grid`); never in the pool
    grid: Mutex<Option<DeviceGrid>>,
}

/// A structure-factor grid on the device as f32, split over the kernel's two grid bindings:
/// read-only, so jobs share the buffers (wgpu buffers are handles to one allocation).
#[derive(Clone)]
pub struct DeviceGrid {
    /// the grid's `StructureGrid::generation` and the binding limit that decided the split
    key: (u64, u64),
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

/// The contexts created so far, each with the sentence saying why its variant was chosen.
static CONTEXTS: Mutex<Vec<(ContextKey, Arc<GpuContext>, Arc<str>)>> = Mutex::new(Vec::new());
/// Held while a variant is chosen, so that threads rendering at once measure only once.
static CHOOSING: Mutex<()> = Mutex::new(());

/// The context for `key` if one exists (a lost device's context is dropped first).
fn existing(key: &ContextKey) -> Option<(Arc<GpuContext>, Arc<str>)> {
    let mut cache = CONTEXTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.retain(|(_, ctx, _)| !ctx.lost.load(Ordering::SeqCst));
    cache.iter().find(|(k, _, _)| k == key).map(|(_, ctx, why)| (ctx.clone(), why.clone()))
}

/// The backends a `-backend` value selects; `auto` (or none) means `WGPU_BACKEND` if set,
/// else all of them.
fn backends_for(choice: Option<&str>) -> Result<wgpu::Backends> {
    Ok(match choice.unwrap_or("auto") {
        "auto" => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        "vulkan" => wgpu::Backends::VULKAN,
        "metal" => wgpu::Backends::METAL,
        "dx12" => wgpu::Backends::DX12,
        "gl" => wgpu::Backends::GL,
        other => {
            return Err(Error::Gpu(format!("unknown backend '{other}' (use vulkan, metal, dx12, gl or auto)")));
        }
    })
}

impl GpuContext {
    /// The process-wide context for these options, created on first use (and again after a
    /// device loss).
    pub fn shared(opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        GpuContext::shared_if(opts, |_| Ok(()))
    }

    /// `shared`, but the adapter found must pass `accept` first, before any device is opened
    /// (a declined adapter costs no device and no kernel compilation).
    pub fn shared_if(opts: &GpuOptions, accept: impl Fn(&wgpu::AdapterInfo) -> Result<()>) -> Result<Arc<GpuContext>> {
        Ok(GpuContext::chosen(opts, accept)?.0)
    }

    /// `shared_if`, with the sentence saying which precision variant the context runs and why.
    pub fn chosen(opts: &GpuOptions, accept: impl Fn(&wgpu::AdapterInfo) -> Result<()>) -> Result<(Arc<GpuContext>, Arc<str>)> {
        let key = ContextKey { backends: backends_for(opts.backend.as_deref())?, precision: opts.precision, fetch: opts.fetch, adapter: opts.adapter };
        if let Some(found) = existing(&key) {
            accept(&found.0.info)?;
            return Ok(found);
        }
        let Some(precision) = key.precision else {
            let _choosing = CHOOSING.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(found) = existing(&key) {
                accept(&found.0.info)?;
                return Ok(found);
            }
            let adapter = pollster::block_on(find_adapter(key.backends, key.adapter))?;
            accept(&adapter.get_info())?;
            let (ctx, why) = choose_variant(opts, &adapter)?;
            let why: Arc<str> = why.into();
            CONTEXTS.lock().unwrap_or_else(|p| p.into_inner()).push((key, ctx.clone(), why.clone()));
            return Ok((ctx, why));
        };
        // held while the device is created, so that parallel first renders share one
        let mut cache = CONTEXTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, ctx, why)) = cache.iter().find(|(k, _, _)| *k == key) {
            accept(&ctx.info)?;
            return Ok((ctx.clone(), why.clone()));
        }
        let adapter = pollster::block_on(find_adapter(key.backends, key.adapter))?;
        let info = adapter.get_info();
        accept(&info)?;
        // a variant recorded as having passed on this adapter, driver and kernel is not tested again
        let tested = variant::recorded(&info).is_some_and(|(record, _)| record.passed(precision));
        let ctx = Arc::new(pollster::block_on(GpuContext::create(&key, adapter))?);
        if !tested {
            selftest::require(&ctx)?;
        }
        let why: Arc<str> = format!("{}, forced", precision.name()).into();
        cache.push((key, ctx.clone(), why.clone()));
        Ok((ctx, why))
    }

    async fn create(key: &ContextKey, adapter: wgpu::Adapter) -> Result<GpuContext> {
        let has_f64 = adapter.features().contains(wgpu::Features::SHADER_F64);
        let precision = match key.precision {
            Some(Precision::F64) if !has_f64 => {
                return Err(Error::Gpu(format!("adapter {} has no 64-bit float support (SHADER_F64); use -gpu_precision df or auto", adapter.get_info().name)));
            }
            Some(p) => p,
            None if has_f64 => Precision::F64,
            None => Precision::DoubleFloat,
        };
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
        let keep_pipelines = adapter.features().contains(wgpu::Features::PIPELINE_CACHE) && cache_dir().is_some();
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
        let pipeline_cache = if keep_pipelines { DiskPipelineCache::open(&device, &info) } else { None };
        let bind_group_layout = bind_group_layout(&device);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("nanobragg"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        Ok(GpuContext {
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
            grid: Mutex::new(None),
            allocated: std::sync::atomic::AtomicUsize::new(0),
        })
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
    pub fn pipeline(&self, fetch: Fetch, constants: &[(&'static str, f64)]) -> Result<wgpu::ComputePipeline> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, p)) = cache.iter().find(|((f, k), _)| *f == fetch && k == constants) {
            return Ok(p.clone());
        }
        let module = self.module(fetch)?;
        let pipeline = self.checked("building the render pipeline", || {
            Ok(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("nanobragg render"),
                layout: Some(&self.pipeline_layout),
                module: &module,
                entry_point: Some("render"),
                compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
                cache: self.pipeline_cache.as_ref().map(DiskPipelineCache::cache),
            }))
        })?;
        cache.push(((fetch, constants.to_vec()), pipeline.clone()));
        self.unsaved_pipelines.store(true, Ordering::SeqCst);
        Ok(pipeline)
    }

    /// The pipeline of entry point `entry` of the stage shader `source` (labelled `label`, one
    /// label per shader), with its automatic layout: compiled on first use and kept for the
    /// context's life, so that a series of images compiles each stage once, not once per image
    /// (the noise stages' module alone takes about half a second on lavapipe). A shader that
    /// fails to compile is not kept: the error is reported, as every time it is asked for.
    pub fn stage_pipeline(&self, label: &'static str, source: &'static str, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        let mut stages = self.stage_pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, p)) = stages.pipelines.iter().find(|(key, _)| *key == (label, entry)) {
            return Ok(p.clone());
        }
        let module = match stages.modules.iter().find(|(l, _)| *l == label) {
            Some((_, m)) => m.clone(),
            None => {
                let m = self.checked(&format!("compiling the {label} shader"), || {
                    Ok(self.device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(source.into()) }))
                })?;
                stages.modules.push((label, m.clone()));
                m
            }
        };
        let pipeline = self.checked(&format!("building the {entry} pipeline"), || {
            Ok(self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: self.pipeline_cache.as_ref().map(DiskPipelineCache::cache),
            }))
        })?;
        stages.pipelines.push(((label, entry), pipeline.clone()));
        if self.pipeline_cache.is_some() {
            self.unsaved_pipelines.store(true, Ordering::SeqCst);
        }
        Ok(pipeline)
    }

    /// The kernel in variant `fetch`, compiled on first use.
    fn module(&self, fetch: Fetch) -> Result<wgpu::ShaderModule> {
        if !self.fetches.contains(&fetch) {
            return Err(Error::Gpu(format!("the {} kernel is not available on {}", fetch.name(), self.info.name)));
        }
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = modules.iter().find(|(f, _)| *f == fetch) {
            return Ok(m.clone());
        }
        let module = pollster::block_on(compile_kernel(&self.device, self.precision, fetch))?;
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

    /// The device copy of the structure-factor grid `generation` split by `limit`: the one kept
    /// from an earlier job when it is that grid, else `pieces` (f32 values of the lower and
    /// upper part, and the split index) uploaded and kept in its place. One grid is kept, the
    /// last one used, so that a rotation series or a shot list uploads its structure factors
    /// once instead of every frame (tens of MB and their conversion) while device memory does
    /// not grow with the grids a process renders.
    pub fn structure_grid(&self, generation: u64, limit: u64, pieces: impl FnOnce() -> Result<(Vec<f32>, Vec<f32>, u32)>) -> Result<DeviceGrid> {
        let key = (generation, limit);
        let mut kept = self.grid.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(grid) = kept.as_ref().filter(|g| g.key == key) {
            return Ok(grid.clone());
        }
        // the old grid's memory is freed (once no job holds it) before the new one is allocated
        *kept = None;
        let (lo, hi, split) = pieces()?;
        let grid = self.checked("uploading the structure factors", || {
            let upload = |label, values: &[f32]| self.buffer_init(label, bytemuck::cast_slice(values), wgpu::BufferUsages::STORAGE);
            Ok(DeviceGrid {
                key,
                lo: upload("structure factors", &lo),
                hi: upload("structure factors (second part)", &hi),
                lo_bytes: std::mem::size_of_val(&lo[..]) as u64,
                hi_bytes: std::mem::size_of_val(&hi[..]) as u64,
                split,
            })
        })?;
        log::debug!("structure factors uploaded: {} + {} bytes (grid {generation}), kept for later jobs", grid.lo_bytes, grid.hi_bytes);
        *kept = Some(grid.clone());
        Ok(grid)
    }

    /// Forgets the kept structure-factor grid, so that the next job uploads its grid again.
    #[cfg(test)]
    pub fn forget_structure_grid(&self) {
        *self.grid.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Largest storage binding a job may use.
    pub fn binding_limit(&self, cap: Option<u64>) -> u64 {
        let device = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        cap.map_or(device, |c| c.min(device))
    }

    /// Runs `work` inside validation and out-of-memory error scopes and reports whatever they,
    /// the uncaptured-error handler or the device-lost callback caught, as one `Error::Gpu`.
    pub fn checked<T>(&self, what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
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

    /// `queue.write_buffer`, counted in this thread's `Transfers`.
    pub fn upload(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        count_transfer(|t| t.uploaded(data.len() as u64));
        self.queue.write_buffer(buffer, offset, data);
    }

    /// A new buffer holding `contents`, counted in this thread's `Transfers`.
    pub fn buffer_init(&self, label: &str, contents: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        count_transfer(|t| t.uploaded(contents.len() as u64));
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
    }

    /// Waits until `submission` is done, without mapping anything.
    pub fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(submission), timeout: None })
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))
    }

    /// Submits `encoder` with a copy of `bytes` bytes of `source` into `staging` appended, and
    /// maps them back to the host.
    pub fn read_back(&self, mut encoder: wgpu::CommandEncoder, source: &wgpu::Buffer, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        encoder.copy_buffer_to_buffer(source, 0, staging, 0, bytes);
        let submission = self.queue.submit([encoder.finish()]);
        self.map_read(staging, bytes, Some(submission))
    }

    /// The first `bytes` of `staging` on the host, once `submission` (or all work) is done.
    pub fn map_read(&self, staging: &wgpu::Buffer, bytes: u64, submission: Option<wgpu::SubmissionIndex>) -> Result<Vec<u8>> {
        let slice = staging.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait { submission_index: submission, timeout: None })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Gpu(format!("reading the result back failed: {e}"))),
            Err(_) => {
                return Err(Error::Gpu("the GPU never answered the read-back request".into()));
            }
        }
        let data = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("reading the result back failed: {e}")))?.to_vec();
        staging.unmap();
        count_transfer(|t| t.read(bytes));
        Ok(data)
    }
}

/// Bytes a thread moved between host and device through a `GpuContext` (`upload`,
/// `buffer_init`, `map_read`/`read_back`): what shows that a GPU render reads back finished
/// images only and uploads none. Counted per thread, so that what one render and its noise
/// stages moved can be told apart from other threads' work on the same device (a series'
/// writer thread, tests running side by side). The PSF stage's own parameter buffers
/// (`response::psf_buffers`) are not counted; they are a few dozen bytes.
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

thread_local! {
    static TRANSFERS: std::cell::Cell<Transfers> = const { std::cell::Cell::new(Transfers { read_back: 0, reads: 0, largest_read: 0, uploaded: 0, uploads: 0, largest_upload: 0 }) };
}

fn count_transfer(add: impl FnOnce(&mut Transfers)) {
    TRANSFERS.with(|t| {
        let mut now = t.get();
        add(&mut now);
        t.set(now);
    });
}

/// What this thread has moved between host and device so far (see `Transfers`).
pub fn transfers_on_this_thread() -> Transfers {
    TRANSFERS.with(|t| t.get())
}

/// `-gpu_precision auto`: the variant recorded for this adapter, driver and kernel, else
/// each offered variant self-tested, the ones that pass timed on the calibration render, and
/// the fastest recorded (see `variant`). Returns its context and the sentence for the report.
fn choose_variant(opts: &GpuOptions, adapter: &wgpu::Adapter) -> Result<(Arc<GpuContext>, String)> {
    let info = adapter.get_info();
    let offered: Vec<Precision> = if adapter.features().contains(wgpu::Features::SHADER_F64) {
        vec![Precision::F64, Precision::DoubleFloat]
    } else {
        vec![Precision::DoubleFloat]
    };
    let forced = |p: Precision| GpuOptions { precision: Some(p), ..opts.clone() };
    if let Some((record, path)) = variant::recorded(&info)
        && offered.contains(&record.choice)
    {
        let (ctx, _) = GpuContext::chosen(&forced(record.choice), |_| Ok(()))?;
        return Ok((ctx, format!("{}, auto: from cache {}", record.choice.name(), path.display())));
    }
    let mut variants = Vec::new();
    for &p in &offered {
        let result = GpuContext::chosen(&forced(p), |_| Ok(())).map_err(|e| e.to_string()).and_then(|_| calibrate(opts, p));
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
    let kept = match variant::keep(&info, &record) {
        Some(path) => format!("recorded in {}", path.display()),
        None => "not recorded (no cache folder)".to_string(),
    };
    let (ctx, _) = GpuContext::chosen(&forced(choice), |_| Ok(()))?;
    Ok((ctx, format!("{}, auto: {reason}, {kept}", choice.name())))
}

/// Seconds the variant takes for the calibration render: the best of three after one that
/// compiles the pipeline; the kernel's own time where the device writes timestamps, else the
/// whole render's.
fn calibrate(opts: &GpuOptions, precision: Precision) -> std::result::Result<f64, String> {
    let plan = variant::calibration_plan();
    let opts = GpuOptions { precision: Some(precision), binding_limit: None, ..opts.clone() };
    let run = || -> Result<f64> {
        let start = std::time::Instant::now();
        let rendered = super::render_spots_with(&plan, &opts)?;
        Ok(rendered.kernel_seconds.unwrap_or_else(|| start.elapsed().as_secs_f64()))
    };
    run().map_err(|e| e.to_string())?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(run().map_err(|e| e.to_string())?);
    }
    // a timer that reports 0 would make the record unreadable: one tick at least
    Ok(best.max(1e-9))
}

/// A software rasteriser running on the CPU (lavapipe/llvmpipe, WARP).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// The adapter of the first of Vulkan/Metal/DX12 that has one, else of GL, among `backends`:
/// starting GL's EGL as well on every run would cost start-up time for an adapter only used
/// when nothing else exists.
async fn find_adapter(backends: wgpu::Backends, choice: Option<AdapterChoice>) -> Result<wgpu::Adapter> {
    if let Some(choice) = choice {
        return nth_adapter(backends, choice).await;
    }
    let mut last_error = None;
    for group in [wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY] {
        let wanted = backends & group;
        if wanted.is_empty() {
            continue;
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = wanted;
        let instance = wgpu::Instance::new(desc);
        match instance.request_adapter(&wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() }).await {
            Ok(adapter) => return Ok(adapter),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    Err(Error::Gpu(format!("no GPU adapter found ({})", last_error.unwrap_or_else(|| "no backend selected".into()))))
}

/// The adapter `-gpu_index` asks for, counted in wgpu's order among the adapters of the first
/// of Vulkan/Metal/DX12 that has any, else of GL (as `find_adapter` looks).
async fn nth_adapter(backends: wgpu::Backends, choice: AdapterChoice) -> Result<wgpu::Adapter> {
    let mut adapters = Vec::new();
    for group in [wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY] {
        let wanted = backends & group;
        if wanted.is_empty() || !adapters.is_empty() {
            continue;
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = wanted;
        adapters = wgpu::Instance::new(desc).enumerate_adapters(wanted).await;
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
