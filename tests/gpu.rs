//! GPU engine behaviour beyond the golden corpus: adapter errors, tiling and binding splits,
//! the full supervisor frame, a detector larger than one storage binding, determinism and
//! the GPU pixel trace.

mod gpu_support;

use gpu_support::{Agreement, GoldenCase, golden_cases, golden_dir, gpu_available, plan_from_args};
use nanobragg::cli::raw::EngineChoice;
use nanobragg::engine::cpu::{self, PixelContext, Tracer};
use nanobragg::engine::gpu::{self, GpuOptions};
use nanobragg::engine::plan::Plan;
use nanobragg::engine::{self, EngineUsed};
use nanobragg::error::Error;

fn case(name: &str) -> Option<GoldenCase> {
    let root = golden_dir(name)?;
    Some(golden_cases(&root).into_iter().find(|c| c.name.starts_with(name)).unwrap_or_else(|| panic!("no golden case {name}")))
}

fn cheap_plan(detpixels: usize) -> Plan {
    let n = detpixels.to_string();
    plan_from_args(
        &["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "10", "-N", "2", "-lambda", "1", "-distance", "200", "-pixel", "0.05", "-detpixels", &n, "-oversample", "1"],
        None,
    )
}

/// CPU reference values of the given pixels (interpolation as at the start of a run).
fn cpu_pixels(plan: &Plan, pixels: &[usize]) -> Vec<f32> {
    let ctx = PixelContext { interpolate: plan.interpolation != nanobragg::engine::plan::Interpolation::Nearest };
    pixels.iter().map(|&i| cpu::render_pixel(plan, i % plan.fpixels, i / plan.fpixels, ctx, None).value).collect()
}

/// Deterministic pseudo-random pixel indices.
fn sample(count: usize, pixels: usize, seed: u64) -> Vec<usize> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % pixels
        })
        .collect()
}

/// A backend that cannot exist on this operating system.
const ABSENT_BACKEND: &str = if cfg!(target_os = "macos") { "dx12" } else { "metal" };

#[test]
fn missing_adapter_is_one_clear_error_and_auto_falls_back() {
    let plan = cheap_plan(8);
    match gpu::render_spots(&plan, Some(ABSENT_BACKEND)) {
        Err(Error::Gpu(msg)) => assert!(msg.starts_with("no GPU adapter found ("), "{msg}"),
        other => panic!("expected a GPU error, got {:?}", other.map(|r| r.engine)),
    }
    let fallback = engine::render(&plan, EngineChoice::Auto, &GpuOptions::for_backend(Some(ABSENT_BACKEND)), &Default::default()).expect("auto falls back");
    assert_eq!(fallback.engine, EngineUsed::Cpu);
    let bad = GpuOptions { backend: Some("cuda".into()), ..GpuOptions::default() };
    assert!(matches!(gpu::render_spots_with(&plan, &bad), Err(Error::Gpu(m)) if m.contains("unknown backend 'cuda'")));
}

#[test]
fn engine_reports_adapter_and_backend() {
    if !gpu_available("engine_reports_adapter_and_backend") {
        return;
    }
    let r = gpu::render_spots(&cheap_plan(8), None).unwrap();
    match r.engine {
        // "<API>, <variant>, <why>": auto says how it chose (measured, or from the record)
        EngineUsed::Gpu { adapter, backend } => {
            assert!(!adapter.is_empty() && (backend.contains(", f64, auto: ") || backend.contains(", double-float, auto: ")), "{adapter} / {backend}")
        }
        EngineUsed::Cpu => panic!("GPU render reported the CPU engine"),
    }
}

/// Tiny bindings force 64 tiles and split the 2197-entry structure-factor grid over both grid
/// bindings; with -c_parity's one-shot interpolation switch (a38) crossing tile borders the
/// image must not change by a single bit.
#[test]
fn tiling_and_grid_split_leave_the_image_unchanged() {
    if !gpu_available("tiling_and_grid_split_leave_the_image_unchanged") {
        return;
    }
    let Some(case) = case("a38_") else { return };
    let plan = case.plan(true);
    assert_eq!(plan.grid.as_ref().map(|g| g.values().len()), Some(2197));
    let whole = gpu::render_spots_with(&plan, &GpuOptions::default()).unwrap();
    let tiled = gpu::render_spots_with(&plan, &GpuOptions { binding_limit: Some(6000), ..GpuOptions::default() }).unwrap();
    assert!(whole.interpolation_switched_at.is_some());
    assert_eq!(whole.interpolation_switched_at, tiled.interpolation_switched_at);
    assert_eq!(whole.interpolation_switched_at, cpu::render_spots(&plan).interpolation_switched_at);
    assert!(whole.image.iter().zip(&tiled.image).all(|(a, b)| a.to_bits() == b.to_bits()), "tiling changed the image");
    assert_eq!(whole.stats.omega_sum, tiled.stats.omega_sum);
}

