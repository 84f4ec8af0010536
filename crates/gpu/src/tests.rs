//! Device tests of the kernel's building blocks, run through tiny test kernels that put their
//! own entry points behind the same wide-arithmetic and physics WGSL the render kernel uses.
//! Without an adapter they skip loudly, unless NANOBRAGG_REQUIRE_GPU=1.

use super::context::{GpuContext, GpuDevice, GpuOptions};
use super::layout::{Wide, wide};
use super::shader::{Precision, library_source};
use crate::physics::sincg;
use std::f64::consts::PI;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// The plan of `params` with no input files.
fn plan_of(params: &nanobragg_core::params::ExperimentParams) -> nanobragg_core::engine::plan::Plan {
    nanobragg_core::engine::plan::Plan::new(&crate::model::resolve(params, &Default::default(), &Default::default(), &mut Vec::new()).unwrap())
}

/// A small plan that needs no input files.
pub fn tiny_plan() -> nanobragg_core::engine::plan::Plan {
    let mut p = nanobragg_core::params::ExperimentParams::default();
    p.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]).and_then(|p| p.default_f(1.0)).and_then(|p| p.detpixels(4)).unwrap();
    plan_of(&p)
}

/// Shown even when the test passes (libtest captures `eprintln!`, not direct stderr writes).
fn shout(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!!!! {msg}\n");
}

fn context(precision: Precision) -> Option<Arc<GpuContext>> {
    match GpuContext::shared(&GpuOptions { precision: Some(precision), ..GpuOptions::default() }) {
        Ok(ctx) => Some(ctx),
        // an adapter without f64 still runs the double-float variant: not a missing GPU
        Err(e) if e.to_string().contains("SHADER_F64") => {
            shout(&format!("f64 kernel variant NOT TESTED here: {e}"));
            None
        }
        Err(e) if std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("NANOBRAGG_REQUIRE_GPU=1 but the {} GPU context failed: {e}", precision.name())
        }
        Err(e) => {
            shout(&format!("SKIPPED ({} kernel): {e}. Set NANOBRAGG_REQUIRE_GPU=1 to make this a failure.", precision.name()));
            None
        }
    }
}

/// Runs `entry` of the library source plus `main` with the given read-only inputs bound at
/// 0, 1, … and an f32 output array after them; returns the outputs.
fn run_kernel(ctx: &GpuContext, main: &str, inputs: &[&[u8]], outputs: usize) -> Vec<f32> {
    let _exclusive = ctx.exclusive();
    let source = format!("{}\n{main}", library_source(ctx.precision));
    let device = &ctx.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some("probe"), source: wgpu::ShaderSource::Wgsl(source.into()) });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("probe"),
        layout: None,
        module: &module,
        entry_point: Some("probe"),
        compilation_options: Default::default(),
        cache: None,
    });
    let storage = wgpu::BufferUsages::STORAGE;
    let mut buffers: Vec<wgpu::Buffer> = inputs
        .iter()
        .map(|bytes| device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytes, usage: storage }))
        .collect();
    let out_bytes = (outputs * 4) as u64;
    buffers.push(device.create_buffer(&wgpu::BufferDescriptor { label: None, size: out_bytes, usage: storage | wgpu::BufferUsages::COPY_SRC, mapped_at_creation: false }));
    let staging = device.create_buffer(&wgpu::BufferDescriptor { label: None, size: out_bytes, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
    let entries: Vec<wgpu::BindGroupEntry> =
        buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &entries });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups((outputs as u32).div_ceil(64), 1, 1);
    }
    let bytes = ctx.read_back(encoder, buffers.last().unwrap(), &staging, out_bytes).expect("probe read-back");
    bytemuck::pod_collect_to_vec(&bytes)
}

fn wides(values: &[f64], precision: Precision) -> Vec<Wide> {
    values.iter().map(|&v| wide(v, precision)).collect()
}

const SINCG_PROBE: &str = "
@group(0) @binding(0) var<storage, read> h_in: array<W>;
@group(0) @binding(1) var<storage, read> n_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    w_init(select(1u, 0u, arrayLength(&out) > 0u));
    if gid.x < arrayLength(&out) {
        out[gid.x] = grating_factor(split_index(h_in[gid.x]), n_in[gid.x]);
    }
}";

/// h over [−50, 50] on a fine grid plus, for each N, every exact integer, every zero crossing
/// h0 + j/N and points a hair either side of them.
fn sincg_cases() -> Vec<(f64, f64)> {
    let mut cases = Vec::new();
    for n in [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 16.0, 29.0, 36.0, 47.0, 50.0] {
        for i in -5000..=5000 {
            cases.push((i as f64 * 0.01 + 0.00123, n));
        }
        for h0 in -50..=50 {
            for j in 0..n as i32 {
                let h = h0 as f64 + j as f64 / n;
                cases.extend([(h, n), (h + 1e-7, n), (h - 3e-9, n)]);
            }
        }
    }
    cases
}

