//! One render's device resources: the plan packed into buffers, and the tiled dispatches over
//! a rectangle of pixels with their read-back.

use super::context::{DeviceGrid, GpuContext, GridSlot, Pooled};
use super::gather::{Gather, GpuGatherParams};
use super::layout::{
    GpuDispatch, GpuPanel, GpuParams, GpuPixelOut, GpuSource, GpuTraceSlot, JOB_INTERPOLATE, NO_TRACE, Wide, binding, lattice_words, overrides,
    padded_wide3, wide, wide3,
};
use super::shader::Precision;
use crate::params::XtalShape;
use nanobragg_core::engine::plan::{Plan, StructureGrid};
use crate::error::{Error, Result};
use std::mem::size_of;

/// Threads per workgroup (WGSL `@workgroup_size`).
const WORKGROUP: u32 = 256;
/// Rough ceiling on the terms one dispatch evaluates, so no single dispatch runs long enough
/// to trip an operating system's GPU watchdog on heavy experiments.
const TERMS_PER_DISPATCH: u64 = 1 << 27;
/// The structure-factor grid may be split over this many storage bindings (`grid_lo`,
/// `grid_hi` in the kernel).
const GRID_BINDINGS: u64 = 2;

/// Two timestamps (start and end of a dispatch), u64 each.
const TIMESTAMP_BYTES: u64 = 16;

/// The job's read-back buffer: not bound, it follows the bindings in `Job::held`.
const READ_BACK: usize = binding::COUNT;

/// One buffer of a job: its label, size, usage and initial contents.
struct Role<'b> {
    label: &'static str,
    bytes: u64,
    usage: wgpu::BufferUsages,
    contents: Option<&'b [u8]>,
}

impl<'b> Role<'b> {
    /// A read-only storage input with its contents.
    fn input((label, bytes): (&'static str, &'b [u8])) -> Role<'b> {
        Role { label, bytes: bytes.len() as u64, usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST, contents: Some(bytes) }
    }
}

/// A rectangle of pixels, rendered row by row.
#[derive(Clone, Copy, Debug)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    /// The ROI clipped to the detector (C's default ROI ends one past the last pixel, and a
    /// user ROI may reach beyond the detector); empty when they do not overlap.
    pub fn roi(plan: &Plan) -> Rect {
        let [x0, x1, y0, y1] = plan.roi;
        let x_end = x1.saturating_add(1).min(plan.fpixels);
        let y_end = y1.saturating_add(1).min(plan.spixels);
        Rect { x0, y0, width: x_end.saturating_sub(x0), height: y_end.saturating_sub(y0) }
    }
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }
    /// Image index of the rectangle's `i`-th pixel.
    pub fn image_index(&self, plan: &Plan, i: usize) -> usize {
        (self.y0 + i / self.width) * plan.fpixels + self.x0 + i % self.width
    }
}

pub struct Job<'a> {
    ctx: &'a GpuContext,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    dispatch: wgpu::Buffer,
    output: wgpu::Buffer,
    trace: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// the job's buffers from the pool (all but a kept structure-factor grid), given back
    /// when the job ends
    held: Vec<Pooled>,
    tile: usize,
    trace_slots: usize,
    fpixels: usize,
    /// where the device writes timestamps: the query set (start and end of the dispatch),
    /// the buffer they are resolved into and its read-back copy
    timer: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
    /// the kernel's own time summed over the dispatches so far, in seconds
    kernel_seconds: std::cell::Cell<f64>,
    /// last field: released only after the buffers above are dropped
    _exclusive: std::sync::MutexGuard<'a, ()>,
}

fn u32_of(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Gpu(format!("{what} ({n}) is too large for the GPU kernel")))
}

/// The kernel's grating factor needs whole numbers of cells (true of every parsed plan).
fn check_cells(plan: &Plan) -> Result<()> {
    if plan.shape == XtalShape::Square && plan.n.iter().any(|n| n.fract() != 0.0 || *n > i32::MAX as f64) {
        return Err(Error::Gpu(format!("the GPU kernel needs whole numbers of unit cells, got {:?}", plan.n)));
    }
    Ok(())
}