#[test]
fn grid_larger_than_two_bindings_is_refused_clearly() {
    if !gpu_available("grid_larger_than_two_bindings_is_refused_clearly") {
        return;
    }
    let Some(case) = case("a36_") else { return };
    let plan = case.plan(false);
    match gpu::render_spots_with(&plan, &GpuOptions { binding_limit: Some(4096), ..GpuOptions::default() }) {
        Err(Error::Gpu(msg)) => assert!(msg.contains("structure-factor grid has 2197 entries"), "{msg}"),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.engine)),
    }
}

#[test]
fn two_runs_give_bit_identical_images() {
    if !gpu_available("two_runs_give_bit_identical_images") {
        return;
    }
    // many sources and mosaic domains: the longest per-pixel sums in the corpus
    let Some(case) = case("a56_") else { return };
    let plan = case.plan(false);
    let a = gpu::render_spots(&plan, None).unwrap();
    let b = gpu::render_spots(&plan, None).unwrap();
    assert!(a.image.iter().any(|&v| v > 0.0));
    assert!(a.image.iter().zip(&b.image).all(|(x, y)| x.to_bits() == y.to_bits()), "two GPU runs differ");
}

/// The brightest pixel and then the brightest ones more than `gap` pixels (in fast or slow)
/// from every earlier pick.
fn bright_spots(image: &[f32], fpixels: usize, count: usize, gap: usize) -> Vec<usize> {
    let mut spots: Vec<usize> = Vec::new();
    for _ in 0..count {
        let far = |i: usize| spots.iter().all(|s| (i % fpixels).abs_diff(s % fpixels) > gap || (i / fpixels).abs_diff(s / fpixels) > gap);
        let best = (0..image.len()).filter(|&i| far(i)).max_by(|&a, &b| image[a].total_cmp(&image[b]).then(b.cmp(&a)));
        spots.extend(best);
    }
    spots
}

/// Square windows of side 2·half around `spots`, clipped to the detector.
fn windows(plan: &Plan, spots: &[usize], half: usize) -> Vec<usize> {
    let mut pixels = Vec::new();
    for &s in spots {
        let (f, sl) = (s % plan.fpixels, s / plan.fpixels);
        for y in sl.saturating_sub(half)..(sl + half).min(plan.spixels) {
            for x in f.saturating_sub(half)..(f + half).min(plan.fpixels) {
                pixels.push(y * plan.fpixels + x);
            }
        }
    }
    pixels
}

fn check_sampled(test: &str, plan: &Plan, gpu_image: &[f32], pixels: &[usize]) {
    let cpu = cpu_pixels(plan, pixels);
    let gpu: Vec<f32> = pixels.iter().map(|&i| gpu_image[i]).collect();
    let a = Agreement::measure(&cpu, &gpu);
    let worst = pixels[a.worst_pixel];
    eprintln!(
        "{test}: {} sampled pixels: corr {:.9}  max|Δ|/max {:.3e}  sum ratio {:.9}  worst pixel (fast {}, slow {}): cpu {} gpu {}",
        pixels.len(),
        a.correlation,
        a.max_delta,
        a.sum_ratio,
        worst % plan.fpixels,
        worst / plan.fpixels,
        a.worst_cpu,
        a.worst_gpu
    );
    assert!(a.passes(), "{test}: GPU and CPU disagree: {a:?} at image pixel {worst}");
}

