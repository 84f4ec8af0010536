//! A GPU render's image on the device (`DeviceImage`), and the stage that gathers the render's
//! tiles into it (`shaders/gather.wgsl`): the spots land in one whole-image buffer, the
//! background stage adds into it in place, the noise stages read it, and the host reads back
//! only finished images. The solid angles and the first pixel off the structure-factor grid
//! come back as per-block sums and one index, a few bytes per 256 pixels.
//!
//! `block_sums` is the Rust mirror of the shader's per-block double-float sums.


use super::context::{GpuContext, Pooled};
use super::job::Rect;
use crate::error::{Error, Result};
use bytemuck::{Pod, Zeroable};
use std::sync::Arc;

/// gather.wgsl with the exact f32 steps it shares with noise.wgsl (WGSL has no includes)
pub const GATHER_SHADER: &str = concat!(include_str!("../shaders/gather.wgsl"), include_str!("../shaders/exact_f32.wgsl"));

/// keep in sync: BLOCK of shaders/gather.wgsl
pub const BLOCK: usize = 256;
/// keep in sync: FLAG_TOTALS of shaders/gather.wgsl
pub const GATHER_FLAG_TOTALS: u32 = 1;

/// keep in sync: `GatherParams` in shaders/gather.wgsl (test `structs_match_the_wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GpuGatherParams {
    pub x0: u32,
    pub y0: u32,
    pub width: u32,
    pub fpixels: u32,
    pub start: u32,
    pub count: u32,
    pub first_index: u32,
    pub flags: u32,
    pub zero: u32,
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
}

impl GpuGatherParams {
    /// The tile `start..start + count` of `rect` on a `fpixels`-wide detector (`totals`: also
    /// sum its solid angles and look for pixels off the grid).
    pub fn tile(fpixels: usize, rect: Rect, start: usize, count: usize, first_index: usize, totals: bool) -> Result<GpuGatherParams> {
        Ok(GpuGatherParams {
            x0: u32_of("ROI corner", rect.x0)?,
            y0: u32_of("ROI corner", rect.y0)?,
            width: u32_of("ROI width", rect.width)?,
            fpixels: u32_of("detector width", fpixels)?,
            start: u32_of("pixel index", start)?,
            count: u32_of("tile", count)?,
            first_index: u32_of("pixel index", first_index)?,
            flags: if totals { GATHER_FLAG_TOTALS } else { 0 },
            ..GpuGatherParams::default()
        })
    }
}

const IMAGE_LABEL: &str = "device image";
const IMAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

fn u32_of(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Gpu(format!("{what} ({n}) is too large for the gather stage")))
}

/// The buffer of a `DeviceImage`, given back to its context's pool when the last handle goes.
struct Held {
    ctx: Arc<GpuContext>,
    buffer: wgpu::Buffer,
    width: usize,
    height: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.ctx.give_back([Pooled { label: IMAGE_LABEL, usage: IMAGE_USAGE, buffer: self.buffer.clone() }]);
    }
}

/// A float image (f32, fast-major: index = slow·width + fast) held on a GPU context's device.
/// A GPU render leaves its finished float image here as well as on the host, so that the noise
/// stages read it without uploading it again. Clones share the one buffer; nothing writes it
/// once the render is done.
#[derive(Clone)]
pub struct DeviceImage(Arc<Held>);

impl std::fmt::Debug for DeviceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceImage({} × {} on {})", self.0.width, self.0.height, self.0.ctx.adapter_name())
    }
}

impl DeviceImage {
    fn allocate(ctx: &Arc<GpuContext>, width: usize, height: usize) -> DeviceImage {
        let bytes = (width * height * 4) as u64;
        let buffer = ctx.buffer(IMAGE_LABEL, bytes, IMAGE_USAGE);
        DeviceImage(Arc::new(Held { ctx: ctx.clone(), buffer, width, height }))
    }

    /// An image of zeros (cleared on the device: nothing is uploaded).
    pub(super) fn zeroed(ctx: &Arc<GpuContext>, width: usize, height: usize) -> DeviceImage {
        let image = DeviceImage::allocate(ctx, width, height);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(image.buffer(), 0, None);
        ctx.queue.submit([encoder.finish()]);
        image
    }