/// sin(πNh)/sin(πh) in f64 after the same exact reduction: computed naively, both sines are
/// pure rounding noise at integer h (sin(29π) in f64 is ~1e-15, not 0) and so is their ratio.
fn sincg_reference(h: f64, n: f64) -> f64 {
    let h0 = (h - 0.5).ceil();
    let delta = h - h0;
    let sign = if ((n as i64 - 1) * h0 as i64) % 2 != 0 { -1.0 } else { 1.0 };
    if delta == 0.0 { sign * n } else { sign * (PI * n * delta).sin() / (PI * delta).sin() }
}

#[test]
fn sincg_reference_is_the_cpu_sincg_away_from_integers() {
    for (h, n) in sincg_cases() {
        let delta = h - (h - 0.5).ceil();
        if delta.abs() > 1e-3 {
            let (a, b) = (sincg_reference(h, n), sincg(PI * h, n));
            assert!((a - b).abs() < 1e-9 * n, "h = {h}, N = {n}: {a} vs {b}");
        }
    }
}

#[test]
fn sincg_matches_f64_over_the_whole_range() {
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let cases = sincg_cases();
        let h: Vec<f64> = cases.iter().map(|c| c.0).collect();
        let n: Vec<f32> = cases.iter().map(|c| c.1 as f32).collect();
        let got = run_kernel(&ctx, SINCG_PROBE, &[bytemuck::cast_slice(&wides(&h, precision)), bytemuck::cast_slice(&n)], cases.len());
        let mut worst = (0.0, 0.0, 0.0);
        for (&(h, n), &g) in cases.iter().zip(&got) {
            let expect = sincg_reference(h, n);
            let err = (g as f64 - expect).abs() / n;
            if err > worst.0 {
                worst = (err, h, n);
            }
        }
        eprintln!("sincg {}: worst |Δ|/N = {:.3e} at h = {}, N = {}", precision.name(), worst.0, worst.1, worst.2);
        assert!(worst.0 < 1e-6, "{}: sincg off by {:.3e}·N at h = {}, N = {}", precision.name(), worst.0, worst.1, worst.2);
    }
}

const ARITHMETIC_PROBE: &str = "
@group(0) @binding(0) var<storage, read> a_in: array<W>;
@group(0) @binding(1) var<storage, read> b_in: array<W>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    w_init(select(1u, 0u, arrayLength(&out) > 0u));
    let i = gid.x / 8u;
    if i >= arrayLength(&a_in) {
        return;
    }
    let a = a_in[i];
    let b = b_in[i];
    var results = array<W, 4>(w_add(a, b), w_mul(a, b), w_div(a, b), w_sqrt(w_mul(a, a)));
    let r = w_parts(results[(gid.x % 8u) / 2u]);
    out[gid.x] = r[gid.x % 2u];
}";

/// The wide operations keep ~f64 accuracy on this device: in particular the double-float
/// error-free transformations survive the driver's compiler (no re-association, fused fma).
#[test]
fn wide_arithmetic_is_accurate_on_the_device() {
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let a: Vec<f64> = (0..256).map(|i| (1.0 + i as f64 * 0.618_033_988_749_895).sin() * 10f64.powi(i % 7 - 3)).collect();
        let b: Vec<f64> = (0..256).map(|i| 0.5 + (i as f64 * 0.377_960_518_819_6).cos().abs() * 10f64.powi(i % 5 - 2)).collect();
        let out = run_kernel(&ctx, ARITHMETIC_PROBE, &[bytemuck::cast_slice(&wides(&a, precision)), bytemuck::cast_slice(&wides(&b, precision))], a.len() * 8);
        // inputs as the device sees them (double-float drops the bits below ~2^-48)
        let seen = |v: f64| {
            let packed = wide(v, precision);
            match precision {
                Precision::F64 => v,
                Precision::DoubleFloat => f32::from_bits(packed as u32) as f64 + f32::from_bits((packed >> 32) as u32) as f64,
            }
        };
        let tolerance = match precision {
            // w_parts hands f64 back as an f32 pair: ~48 bits
            Precision::F64 => 2e-14,
            Precision::DoubleFloat => 1e-13,
        };
        for (i, (&a, &b)) in a.iter().zip(&b).enumerate() {
            let (a, b) = (seen(a), seen(b));
            let ops = [("add", a + b, a.abs() + b.abs()), ("mul", a * b, (a * b).abs()), ("div", a / b, (a / b).abs()), ("sqrt", a.abs(), a.abs())];
            for (k, (name, expect, size)) in ops.iter().enumerate() {
                let got = out[i * 8 + 2 * k] as f64 + out[i * 8 + 2 * k + 1] as f64;
                let err = (got - expect).abs() / size;
                assert!(err < tolerance, "{} {name}({a}, {b}) = {got}, expected {expect} (rel. error {err:.2e})", precision.name());
            }
        }
    }
}

const CHAIN_PROBE: &str = "
@group(0) @binding(0) var<storage, read> v: array<W>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    w_init(select(1u, 0u, arrayLength(&out) > 0u));
    let i = gid.x * 5u;
    if i + 4u >= arrayLength(&v) {
        return;
    }
    // a detector position component: f·fdet + s·sdet + pix0, then scaled by 1/|pos|
    let sum = w_add(w_add(w_mul(v[i], v[i + 1u]), w_mul(v[i + 2u], v[i + 3u])), v[i + 4u]);
    let r = w_parts(w_div(sum, w_sqrt(w_mul(sum, sum))));
    let q = w_parts(sum);
    out[4u * gid.x] = q.x;
    out[4u * gid.x + 1u] = q.y;
    out[4u * gid.x + 2u] = r.x;
    out[4u * gid.x + 3u] = r.y;
}";