/// The supervisor command of golden a52 without its ROI: the full 2463×2527 frame with
/// Na/Nb/Nc = 36/47/29 and |h| up to ~60, rendered in several tiles and checked against the
/// CPU engine around the four brightest spots and on 3000 scattered pixels.
#[test]
fn supervisor_full_frame_matches_cpu_around_bright_spots() {
    let test = "supervisor_full_frame_matches_cpu_around_bright_spots";
    if !gpu_available(test) {
        return;
    }
    let Some(mut case) = case("a52_") else { return };
    let roi = case.args.iter().position(|a| a == "-roi").expect("a52 has -roi");
    case.args.drain(roi..roi + 5);
    let plan = case.plan(true);
    assert_eq!((plan.fpixels, plan.spixels, plan.n), (2463, 2527, [36.0, 47.0, 29.0]));
    // 16 MiB bindings: five tiles of about 1.4 M pixels
    let r = gpu::render_spots_with(&plan, &GpuOptions { binding_limit: Some(16 << 20), ..GpuOptions::default() }).unwrap();
    let spots = bright_spots(&r.image, plan.fpixels, 4, 40);
    assert!(r.image[spots[0]] > 100.0, "no bright spot found: max {}", r.image[spots[0]]);
    let mut pixels = windows(&plan, &spots, 12);
    pixels.extend(sample(3000, plan.pixels(), 7));
    check_sampled(test, &plan, &r.image, &pixels);
}

/// 6000 × 6000 pixels: the per-pixel results (432 MB) exceed any one 128 MiB storage binding
/// and the 65535-workgroup dispatch limit, so the frame must go through several tiles.
#[test]
fn detector_larger_than_one_binding_matches_cpu() {
    let test = "detector_larger_than_one_binding_matches_cpu";
    if !gpu_available(test) {
        return;
    }
    let plan = cheap_plan(6000);
    let r = gpu::render_spots(&plan, None).unwrap();
    // every 500th row in full (several in every tile), the last pixel, the brightest spot and
    // scattered pixels; tile borders themselves are checked bit-exactly by
    // tiling_and_grid_split_leave_the_image_unchanged
    let mut pixels: Vec<usize> = (0..plan.spixels).step_by(500).flat_map(|row| row * plan.fpixels..(row + 1) * plan.fpixels).collect();
    pixels.push(plan.pixels() - 1);
    pixels.extend(windows(&plan, &[r.stats.max_at], 10));
    pixels.extend(sample(5000, plan.pixels(), 11));
    check_sampled(test, &plan, &r.image, &pixels);
    assert_eq!(r.stats.max_i, r.image.iter().fold(0.0f32, |m, &v| m.max(v)) as f64);
}

#[derive(Default)]
struct Recorder(Vec<(String, Vec<f64>)>);

impl Tracer for Recorder {
    fn value(&mut self, name: &str, v: f64) {
        self.0.push((name.into(), vec![v]));
    }
    fn vector(&mut self, name: &str, v: [f64; 3]) {
        self.0.push((name.into(), v.to_vec()));
    }
    fn phi_step(&mut self, tic: usize, phi_deg: f64, k: f64, f_latt_b: f64, f_latt: f64) {
        self.0.push((format!("phi_step {tic}"), vec![phi_deg, k, f_latt_b, f_latt]));
    }
}

/// The first pixel of `candidates` whose value depends on whether interpolation is on when it
/// starts: traced with the wrong switch state, it would report a different F_cell.
fn interpolation_sensitive(plan: &Plan, mut candidates: impl Iterator<Item = usize>) -> (usize, usize) {
    let at = |i: usize, interpolate| cpu::render_pixel(plan, i % plan.fpixels, i / plan.fpixels, PixelContext { interpolate }, None).value;
    let i = candidates.find(|&i| at(i, true) != at(i, false)).expect("an interpolation-sensitive pixel");
    (i % plan.fpixels, i / plan.fpixels)
}

