//! Host side of the amorphous background stage on the device (`shaders/background.wgsl`, whose
//! mirror is the default mode of `nanobragg_core::engine::background`): with `-engine gpu` the `-stol`
//! background is added to the spots image on the device, in f32 (the sub-pixel positions in W,
//! by the formula the render kernel uses), instead of on the host in f64. What is constant per
//! render or per source is worked out here in f64 and handed over as W or f32.

use super::context::GpuContext;
use super::gather::DeviceImage;
use super::layout::{PaddedW3, Wide, padded_wide3, wide};
use super::shader::{Precision, background_source};
use nanobragg_core::engine::background::Background;
use crate::error::{Error, Result};
use crate::physics::{cross, unitize};
use bytemuck::{Pod, Zeroable};

/// keep in sync: the FLAG_* constants of shaders/background.wgsl
pub const BG_FLAG_CURVED: u32 = 1;
pub const BG_FLAG_POINT_PIXEL: u32 = 2;
pub const BG_FLAG_NOPOLAR: u32 = 4;
pub const BG_FLAG_MASK: u32 = 8;
pub const BG_FLAG_CAPTURE: u32 = 16;

/// keep in sync: `BackgroundParams` in shaders/background.wgsl (test `structs_match_the_wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuBackgroundParams {
    pub width: u32,
    pub pixels: u32,
    pub x0: u32,
    pub x1: u32,
    pub y0: u32,
    pub y1: u32,
    pub oversample: u32,
    pub thicksteps: u32,
    pub flags: u32,
    pub sources: u32,
    pub points: u32,
    /// always 0: the stage's runtime-opaque zero (wide_df.wgsl)
    pub zero: u32,
    /// the sub-pixel grid (`SubpixelGrid`), in W
    pub pix0: PaddedW3,
    pub fdet: PaddedW3,
    pub sdet: PaddedW3,
    pub odet: PaddedW3,
    pub beam: PaddedW3,
    pub subpixel_size: Wide,
    pub thickstep: Wide,
    pub distance: Wide,
    pub pixel_size: f32,
    pub close_distance: f32,
    pub mu: f32,
    /// r_e²·fluence·molecules/steps
    pub scale: f32,
    pub kahn: f32,
    pub f_below: f32,
    pub f_above: f32,
    /// to the uniform struct's size, a multiple of 16 bytes
    pub pad: [u32; 3],
}

/// keep in sync: `BackgroundSource` in shaders/background.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GpuBackgroundSource {
    /// unit incident direction, 1/λ (Å⁻¹)
    pub incident: [f32; 4],
    /// B = axis × î (unit), weight
    pub b_in: [f32; 4],
    /// E = î × B (unit), unused
    pub e_in: [f32; 4],
}

fn four(v: [f64; 3], w: f64) -> [f32; 4] {
    [v[0] as f32, v[1] as f32, v[2] as f32, w as f32]
}

fn to_u32(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Gpu(format!("{what} {v} is beyond the background stage's 32-bit index")))
}