/// Wide results fed into further wide operations keep their low parts. (Single operations on
/// buffer values passed on lavapipe while chains lost the TwoSum error term to NIR's
/// algebraic rewriting; this is the test that caught it.)
#[test]
fn chained_wide_operations_keep_their_low_parts() {
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let rows: Vec<[f64; 5]> = (0..64)
            .map(|i| {
                let t = i as f64 * 0.731;
                [0.1182 + t * 1e-3, -0.005998 / (1.0 + t * 1e-7), 0.17862 - t * 1e-3, -0.99997 / (1.0 + t * 3e-7), 0.216343050492215 + t * 1e-4]
            })
            .collect();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let out = run_kernel(&ctx, CHAIN_PROBE, &[bytemuck::cast_slice(&wides(&flat, precision))], rows.len() * 4);
        for (i, r) in rows.iter().enumerate() {
            let expect = r[0] * r[1] + r[2] * r[3] + r[4];
            let got = out[4 * i] as f64 + out[4 * i + 1] as f64;
            let unit = out[4 * i + 2] as f64 + out[4 * i + 3] as f64;
            assert!(((got - expect) / expect).abs() < 1e-13, "{}: row {i}: {got} vs {expect}", precision.name());
            assert!((unit - expect.signum()).abs() < 1e-13, "{}: row {i}: x/|x| = {unit}", precision.name());
        }
    }
}

/// A second render of the same plan on one context allocates no buffer: every one comes back
/// from the first job's pool (and the image is the same).
#[test]
fn later_jobs_reuse_the_buffers_of_earlier_ones() {
    // a context of its own (plain fetch forced), so that no other test's jobs run on it
    let opts = GpuOptions { precision: Some(Precision::DoubleFloat), fetch: Some(super::Fetch::Plain), ..GpuOptions::default() };
    let Some(_) = context(Precision::DoubleFloat) else { return };
    let ctx = GpuContext::shared(&opts).expect("a context with plain fetch");
    let plan = tiny_plan();
    // only the image: the render's device image goes back to the pool with the rest
    let first = super::render_spots_with(&plan, &opts).expect("first render").image;
    let allocated = ctx.buffers_allocated();
    let second = super::render_spots_with(&plan, &opts).expect("second render").image;
    assert_eq!(ctx.buffers_allocated(), allocated, "the second job allocated buffers");
    assert_eq!(first, second);
}

/// The precision self-test passes for both variants on this adapter (lavapipe in CI), run
/// directly: a context may have skipped it because a record said it had passed before.
#[test]
fn both_variants_pass_the_precision_self_test() {
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let _exclusive = ctx.exclusive();
        assert_eq!(pollster::block_on(super::selftest::run(&ctx)).expect("the self-test dispatch"), Ok(()), "{} on {}", precision.name(), ctx.adapter_name());
    }
}

/// Whether this adapter writes timestamps, said loudly either way (docs/gpu.md records it for
/// lavapipe); where it does, a render reports a kernel time that is positive and no longer
/// than the whole render.
#[test]
fn kernel_time_where_the_adapter_writes_timestamps() {
    let Some(ctx) = context(Precision::DoubleFloat) else { return };
    let opts = GpuOptions { precision: Some(Precision::DoubleFloat), ..GpuOptions::default() };
    let start = std::time::Instant::now();
    let rendered = super::render_spots_with(&tiny_plan(), &opts).expect("render");
    let whole = start.elapsed().as_secs_f64();
    match (ctx.timestamp_period, rendered.kernel_seconds) {
        (None, None) => shout(&format!("{} offers no TIMESTAMP_QUERY: kernel time n/a", ctx.adapter_name())),
        (Some(period), Some(k)) => {
            shout(&format!("{} writes timestamps (period {period} ns): kernel {k:.3e} s of {whole:.3e} s", ctx.adapter_name()));
            assert!(k > 0.0 && k <= whole, "kernel {k} s, render {whole} s");
        }
        (period, k) => panic!("timestamp period {period:?} but kernel time {k:?}"),
    }
}