/// The GPU trace names the same quantities in the same order as the CPU tracer, with values
/// that agree to f32 precision (the quantities the kernel carries in f32) or better.
#[test]
fn gpu_trace_matches_the_cpu_trace() {
    if !gpu_available("gpu_trace_matches_the_cpu_trace") {
        return;
    }
    let (Some(a53), Some(a64), Some(a38)) = (case("a53_"), case("a64_"), case("a38_")) else { return };
    // -c_parity's one-shot interpolation switch: in a38 it flips late, so pixels before it
    // interpolate; here the corner pixel (the first one) leaves the smooth.hkl grid at once,
    // so the in-grid centre that follows must not
    let a38 = a38.plan(true);
    let switch = cpu::render_spots(&a38).interpolation_switched_at.expect("a38 switches interpolation off");
    let before = interpolation_sensitive(&a38, (0..switch).rev());
    let smooth = golden_dir("gpu_trace_matches_the_cpu_trace").unwrap().join("inputs/smooth.hkl");
    let early = plan_from_args(
        &[
            "-c_parity", "-hkl", smooth.to_str().unwrap(), "-interpolate", "-default_F", "5", "-cell", "50", "50", "50", "90", "90", "90",
            "-N", "3", "-lambda", "1", "-distance", "50", "-detpixels", "128", "-pixel", "0.1",
        ],
        None,
    );
    let switch = cpu::render_spots(&early).interpolation_switched_at.expect("the corner leaves the grid");
    let after = interpolation_sensitive(&early, switch + 1..early.pixels());
    // the default mode's per-term factors and water (docs/behaviours.md)
    let water = plan_from_args(
        &[
            "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1", "-distance", "40", "-detpixels", "32",
            "-pixel", "0.4", "-polar", "0.9", "-oversample", "2", "-oversample_omega", "-oversample_polar", "-water", "50", "-phisteps", "2",
        ],
        None,
    );
    // the supervisor's brightest spot; 4×4 oversampling with per-sub-pixel solid angle and
    // polarization (both modes); either side of the interpolation switch
    let cases = [
        (&a53.plan(true), (685, 1039), false),
        (&a64.plan(true), (60, 105), false),
        (&a64.plan(false), (60, 105), false),
        (&water, (9, 20), false),
        (&a38, before, true),
        (&early, after, false),
    ];
    for (plan, (fast, slow), interpolate) in cases {
        let name = format!("pixel ({fast}, {slow})");
        let mut cpu_trace = Recorder::default();
        cpu::render_pixel(plan, fast, slow, PixelContext { interpolate }, Some(&mut cpu_trace));
        let mut gpu_trace = Recorder::default();
        gpu::trace_pixel(plan, fast, slow, None, &mut gpu_trace).unwrap();
        let names = |t: &Recorder| t.0.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&gpu_trace), names(&cpu_trace), "{name}: trace names differ");
        for ((n, c), (_, g)) in cpu_trace.0.iter().zip(&gpu_trace.0) {
            for (c, g) in c.iter().zip(g) {
                assert!((c - g).abs() <= 2e-5 * c.abs().max(1e-30), "{name} {n}: cpu {c} gpu {g}");
            }
        }
    }
}

/// Where the adapter offers a pipeline cache (lavapipe: yes, though it stores only a header),
/// a GPU run leaves it in NANOBRAGG_CACHE_DIR; a damaged cache file changes nothing in the next
/// run's image; `off` writes none.
#[test]
fn pipeline_cache_is_kept_and_a_damaged_one_is_harmless() {
    if !gpu_available("pipeline_cache_is_kept_and_a_damaged_one_is_harmless") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = |dir: &str, out: &str| {
        let args = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "10", "-N", "3", "-detpixels", "16", "-engine", "gpu", "-floatfile", out];
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg"))
            .args(args)
            .current_dir(tmp.path())
            .env("NANOBRAGG_CACHE_DIR", dir)
            .output()
            .expect("run nanobragg");
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        std::fs::read(tmp.path().join(out)).unwrap()
    };
    let first = run(cache.to_str().unwrap(), "a.bin");
    // the pipeline cache's file; the kernel-variant record beside it is tests/gpu_precision.rs's
    let files: Vec<_> = std::fs::read_dir(&cache)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("gpu-variant-"))).collect())
        .unwrap_or_default();
    let adapter_has_cache = nanobragg::engine::gpu::adapter_keeps_pipelines(None).unwrap_or(false);
    if !adapter_has_cache {
        gpu_support::shout("pipeline_cache_is_kept_and_a_damaged_one_is_harmless: the adapter has no pipeline cache; checked only that runs succeed");
        return;
    }
    assert_eq!(files.len(), 1, "one cache file expected in {}: {files:?}", cache.display());
    std::fs::write(&files[0], b"not a pipeline cache at all").unwrap();
    assert_eq!(run(cache.to_str().unwrap(), "b.bin"), first, "a damaged cache changed the image");
    let off = tmp.path().join("off-cache");
    run("off", "c.bin");
    assert!(!off.exists() && !tmp.path().join("off").exists(), "NANOBRAGG_CACHE_DIR=off wrote a cache");
}