/// What the stage uploads for a context of `precision`: its parameters, sources, table points
/// (stol in Å⁻¹, F) and mask bits. `None` when the table's points do not strictly increase once
/// rounded to f32 (the device's search and Lagrange weights need that; the host's f64 stage
/// then runs instead).
pub fn upload_data(bg: &Background, precision: Precision) -> Result<Option<(GpuBackgroundParams, Vec<GpuBackgroundSource>, Vec<[f32; 2]>, Vec<u32>)>> {
    let g = &bg.geometry;
    let t = &bg.table;
    let (stol, f) = (&t.stol[2..t.stol.len() - 2], &t.f[2..t.f.len() - 2]);
    // m⁻¹ to Å⁻¹, so that the Lagrange products stay well inside f32's range
    let points: Vec<[f32; 2]> = stol.iter().zip(f).map(|(&s, &v)| [(s * 1e-10) as f32, v as f32]).collect();
    if points.is_empty() || points.windows(2).any(|w| w[1][0] <= w[0][0]) || points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Ok(None);
    }
    if !g.panels.is_empty() {
        // the stage places one panel's sub-pixels; a detector of panels gets the host's stage
        return Ok(None);
    }
    let pixels = g.fpixels * g.spixels;
    let mut flags = 0;
    for (on, flag) in [(g.curved, BG_FLAG_CURVED), (g.point_pixel, BG_FLAG_POINT_PIXEL), (g.nopolar, BG_FLAG_NOPOLAR), (g.mask.is_some(), BG_FLAG_MASK), (g.thick > 0.0, BG_FLAG_CAPTURE)] {
        if on {
            flags |= flag;
        }
    }
    // without a mask the stage never reads the bits: one word stands in
    let mut mask = vec![0u32; if g.mask.is_some() { pixels.div_ceil(32).max(1) } else { 1 }];
    if let Some(m) = &g.mask {
        for (i, _) in m.iter().enumerate().filter(|(_, v)| **v != 0) {
            mask[i / 32] |= 1 << (i % 32);
        }
    }
    let sources = g
        .sources
        .iter()
        .map(|s| {
            let (incident, _) = unitize(s.position.map(|x| -x));
            let (b_in, _) = unitize(cross(g.polar_axis, incident));
            let (e_in, _) = unitize(cross(incident, b_in));
            GpuBackgroundSource { incident: four(incident, 1e-10 / s.lambda), b_in: four(b_in, s.weight), e_in: four(e_in, 0.0) }
        })
        .collect::<Vec<_>>();
    let scale = bg.scale.r_e_sqr * bg.scale.fluence * bg.scale.molecules / bg.scale.steps;
    let clamp = |v: usize| v.min(u32::MAX as usize) as u32;
    let grid = g.subpixel_grid();
    let params = GpuBackgroundParams {
        width: to_u32("width", g.fpixels)?,
        pixels: to_u32("pixel count", pixels)?,
        x0: clamp(g.roi[0]),
        x1: clamp(g.roi[1]),
        y0: clamp(g.roi[2]),
        y1: clamp(g.roi[3]),
        oversample: to_u32("oversample", g.oversample)?,
        thicksteps: to_u32("sensor layers", g.thicksteps)?,
        flags,
        sources: to_u32("sources", sources.len())?,
        points: to_u32("table points", points.len())?,
        zero: 0,
        pix0: padded_wide3(*grid.pix0, precision),
        fdet: padded_wide3(*grid.fdet, precision),
        sdet: padded_wide3(*grid.sdet, precision),
        odet: padded_wide3(*grid.odet, precision),
        beam: padded_wide3(*grid.beam, precision),
        subpixel_size: wide(grid.subpixel_size, precision),
        thickstep: wide(grid.thickstep, precision),
        distance: wide(grid.distance, precision),
        pixel_size: g.pixel_size as f32,
        close_distance: g.close_distance as f32,
        mu: g.mu as f32,
        scale: scale as f32,
        kahn: g.kahn as f32,
        f_below: t.f[0] as f32,
        f_above: t.f[t.f.len() - 1] as f32,
        pad: [0; 3],
    };
    Ok(Some((params, sources, points, mask)))
}