/// The image gathered on the device is the one read back tile by tile, bit for bit, and so
/// are the switch pixel of -c_parity's one-shot interpolation switch and the printed solid
/// angle (the device's per-block sums against the host's serial f64 sum: within 1e-12, the
/// same `%g`), over tilings that split blocks of the ROI's rows differently.
#[test]
fn device_gathered_render_equals_the_tile_read_back() {
    let Some(_) = context(Precision::DoubleFloat) else { return };
    let control = crate::control::RenderControl::default();
    // -cell 50 60 70 90 90 90 -default_F 10 -N 3 -lambda 1 -distance 100 -pixel 0.1 -detpixels 70
    let mut common = nanobragg_core::params::ExperimentParams::default();
    let set = |p: &mut nanobragg_core::params::ExperimentParams| -> Result<(), nanobragg_core::params::ParamError> {
        p.cell([50.0, 60.0, 70.0, 90.0, 90.0, 90.0])?.default_f(10.0)?.n_cells(3)?.lambda(1.0)?.distance(100.0)?.pixel(0.1)?.detpixels(70)?;
        Ok(())
    };
    set(&mut common).unwrap();
    let plans = [
        ("spots", plan_of(common.clone().oversample(2))),
        ("ROI", plan_of(common.clone().roi([3, 60, 5, 41]).unwrap())),
    ];
    for (what, plan) in &plans {
        for binding_limit in [None, Some(6000)] {
            let opts = GpuOptions { precision: Some(Precision::DoubleFloat), binding_limit, ..GpuOptions::default() };
            let gpu = GpuDevice::shared(&opts).unwrap();
            let grids = &gpu.context().grid;
            let device = pollster::block_on(super::render_gathered(&gpu, grids, plan, &control, false, Some(super::Gathering::OnDevice))).unwrap();
            let host = pollster::block_on(super::render_gathered(&gpu, grids, plan, &control, false, Some(super::Gathering::OnHost))).unwrap();
            assert!(device.device.is_some() && host.device.is_none());
            assert!(device.image.iter().zip(&host.image).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}, {binding_limit:?}: images differ");
            assert_eq!(device.device.as_ref().unwrap().read().unwrap(), device.image, "{what}: the device image is the one read back");
            let (a, b) = (device.stats.omega_sum, host.stats.omega_sum);
            shout(&format!("{what}, binding limit {binding_limit:?}: solid angle {a:e} on the device, {b:e} read back"));
            assert!(a > 0.0 && (a / b - 1.0).abs() < 1e-12, "{what}: {a} vs {b}");
            assert_eq!(nanobragg_core::cfmt::fmt_g(a / plan.steps as f64), nanobragg_core::cfmt::fmt_g(b / plan.steps as f64));
            assert_eq!(device.interpolation_switched_at, host.interpolation_switched_at);
        }
    }
}

/// The device's block sums are the Rust mirror's, bit for bit.
#[test]
fn device_block_sums_are_the_mirror() {
    let Some(ctx) = context(Precision::DoubleFloat) else { return };
    let values: Vec<f32> = (0..100_003u32).map(|i| ((i.wrapping_mul(2654435761) >> 8) as f32) * 1e-7 + if i % 3 == 0 { 1e3 } else { 0.0 }).collect();
    let image = super::DeviceImage::upload(&ctx, &values, values.len(), 1).unwrap();
    let encoder = ctx.device.create_command_encoder(&Default::default());
    let device = pollster::block_on(ctx.checked_async("block sums", super::gather::submit_and_sum(&ctx, encoder, image.buffer(), values.len()))).unwrap();
    let mirror = super::gather::total(super::gather::block_sums(&values));
    assert_eq!(device.to_bits(), mirror.to_bits(), "device {device} vs mirror {mirror}");
}

/// A device of its own (no other test's work shows in its transfer counts), double-float with
/// plain fetch; None where `context` skips.
fn own_device(binding_limit: Option<u64>) -> Option<GpuDevice> {
    context(Precision::DoubleFloat)?;
    let opts = GpuOptions { precision: Some(Precision::DoubleFloat), fetch: Some(super::Fetch::Plain), binding_limit, ..GpuOptions::default() };
    Some(GpuDevice::open(&opts).expect("a device of its own"))
}

/// An experiment of 17³ structure factors `f(h, k, l)` (4913 entries, 19652 bytes as f32: a
/// 12000-byte binding limit splits them at h = 2) on a 64² detector, rotating 1° a frame.
fn experiment_of(f: fn(i32, i32, i32) -> f64) -> crate::model::Experiment {
    use nanobragg_core::structure::StructureFactors;
    let values = (-8..=8).flat_map(|h| (-8..=8).flat_map(move |k| (-8..=8).map(move |l| f(h, k, l)))).collect();
    let sf = StructureFactors { h_min: -8, h_max: 8, k_min: -8, k_max: 8, l_min: -8, l_max: 8, values };
    let inputs = crate::model::Inputs { structure_factors: Some(Arc::new(sf)), reflections: 17 * 17 * 17, ..Default::default() };
    // -cell 50 50 50 90 90 90 -N 5 -lambda 1 -distance 100 -pixel 0.2 -detpixels 64 -oversample 1 -phi 0 -osc 1
    let mut p = nanobragg_core::params::ExperimentParams::default();
    let set = |p: &mut nanobragg_core::params::ExperimentParams| -> Result<(), nanobragg_core::params::ParamError> {
        p.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])?.n_cells(5)?.lambda(1.0)?.distance(100.0)?.pixel(0.2)?.detpixels(64)?.oversample(1).phi(0.0)?.osc(1.0)?;
        Ok(())
    };
    set(&mut p).unwrap();
    crate::model::resolve(&p, &inputs, &Default::default(), &mut Vec::new()).unwrap()
}

fn first_sf(h: i32, k: i32, l: i32) -> f64 {
    10.0 + ((7 * h + 13 * k + 3 * l).rem_euclid(17)) as f64
}

fn second_sf(h: i32, k: i32, l: i32) -> f64 {
    30.0 + ((5 * h + 11 * k + 2 * l).rem_euclid(23)) as f64
}