fn params(plan: &Plan, precision: Precision, grid_split: u32) -> Result<GpuParams> {
    let w = |v: f64| wide(v, precision);
    let w3 = |v| padded_wide3(v, precision);
    let (grid_min, grid_count) = match &plan.grid {
        Some(g) => (g.min, g.count.map(|c| c as i32)),
        None => ([0; 3], [0; 3]),
    };
    let first = plan.first_term.map_or([0; 4], |f| [f.pixel, f.layer, f.sub, f.source]);
    let source0 = plan.sources.first().ok_or_else(|| Error::Gpu("the experiment has no source".into()))?;
    // sub-pixel indices (first + fast)·oversample + sub reach the kernel as i32
    let reach = plan.panels.iter().map(|p| p.first[0].unsigned_abs().max(p.first[1].unsigned_abs())).max().unwrap_or(0) as usize;
    if (plan.fpixels.max(plan.panel_rows) + reach) * plan.oversample > i32::MAX as usize {
        return Err(Error::Gpu("detector size × oversample is too large for the GPU kernel".into()));
    }
    Ok(GpuParams {
        beam: w3(plan.beam),
        polar_axis: w3(plan.polar_axis),
        a_star: w3(plan.a_star),
        b_star: w3(plan.b_star),
        c_star: w3(plan.c_star),
        subpixel_size: w(plan.subpixel_size),
        pixel_size: w(plan.pixel_size),
        distance: w(plan.distance),
        thickstep: w(plan.thickstep),
        mu: w(plan.mu),
        dmin: w(plan.dmin),
        scale: w(plan.scale),
        i_bg: w(plan.i_bg),
        kahn: plan.kahn as f32,
        fudge: plan.fudge as f32,
        default_f: plan.default_f as f32,
        fpixels: u32_of("detector width", plan.fpixels)?,
        panel_rows: u32_of("panel rows", plan.panel_rows)?,
        oversample: u32_of("oversample", plan.oversample)?,
        thicksteps: u32_of("detector layers", plan.thicksteps)?,
        source_count: u32_of("source count", plan.sources.len())?,
        phisteps: u32_of("phi steps", plan.phisteps)?,
        domains: u32_of("mosaic domains", plan.domains)?,
        grid_min_h: grid_min[0],
        grid_min_k: grid_min[1],
        grid_min_l: grid_min[2],
        grid_count_h: grid_count[0],
        grid_count_k: grid_count[1],
        grid_count_l: grid_count[2],
        grid_split,
        first_pixel: u32_of("pixel index", first[0])?,
        first_layer: first[1] as u32,
        first_sub: first[2] as u32,
        first_source: first[3] as u32,
        zero: 0,
        pad0: [0; 2],
        incident0: w3(source0.incident),
        lambda0: w(source0.lambda),
        weight0: source0.weight as f32,
        pad1: 0,
        lattice0_a: w3(plan.lattice[0][0]),
        lattice0_b: w3(plan.lattice[0][1]),
        lattice0_c: w3(plan.lattice[0][2]),
    })
}

fn lattices(plan: &Plan, precision: Precision) -> Vec<Wide> {
    // c-parity: the first term's lattice set follows the regular one
    let first: &[_] = if plan.first_term.is_some() { &plan.lattice_first } else { &[] };
    plan.lattice.iter().chain(first).flat_map(|abc| lattice_words(abc, precision)).collect()
}

fn panels(plan: &Plan, precision: Precision) -> Vec<GpuPanel> {
    plan.panels
        .iter()
        .map(|p| GpuPanel {
            pix0: wide3(p.pix0, precision),
            fdet: wide3(p.fdet, precision),
            sdet: wide3(p.sdet, precision),
            odet: wide3(p.odet, precision),
            close_distance: wide(p.close_distance, precision),
            // within i32: checked in `params`
            first_fast: p.first[0] as i32,
            first_slow: p.first[1] as i32,
        })
        .collect()
}