/// Adds `bg` to `image` (the spots, fpixels × spixels) in place on its device. Where
/// `upload_data` declines the table, returns the host's f64 stage (`engine::background::render`)
/// instead, for the caller to add once the spots are on the host (the device image is then
/// unchanged).
pub async fn add_background(bg: &Background, image: &DeviceImage) -> Result<Option<Vec<f64>>> {
    let g = &bg.geometry;
    if image.pixels() != g.fpixels * g.spixels {
        return Err(Error::Gpu(format!("{} × {} pixels for {} × {}", image.width(), image.height(), g.fpixels, g.spixels)));
    }
    let ctx: &GpuContext = image.context();
    let Some((params, sources, points, mask)) = upload_data(bg, ctx.precision)? else {
        log::info!("the -stol table's points do not increase in f32: the background is added on the host");
        return Ok(Some(nanobragg_core::engine::background::render(g, &bg.table, &bg.scale, false).image));
    };
    if image.pixels() == 0 || sources.is_empty() {
        return Ok(None);
    }
    ctx.checked_async("the background stage", async {
        let device = &ctx.device;
        use wgpu::BufferUsages as U;
        let init = |label, contents: &[u8], usage| ctx.buffer_init(label, contents, usage);
        let uniform = init("background params", bytemuck::bytes_of(&params), U::UNIFORM);
        let source_buffer = init("background sources", bytemuck::cast_slice(&sources), U::STORAGE);
        let table = init("background table", bytemuck::cast_slice(&points), U::STORAGE);
        let mask_buffer = init("background mask", bytemuck::cast_slice(&mask), U::STORAGE);
        let pixels = image.buffer();
        let t0 = std::time::Instant::now();
        let pipeline = ctx.stage_pipeline("background", background_source(ctx.precision), "background_add").await?;
        super::response::step_timed(ctx, "background pipeline", t0);
        let entries: Vec<wgpu::BindGroupEntry> = [&uniform, &source_buffer, &table, &mask_buffer, pixels]
            .into_iter()
            .enumerate()
            .map(|(binding, b)| wgpu::BindGroupEntry { binding: binding as u32, resource: b.as_entire_binding() })
            .collect();
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("background"), layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        let (gx, gy) = super::response::workgroups(image.pixels(), ctx.limits.max_compute_workgroups_per_dimension);
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        ctx.queue.submit([encoder.finish()]);
        Ok(None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::super::context::GpuOptions;
    use super::*;
    use nanobragg_core::engine::background::{BackgroundGeometry, BackgroundScale, BackgroundSource, render};
    use crate::model::amorphous::{StolTable, StolUnit};
    use std::mem::offset_of;
    use std::path::Path;

    /// `GpuBackgroundParams` and `GpuBackgroundSource` have naga's layouts of their WGSL twins
    /// in both precision variants, and the flags their values.
    #[test]
    fn structs_match_the_wgsl() {
        for precision in [Precision::F64, Precision::DoubleFloat] {
            let source = background_source(precision);
            let what = format!("background, {}", precision.name());
            let layout = |name: &str| crate::shader::struct_layout(&source, &what, name);
            macro_rules! fields {
                ($t:ty: $($f:ident),*) => { (size_of::<$t>(), vec![$((stringify!($f).to_string(), offset_of!($t, $f))),*]) };
            }
            let want = fields!(GpuBackgroundParams: width, pixels, x0, x1, y0, y1, oversample, thicksteps, flags, sources, points, zero, pix0, fdet, sdet, odet, beam, subpixel_size, thickstep, distance, pixel_size, close_distance, mu, scale, kahn, f_below, f_above);
            // the host's explicit tail padding is the WGSL struct's implicit one
            assert_eq!(offset_of!(GpuBackgroundParams, pad) + size_of::<[u32; 3]>(), want.0);
            assert_eq!(layout("BackgroundParams"), want, "{}", precision.name());
            assert_eq!(layout("BackgroundSource"), fields!(GpuBackgroundSource: incident, b_in, e_in));
        }
        let shader = include_str!("../shaders/background.wgsl");
        let value = |name: &str| -> u32 {
            let line = shader.lines().find(|l| l.starts_with(&format!("const {name}:"))).unwrap_or_else(|| panic!("no const {name}"));
            line.split('=').nth(1).unwrap().trim().trim_end_matches(';').trim_end_matches('u').parse().unwrap()
        };
        for (name, host) in [
            ("FLAG_CURVED", BG_FLAG_CURVED),
            ("FLAG_POINT_PIXEL", BG_FLAG_POINT_PIXEL),
            ("FLAG_NOPOLAR", BG_FLAG_NOPOLAR),
            ("FLAG_MASK", BG_FLAG_MASK),
            ("FLAG_CAPTURE", BG_FLAG_CAPTURE),
        ] {
            assert_eq!(value(name), host, "{name}");
        }
    }

    fn context(precision: Precision) -> Option<std::sync::Arc<GpuContext>> {
        match GpuContext::shared(&GpuOptions { precision: Some(precision), ..GpuOptions::default() }) {
            Ok(ctx) => Some(ctx),
            // an adapter without f64 still runs the double-float variant: not a missing GPU
            Err(e) if e.to_string().contains("SHADER_F64") => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "\n!!!!! background stage, f64 variant NOT TESTED here: {e}\n");
                None
            }
            Err(e) if std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NANOBRAGG_REQUIRE_GPU=1 but no GPU context: {e}"),
            Err(e) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED (background stage on the device): {e}. Set NANOBRAGG_REQUIRE_GPU=1 to make this a failure.\n");
                None
            }
        }
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            ab += (x - ma) * (y - mb);
            aa += (x - ma) * (x - ma);
            bb += (y - mb) * (y - mb);
        }
        ab / (aa * bb).sqrt()
    }

    /// A 40 × 30 detector 60 mm away, beam at its centre.
    fn geometry() -> BackgroundGeometry {
        nanobragg_core::engine::background::test_detector(40, 30, 1e-3, 0.06, 1)
    }

    /// The device stage against the f64 stage over geometries that exercise every path, in
    /// both precision variants: every pixel within 1e-5 of the brightest (relative),
    /// correlation ≥ 0.99999, and the spots image it is added to kept.
    #[test]
    fn device_background_equals_the_cpu_background() {
        for precision in [Precision::F64, Precision::DoubleFloat] {
            if let Some(ctx) = context(precision) {
                device_background_equals_the_cpu_background_on(&ctx);
            }
        }
    }

    fn device_background_equals_the_cpu_background_on(ctx: &std::sync::Arc<GpuContext>) {
        // a water-like curve: a ring near 0.16 Å⁻¹ on a falling slope, points every 0.005 Å⁻¹
        let text: String = (0..120).map(|i| {
            let s = i as f64 * 0.005;
            format!("{s} {}\n", 2.0 + 6.0 * (-((s - 0.16) / 0.04).powi(2)).exp() + 3.0 * (-s * 8.0).exp())
        }).collect();
        let table = StolTable::parse(Path::new("w.stol"), text.as_bytes(), StolUnit::Stol, false).unwrap();
        // a table too short to cover the detector: F held beyond its ends; and one of 3 points
        let short = StolTable::parse(Path::new("s.stol"), b"0.05 4\n0.1 3\n0.15 2.5\n0.2 1\n0.25 -1\n", StolUnit::Stol, false).unwrap();
        let three = StolTable::parse(Path::new("t.stol"), b"0.05 4\n0.1 3\n0.2 1\n", StolUnit::Stol, false).unwrap();
        let rotate = |v: [f64; 3], axis: [f64; 3], a: f64| crate::physics::rotate_axis(v, axis, a);
        let mut cases: Vec<(&str, BackgroundGeometry, &StolTable)> = Vec::new();
        cases.push(("plain", geometry(), &table));
        let mut g = geometry();
        g.oversample = 3;
        g.kahn = 0.9;
        cases.push(("oversample 3, Kahn 0.9", g, &table));
        let mut g = geometry();
        g.sources = (0..5).map(|k| {
            let a = (k as f64 - 2.0) * 2e-3;
            BackgroundSource { position: [-10.0, 10.0 * a, -5.0 * a], lambda: 1e-10 * (1.0 + 0.01 * (k as f64 - 2.0)), weight: 1.0 + 0.1 * k as f64 }
        }).collect();
        g.kahn = 0.5;
        cases.push(("divergence and dispersion, 5 sources", g, &table));
        let mut g = geometry();
        g.nopolar = true;
        g.point_pixel = true;
        cases.push(("nopolar, point pixel", g, &short));
        let mut g = geometry();
        for v in [&mut g.fdet, &mut g.sdet, &mut g.odet] {
            *v = rotate(rotate(*v, [0.0, 0.0, 1.0], 0.3), [0.0, 1.0, 0.0], -0.2);
        }
        g.pix0 = [0.05, 0.02, -0.01];
        g.close_distance = crate::physics::dot(g.pix0, g.odet).abs();
        g.thicksteps = 3;
        g.thickstep = 1e-4;
        g.thick = 3e-4;
        g.mu = 2000.0;
        g.roi = [3, 35, 2, 25];
        g.mask = Some((0..40 * 30).map(|i| u16::from(i % 7 != 0)).collect());
        cases.push(("rotated detector, 3 layers, ROI and mask", g, &table));
        let mut g = geometry();
        g.curved = true;
        g.pixel_size = 3e-3;
        g.pix0 = [g.distance, 30.0 * 3e-3 / 2.0, -40.0 * 3e-3 / 2.0];
        cases.push(("curved, wide angles", g, &three));
        for (what, g, table) in cases {
            let scale = BackgroundScale { r_e_sqr: 7.94e-30, fluence: 1e24, molecules: 3e16, steps: (g.sources.len() * g.oversample * g.oversample) as f64 };
            let bg = Background { geometry: g.clone(), table: table.clone(), scale };
            let cpu = render(&g, table, &scale, false).image;
            let spots: Vec<f32> = (0..cpu.len()).map(|i| if i % 97 == 5 { 1000.0 } else { 0.0 }).collect();
            let on_device = DeviceImage::upload(ctx, &spots, g.fpixels, g.spixels).unwrap();
            assert!(pollster::block_on(add_background(&bg, &on_device)).unwrap().is_none(), "{what}: the device ran it");
            let gpu = on_device.read().unwrap();
            let max = cpu.iter().fold(0.0f64, |m, &v| m.max(v.abs()));
            assert!(max > 0.0, "{what}");
            let worst = cpu.iter().zip(&gpu).zip(&spots).map(|((c, g), s)| (c - (f64::from(*g) - f64::from(*s))).abs()).fold(0.0, f64::max);
            let corr = correlation(&cpu, &gpu.iter().zip(&spots).map(|(g, s)| f64::from(*g) - f64::from(*s)).collect::<Vec<_>>());
            {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "background CPU vs GPU ({}), {what}: max|Δ|/max {:.2e}, correlation {corr:.9}", ctx.precision.name(), worst / max);
            }
            assert!(worst <= 1e-5 * max, "{what}: max|Δ| {worst} of {max}");
            assert!(corr >= 0.99999, "{what}: correlation {corr}");
            // outside the ROI and mask the spots are untouched
            for (i, (&c, (&g, &s))) in cpu.iter().zip(gpu.iter().zip(&spots)).enumerate() {
                if c == 0.0 {
                    assert_eq!(g, s, "{what}: pixel {i}");
                }
            }
        }
    }
}