fn bits(image: &[f32]) -> Vec<u32> {
    image.iter().map(|v| v.to_bits()).collect()
}

/// A rotation series uploads its structure factors once: the second frame of a `Simulator`
/// moves far fewer bytes to the device than the grid's f32 copy, whole or split over both grid
/// bindings, and both frames are bit for bit the renders that upload the grid again. A grid
/// with other values (a new `generation`) is uploaded for its own simulator and renders as
/// itself: a kept grid used for it would give the old grid's image.
#[test]
fn structure_factors_stay_on_the_device_across_frames() {
    use crate::engine::EngineChoice;
    use crate::simulator::{Frame, Simulator};
    let control = crate::control::RenderControl::default();
    for binding_limit in [None, Some(12000)] {
        let Some(device) = own_device(binding_limit) else { return };
        let uploaded_by = |work: &mut dyn FnMut()| {
            let before = device.transfers().uploaded;
            work();
            device.transfers().uploaded - before
        };
        let mut sim = Simulator::with_device(experiment_of(first_sf), EngineChoice::Gpu, device.clone());
        let grid_bytes = 4 * sim.plan().grid.as_ref().unwrap().values().len() as u64;
        let frames = [sim.frame(), Frame { number: 2, ..sim.frame() }.with_phi_deg(5.0)];
        let mut uploaded = Vec::new();
        let mut images = Vec::new();
        for frame in &frames {
            uploaded.push(uploaded_by(&mut || images.push(bits(&sim.render(frame, &control).unwrap().image))));
        }
        shout(&format!("binding limit {binding_limit:?}: grid {grid_bytes} B, frames uploaded {uploaded:?} B"));
        assert!(uploaded[0] >= grid_bytes, "the first frame uploaded {} B, less than the grid ({grid_bytes} B)", uploaded[0]);
        assert!(uploaded[1] < grid_bytes / 4, "the second frame uploaded {} B (grid {grid_bytes} B)", uploaded[1]);
        assert_ne!(images[0], images[1], "the frames do not differ: the test shows nothing");
        // the same frames with the grid uploaded again
        for (frame, image) in frames.iter().zip(&images) {
            sim.forget_structure_grid();
            let moved = uploaded_by(&mut || assert_eq!(&bits(&sim.render(frame, &control).unwrap().image), image, "frame {} differs from the render that uploads the grid", frame.number));
            assert!(moved >= grid_bytes);
        }
        // a grid with other values, while the first one is kept: uploaded, and rendered as itself
        let mut other = Simulator::with_device(experiment_of(second_sf), EngineChoice::Gpu, device.clone());
        let mut image = Vec::new();
        assert!(uploaded_by(&mut || image = bits(&other.render(&frames[0], &control).unwrap().image)) >= grid_bytes, "the new grid was not uploaded");
        assert_ne!(image, images[0], "the new grid rendered as the kept one");
        other.forget_structure_grid();
        assert_eq!(bits(&other.render(&frames[0], &control).unwrap().image), image, "the new grid's render differs from a fresh upload");
    }
}

/// Two simulators with different structure factors take turns on one device: after its first
/// render, each uploads only its per-frame data (parameters, orientations, sources, mask and
/// the tile dispatches: the same bytes every frame, far fewer than a grid), never its grid
/// again, and every image is bit for bit the render of a fresh simulator, which uploads its
/// grid. With one grid kept per device, every turn would upload a grid.
#[test]
fn two_simulators_take_turns_on_one_device_without_uploading_their_grids_again() {
    use crate::engine::EngineChoice;
    use crate::simulator::Simulator;
    let control = crate::control::RenderControl::default();
    for binding_limit in [None, Some(12000)] {
        let Some(device) = own_device(binding_limit) else { return };
        let mut sims = [first_sf, second_sf].map(|f| Simulator::with_device(experiment_of(f), EngineChoice::Gpu, device.clone()));
        let grid_bytes = 4 * sims[0].plan().grid.as_ref().unwrap().values().len() as u64;
        // per simulator: bytes uploaded by each of its renders, and its images
        let mut uploaded: [Vec<u64>; 2] = Default::default();
        let mut images: [Vec<Vec<u32>>; 2] = Default::default();
        for turn in 0..6 {
            let which = turn % 2;
            let frame = sims[which].frame().with_phi_deg((turn / 2) as f64 * 2.0);
            let before = device.transfers().uploaded;
            let image = bits(&sims[which].render(&frame, &control).unwrap().image);
            uploaded[which].push(device.transfers().uploaded - before);
            // a fresh simulator of the same experiment on the same device: its grid uploaded anew
            let mut fresh = Simulator::with_device(experiment_of([first_sf, second_sf][which]), EngineChoice::Gpu, device.clone());
            let before = device.transfers().uploaded;
            assert_eq!(bits(&fresh.render(&frame, &control).unwrap().image), image, "turn {turn}: simulator {which} differs from a fresh render");
            assert!(device.transfers().uploaded - before >= grid_bytes, "turn {turn}: the fresh simulator did not upload its grid");
            images[which].push(image);
        }
        shout(&format!("binding limit {binding_limit:?}: grid {grid_bytes} B; uploaded per render {uploaded:?} B"));
        for which in 0..2 {
            assert!(uploaded[which][0] >= grid_bytes, "simulator {which}'s first render uploaded {} B, less than its grid ({grid_bytes} B)", uploaded[which][0]);
            for (k, &u) in uploaded[which].iter().enumerate().skip(1) {
                assert!(u < grid_bytes / 4, "simulator {which}'s render {k} uploaded {u} B: its grid again ({grid_bytes} B)?");
                assert_eq!(u, uploaded[which][1], "simulator {which}'s later renders upload different amounts: {:?}", uploaded[which]);
            }
        }
        assert_ne!(images[0][0], images[1][0], "the two structure factors render alike: the test shows nothing");
        assert_ne!(images[0][0], images[0][1], "the frames do not differ: the test shows nothing");
    }
}