/// The polarization rule is resolved once in the plan, so both engines follow it: with
/// `-nopolar -oversample_polar` the default mode keeps the factor at 1 and `-c_parity`
/// recomputes the Kahn factor at every sub-pixel as nanoBragg.c does (docs/behaviours.md).
/// The GPU agrees with the CPU in both modes, and the two modes really differ.
#[test]
fn nopolar_with_oversample_polar_follows_the_mode_on_both_engines() {
    if !gpu_available("nopolar_with_oversample_polar_follows_the_mode_on_both_engines") {
        return;
    }
    let args = [
        "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1", "-distance", "40", "-detpixels", "64",
        "-pixel", "0.4", "-polar", "0.7", "-nopolar", "-oversample", "2", "-oversample_polar",
    ];
    let mut images = Vec::new();
    for c_parity in [false, true] {
        let mut a = args.to_vec();
        if c_parity {
            a.push("-c_parity");
        }
        let plan = plan_from_args(&a, None);
        let cpu_image = cpu::render_spots(&plan).image;
        let gpu_image = gpu::render_spots(&plan, None).expect("GPU render").image;
        let agreement = Agreement::measure(&cpu_image, &gpu_image);
        assert!(agreement.passes(), "c_parity {c_parity}: {}", agreement.describe(plan.fpixels));
        images.push(gpu_image);
    }
    let delta = Agreement::measure(&images[0], &images[1]).max_delta;
    assert!(delta > 0.05, "default and -c_parity GPU images differ by only {delta:e} of the maximum");
}

/// The -oversample_* factors and the water follow the mode on both engines: weighted once per
/// term, the water once per pixel in the default mode; compounded and started from C's water
/// value with `-c_parity` (docs/behaviours.md). The GPU agrees with the CPU in both modes,
/// with every factor per sub-pixel, sensor layers, several sources and a -dmin cut.
#[test]
fn oversample_factors_and_water_follow_the_mode_on_both_engines() {
    if !gpu_available("oversample_factors_and_water_follow_the_mode_on_both_engines") {
        return;
    }
    let base = "-cell 50 50 50 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 40 -detpixels 48 -pixel 0.4 -polar 0.9 -oversample 3 \
                -oversample_omega -oversample_polar -oversample_thick -detector_thick 100 -detector_abs 300 -detector_thicksteps 2 \
                -divergence 0.3 -divsteps 2 -phisteps 2 -osc 0.2 -water 20 -fluence 1e24";
    for extra in ["", "-dmin 6"] {
        let mut images = Vec::new();
        for mode in ["", "-c_parity"] {
            let text = format!("{base} {extra} {mode}");
            let args: Vec<&str> = text.split_whitespace().collect();
            let plan = plan_from_args(&args, None);
            let cpu_image = cpu::render_spots(&plan).image;
            let gpu_image = gpu::render_spots(&plan, None).expect("GPU render").image;
            let agreement = Agreement::measure(&cpu_image, &gpu_image);
            assert!(agreement.passes(), "{extra} {mode}: {}", agreement.describe(plan.fpixels));
            assert!(cpu_image.iter().all(|v| v.is_finite()), "{extra} {mode}: finite");
            images.push(gpu_image);
        }
        let delta = Agreement::measure(&images[0], &images[1]).max_delta;
        assert!(delta > 0.05, "{extra}: default and -c_parity GPU images differ by only {delta:e} of the maximum");
    }
}

