//! Host side of the detector-noise stages on the device (`shaders/noise.wgsl`, whose mirror is
//! `crate::response`): stage 3 (flicker, calibration, Poisson) and stage 5 (gain, ADC offset,
//! readout noise, clamps, truncation) of the noisify model, per pixel, from Philox counters —
//! the same counts as the CPU's for all but the rare pixels docs/realism.md explains.
//!
//! The PSF (stage 4) between them still runs on the CPU here: with a PSF the counts are read
//! back, blurred by `response::psf::apply_psf` and uploaded again for stage 5.

use super::context::{GpuContext, GpuOptions};
use crate::error::{Error, Result};
use crate::response::noisify::{Generator, IntImages, NoiseModel, NoiseResult};
use crate::response::philox::key_of_seed;
use crate::response::psf::apply_psf;
use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

pub const NOISE_SHADER: &str = include_str!("../../../shaders/noise.wgsl");

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
fn workgroups(pixels: usize, limit: u32) -> (u32, u32) {
    let groups = pixels.div_ceil(64).max(1) as u64;
    let x = groups.min(u64::from(limit.max(1)));
    (x as u32, groups.div_ceil(x) as u32)
}

/// The noise image of `photons` (width × height, pixels outside `roi` left 0) under a counter
/// `model`, computed by the device's noise stages; the same `NoiseResult` the CPU's
/// `noise_image_where` gives.
pub fn noise_image_on_gpu(opts: &GpuOptions, photons: &[f32], width: usize, height: usize, roi: [usize; 4], model: &NoiseModel, bits32: bool) -> Result<NoiseResult> {
    let pixels = width * height;
    if photons.len() != pixels {
        return Err(Error::Gpu(format!("{} photons for {width} × {height} pixels", photons.len())));
    }
    let p = params(model, width, pixels, roi)?;
    let ctx = GpuContext::shared(opts)?;
    let (counts_before, (counts, psf), out) = ctx.checked("the noise stages", || run_stages(&ctx, &p, photons, model, width, height))?;
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
    let photons_before_psf = counts_before.iter().map(|&c| f64::from(c)).sum();
    Ok(NoiseResult { image, photons_before_psf, psf, photons: sum, overloads, counts })
}

type StageOutputs = (Vec<f32>, (Vec<f32>, Option<crate::response::psf::PsfReport>), Vec<u32>);

fn run_stages(ctx: &GpuContext, p: &GpuNoiseParams, photons: &[f32], model: &NoiseModel, width: usize, height: usize) -> Result<StageOutputs> {
    let device = &ctx.device;
    let pixels = photons.len();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some("noise stages"), source: wgpu::ShaderSource::Wgsl(NOISE_SHADER.into()) });
    let pipeline = |entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("noise stage"),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let (counts_pipeline, readout_pipeline) = (pipeline("noise_counts"), pipeline("noise_readout"));
    use wgpu::BufferUsages as U;
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some("noise params"), contents: bytemuck::bytes_of(p), usage: U::UNIFORM });
    let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some("noise photons"), contents: bytemuck::cast_slice(photons), usage: U::STORAGE });
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
        let entries: Vec<wgpu::BindGroupEntry> = [(0, &uniform), (1, &input), (2, &counts), (3, &out)]
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
    let before: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.read_back(encoder, &counts, &counts_back, count_bytes)?);
    let mut report = None;
    if let Some(psf) = model.psf.as_ref().filter(|p| p.fwhm_pixels > 0.0) {
        let (blurred, r) = apply_psf(&before, width, height, psf.shape, psf.fwhm_pixels, psf.radius, false);
        ctx.queue.write_buffer(&counts, 0, bytemuck::cast_slice(&blurred));
        report = Some(r);
    }
    let mut encoder = device.create_command_encoder(&Default::default());
    dispatch(&mut encoder, &readout_pipeline, false);
    encoder.copy_buffer_to_buffer(&counts, 0, &counts_back, 0, count_bytes);
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&ctx.read_back(encoder, &out, &out_back, out_bytes)?);
    let after: Vec<f32> = bytemuck::pod_collect_to_vec(&ctx.map_read(&counts_back, count_bytes, None)?);
    Ok((before, (after, report), words))
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
        use crate::response::philox::Stage;
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
        use crate::response::noisify::noise_image_where;
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
            let gpu = noise_image_on_gpu(&opts, &photons, width, height, roi, &model, bits32).unwrap();
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

    #[test]
    fn workgroups_cover_every_pixel_within_the_limit() {
        assert_eq!(workgroups(1, 65535), (1, 1));
        assert_eq!(workgroups(65, 65535), (2, 1));
        let (x, y) = workgroups(2048 * 2048 * 4, 65535);
        assert!(x <= 65535 && u64::from(x) * u64::from(y) * 64 >= 2048 * 2048 * 4);
    }
}