fn sources(plan: &Plan, precision: Precision) -> Vec<GpuSource> {
    plan.sources
        .iter()
        .map(|s| GpuSource { incident: wide3(s.incident, precision), lambda: wide(s.lambda, precision), weight: s.weight as f32, pad: 0 })
        .collect()
}

/// The grid as f32 in at most two pieces of at most `limit` bytes, and the split index.
fn grid_pieces(g: &StructureGrid, limit: u64) -> Result<(Vec<f32>, Vec<f32>, u32)> {
    let values: Vec<f32> = g.values().iter().map(|&v| v as f32).collect();
    let per_binding = (limit / size_of::<f32>() as u64) as usize;
    if values.len() as u64 > GRID_BINDINGS * per_binding as u64 {
        return Err(Error::Gpu(format!(
            "the structure-factor grid has {} entries; the GPU kernel holds at most {} ({} bindings of {} MiB)",
            values.len(),
            GRID_BINDINGS * per_binding as u64,
            GRID_BINDINGS,
            limit >> 20
        )));
    }
    if values.len() <= per_binding {
        let split = u32_of("structure-factor grid", values.len())?;
        return Ok((values, vec![0.0], split));
    }
    let hi = values[per_binding..].to_vec();
    let mut lo = values;
    lo.truncate(per_binding);
    Ok((lo, hi, u32_of("structure-factor grid", per_binding)?))
}

/// One bit per pixel, 1 = render (the CPU's `mask[i] != 0`).
fn mask_bits(plan: &Plan) -> Vec<u32> {
    let Some(mask) = &plan.mask else {
        return vec![0];
    };
    let mut bits = vec![0u32; mask.len().div_ceil(32)];
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m != 0) {
        bits[i / 32] |= 1 << (i % 32);
    }
    bits
}

/// Pixels per dispatch: within one output binding, the workgroup-count limit and the work
/// budget, a whole number of workgroups.
fn tile_pixels(plan: &Plan, ctx: &GpuContext, limit: u64) -> usize {
    let by_binding = limit / size_of::<GpuPixelOut>() as u64;
    let by_groups = ctx.limits.max_compute_workgroups_per_dimension as u64 * WORKGROUP as u64;
    let terms = [plan.thicksteps, plan.oversample, plan.oversample, plan.sources.len(), plan.phisteps, plan.domains]
        .iter()
        .fold(1u64, |acc, &n| acc.saturating_mul(n.max(1) as u64));
    let by_work = (TERMS_PER_DISPATCH / terms).max(WORKGROUP as u64);
    let tile = by_binding.min(by_groups).min(by_work);
    let whole_groups = tile / WORKGROUP as u64 * WORKGROUP as u64;
    whole_groups.max(tile.min(WORKGROUP as u64)).max(1) as usize
}