/// A device is freed with its last holder: neither the `GpuDevice` clones, nor a simulator
/// holding one, nor a rendered image left on the device keeps it once all are dropped (no
/// registry does: `open` is not `shared`); while any one is alive, the device is.
#[test]
fn dropping_the_last_holder_frees_the_device() {
    use crate::engine::EngineChoice;
    use crate::simulator::Simulator;
    let Some(device) = own_device(None) else { return };
    let inner = device.downgrade();
    let mut sim = Simulator::with_device(experiment_of(first_sf), EngineChoice::Gpu, device.clone());
    let rendered = sim.render(&sim.frame(), &Default::default()).unwrap();
    assert!(rendered.device.is_some(), "the render left no image on the device: the test shows less");
    let copy = device.clone();
    drop(device);
    drop(copy);
    assert!(inner.upgrade().is_some(), "the device went while a simulator held it");
    drop(sim);
    assert!(inner.upgrade().is_some(), "the device went while a rendered image was on it");
    assert_eq!(rendered.device.as_ref().unwrap().read().unwrap(), rendered.image);
    drop(rendered);
    assert!(inner.upgrade().is_none(), "the device outlived its last holder");
}

/// `fut` run to completion by polling it with a waker that does nothing, never parking the
/// thread: an executor that cannot block, as a browser's event loop cannot. A future that
/// waits for a wake-up instead of being answered in place never finishes here.
fn run_without_blocking<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..10_000 {
        if let std::task::Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::yield_now();
    }
    panic!("the future was still pending after 10000 polls: it waits for a wake-up, not for the device");
}

/// The render and the recorded frame as futures (a browser face's path: `render_async`,
/// `record_async` on a device the caller opened) finish under an executor that never blocks,
/// with the same bits as the blocking calls of another simulator: the noise stages included.
#[test]
fn async_render_and_record_need_no_blocking_executor() {
    use crate::engine::EngineChoice;
    use crate::simulator::Simulator;
    let Some(device) = own_device(None) else { return };
    let mut exp = experiment_of(first_sf);
    exp.response.calculate_noise = true;
    let mut waiting = Simulator::with_device(exp.clone(), EngineChoice::Gpu, device.clone());
    let mut blocking = Simulator::with_device(exp, EngineChoice::Gpu, device);
    let control = crate::control::RenderControl::default();
    for k in 1..=2u64 {
        let frame = blocking.frame().with_phi_deg((k - 1) as f64).numbered(k);
        let awaited = run_without_blocking(waiting.record_async(&frame, &control)).expect("an awaited frame");
        let blocked = blocking.record(&frame, &control).expect("a blocking frame");
        assert!(matches!(awaited.photons.engine, nanobragg_core::engine::EngineUsed::Gpu { .. }), "frame {k} did not render on the GPU");
        assert_eq!(bits(&awaited.photons.image), bits(&blocked.photons.image), "frame {k}: photons");
        assert_eq!(awaited.int_image, blocked.int_image, "frame {k}: integer image");
        let noise = |r: &crate::Recorded| r.noise.as_ref().map(|n| (format!("{:?}", n.pixels), n.engine.clone())).expect("a noise image");
        assert_eq!(noise(&awaited), noise(&blocked), "frame {k}: noise image");
    }
}

