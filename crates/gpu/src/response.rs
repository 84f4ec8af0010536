//! Host side of the detector-noise stages on the device (`shaders/noise.wgsl`, whose mirror is
//! `crate::response`): stage 3 (flicker, calibration, Poisson) and stage 5 (gain, ADC offset,
//! readout noise, clamps, truncation) of the noisify model, per pixel, from Philox counters —
//! the same counts as the CPU's for all but the rare pixels docs/realism.md explains.
//!
//! The PSF (stage 4) runs between them on the device too (`shaders/psf.wgsl`). The photons
//! come from the device image a GPU render left (`Photons::Device`: nothing is uploaded), and
//! only finished images come back: the noise pixels and the counts after the PSF; the counts
//! before it are summed on the device (`gather::submit_and_sum`).

use super::context::{GpuContext, GpuOptions};
use super::gather::DeviceImage;
use crate::error::{Error, Result};
use nanobragg_core::response::noisify::{Generator, IntImages, NoiseModel, NoiseResult};
use nanobragg_core::response::philox::key_of_seed;
use nanobragg_core::response::psf::{PsfReport, PsfShape};
use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

/// noise.wgsl with the exact f32 steps it shares with gather.wgsl (WGSL has no includes)
pub const NOISE_SHADER: &str = concat!(include_str!("../shaders/noise.wgsl"), include_str!("../shaders/exact_f32.wgsl"));
pub const PSF_SHADER: &str = include_str!("../shaders/psf.wgsl");

/// keep in sync: PSF_GAUSS, PSF_FIBER of shaders/psf.wgsl
pub const PSF_GAUSS: u32 = 0;
pub const PSF_FIBER: u32 = 1;

/// keep in sync: `PsfParams` in shaders/psf.wgsl (test `psf_structs_match_the_wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuPsfParams {
    pub width: u32,
    pub height: u32,
    pub pixels: u32,
    pub shape: u32,
    pub fwhm: f32,
    pub g: f32,
    pub user_radius: i32,
    pub max_width: i32,
    pub capacity: u32,
    pub kernel_radius: i32,
    pub pad1: u32,
    pub pad2: u32,
}

/// keep in sync: `PsfState` in shaders/psf.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuPsfState {
    pub max_bits: u32,
    pub radius: i32,
    pub lost: f32,
    pub auto_radius: i32,
}

/// keep in sync: `Spread` in shaders/psf.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuSpread {
    pub value: f32,
    pub reach2: i32,
}

/// keep in sync: the FLAG_* constants of shaders/noise.wgsl
pub const FLAG_FLICKER: u32 = 1;
pub const FLAG_CALIBRATION: u32 = 2;
pub const FLAG_CALIBRATION_AFTER_POISSON: u32 = 4;
pub const FLAG_READOUT: u32 = 8;

/// keep in sync: `NoiseParams` in shaders/noise.wgsl (test `params_match_the_wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuNoiseParams {
    pub width: u32,
    pub pixels: u32,
    pub frame: u32,
    pub flags: u32,
    pub roi: [u32; 4],
    pub key: [u32; 2],
    pub calib_key: [u32; 2],
    pub flicker: [f32; 2],
    pub calibration: [f32; 2],
    pub gain: [f32; 2],
    pub adc: [f32; 2],
    pub readout: [f32; 2],
    pub zero: u32,
    pub pad: u32,
}

/// An f64 as the shader's double-float (hi, lo) pair.
fn pair(v: f64) -> [f32; 2] {
    let hi = v as f32;
    [hi, (v - f64::from(hi)) as f32]
}

/// Whether the stages time their steps (`RUST_LOG=nanobragg::engine::gpu=debug`): each step
/// then waits for the device, which serialises what would overlap, so only then.
pub(crate) fn timing_steps() -> bool {
    log::log_enabled!(log::Level::Debug)
}

/// Logs the time since `since` of step `what`, once the device has finished it (see
/// `timing_steps`).
pub(crate) fn step_timed(ctx: &GpuContext, what: &str, since: std::time::Instant) {
    if timing_steps() {
        let _ = ctx.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
        log::debug!("GPU step {what}: {:.1} ms", since.elapsed().as_secs_f64() * 1e3);
    }
}

fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Gpu(format!("{what} {v} is beyond the noise stages' 32-bit pixel index")))
}