    /// `values` (width × height) uploaded to `ctx`'s device: for images that were not rendered
    /// there (`nanobragg noisify`, tests).
    pub fn upload(ctx: &Arc<GpuContext>, values: &[f32], width: usize, height: usize) -> Result<DeviceImage> {
        if values.len() != width * height {
            return Err(Error::Gpu(format!("{} values for {width} × {height} pixels", values.len())));
        }
        let image = DeviceImage::allocate(ctx, width, height);
        ctx.upload(image.buffer(), 0, bytemuck::cast_slice(values));
        Ok(image)
    }

    pub fn width(&self) -> usize {
        self.0.width
    }

    pub fn height(&self) -> usize {
        self.0.height
    }

    pub fn pixels(&self) -> usize {
        self.0.width * self.0.height
    }

    /// The buffer (at least `pixels()` f32; a reused one may be larger).
    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        &self.0.buffer
    }

    pub(super) fn context(&self) -> &Arc<GpuContext> {
        &self.0.ctx
    }

    /// The image on the host (blocking on `read_async`).
    pub fn read(&self) -> Result<Vec<f32>> {
        pollster::block_on(self.read_async())
    }

    /// The image on the host, as a future (see `GpuContext::map_read_async`).
    pub async fn read_async(&self) -> Result<Vec<f32>> {
        let ctx = &self.0.ctx;
        let bytes = (self.pixels() * 4) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = ctx.buffer("device image read-back", bytes, usage);
        let encoder = ctx.device.create_command_encoder(&Default::default());
        let data = ctx.checked_async("reading the image back", ctx.read_back_async(encoder, self.buffer(), &staging, bytes)).await;
        ctx.give_back([Pooled { label: "device image read-back", usage, buffer: staging }]);
        Ok(bytemuck::pod_collect_to_vec(&data?))
    }

    /// Replaces the image with `values` (the background's host fallback).
    pub(super) fn write(&self, values: &[f32]) -> Result<()> {
        if values.len() != self.pixels() {
            return Err(Error::Gpu(format!("{} values for a {} × {} device image", values.len(), self.0.width, self.0.height)));
        }
        self.0.ctx.upload(self.buffer(), 0, bytemuck::cast_slice(values));
        Ok(())
    }
}

/// Workgroups for `blocks` blocks, one invocation each, as (x, y) within the limit.
fn groups(blocks: usize, limit: u32) -> (u32, u32) {
    super::response::workgroups(blocks, limit)
}

/// The gather stage of one render: the device image it fills, the per-block solid-angle sums
/// and the first pixel off the grid, and the pipeline bound to the job's tile output.
pub(super) struct Gather {
    image: DeviceImage,
    params: wgpu::Buffer,
    partials: wgpu::Buffer,
    first_off_grid: wgpu::Buffer,
    blocks: usize,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    held: Vec<Pooled>,
}