/// The render path awaits; the crate blocks (`pollster::block_on`) only in public entry points
/// that have a future twin named `<name>_async`, or in the few native conveniences listed
/// here with the reason: a blocking call added deep in the path would fail a browser face
/// (which cannot block), and shows here.
#[test]
fn only_entry_points_block() {
    // (function, why it may block without an `_async` twin)
    let conveniences = [
        ("shared_if", "the process-wide device: a native face's convenience (`open_if_async` is the twin)"),
        ("adapter_offers_pipeline_cache", "a native face's question about its disk cache"),
        ("trace_pixel", "-trace_pixel, a native diagnostic"),
        ("render", "engine::render on the shared device, the CLI's one-call render (`Simulator::render_async` is the library's)"),
        ("read_back", "tests' probes only (cfg(test))"),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            sources.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    let all: String = sources.iter().map(|(_, s)| s.as_str()).collect();
    let fn_name = |line: &str| -> Option<String> {
        let at = line.find("fn ")?;
        let head = &line[..at];
        if !(head.trim().is_empty() || head.trim_start().starts_with("pub") || head.trim_start().starts_with("async")) {
            return None;
        }
        Some(line[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
    };
    let mut blocking = Vec::new();
    for (path, text) in &sources {
        let mut current: Option<String> = None;
        let mut in_tests = false;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("mod tests {") {
                in_tests = true;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(name) = fn_name(line) {
                current = Some(name);
            }
            if line.contains("pollster::block_on(") && !in_tests {
                let name = current.clone().unwrap_or_default();
                let twin = all.contains(&format!("async fn {name}_async("));
                let allowed = conveniences.iter().any(|(c, _)| *c == name);
                assert!(twin || allowed, "{}:{}: `{name}` blocks, without a `{name}_async` twin: await instead, or list it with the reason", path.display(), n + 1);
                blocking.push(name);
            }
        }
    }
    // the test sees the crate's entry points (it would pass vacuously on a file it misread)
    for expected in ["render_finished", "record", "open"] {
        assert!(blocking.iter().any(|b| b == expected), "`{expected}` not found blocking: {blocking:?}");
    }
}

/// The files under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// What `nothing_is_written_to_disk_without_a_cache_folder` runs in a process of its own, with
/// HOME and XDG_CACHE_HOME pointing into an empty folder: a device opened with nothing forced
/// (so the variant is chosen) and no cache folder, and a render.
#[test]
#[ignore = "run by nothing_is_written_to_disk_without_a_cache_folder in a process of its own"]
fn render_without_a_cache_folder() {
    let device = GpuDevice::open(&GpuOptions::default()).expect("a device");
    device.render_spots(&tiny_plan()).expect("a render");
    assert!(!device.keeps_pipelines());
    assert!(device.variant().contains("not recorded"), "{}", device.variant());
}

/// Without a cache folder nothing reaches the disk: a process whose HOME and XDG_CACHE_HOME are
/// an empty folder opens a device (choosing its variant) and renders, and the folder stays
/// empty (the crate reads neither variable: the CLI's face does; Mesa's own shader cache is
/// turned off there). With a folder, the variant
/// record appears there, and the pipeline cache where the adapter offers one.
#[test]
fn nothing_is_written_to_disk_without_a_cache_folder() {
    if context(Precision::DoubleFloat).is_none() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let name = "tests::render_without_a_cache_folder";
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--test-threads", "1"])
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("xdg"))
        // Mesa's own shader cache (the driver's, in XDG_CACHE_HOME) is not nanobragg's to keep
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(child.status.success() && stdout.contains(&format!("test {name} ... ok")), "{stdout}\n{}", String::from_utf8_lossy(&child.stderr));
    assert_eq!(files_under(home.path()), Vec::<std::path::PathBuf>::new(), "written without a cache folder");

    let cache = tempfile::tempdir().unwrap();
    let device = GpuDevice::open(&GpuOptions { cache_dir: Some(cache.path().to_path_buf()), ..GpuOptions::default() }).expect("a device");
    device.render_spots(&tiny_plan()).expect("a render");
    let files = files_under(cache.path());
    let named = |prefix: &str| files.iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix)).count();
    assert_eq!(named("gpu-variant-"), 1, "no variant record in {files:?} ({})", device.variant());
    let offered = super::context::adapter_offers_pipeline_cache(&GpuOptions::default()).unwrap();
    assert_eq!(device.keeps_pipelines(), offered);
    assert_eq!(files.len(), 1 + usize::from(offered), "expected the record and {} pipeline cache: {files:?}", if offered { "a" } else { "no" });
    shout(&format!("with a cache folder: {files:?}; pipeline cache offered: {offered}"));
}

const SUBPIXEL_PROBE: &str = "
// per case: pix0, fdet, sdet, odet, beam (15 values), subpixel size, thickstep, distance
@group(0) @binding(0) var<storage, read> geometry: array<W>;
// per case: fast, slow, sub_s, sub_f, layer, oversample, curved, first fast, first slow
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    w_init(select(1u, 0u, arrayLength(&out) > 0u));
    let c = gid.x;
    if 6u * c >= arrayLength(&out) {
        return;
    }
    let v = 18u * c;
    let i = 9u * c;
    let grid = SubpixelGrid(w3_at(v), w3_at(v + 3u), w3_at(v + 6u), w3_at(v + 9u), w3_at(v + 12u), geometry[v + 15u], geometry[v + 16u], geometry[v + 17u], indices[i + 5u], indices[i + 6u] != 0u, vec2<i32>(i32(indices[i + 7u]), i32(indices[i + 8u])));
    let p = subpixel_position(grid, indices[i], indices[i + 1u], indices[i + 2u], indices[i + 3u], indices[i + 4u]);
    let x = w_parts(p.x);
    let y = w_parts(p.y);
    let z = w_parts(p.z);
    out[6u * c] = x.x;
    out[6u * c + 1u] = x.y;
    out[6u * c + 2u] = y.x;
    out[6u * c + 3u] = y.y;
    out[6u * c + 4u] = z.x;
    out[6u * c + 5u] = z.y;
}

fn w3_at(k: u32) -> W3 {
    return W3(geometry[k], geometry[k + 1u], geometry[k + 2u]);
}";