/// `-stol` with `-engine gpu`: the amorphous background is added on the device
/// (shaders/background.wgsl) and agrees with the CPU engine's f64 background over several
/// geometries — alone (`-default_F 0`: every pixel within 1e-5 of the brightest, correlation
/// ≥ 0.99999) and under spots (the usual CPU/GPU gate) — and the GPU render really holds it.
#[test]
fn stol_background_on_the_device_matches_the_cpu() {
    if !gpu_available("stol_background_on_the_device_matches_the_cpu") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table: String = (0..100)
        .map(|i| {
            let s = i as f64 * 0.006;
            format!("{s} {}\n", 2.0 + 5.0 * (-((s - 0.17) / 0.05).powi(2)).exp() + 2.0 * (-s * 6.0).exp())
        })
        .collect();
    std::fs::write(dir.path().join("w.stol"), table).unwrap();
    let files = ["w.stol".to_string()];
    let base = "-cell 40 40 40 90 90 90 -N 10 -lambda 1 -distance 80 -detpixels 48 -pixel 0.4 -fluence 1e22 -stol w.stol -bg_thick 0.005 -bg_molecules 1e10";
    let control = nanobragg::progress::RenderControl::default();
    let opts = GpuOptions::default();
    for extra in [
        "-oversample 2",
        "-divergence 0.4 -divsteps 3 -dispersion 0.2 -dispsteps 3 -polar 0.9",
        "-nopolar -point_pixel -oversample 3",
        "-detector_rotx 5 -detector_roty -8 -detector_rotz 3 -twotheta 10 -detector_thick 300 -detector_thicksteps 3 -detector_abs 500",
        "-curved_det -pixel 1.2 -Xbeam 20 -Ybeam 25",
    ] {
        for default_f in ["0", "10000"] {
            let args: Vec<String> = format!("{base} {extra} -default_F {default_f}").split_whitespace().map(String::from).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let plan = plan_from_args(&args, Some((dir.path(), &files[..])));
            assert!(plan.background.is_some(), "{extra}: -stol gives a background");
            let cpu_render = engine::render(&plan, EngineChoice::Cpu, &opts, &control).unwrap();
            let gpu_render = engine::render(&plan, EngineChoice::Gpu, &opts, &control).unwrap();
            assert!(matches!(gpu_render.engine, EngineUsed::Gpu { .. }));
            let agreement = Agreement::measure(&cpu_render.image, &gpu_render.image);
            eprintln!("-stol {extra} -default_F {default_f}: max|Δ|/max {:.2e}, correlation {:.9}", agreement.max_delta, agreement.correlation);
            if default_f == "0" {
                assert!(agreement.max_delta <= 1e-5, "{extra}: {}", agreement.describe(plan.fpixels));
                assert!(agreement.correlation >= 0.99999, "{extra}: {}", agreement.describe(plan.fpixels));
                let max = cpu_render.image.iter().fold(0.0f32, |m, &v| m.max(v));
                assert!(max > 0.0 && cpu_render.image.iter().filter(|&&v| v > 0.0).count() == cpu_render.image.len(), "{extra}: every pixel has background");
                assert!((gpu_render.stats.max_i / cpu_render.stats.max_i - 1.0).abs() < 1e-5, "{extra}: statistics of the finished image");
            } else {
                assert!(agreement.passes(), "{extra}: {}", agreement.describe(plan.fpixels));
                // the spots alone are not the image: the background is in it
                let spots = gpu::render_spots_with(&plan, &opts).unwrap().image;
                let gained = gpu_render.image.iter().zip(&spots).filter(|(a, b)| a > b).count();
                assert!(gained > spots.len() * 9 / 10, "{extra}: {gained} of {} pixels gained background", spots.len());
                // and the spots stand out of it, so that both parts are compared
                let spot_max = spots.iter().fold(0.0f32, |m, &v| m.max(v));
                let median = {
                    let mut b: Vec<f32> = gpu_render.image.iter().zip(&spots).map(|(a, s)| a - s).collect();
                    b.sort_by(f32::total_cmp);
                    b[b.len() / 2]
                };
                eprintln!("    spots max {spot_max:.3e}, background median {median:.3e}");
                assert!(spot_max > 10.0 * median, "{extra}: spots {spot_max} under a background of {median}");
            }
        }
    }
}