impl Gather {
    /// A zeroed `width` × `height` device image and cleared totals for a render of `rect`
    /// whose tiles the kernel writes into `tile_output`.
    pub async fn new(ctx: &Arc<GpuContext>, width: usize, height: usize, rect: Rect, tile_output: &wgpu::Buffer) -> Result<Gather> {
        use wgpu::BufferUsages as U;
        let image = DeviceImage::zeroed(ctx, width, height);
        let blocks = rect.pixels().div_ceil(BLOCK).max(1);
        let roles = [
            ("gather params", size_of::<GpuGatherParams>() as u64, U::UNIFORM | U::COPY_DST),
            ("gather partial sums", (blocks * 8) as u64, U::STORAGE | U::COPY_SRC | U::COPY_DST),
            ("gather first off grid", 4, U::STORAGE | U::COPY_SRC | U::COPY_DST),
        ];
        let held: Vec<Pooled> = roles.iter().map(|&(label, bytes, usage)| Pooled { label, usage, buffer: ctx.buffer(label, bytes, usage) }).collect();
        let [params, partials, first_off_grid] = [0, 1, 2].map(|i| held[i].buffer.clone());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&partials, 0, None);
        ctx.upload(&first_off_grid, 0, &u32::MAX.to_le_bytes());
        ctx.queue.submit([encoder.finish()]);
        let pipeline = ctx.stage_pipeline("gather", GATHER_SHADER, "gather_tile").await?;
        let entries: Vec<wgpu::BindGroupEntry> = [&params, tile_output, image.buffer(), &partials, &first_off_grid]
            .into_iter()
            .enumerate()
            .map(|(binding, b)| wgpu::BindGroupEntry { binding: binding as u32, resource: b.as_entire_binding() })
            .collect();
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("gather"), layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        Ok(Gather { image, params, partials, first_off_grid, blocks, pipeline, bind_group, held })
    }

    /// Appends the gather pass of the tile `params` describes to `encoder`.
    pub fn encode(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, params: GpuGatherParams) {
        // the write lands before the submission that carries this pass, and the caller waits
        // for each tile before the next one's write
        ctx.upload(&self.params, 0, bytemuck::bytes_of(&params));
        let (start, count) = (params.start as usize, params.count as usize);
        let blocks = (start + count).div_ceil(BLOCK) - start / BLOCK;
        let (gx, gy) = groups(blocks, ctx.limits.max_compute_workgroups_per_dimension);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("gather"), timestamp_writes: None });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }

    /// The solid angles summed over the rendered pixels (f64, block by block) and the first
    /// rectangle index whose pixel left the grid.
    pub async fn totals(&self, ctx: &GpuContext) -> Result<(f64, Option<usize>)> {
        let sums = (self.blocks * 8) as u64;
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = ctx.buffer("gather totals read-back", sums + 4, usage);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.partials, 0, &staging, 0, sums);
        encoder.copy_buffer_to_buffer(&self.first_off_grid, 0, &staging, sums, 4);
        let submission = ctx.queue.submit([encoder.finish()]);
        let data = ctx.map_read_async(&staging, sums + 4, Some(submission)).await;
        ctx.give_back([Pooled { label: "gather totals read-back", usage, buffer: staging }]);
        let words: Vec<f32> = bytemuck::pod_collect_to_vec(&data?);
        let first = words[2 * self.blocks].to_bits();
        Ok((total(words[..2 * self.blocks].chunks_exact(2).map(|p| (p[0], p[1]))), (first != u32::MAX).then_some(first as usize)))
    }

    /// The image, once the render is done with the gather.
    pub fn into_image(self) -> DeviceImage {
        self.image.clone()
    }
}

impl Drop for Gather {
    fn drop(&mut self) {
        self.image.context().give_back(std::mem::take(&mut self.held));
    }
}

/// The f64 total of per-block double-float sums, in block order.
pub fn total(blocks: impl IntoIterator<Item = (f32, f32)>) -> f64 {
    blocks.into_iter().fold(0.0f64, |s, (hi, lo)| s + (f64::from(hi) + f64::from(lo)))
}

/// Appends the per-block sums of the first `count` values of `values` to `encoder`, submits it
/// and returns their total (`total` of the blocks): 8 bytes per 256 values come back.
pub async fn submit_and_sum(ctx: &GpuContext, mut encoder: wgpu::CommandEncoder, values: &wgpu::Buffer, count: usize) -> Result<f64> {
    use wgpu::BufferUsages as U;
    let blocks = count.div_ceil(BLOCK).max(1);
    let params = GpuGatherParams { count: u32_of("value count", count)?, ..GpuGatherParams::default() };
    let uniform = ctx.buffer_init("block sum params", bytemuck::bytes_of(&params), U::UNIFORM);
    let sums = (blocks * 8) as u64;
    let partials = ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some("block sums"), size: sums, usage: U::STORAGE | U::COPY_SRC, mapped_at_creation: false });
    let back = ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some("block sums read-back"), size: sums, usage: U::MAP_READ | U::COPY_DST, mapped_at_creation: false });
    let pipeline = ctx.stage_pipeline("gather", GATHER_SHADER, "sum_blocks").await?;
    let entries = [(0, &uniform), (3, &partials), (5, values)].map(|(binding, b)| wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() });
    let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("sum_blocks"), layout: &pipeline.get_bind_group_layout(0), entries: &entries });
    let (gx, gy) = groups(blocks, ctx.limits.max_compute_workgroups_per_dimension);
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    let words: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read_back_async(encoder, &partials, &back, sums).await?);
    Ok(total(words.chunks_exact(2).map(|p| (p[0], p[1]))))
}