/// The shader's parameters for `model` on a `width`-wide image of `pixels` pixels.
pub fn params(model: &NoiseModel, width: usize, pixels: usize, roi: [usize; 4]) -> Result<GpuNoiseParams> {
    let Generator::Counter { frame } = model.generator else {
        return Err(Error::Gpu("the device noise stages use counters: -c_parity's serial generators run on the CPU".into()));
    };
    let mut flags = 0;
    if model.flicker > 0.0 {
        flags |= FLAG_FLICKER;
    }
    if model.calibration > 0.0 {
        flags |= FLAG_CALIBRATION;
    }
    if model.calibration_after_poisson {
        flags |= FLAG_CALIBRATION_AFTER_POISSON;
    }
    if model.readout > 0.0 {
        flags |= FLAG_READOUT;
    }
    let clamp = |v: usize| v.min(u32::MAX as usize) as u32;
    Ok(GpuNoiseParams {
        width: to_u32("width", width)?,
        pixels: to_u32("pixel count", pixels)?,
        frame,
        flags,
        roi: roi.map(clamp),
        key: key_of_seed(model.seed),
        calib_key: key_of_seed(model.calib_seed),
        flicker: pair(model.flicker),
        calibration: pair(model.calibration),
        gain: pair(model.gain),
        adc: pair(model.adc_offset),
        readout: pair(model.readout),
        zero: 0,
        pad: 0,
    })
}

/// Workgroups of 64 for `pixels`, as (x, y) within the per-dimension limit.
pub(super) fn workgroups(pixels: usize, limit: u32) -> (u32, u32) {
    let groups = pixels.div_ceil(64).max(1) as u64;
    let x = groups.min(u64::from(limit.max(1)));
    (x as u32, groups.div_ceil(x) as u32)
}