/// The `-stol` background is in every public render that returns a finished image, on both
/// engines alike (`engine::render_finished`), and in none of the spots-only ones: for the CPU
/// engine `engine::render` and `render_on_cpu` are its spots plus the f64 background, bit for
/// bit; for the GPU `engine::render` and `gpu::render_on_gpu` are the same image; `Auto` and
/// the `Simulator` give the image of the engine they ran; and the two engines agree on the
/// finished images, on the spots, and on the background that separates them.
#[test]
fn every_render_entry_point_adds_the_stol_background_on_both_engines() {
    use nanobragg::simulator::Simulator;
    if !gpu_available("every_render_entry_point_adds_the_stol_background_on_both_engines") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table: String = (0..100).map(|i| format!("{} {}\n", i as f64 * 0.006, 2.0 + 5.0 * (-((i as f64 * 0.006 - 0.17) / 0.05).powi(2)).exp())).collect();
    std::fs::write(dir.path().join("w.stol"), table).unwrap();
    let files = ["w.stol".to_string()];
    let args = "-cell 40 40 40 90 90 90 -N 10 -default_F 100 -lambda 1 -distance 80 -detpixels 40 -pixel 0.4 -fluence 1e22 -stol w.stol -bg_thick 0.005 -oversample 2";
    let args: Vec<&str> = args.split_whitespace().collect();
    let exp = gpu_support::experiment_from_args(&args, Some((dir.path(), &files[..])));
    let plan = Plan::new(&exp);
    let bg = plan.background.as_ref().expect("-stol gives a background");
    let background = engine::background::render(&bg.geometry, &bg.table, &bg.scale, false).image;
    let control = nanobragg::progress::RenderControl::default();
    let opts = GpuOptions::default();
    let bits = |image: &[f32]| image.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();

    // the CPU engine: its spots plus the f64 background, through each entry point
    let cpu_spots = cpu::render_spots(&plan).image;
    let cpu_finished: Vec<f32> = cpu_spots.iter().zip(&background).map(|(&s, &b)| (f64::from(s) + b) as f32).collect();
    let cpu = engine::render(&plan, EngineChoice::Cpu, &opts, &control).unwrap();
    assert_eq!(cpu.engine, EngineUsed::Cpu);
    assert_eq!(bits(&cpu.image), bits(&cpu_finished), "engine::render, CPU");
    assert_eq!(bits(&engine::render_on_cpu(&plan, &control).unwrap().image), bits(&cpu_finished), "render_on_cpu");
    assert_eq!(bits(&engine::render_spots_on_cpu(&plan, &control).unwrap().image), bits(&cpu_spots), "render_spots, CPU");

    // the GPU engine: the same finished image through each entry point
    let gpu = engine::render(&plan, EngineChoice::Gpu, &opts, &control).unwrap();
    assert!(matches!(gpu.engine, EngineUsed::Gpu { .. }));
    assert_eq!(bits(&gpu::render_on_gpu(&plan, &opts, &control).unwrap().image), bits(&gpu.image), "render_on_gpu");
    let gpu_spots = gpu::render_spots_with(&plan, &opts).unwrap().image;
    assert_eq!(bits(&gpu::render_spots(&plan, None).unwrap().image), bits(&gpu_spots), "render_spots, GPU");

    // Auto (the CPU on a software adapter) and the Simulator: the image of the engine they ran
    let auto = engine::render(&plan, EngineChoice::Auto, &opts, &control).unwrap();
    let want = if auto.engine == EngineUsed::Cpu { &cpu.image } else { &gpu.image };
    assert_eq!(bits(&auto.image), bits(want), "engine::render, auto ({:?})", auto.engine);
    for (choice, want) in [(EngineChoice::Cpu, &cpu.image), (EngineChoice::Gpu, &gpu.image)] {
        let mut sim = Simulator::new(exp.clone(), choice, opts.clone());
        let frame = sim.frame();
        assert_eq!(bits(&sim.render(&frame, &control).unwrap().image), bits(want), "Simulator, {choice:?}");
    }

    // the engines agree on the finished images, the spots and the background between them
    let finished = Agreement::measure(&cpu.image, &gpu.image);
    assert!(finished.passes(), "finished images: {}", finished.describe(plan.fpixels));
    let spots = Agreement::measure(&cpu_spots, &gpu_spots);
    assert!(spots.passes(), "spots: {}", spots.describe(plan.fpixels));
    let gpu_background: Vec<f64> = gpu.image.iter().zip(&gpu_spots).map(|(&f, &s)| f64::from(f) - f64::from(s)).collect();
    let max = background.iter().fold(0.0f64, |m, &b| m.max(b.abs()));
    let worst = background.iter().zip(&gpu_background).map(|(c, g)| (c - g).abs()).fold(0.0, f64::max);
    let spot_max = cpu_spots.iter().fold(0.0f32, |m, &v| m.max(v)) as f64;
    eprintln!("background of the finished images: max {max:.3e} (spots up to {spot_max:.3e}), GPU − CPU up to {:.2e} of it", worst / max);
    assert!(max > 0.0 && background.iter().all(|&b| b > 0.0), "every pixel has background");
    // the finished GPU pixel is rounded to f32 after the spots: the difference carries the
    // spot's rounding too
    assert!(worst <= 1e-5 * max + 2.0 * f64::from(f32::EPSILON) * spot_max, "the GPU's background differs by {worst:e} of {max:e}");
}