/// The Rust mirror of the shader's block sums: per block of `BLOCK` values, the compensated
/// double-float sum in order (`df_add_f`), as (hi, lo).
pub fn block_sums(values: &[f32]) -> Vec<(f32, f32)> {
    fn two_sum(a: f32, b: f32) -> (f32, f32) {
        let s = a + b;
        let v = s - a;
        (s, (a - (s - v)) + (b - v))
    }
    fn fast_two_sum(a: f32, b: f32) -> (f32, f32) {
        let s = a + b;
        (s, b - (s - a))
    }
    values
        .chunks(BLOCK)
        .map(|block| {
            block.iter().fold((0.0f32, 0.0f32), |a, &b| {
                let s = two_sum(a.0, b);
                fast_two_sum(s.0, s.1 + a.1)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::GpuPixelOut;
    use std::mem::offset_of;

    fn layout(source: &str, name: &str) -> (usize, Vec<(String, usize)>) {
        crate::shader::struct_layout(source, "gather.wgsl", name)
    }

    /// `GpuGatherParams` and `GpuPixelOut` have naga's layouts of their WGSL twins, and the
    /// shared constants their values.
    #[test]
    fn structs_match_the_wgsl() {
        macro_rules! fields {
            ($t:ty: $($f:ident),*) => { (size_of::<$t>(), vec![$((stringify!($f).to_string(), offset_of!($t, $f))),*]) };
        }
        assert_eq!(
            layout(GATHER_SHADER, "GatherParams"),
            fields!(GpuGatherParams: x0, y0, width, fpixels, start, count, first_index, flags, zero, pad0, pad1, pad2)
        );
        assert_eq!(layout(GATHER_SHADER, "PixelOut"), fields!(GpuPixelOut: value, omega_sum, left_grid));
        let value = |name: &str| -> u32 {
            let line = GATHER_SHADER.lines().find(|l| l.starts_with(&format!("const {name}:"))).unwrap_or_else(|| panic!("no const {name}"));
            line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim_end_matches('u').parse().unwrap()
        };
        assert_eq!((value("BLOCK") as usize, value("FLAG_TOTALS")), (BLOCK, GATHER_FLAG_TOTALS));
    }

    /// Values like solid angles (1e-9 to 1e-6 sr, several orders apart) and like photon counts
    /// (whole numbers up to 10⁶): the block sums' total is the serial f64 sum of the f32 values
    /// to 1e-13 (whole numbers: exactly), so the printed `%g` values are the same.
    #[test]
    fn block_sums_total_the_serial_f64_sum() {
        let mut x = 0x2545f4914f6cdd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for (what, n) in [("solid angles", 2048 * 2048 + 77), ("a few", 5), ("one block", 256)] {
            let values: Vec<f32> = (0..n).map(|_| (1e-9 * 1e3f64.powf(next())) as f32).collect();
            let serial = values.iter().fold(0.0f64, |s, &v| s + f64::from(v));
            let blocks = total(block_sums(&values));
            assert!((blocks / serial - 1.0).abs() < 1e-13, "{what}: {blocks} vs {serial}");
            assert_eq!(nanobragg_core::cfmt::fmt_g(blocks), nanobragg_core::cfmt::fmt_g(serial), "{what}");
        }
        let counts: Vec<f32> = (0..1_000_003).map(|_| (1e6 * next() * next()).round() as f32).collect();
        let serial = counts.iter().fold(0.0f64, |s, &v| s + f64::from(v));
        assert_eq!(total(block_sums(&counts)), serial, "whole numbers");
    }
}