/// The photons per pixel the noise stages start from: an image on the host (uploaded), or the
/// one a GPU render left on its device (read there: nothing is uploaded).
#[derive(Clone, Copy, Debug)]
pub enum Photons<'a> {
    Host(&'a [f32]),
    Device(&'a DeviceImage),
}

impl<'a> Photons<'a> {
    /// The rendered float image, on the device where the render left it there.
    pub fn of(rendered: &'a crate::RenderedImage) -> Photons<'a> {
        match &rendered.device {
            Some(device) => Photons::Device(device),
            None => Photons::Host(&rendered.image),
        }
    }
}

/// Whether the noise stages (and the PSF between them) can run on the device for an image of
/// `pixels`: they bind whole images, the largest 8 bytes a pixel (the noise pixels; the PSF's
/// per-pixel spread), which must fit one storage binding (`binding_limit` of `opts` included).
pub fn noise_stages_fit(opts: &GpuOptions, pixels: usize) -> Result<bool> {
    let ctx = GpuContext::shared(opts)?;
    Ok((pixels as u64).saturating_mul(8) <= ctx.binding_limit(opts.binding_limit))
}

/// The noise image of `photons` (width × height, pixels outside `roi` left 0) under a counter
/// `model`, computed by the device's noise stages; the same `NoiseResult` the CPU's
/// `noise_image_where` gives. A device image is read on its own device (`opts` then only
/// chooses the device for host photons). What comes back: the noise pixels, the counts after
/// the PSF (both finished images) and per-block sums of the counts before it.
/// Blocks on `noise_image_on_gpu_async` (native callers).
pub fn noise_image_on_gpu(opts: &GpuOptions, photons: Photons, width: usize, height: usize, roi: [usize; 4], model: &NoiseModel, bits32: bool) -> Result<NoiseResult> {
    pollster::block_on(noise_image_on_gpu_async(opts, photons, width, height, roi, model, bits32))
}

/// `noise_image_on_gpu` as a future.
pub async fn noise_image_on_gpu_async(opts: &GpuOptions, photons: Photons<'_>, width: usize, height: usize, roi: [usize; 4], model: &NoiseModel, bits32: bool) -> Result<NoiseResult> {
    let pixels = width * height;
    let p = params(model, width, pixels, roi)?;
    let uploaded;
    let input = match photons {
        Photons::Host(values) => {
            uploaded = DeviceImage::upload(&GpuContext::shared(opts)?, values, width, height)?;
            &uploaded
        }
        Photons::Device(image) if image.pixels() == pixels => image,
        Photons::Device(image) => return Err(Error::Gpu(format!("a {} × {} device image for {width} × {height} pixels", image.width(), image.height()))),
    };
    let ctx = input.context();
    let (photons_before_psf, (counts, psf), out) = ctx.checked_async("the noise stages", run_stages(ctx, &p, input.buffer(), pixels, model, width, height)).await?;
    let [x0, x1, y0, y1] = roi;
    let in_roi = |i: usize| {
        let (f, s) = (i % width, i / width);
        f >= x0 && f <= x1 && s >= y0 && s <= y1
    };
    let mut image = IntImages { int16: Vec::with_capacity(pixels), int32: Vec::with_capacity(pixels) };
    let (mut overloads, mut sum) = (0u64, 0.0f64);
    for (i, v) in out.chunks_exact(2).enumerate() {
        image.int32.push(v[0]);
        image.int16.push((v[1] & 0xffff) as u16);
        let over = if bits32 { v[1] >> 17 & 1 } else { v[1] >> 16 & 1 };
        overloads += u64::from(over);
        if in_roi(i) {
            sum += f64::from(counts[i]);
        }
    }
    Ok(NoiseResult { image, photons_before_psf, psf, photons: sum, overloads, counts })
}

type StageOutputs = (f64, (Vec<f32>, Option<PsfReport>), Vec<u32>);

async fn run_stages(ctx: &GpuContext, p: &GpuNoiseParams, input: &wgpu::Buffer, pixels: usize, model: &NoiseModel, width: usize, height: usize) -> Result<StageOutputs> {
    let device = &ctx.device;
    let t0 = std::time::Instant::now();
    let (counts_pipeline, readout_pipeline) = (ctx.stage_pipeline("noise stages", NOISE_SHADER, "noise_counts").await?, ctx.stage_pipeline("noise stages", NOISE_SHADER, "noise_readout").await?);
    step_timed(ctx, "noise pipelines", t0);
    use wgpu::BufferUsages as U;
    let uniform = ctx.buffer_init("noise params", bytemuck::bytes_of(p), U::UNIFORM);
    let count_bytes = (pixels * 4) as u64;
    let out_bytes = (pixels * 8) as u64;
    let buffer = |label, size, usage| device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false });
    let counts = buffer("noise counts", count_bytes, U::STORAGE | U::COPY_SRC | U::COPY_DST);
    let out = buffer("noise pixels", out_bytes, U::STORAGE | U::COPY_SRC);
    let counts_back = buffer("noise counts read-back", count_bytes, U::MAP_READ | U::COPY_DST);
    let out_back = buffer("noise pixels read-back", out_bytes, U::MAP_READ | U::COPY_DST);
    // an entry point's automatic layout holds only the bindings it uses: stage 3 reads the
    // photons and writes the counts, stage 5 reads the counts and writes the pixels
    let bind = |pipe: &wgpu::ComputePipeline, stage3: bool| {
        let entries: Vec<wgpu::BindGroupEntry> = [(0, &uniform), (1, input), (2, &counts), (3, &out)]
            .into_iter()
            .filter(|(b, _)| if stage3 { *b != 3 } else { *b != 1 })
            .map(|(binding, b)| wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("noise stage"), layout: &pipe.get_bind_group_layout(0), entries: &entries })
    };
    let (gx, gy) = workgroups(pixels, ctx.limits.max_compute_workgroups_per_dimension);
    let dispatch = |encoder: &mut wgpu::CommandEncoder, pipe: &wgpu::ComputePipeline, stage3: bool| {
        let group = bind(pipe, stage3);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipe);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    };
    let mut encoder = device.create_command_encoder(&Default::default());
    dispatch(&mut encoder, &counts_pipeline, true);
    // the counts before the PSF are summed on the device (pixels outside the ROI hold 0)
    let before = super::gather::submit_and_sum(ctx, encoder, &counts, pixels).await?;
    let mut report = None;
    if let Some(psf) = model.psf.as_ref().filter(|p| p.fwhm_pixels > 0.0) {
        let (blurred, r) = psf_buffers(ctx, &counts, width, height, psf.shape, psf.fwhm_pixels, psf.radius).await?;
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&blurred, 0, &counts, 0, count_bytes);
        ctx.queue.submit([encoder.finish()]);
        report = Some(r);
    }
    let mut encoder = device.create_command_encoder(&Default::default());
    dispatch(&mut encoder, &readout_pipeline, false);
    encoder.copy_buffer_to_buffer(&counts, 0, &counts_back, 0, count_bytes);
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&ctx.read_back_async(encoder, &out, &out_back, out_bytes).await?);
    let after: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.map_read_async(&counts_back, count_bytes, None).await?);
    Ok((before, (after, report), words))
}

/// The PSF of `image` on the device (`shaders/psf.wgsl`): the blurred image and the report,
/// as `response::psf::apply_psf` (default mode) gives them, to f32 tolerance.
pub fn psf_on_gpu(opts: &GpuOptions, image: &[f32], width: usize, height: usize, shape: PsfShape, fwhm_pixels: f64, user_radius: i32) -> Result<(Vec<f32>, PsfReport)> {
    pollster::block_on(psf_on_gpu_async(opts, image, width, height, shape, fwhm_pixels, user_radius))
}