/// Spots, the `-stol` background, detector noise and a PSF on the GPU, as the main command
/// runs them (`engine::render`, then the noise stages on the rendered image): the
/// image-sized transfers are exactly the finished images — the float image read back once,
/// the noise pixels (8 bytes a pixel) and the counts after the PSF — besides a few bytes per
/// 256 pixels of sums, and nothing image-sized is uploaded. The noise read on the device is the
/// noise of the same image uploaded.
#[test]
fn gpu_render_reads_back_finished_images_only() {
    use nanobragg::engine::gpu::response::{Photons, noise_image_on_gpu};
    use nanobragg::response::noisify::{Generator, NoiseModel, Psf};
    use nanobragg::response::psf::PsfShape;
    if !gpu_available("gpu_render_reads_back_finished_images_only") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table: String = (0..100).map(|i| format!("{} {}\n", i as f64 * 0.006, 2.0 + 5.0 * (-((i as f64 * 0.006 - 0.17) / 0.05).powi(2)).exp())).collect();
    std::fs::write(dir.path().join("w.stol"), table).unwrap();
    let files = ["w.stol".to_string()];
    let args = "-cell 40 40 40 90 90 90 -N 10 -default_F 100 -lambda 1 -distance 80 -detpixels 128 -pixel 0.2 -fluence 1e22 -stol w.stol -bg_thick 0.005 -oversample 1";
    let args: Vec<&str> = args.split_whitespace().collect();
    let plan = plan_from_args(&args, Some((dir.path(), &files[..])));
    assert!(plan.background.is_some());
    let opts = GpuOptions::default();
    let control = nanobragg::progress::RenderControl::default();
    let model = NoiseModel {
        flicker: 0.0,
        calibration: 0.03,
        readout: 3.0,
        gain: 1.0,
        adc_offset: 40.0,
        seed: -7,
        calib_seed: 123_456_789,
        psf: Some(Psf { shape: PsfShape::Gauss, fwhm_pixels: 2.0, radius: 0 }),
        calibration_after_poisson: false,
        generator: Generator::Counter { frame: 1 },
    };
    // a device of its own, so that its transfer counts are this test's alone; a first run
    // compiles and sizes everything, the second is the one counted
    let device = gpu::GpuDevice::open(&opts).unwrap();
    let _ = device.render_finished(&plan, &control).unwrap();
    let before = device.transfers();
    let rendered = device.render_finished(&plan, &control).unwrap();
    let rendered_moved = device.transfers();
    // the rendered image's device runs the noise stages (`opts` chooses one for host photons only)
    let noise = noise_image_on_gpu(&opts, Photons::of(&rendered), plan.fpixels, plan.spixels, plan.roi, &model, false).unwrap();
    let after = device.transfers();
    let pixels = plan.pixels() as u64;
    let (read, uploaded) = (after.read_back - before.read_back, after.uploaded - before.uploaded);
    let finished = 4 * pixels + 8 * pixels + 4 * pixels;
    eprintln!(
        "{pixels} pixels: render read {} B, uploaded {} B; render + noise read {read} B ({finished} B of finished images), uploaded {uploaded} B (largest {} B)",
        rendered_moved.read_back - before.read_back,
        rendered_moved.uploaded - before.uploaded,
        after.largest_upload
    );
    assert!(rendered.device.is_some(), "the render left its image on the device");
    assert!(read >= finished, "{read} B read back, less than the finished images ({finished} B)");
    assert!(read - finished < pixels / 4, "{} B read back beyond the finished images ({pixels} pixels)", read - finished);
    assert!(rendered_moved.read_back - before.read_back < 4 * pixels + pixels / 8, "the render read back more than its float image");
    assert!(uploaded < pixels, "{uploaded} B uploaded for {pixels} pixels");
    assert!(after.largest_upload < 4 * pixels, "an image-sized upload ({} B)", after.largest_upload);
    // the same noise as the image uploaded from the host
    let uploaded_noise = noise_image_on_gpu(&opts, Photons::Host(&rendered.image), plan.fpixels, plan.spixels, plan.roi, &model, false).unwrap();
    assert_eq!(noise, uploaded_noise);
    assert!(noise.psf.is_some() && noise.photons_before_psf > 0.0);
}