/// subpixel.wgsl, the formula the render kernel and the background stage share, against its
/// Rust mirror (`SubpixelGrid::position`, what the CPU engine and the CPU background use):
/// flat detectors to W precision, curved ones to W precision of the kernel's sine (a Taylor
/// series where the mirror calls libm), over rotated detectors, oversampling, sensor layers and
/// panels placed on a shared grid (`first`).
#[test]
fn subpixel_positions_are_the_mirror() {
    use nanobragg_core::engine::subpixel::SubpixelGrid;
    let rotate = |v: [f64; 3], axis: [f64; 3], a: f64| crate::physics::rotate_axis(v, axis, a);
    let tilt = |v: [f64; 3]| rotate(rotate(v, [0.0, 0.0, 1.0], 0.21), [0.0, 1.0, 0.0], -0.13);
    let (pix0, beam) = ([0.1, 0.0512, -0.0498], [1.0, 0.0, 0.0]);
    let [fdet, sdet, odet] = [[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]].map(tilt);
    let mut cases: Vec<(SubpixelGrid, [u32; 5])> = Vec::new();
    for curved in [false, true] {
        for (oversample, thickstep) in [(1, 0.0), (3, 1.5e-4)] {
            let grid = SubpixelGrid {
                pix0: &pix0,
                fdet: &fdet,
                sdet: &sdet,
                odet: &odet,
                beam: &beam,
                subpixel_size: 1.72e-4 / oversample as f64,
                oversample,
                thickstep,
                distance: 0.1,
                curved,
                first: [0, 0],
            };
            for first in [[0, 0], [256, 512], [-3, 1029]] {
                for (fast, slow, sub_s, sub_f, layer) in [(0, 0, 0, 0, 0), (511, 7, 1, 2, 1), (1023, 2047, 2, 0, 2), (37, 801, 0, 1, 0)] {
                    let sub = |s: u32| s.min(oversample as u32 - 1);
                    cases.push((SubpixelGrid { first, ..grid }, [fast, slow, sub(sub_s), sub(sub_f), if thickstep > 0.0 { layer } else { 0 }]));
                }
            }
        }
    }
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let geometry: Vec<f64> = cases
            .iter()
            .flat_map(|(g, _)| [g.pix0, g.fdet, g.sdet, g.odet, g.beam].into_iter().flatten().copied().chain([g.subpixel_size, g.thickstep, g.distance]))
            .collect();
        let indices: Vec<u32> = cases.iter().flat_map(|(g, i)| i.iter().copied().chain([g.oversample as u32, u32::from(g.curved), g.first[0] as u32, g.first[1] as u32])).collect();
        let out = run_kernel(&ctx, &format!("{}\n{SUBPIXEL_PROBE}", super::shader::SUBPIXEL), &[bytemuck::cast_slice(&wides(&geometry, precision)), bytemuck::cast_slice(&indices)], cases.len() * 6);
        let mut worst = 0.0f64;
        for (c, (g, [fast, slow, sub_s, sub_f, layer])) in cases.iter().enumerate() {
            let want = g.position(*fast as usize, *slow as usize, *sub_s as usize, *sub_f as usize, *layer as usize);
            let got: [f64; 3] = std::array::from_fn(|k| out[6 * c + 2 * k] as f64 + out[6 * c + 2 * k + 1] as f64);
            let err = (0..3).map(|k| (got[k] - want[k]).abs()).fold(0.0, f64::max) / crate::physics::magnitude(want);
            worst = worst.max(err);
            assert!(err < 1e-12, "{}, case {c} (curved {}): {got:?} vs {want:?}, rel. error {err:.2e}", precision.name(), g.curved);
        }
        shout(&format!("sub-pixel positions, {}: worst rel. error {worst:.2e} against the f64 mirror", precision.name()));
    }
}

/// A crystal-shape code the kernel has no case for renders NaN in every pixel, not another
/// shape's spots; the host's own codes render finite images.
#[test]
fn unknown_shape_code_renders_nan() {
    use super::job::{Job, Rect};
    let plan = tiny_plan();
    for precision in [Precision::F64, Precision::DoubleFloat] {
        let Some(ctx) = context(precision) else { continue };
        let render = |code: Option<f64>| -> Vec<f32> {
            let job = pollster::block_on(Job::with_constants(&ctx, &super::context::GridSlot::default(), &plan, None, 1, |constants: &mut Vec<(&'static str, f64)>| {
                if let Some(code) = code {
                    constants.iter_mut().filter(|(name, _)| *name == "SHAPE").for_each(|(_, v)| *v = code);
                }
            }))
            .expect("job");
            let mut values = Vec::new();
            pollster::block_on(job.render_rect(&plan, Rect::roi(&plan), 0, false, &mut |_, p| {
                values.push(p.value);
                Ok(())
            }))
            .expect("render");
            values
        };
        let known = render(None);
        assert!(!known.is_empty() && known.iter().all(|v| v.is_finite()) && known.iter().any(|&v| v > 0.0), "{}: {known:?}", precision.name());
        let unknown = nanobragg_core::params::XtalShape::ALL.len() as f64;
        let refused = render(Some(unknown));
        assert!(refused.iter().all(|v| v.is_nan()), "{}: shape code {unknown} gave {refused:?}", precision.name());
    }
}