/// `psf_on_gpu` as a future.
pub async fn psf_on_gpu_async(opts: &GpuOptions, image: &[f32], width: usize, height: usize, shape: PsfShape, fwhm_pixels: f64, user_radius: i32) -> Result<(Vec<f32>, PsfReport)> {
    if image.len() != width * height {
        return Err(Error::Gpu(format!("{} values for {width} × {height} pixels", image.len())));
    }
    let ctx = GpuContext::shared(opts)?;
    ctx.checked_async("the PSF stage", async {
        let device = &ctx.device;
        use wgpu::BufferUsages as U;
        let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some("psf input"), contents: bytemuck::cast_slice(image), usage: U::STORAGE });
        let (blurred, report) = psf_buffers(&ctx, &input, width, height, shape, fwhm_pixels, user_radius).await?;
        let bytes = (image.len() * 4) as u64;
        let back = device.create_buffer(&wgpu::BufferDescriptor { label: Some("psf read-back"), size: bytes.max(4), usage: U::MAP_READ | U::COPY_DST, mapped_at_creation: false });
        let encoder = device.create_command_encoder(&Default::default());
        let out: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read_back_async(encoder, &blurred, &back, bytes).await?);
        Ok((out, report))
    })
    .await
}

/// Runs the PSF passes on `image` (a device buffer of width × height f32); returns the
/// buffer of the blurred image and the report (read from the device's small state buffer).
/// The pipelines come from the context (compiled once); the kernel buffer holds the radius
/// `psf_setup` found, read back before the kernel is computed.
async fn psf_buffers(ctx: &GpuContext, image: &wgpu::Buffer, width: usize, height: usize, shape: PsfShape, fwhm_pixels: f64, user_radius: i32) -> Result<(wgpu::Buffer, PsfReport)> {
    let device = &ctx.device;
    let pixels = width * height;
    let max_width = width.max(height).min(i32::MAX as usize / 2 - 1);
    // the kernel's side: at most 2·max_width + 1, and what one storage binding holds
    let limit_side = ((ctx.binding_limit(None) / 4) as f64).sqrt() as usize;
    let capacity = (2 * max_width + 1).min(limit_side.saturating_sub(1) | 1);
    let mut params = GpuPsfParams {
        width: to_u32("width", width)?,
        height: to_u32("height", height)?,
        pixels: to_u32("pixel count", pixels)?,
        shape: if shape == PsfShape::Gauss { PSF_GAUSS } else { PSF_FIBER },
        fwhm: fwhm_pixels as f32,
        g: (fwhm_pixels * nanobragg_core::response::psf::FIBER_G_PER_FWHM) as f32,
        user_radius,
        max_width: max_width as i32,
        capacity: capacity as u32,
        kernel_radius: -1,
        pad1: 0,
        pad2: 0,
    };
    use wgpu::BufferUsages as U;
    let t0 = std::time::Instant::now();
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some("psf params"), contents: bytemuck::bytes_of(&params), usage: U::UNIFORM | U::COPY_DST });
    let state = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("psf state"),
        contents: bytemuck::bytes_of(&GpuPsfState { max_bits: 0, radius: 0, lost: 0.0, auto_radius: 0 }),
        usage: U::STORAGE | U::COPY_SRC,
    });
    let buffer = |label, size: u64, usage| device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: size.max(8), usage, mapped_at_creation: false });
    let sources = buffer("psf sources", (pixels * size_of::<GpuSpread>()) as u64, U::STORAGE);
    let lost_each = buffer("psf lost photons", (pixels * 4) as u64, U::STORAGE);
    let blurred = buffer("psf output", (pixels * 4) as u64, U::STORAGE | U::COPY_SRC);
    let state_back = buffer("psf state read-back", size_of::<GpuPsfState>() as u64, U::MAP_READ | U::COPY_DST);
    step_timed(ctx, "psf buffers", t0);
    let limit = ctx.limits.max_compute_workgroups_per_dimension;
    // each pass's automatic layout holds only the bindings its entry point uses; `groups`
    // workgroups, split over x and y within the per-dimension limit
    let pass = async |encoder: &mut wgpu::CommandEncoder, entry: &'static str, all: &[(u32, &wgpu::Buffer)], uses: &[u32], groups: usize| -> Result<()> {
        let tp = std::time::Instant::now();
        let pipeline = ctx.stage_pipeline("psf", PSF_SHADER, entry).await?;
        let entries: Vec<wgpu::BindGroupEntry> = all
            .iter()
            .filter(|(b, _)| uses.contains(b))
            .map(|(binding, b)| wgpu::BindGroupEntry { binding: *binding, resource: b.as_entire_binding() })
            .collect();
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(entry), layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        // `workgroups` counts invocations of 64
        let (gx, gy) = workgroups(groups.max(1) * 64, limit);
        step_timed(ctx, &format!("psf pipeline {entry}"), tp);
        {
            let mut p = encoder.begin_compute_pass(&Default::default());
            p.set_pipeline(&pipeline);
            p.set_bind_group(0, &bind, &[]);
            p.dispatch_workgroups(gx, gy, 1);
        }
        if timing_steps() {
            let e = std::mem::replace(encoder, device.create_command_encoder(&Default::default()));
            let tr = std::time::Instant::now();
            ctx.queue.submit([e.finish()]);
            step_timed(ctx, &format!("psf run {entry} ({groups} groups)"), tr);
        }
        Ok(())
    };
    let setup = [(0u32, &uniform), (1, image), (2, &state)];
    let mut encoder = device.create_command_encoder(&Default::default());
    pass(&mut encoder, "psf_max", &setup, &[0, 1, 2], pixels.div_ceil(64)).await?;
    pass(&mut encoder, "psf_setup", &setup, &[0, 2], 1).await?;
    let found: GpuPsfState = *bytemuck::from_bytes(&ctx.read_back_async(encoder, &state, &state_back, size_of::<GpuPsfState>() as u64).await?);
    let mut report = PsfReport { max_input: None, auto_radius: None, lost_photons: None };
    if user_radius <= 0 {
        report.max_input = Some(f64::from(f32::from_bits(found.max_bits)));
        if found.radius >= 0 {
            report.auto_radius = Some(found.auto_radius);
            nanobragg_core::response::psf::warn_if_wide(found.auto_radius, max_width as i32, f64::from(f32::from_bits(found.max_bits)));
        }
    }
    // the passes below read the radius from the parameters, so that their loops are uniform
    // over a workgroup and the kernel buffer holds (2·radius + 1)² weights, not capacity²
    params.kernel_radius = found.radius;
    ctx.queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&params));
    let side = (2 * found.radius.max(0) + 1) as usize;
    let kernel = buffer("psf kernel", (side * side * 4) as u64, U::STORAGE);
    let all = [(0u32, &uniform), (1, image), (2, &state), (3, &kernel), (4, &sources), (5, &blurred), (6, &lost_each)];
    let mut encoder = device.create_command_encoder(&Default::default());
    if found.radius >= 0 {
        pass(&mut encoder, "psf_kernel", &all, &[0, 3], (side * side).div_ceil(64)).await?;
        pass(&mut encoder, "psf_lost", &all, &[0, 1, 4, 6], pixels.div_ceil(64)).await?;
        pass(&mut encoder, "psf_sum", &all, &[0, 2, 6], 1).await?;
    }
    pass(&mut encoder, "psf_spread", &all, &[0, 2, 3, 4, 5], pixels.div_ceil(64)).await?;
    let found: GpuPsfState = *bytemuck::from_bytes(&ctx.read_back_async(encoder, &state, &state_back, size_of::<GpuPsfState>() as u64).await?);
    if found.radius >= 0 {
        report.lost_photons = Some(f64::from(found.lost));
    }
    Ok((blurred, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    fn module() -> naga::Module {
        naga::front::wgsl::parse_str(NOISE_SHADER).unwrap_or_else(|e| panic!("noise.wgsl: {}", e.emit_to_string(NOISE_SHADER)))
    }

    /// `GpuNoiseParams` has the size and field offsets naga computes for `NoiseParams`.
    #[test]
    fn params_match_the_wgsl() {
        let m = module();
        let ty = m.types.iter().find(|(_, t)| t.name.as_deref() == Some("NoiseParams")).expect("struct NoiseParams").1;
        let naga::TypeInner::Struct { members, span } = &ty.inner else { panic!("NoiseParams is not a struct") };
        let wgsl: Vec<(String, usize)> = members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect();
        macro_rules! fields {
            ($($f:ident),*) => { vec![$((stringify!($f).to_string(), offset_of!(GpuNoiseParams, $f))),*] };
        }
        let host = fields!(width, pixels, frame, flags, roi, key, calib_key, flicker, calibration, gain, adc, readout, zero, pad);
        assert_eq!(*span as usize, size_of::<GpuNoiseParams>());
        assert_eq!(wgsl, host);
    }

    /// The shared constants have the same values on both sides.
    #[test]
    fn constants_match_the_wgsl() {
        let value = |name: &str| -> u32 {
            let line = NOISE_SHADER.lines().find(|l| l.starts_with(&format!("const {name}:"))).unwrap_or_else(|| panic!("no const {name}"));
            line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim_end_matches('u').parse().unwrap()
        };
        use nanobragg_core::response::philox::Stage;
        for (name, host) in [
            ("FLAG_FLICKER", FLAG_FLICKER),
            ("FLAG_CALIBRATION", FLAG_CALIBRATION),
            ("FLAG_CALIBRATION_AFTER_POISSON", FLAG_CALIBRATION_AFTER_POISSON),
            ("FLAG_READOUT", FLAG_READOUT),
            ("STAGE_FLICKER", Stage::Flicker as u32),
            ("STAGE_CALIBRATION", Stage::Calibration as u32),
            ("STAGE_POISSON", Stage::Poisson as u32),
            ("STAGE_READOUT", Stage::Readout as u32),
        ] {
            assert_eq!(value(name), host, "{name}");
        }
    }

    fn context_options() -> Option<GpuOptions> {
        let opts = GpuOptions { precision: Some(super::super::shader::Precision::DoubleFloat), ..GpuOptions::default() };
        match GpuContext::shared(&opts) {
            Ok(_) => Some(opts),
            Err(e) if std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NANOBRAGG_REQUIRE_GPU=1 but no GPU context: {e}"),
            Err(e) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED (noise stages on the device): {e}. Set NANOBRAGG_REQUIRE_GPU=1 to make this a failure.\n");
                None
            }
        }
    }

    /// An image whose means run log-uniformly from 0.01 to 10⁶ photons, pixel by pixel.
    fn ladder(pixels: usize) -> Vec<f32> {
        (0..pixels).map(|i| (10f64.powf(-2.0 + 8.0 * ((i * 7919) % pixels) as f64 / pixels as f64)) as f32).collect()
    }

    /// CPU and device give the same counts and pixels for ≥ 99.99 % of the pixels, over several
    /// images (seeds, frames, both calibration orders, 16 and 32 bits) with means from 0.01 to
    /// 10⁶; the ROI's outside is 0 on both.
    #[test]
    fn device_noise_equals_the_cpu_noise() {
        use nanobragg_core::response::noisify::noise_image_where;
        let Some(opts) = context_options() else { return };
        let (width, height) = (256usize, 256usize);
        let photons = ladder(width * height);
        let (mut same, mut total, mut worst) = (0usize, 0usize, 0.0f64);
        for (seed, frame, flicker, calibration, readout, after, bits32, roi) in [
            (-7i64, 1u32, 0.0, 0.0, 0.0, false, false, [0, 255, 0, 255]),
            (-8, 2, 0.02, 0.03, 2.5, false, false, [0, 255, 0, 255]),
            (123, 3, 0.05, 0.03, 3.0, true, true, [0, 255, 0, 255]),
            (-9, 7, 0.0, 0.1, 0.0, false, true, [10, 200, 5, 250]),
        ] {
            let model = NoiseModel {
                flicker,
                calibration,
                readout,
                gain: 1.0,
                adc_offset: 40.0,
                seed,
                calib_seed: 123_456_789,
                psf: None,
                calibration_after_poisson: after,
                generator: Generator::Counter { frame },
            };
            let [x0, x1, y0, y1] = roi;
            let in_roi = |i: usize| (x0..=x1).contains(&(i % width)) && (y0..=y1).contains(&(i / width));
            let cpu = noise_image_where(&photons, width, height, &model, bits32, in_roi);
            let gpu = noise_image_on_gpu(&opts, Photons::Host(&photons), width, height, roi, &model, bits32).unwrap();
            let agree = (0..photons.len())
                .filter(|&i| cpu.image.int32[i] == gpu.image.int32[i] && cpu.image.int16[i] == gpu.image.int16[i] && cpu.counts[i].to_bits() == gpu.counts[i].to_bits())
                .count();
            let differing: Vec<String> = (0..photons.len())
                .filter(|&i| cpu.image.int32[i] != gpu.image.int32[i] || cpu.counts[i].to_bits() != gpu.counts[i].to_bits())
                .take(5)
                .map(|i| format!("pixel {i} mean {}: CPU {} ({}) GPU {} ({})", photons[i], cpu.counts[i], cpu.image.int32[i], gpu.counts[i], gpu.image.int32[i]))
                .collect();
            let fraction = agree as f64 / photons.len() as f64;
            worst = worst.max(1.0 - fraction);
            {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "noise CPU vs GPU (seed {seed}, frame {frame}): {agree} of {} pixels identical ({:.4} %) {differing:?}", photons.len(), 100.0 * fraction);
            }
            assert!(fraction >= 0.9999, "{agree} of {} identical: {differing:?}", photons.len());
            assert!(photons.iter().enumerate().all(|(i, _)| in_roi(i) || gpu.image.int32[i] == 0));
            same += agree;
            total += photons.len();
        }
        let _ = (same, total, worst);
    }

    /// `GpuPsfParams`, `GpuPsfState` and `GpuSpread` have naga's layouts of their WGSL twins.
    #[test]
    fn psf_structs_match_the_wgsl() {
        let layout = |name: &str| crate::shader::struct_layout(PSF_SHADER, "psf.wgsl", name);
        macro_rules! fields {
            ($t:ty: $($f:ident),*) => { (size_of::<$t>(), vec![$((stringify!($f).to_string(), offset_of!($t, $f))),*]) };
        }
        assert_eq!(layout("PsfParams"), fields!(GpuPsfParams: width, height, pixels, shape, fwhm, g, user_radius, max_width, capacity, kernel_radius, pad1, pad2));
        assert_eq!(layout("PsfState"), fields!(GpuPsfState: max_bits, radius, lost, auto_radius));
        assert_eq!(layout("Spread"), fields!(GpuSpread: value, reach2));
        let value = |name: &str| -> u32 {
            let line = PSF_SHADER.lines().find(|l| l.starts_with(&format!("const {name}:"))).unwrap_or_else(|| panic!("no const {name}"));
            line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim_end_matches('u').parse().unwrap()
        };
        assert_eq!((value("PSF_GAUSS"), value("PSF_FIBER")), (PSF_GAUSS, PSF_FIBER));
    }

    /// Counts with a few bright spots on a background, as a noise image has them.
    fn spots(width: usize, height: usize) -> Vec<f32> {
        (0..width * height)
            .map(|i| {
                let (x, y) = ((i % width) as f64, (i / width) as f64);
                let spot = 5.0e4 * (-((x - 20.0).powi(2) + (y - 30.0).powi(2)) / 3.0).exp() + 800.0 * (-((x - 50.0).powi(2) + (y - 9.0).powi(2)) / 1.5).exp();
                (spot + (i * 7919 % 13) as f64).round() as f32
            })
            .collect()
    }

    /// The device's PSF equals the CPU's to f32 tolerance: every pixel within 2e-5 of the
    /// brightest, the totals within 1e-5, the same kernel radius and lost photons within 1e-4.
    #[test]
    fn device_psf_equals_the_cpu_psf() {
        use nanobragg_core::response::psf::apply_psf;
        let Some(opts) = context_options() else { return };
        let (width, height) = (64usize, 48usize);
        let image = spots(width, height);
        for (shape, fwhm, radius) in [(PsfShape::Gauss, 1.5, 0), (PsfShape::Gauss, 2.7, 5), (PsfShape::Fiber, 0.8, 0), (PsfShape::Fiber, 1.3, 9)] {
            let (cpu, cpu_report) = apply_psf(&image, width, height, shape, fwhm, radius, false);
            let (gpu, gpu_report) = psf_on_gpu(&opts, &image, width, height, shape, fwhm, radius).unwrap();
            let max = cpu.iter().fold(0.0f32, |m, &v| m.max(v));
            let worst = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            let (sa, sb): (f64, f64) = (cpu.iter().map(|&v| f64::from(v)).sum(), gpu.iter().map(|&v| f64::from(v)).sum());
            {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "psf {shape:?} fwhm {fwhm} radius {radius}: max|Δ|/max {:.2e}, totals {sa} vs {sb}, reports {cpu_report:?} vs {gpu_report:?}", worst / max);
            }
            assert!(worst <= 2e-5 * max, "{shape:?}: max|Δ| {worst} of {max}");
            assert!((sa / sb - 1.0).abs() < 1e-5, "{shape:?}: totals {sa} vs {sb}");
            assert_eq!(cpu_report.auto_radius, gpu_report.auto_radius, "{shape:?}");
            let (la, lb) = (cpu_report.lost_photons.unwrap(), gpu_report.lost_photons.unwrap());
            assert!((la - lb).abs() <= 1e-4 * la.max(1.0), "{shape:?}: lost {la} vs {lb}");
        }
        // no photons: zeros, as the CPU's
        let (gpu, report) = psf_on_gpu(&opts, &vec![0.0; 12], 4, 3, PsfShape::Gauss, 1.0, 0).unwrap();
        assert!(gpu.iter().all(|&v| v == 0.0) && report.lost_photons.is_none() && report.max_input == Some(0.0));
    }

    /// The gather's window, clipped to the image and the kernel's disc, misses no term: one
    /// row, one column and odd sizes, radii from 1 to beyond the image (1, 15, 16, 17, 40 and
    /// automatic) agree with the CPU as in `device_psf_equals_the_cpu_psf`, for both shapes.
    #[test]
    fn device_psf_follows_the_cpu_on_odd_sizes_and_wide_radii() {
        use nanobragg_core::response::psf::apply_psf;
        let Some(opts) = context_options() else { return };
        for (width, height) in [(37usize, 23usize), (1, 50), (50, 1), (33, 17)] {
            let image = spots(width, height);
            for (shape, fwhm) in [(PsfShape::Gauss, 2.5), (PsfShape::Fiber, 1.1)] {
                for radius in [0, 1, 15, 16, 17, 40] {
                    let (cpu, cpu_report) = apply_psf(&image, width, height, shape, fwhm, radius, false);
                    let (gpu, gpu_report) = psf_on_gpu(&opts, &image, width, height, shape, fwhm, radius).unwrap();
                    let max = cpu.iter().fold(0.0f32, |m, &v| m.max(v));
                    let worst = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                    let what = format!("{width} × {height}, {shape:?} fwhm {fwhm} radius {radius}");
                    assert!(worst <= 2e-5 * max, "{what}: max|Δ| {worst} of {max}");
                    assert_eq!(cpu_report.auto_radius, gpu_report.auto_radius, "{what}");
                    let (la, lb) = (cpu_report.lost_photons.unwrap(), gpu_report.lost_photons.unwrap());
                    assert!((la - lb).abs() <= 1e-4 * la.max(1.0), "{what}: lost {la} vs {lb}");
                }
            }
        }
    }

    /// With a PSF, the noise image is the CPU's to f32 tolerance of the blurred counts (the
    /// counts before the PSF are identical): pixels may differ by one ADU where the blurred
    /// value sits within f32 rounding of an integer.
    #[test]
    fn device_noise_with_psf_follows_the_cpu() {
        use nanobragg_core::response::noisify::{Psf, noise_image_where};
        let Some(opts) = context_options() else { return };
        let (width, height) = (64usize, 48usize);
        let photons: Vec<f32> = spots(width, height).iter().map(|v| v * 0.5).collect();
        let model = NoiseModel {
            flicker: 0.0,
            calibration: 0.03,
            readout: 2.0,
            gain: 1.0,
            adc_offset: 40.0,
            seed: -3,
            calib_seed: 123_456_789,
            psf: Some(Psf { shape: PsfShape::Gauss, fwhm_pixels: 1.5, radius: 0 }),
            calibration_after_poisson: false,
            generator: Generator::Counter { frame: 4 },
        };
        let whole = [0, width - 1, 0, height - 1];
        // the whole image, then a ROI (the counts outside it are 0 before the PSF) with the fiber PSF
        let fiber = Some(Psf { shape: PsfShape::Fiber, fwhm_pixels: 1.2, radius: 0 });
        for (roi, psf) in [(whole, model.psf.clone()), ([5, 50, 3, 40], fiber)] {
            let model = NoiseModel { psf, ..model.clone() };
            let [x0, x1, y0, y1] = roi;
            let in_roi = |i: usize| (x0..=x1).contains(&(i % width)) && (y0..=y1).contains(&(i / width));
            let cpu = noise_image_where(&photons, width, height, &model, false, in_roi);
            let gpu = noise_image_on_gpu(&opts, Photons::Host(&photons), width, height, roi, &model, false).unwrap();
            assert_eq!(cpu.photons_before_psf, gpu.photons_before_psf, "identical counts before the PSF");
            let off = cpu.image.int16.iter().zip(&gpu.image.int16).filter(|(a, b)| a.abs_diff(**b) > 1).count();
            let one = cpu.image.int16.iter().zip(&gpu.image.int16).filter(|(a, b)| a.abs_diff(**b) == 1).count();
            {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "noise with PSF CPU vs GPU (ROI {roi:?}): {one} pixels ±1 ADU, {off} more, of {}", photons.len());
            }
            assert_eq!(off, 0);
            assert!(one <= photons.len() / 100, "{one} pixels ±1");
        }
    }

    #[test]
    fn workgroups_cover_every_pixel_within_the_limit() {
        assert_eq!(workgroups(1, 65535), (1, 1));
        assert_eq!(workgroups(65, 65535), (2, 1));
        let (x, y) = workgroups(2048 * 2048 * 4, 65535);
        assert!(x <= 65535 && u64::from(x) * u64::from(y) * 64 >= 2048 * 2048 * 4);
    }
}