impl<'a> Job<'a> {
    /// Uploads the plan, its structure-factor grid only when `grids` does not hold it yet.
    /// `trace_slots` sizes the trace buffer (1 when not tracing: only a job with more slots
    /// gets the kernel variant that records a trace).
    pub async fn new(ctx: &'a GpuContext, grids: &GridSlot, plan: &Plan, binding_cap: Option<u64>, trace_slots: usize) -> Result<Job<'a>> {
        Job::with_constants(ctx, grids, plan, binding_cap, trace_slots, |_| {}).await
    }

    /// `new` with the kernel's pipeline constants changed by `adjust` after `overrides` set
    /// them: for tests that give the kernel values the host never sends.
    pub(crate) async fn with_constants(
        ctx: &'a GpuContext,
        grids: &GridSlot,
        plan: &Plan,
        binding_cap: Option<u64>,
        trace_slots: usize,
        adjust: impl FnOnce(&mut Vec<(&'static str, f64)>),
    ) -> Result<Job<'a>> {
        check_cells(plan)?;
        let exclusive = ctx.exclusive();
        let limit = ctx.binding_limit(binding_cap);
        let precision = ctx.precision;
        // the grid's device copy kept in `grids` when this is the grid of its owner's last job;
        // without a grid, placeholders from the pool
        let grid: Option<DeviceGrid> = match &plan.grid {
            Some(g) => Some(grids.grid(ctx, g.generation(), limit, || grid_pieces(g, limit)).await?),
            None => None,
        };
        let split = grid.as_ref().map_or(0, |g| g.split);
        let params = params(plan, precision, split)?;
        let tracing = trace_slots > 1;
        let mut constants = overrides(plan, tracing);
        adjust(&mut constants);
        let pipeline = ctx.pipeline(ctx.fetch_for(plan, tracing), &constants).await?;
        let tile = tile_pixels(plan, ctx, limit).min(Rect::roi(plan).pixels().max(1));
        let lattices = lattices(plan, precision);
        let sources = sources(plan, precision);
        let mask = mask_bits(plan);
        let panels = panels(plan, precision);
        let no_grid = [0.0f32];
        let inputs: [(&'static str, &[u8]); 6] = [
            ("lattice vectors", bytemuck::cast_slice(&lattices)),
            ("sources", bytemuck::cast_slice(&sources)),
            ("structure factors", bytemuck::cast_slice(&no_grid)),
            ("structure factors (second part)", bytemuck::cast_slice(&no_grid)),
            ("mask", bytemuck::cast_slice(&mask)),
            ("panels", bytemuck::cast_slice(&panels)),
        ];
        for (label, bytes) in inputs {
            if bytes.len() as u64 > limit {
                return Err(Error::Gpu(format!("{label} needs {} bytes, more than one GPU storage binding ({limit})", bytes.len())));
            }
        }
        let (storage, upload, uniform) = (wgpu::BufferUsages::STORAGE, wgpu::BufferUsages::COPY_DST, wgpu::BufferUsages::UNIFORM);
        let out_bytes = (tile * size_of::<GpuPixelOut>()) as u64;
        let trace_bytes = (trace_slots * size_of::<GpuTraceSlot>()) as u64;
        let [lattice_input, source_input, mut grid_lo_input, mut grid_hi_input, mask_input, panel_input] = inputs.map(Role::input);
        if let Some(g) = &grid {
            // bound from the context's copy below: the sizes the kernel reads, nothing to upload
            (grid_lo_input.bytes, grid_lo_input.contents) = (g.lo_bytes, None);
            (grid_hi_input.bytes, grid_hi_input.contents) = (g.hi_bytes, None);
        }
        // in binding order, each beside its `binding` number (checked here)
        let placed = [
            (binding::PARAMS, Role { label: "parameters", bytes: size_of::<GpuParams>() as u64, usage: uniform | upload, contents: Some(bytemuck::bytes_of(&params)) }),
            (binding::DISPATCH, Role { label: "dispatch", bytes: size_of::<GpuDispatch>() as u64, usage: uniform | upload, contents: None }),
            (binding::LATTICES, lattice_input),
            (binding::SOURCES, source_input),
            (binding::GRID_LO, grid_lo_input),
            (binding::GRID_HI, grid_hi_input),
            (binding::MASK, mask_input),
            (binding::PIXELS, Role { label: "pixels", bytes: out_bytes, usage: storage | wgpu::BufferUsages::COPY_SRC, contents: None }),
            (binding::TRACE, Role { label: "trace", bytes: trace_bytes, usage: storage | wgpu::BufferUsages::COPY_SRC, contents: None }),
            (binding::PANELS, panel_input),
            (READ_BACK, Role { label: "read-back", bytes: out_bytes.max(trace_bytes), usage: wgpu::BufferUsages::MAP_READ | upload, contents: None }),
        ];
        let roles: Vec<Role> = placed
            .into_iter()
            .enumerate()
            .map(|(i, (at, role))| {
                assert_eq!(i, at, "{}: buffer out of binding order", role.label);
                role
            })
            .collect();
        ctx.checked_async("uploading the experiment", async {
            // the kept grid's buffers are shared with later jobs: bound, never pooled (a
            // pooled one would be handed to another job as scratch)
            let mut held: Vec<Pooled> = Vec::with_capacity(roles.len());
            let bound: Vec<wgpu::Buffer> = roles
                .iter()
                .enumerate()
                .map(|(at, role)| {
                    match (&grid, at) {
                        (Some(g), binding::GRID_LO) => return g.lo.clone(),
                        (Some(g), binding::GRID_HI) => return g.hi.clone(),
                        _ => {}
                    }
                    let buffer = ctx.buffer(role.label, role.bytes, role.usage);
                    if let Some(data) = role.contents {
                        ctx.upload(&buffer, 0, data);
                    }
                    held.push(Pooled { label: role.label, usage: role.usage, buffer: buffer.clone() });
                    buffer
                })
                .collect();
            let entries: Vec<wgpu::BindGroupEntry> = bound[..binding::COUNT]
                .iter()
                .zip(&roles)
                .enumerate()
                .map(|(i, (buffer, role))| wgpu::BindGroupEntry {
                    binding: i as u32,
                    // the bytes this job uses: a reused buffer may be larger
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(role.bytes.max(4)),
                    }),
                })
                .collect();
            let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("nanobragg"),
                layout: &ctx.bind_group_layout,
                entries: &entries,
            });
            let buffer = |i: usize| bound[i].clone();
            let timer = ctx.timestamp_period.map(|_| {
                let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("kernel time"), ty: wgpu::QueryType::Timestamp, count: 2 });
                let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("kernel time"),
                    size: TIMESTAMP_BYTES,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("kernel time read-back"),
                    size: TIMESTAMP_BYTES,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (set, resolved, read)
            });
            Ok(Job {
                ctx,
                pipeline,
                bind_group,
                dispatch: buffer(binding::DISPATCH),
                output: buffer(binding::PIXELS),
                trace: buffer(binding::TRACE),
                staging: buffer(READ_BACK),
                held,
                tile,
                trace_slots,
                fpixels: plan.fpixels,
                timer,
                kernel_seconds: std::cell::Cell::new(0.0),
                _exclusive: exclusive,
            })
        })
        .await
    }

    /// Renders `rect` tile by tile, handing each pixel to `sink` with its index in the
    /// rectangle; an error from `sink` (e.g. an interruption) stops the render. Pixels with an
    /// image index below `first_index` are skipped (tiles made only of those are not dispatched
    /// at all).
    pub async fn render_rect(
        &self,
        plan: &Plan,
        rect: Rect,
        first_index: usize,
        interpolate: bool,
        sink: &mut dyn FnMut(usize, GpuPixelOut) -> Result<()>,
    ) -> Result<()> {
        self.ctx
            .checked_async("rendering", async {
            for job in self.tiles(plan, rect, first_index, interpolate)? {
                let (start, count) = (job.start as usize, job.count as usize);
                let bytes = self.run(job, &self.output, count * size_of::<GpuPixelOut>()).await?;
                let pixels: Vec<GpuPixelOut> = bytemuck::pod_collect_to_vec(&bytes);
                for (i, p) in pixels.into_iter().enumerate() {
                    if rect.image_index(plan, start + i) >= first_index {
                        sink(start + i, p)?;
                    }
                }
            }
            Ok(())
        })
            .await
    }

    /// Renders the one pixel (fast, slow), ignoring ROI and mask as the CPU tracer does, and
    /// returns the trace slots it wrote.
    pub async fn trace(&self, fast: usize, slow: usize, interpolate: bool) -> Result<Vec<GpuTraceSlot>> {
        let job = GpuDispatch {
            x0: fast as u32,
            y0: slow as u32,
            width: 1,
            start: 0,
            count: 1,
            first_index: 0,
            trace_pixel: u32_of("pixel index", slow * self.fpixels + fast)?,
            bits: if interpolate { JOB_INTERPOLATE } else { 0 },
        };
        let bytes = self.ctx.checked_async("tracing", self.run(job, &self.trace, self.trace_slots * size_of::<GpuTraceSlot>())).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// `render_rect` into `gather`'s device image: after each tile's dispatch, the gather stage
    /// in the same submission puts its pixels into the image (and with `totals` sums their solid
    /// angles and looks for pixels off the grid); nothing image-sized comes back. Each tile is
    /// waited for (not mapped) before `tile_done` gets the number of the rectangle's pixels
    /// finished so far; an error from it (e.g. an interruption) stops the render.
    #[allow(clippy::too_many_arguments)]
    pub async fn render_rect_on_device(
        &self,
        plan: &Plan,
        rect: Rect,
        first_index: usize,
        interpolate: bool,
        gather: &Gather,
        totals: bool,
        tile_done: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        self.ctx
            .checked_async("rendering", async {
            for job in self.tiles(plan, rect, first_index, interpolate)? {
                let (start, count) = (job.start as usize, job.count as usize);
                let mut encoder = self.encode(job);
                gather.encode(self.ctx, &mut encoder, GpuGatherParams::tile(plan.fpixels, rect, start, count, first_index, totals)?);
                self.ctx.wait(self.ctx.queue.submit([encoder.finish()])).await?;
                self.add_kernel_time().await?;
                tile_done(start + count)?;
            }
            Ok(())
        })
            .await
    }

    /// The dispatches that render `rect` tile by tile, in order, less the tiles made only of
    /// pixels with an image index below `first_index`.
    fn tiles(&self, plan: &Plan, rect: Rect, first_index: usize, interpolate: bool) -> Result<Vec<GpuDispatch>> {
        let total = rect.pixels();
        let first = u32_of("pixel index", first_index)?;
        let bits = if interpolate { JOB_INTERPOLATE } else { 0 };
        Ok((0..total)
            .step_by(self.tile)
            .map(|start| (start, self.tile.min(total - start)))
            .filter(|&(start, count)| rect.image_index(plan, start + count - 1) >= first_index)
            .map(|(start, count)| GpuDispatch {
                x0: rect.x0 as u32,
                y0: rect.y0 as u32,
                width: rect.width as u32,
                start: start as u32,
                count: count as u32,
                first_index: first,
                trace_pixel: NO_TRACE,
                bits,
            })
            .collect())
    }

    /// The buffer the kernel writes each tile's pixels into (`GpuPixelOut`s).
    pub fn tile_output(&self) -> &wgpu::Buffer {
        &self.output
    }

    /// One dispatch, then `bytes` of `result` read back.
    async fn run(&self, job: GpuDispatch, result: &wgpu::Buffer, bytes: usize) -> Result<Vec<u8>> {
        let encoder = self.encode(job);
        let data = self.ctx.read_back_async(encoder, result, &self.staging, bytes as u64).await?;
        self.add_kernel_time().await?;
        Ok(data)
    }

    /// The dispatch `job` (and the timer's queries) in a new encoder.
    fn encode(&self, job: GpuDispatch) -> wgpu::CommandEncoder {
        let ctx = self.ctx;
        ctx.upload(&self.dispatch, 0, bytemuck::bytes_of(&job));
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("nanobragg tile") });
        let timestamp_writes = self.timer.as_ref().map(|(set, _, _)| wgpu::ComputePassTimestampWrites {
            query_set: set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("render"), timestamp_writes });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.dispatch_workgroups(job.count.div_ceil(WORKGROUP), 1, 1);
        }
        if let Some((set, resolved, read)) = &self.timer {
            encoder.resolve_query_set(set, 0..2, resolved, 0);
            encoder.copy_buffer_to_buffer(resolved, 0, read, 0, TIMESTAMP_BYTES);
        }
        encoder
    }

    /// Adds the last dispatch's kernel time, where the device writes timestamps; its submission
    /// must be complete (this map does not wait).
    async fn add_kernel_time(&self) -> Result<()> {
        if let (Some((_, _, read)), Some(period)) = (&self.timer, self.ctx.timestamp_period) {
            let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&self.ctx.map_read_async(read, TIMESTAMP_BYTES, None).await?);
            let seconds = ticks[1].saturating_sub(ticks[0]) as f64 * period as f64 * 1e-9;
            self.kernel_seconds.set(self.kernel_seconds.get() + seconds);
        }
        Ok(())
    }

    /// The kernel's own time over this job's dispatches, where the device writes timestamps.
    pub fn kernel_seconds(&self) -> Option<f64> {
        self.timer.as_ref().map(|_| self.kernel_seconds.get())
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        self.ctx.give_back(std::mem::take(&mut self.held));
    }
}
