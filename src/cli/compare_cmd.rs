//! `nanobragg compare [options] -- <simulation flags>`: render one experiment twice — the
//! candidate (GPU engine, or the CPU engine) against a reference (the f64 CPU engine, a float
//! image, or an external program such as nanoBragg.c run with the same flags) — and report how
//! the two float images agree, with previews and a `summary.json`.
//!
//! Options and exit status follow the nb-compare tool of spec-a-parallel (AT-TOOLS-001):
//! 0 success, 1 usage error, 2 a runner failed (no GPU when `--engine-a gpu` was demanded, the
//! external program missing or failing), 3 correlation below `--threshold`, 4 image sizes
//! differ, 5 I/O or parse error.

use crate::cli::parse::{Command, parse};
use crate::compare::{ImageDiff, RELATIVE_FLOOR, RelativeDiff, SAMPLE_SEED, diff, recompute, relative_diff, sample_pixels};
use crate::engine::plan::Plan;
use crate::engine::{self, EngineUsed, Rendered, cpu};
use crate::error::Error;
use crate::io::colormap::signed_rgb;
use crate::io::png::{DEFAULT_PERCENTILE, PngOptions, encode_png, encode_rgb_png, gray_levels, percentile};
use crate::io::{rawfloat, write_atomic};
use crate::model::resolve;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// Relative per-pixel tolerance when `--tolerance` is not given (the GPU acceptance bound).
pub const DEFAULT_TOLERANCE: f64 = 1e-3;
pub const DEFAULT_OUT_DIR: &str = "compare_out";

const USAGE: &str = "usage: nanobragg compare [options] -- <simulation flags>\n\
  --out DIR              output directory (default compare_out): summary.json, a.png, b.png, diff.png\n\
  --engine-a gpu|cpu     candidate engine (default gpu; falls back to cpu, with a note, when no GPU\n\
  \x20                      adapter exists; an explicit --engine-a gpu fails instead)\n\
  --ref FILE             reference: a raw float image (e.g. nanoBragg.c's -floatfile output)\n\
  --ref-bin PATH         reference: run this program with the same flags (default $NB_C_BIN if set)\n\
  \x20                      otherwise the reference is the f64 CPU engine\n\
  --sample N             the f64 reference computes only N pixels (brightest half + seeded random)\n\
  --roi xmin xmax ymin ymax   compare only these pixels (inclusive, fast then slow)\n\
  --tolerance REL        count pixels whose relative difference exceeds REL (default 1e-3)\n\
  --threshold CORR       exit 3 when the correlation is below CORR\n\
exit status: 0 ok, 1 usage, 2 runner failed, 3 below threshold, 4 sizes differ, 5 I/O or parse error\n";

/// Why compare stopped; each maps to its AT-TOOLS-001 exit status.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Runner(String),
    Dimension(String),
    Io(String),
}

impl Failure {
    fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 1,
            Failure::Runner(_) => 2,
            Failure::Dimension(_) => 4,
            Failure::Io(_) => 5,
        }
    }
    fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runner(m) | Failure::Dimension(m) | Failure::Io(m) => m,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Usage(m) => Failure::Usage(m),
            Error::Parse { .. } | Error::Io { .. } => Failure::Io(e.to_string()),
            Error::Resource(_) | Error::Gpu(_) => Failure::Runner(e.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EngineA {
    Cpu,
    /// `explicit`: typed by the user, so no fallback to the CPU
    Gpu { explicit: bool },
}

#[derive(Clone, Debug, PartialEq)]
enum Reference {
    CpuEngine,
    File(PathBuf),
    Program { path: PathBuf, from_env: bool },
}

#[derive(Clone, Debug)]
struct Options {
    out: PathBuf,
    engine_a: EngineA,
    reference: Reference,
    sample: Option<usize>,
    roi: Option<[usize; 4]>,
    tolerance: f64,
    threshold: Option<f64>,
    sim_args: Vec<String>,
}

/// Run the subcommand (`args` after the word `compare`); returns the exit status.
pub fn main(args: &[String]) -> i32 {
    if args.first().is_some_and(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return 0;
    }
    match parse_options(args, std::env::var_os("NB_C_BIN")).and_then(|o| run(&o, args)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("nanobragg compare: error: {}", f.message());
            f.code()
        }
    }
}

fn number<T: std::str::FromStr>(option: &str, v: &str) -> Result<T, Failure> {
    v.parse::<T>().map_err(|_| Failure::Usage(format!("{option}: '{v}' is not a valid number")))
}

/// How many values follow each option (None: not an option of compare).
fn option_arity(option: &str) -> Option<usize> {
    match option {
        "--roi" => Some(4),
        "--out" | "--outdir" | "--engine-a" | "--ref" | "--ref-bin" | "--c-bin" | "--sample" | "--tolerance" | "--threshold" => Some(1),
        _ => None,
    }
}

fn parse_options(args: &[String], nb_c_bin: Option<std::ffi::OsString>) -> Result<Options, Failure> {
    let split = args.iter().position(|a| a == "--").ok_or_else(|| Failure::Usage(format!("missing '--' before the simulation flags\n{USAGE}")))?;
    let (mine, sim) = (&args[..split], &args[split + 1..]);
    if sim.is_empty() {
        return Err(Failure::Usage(format!("no simulation flags after '--'\n{USAGE}")));
    }
    let mut o = Options {
        out: PathBuf::from(DEFAULT_OUT_DIR),
        engine_a: EngineA::Gpu { explicit: false },
        reference: Reference::CpuEngine,
        sample: None,
        roi: None,
        tolerance: DEFAULT_TOLERANCE,
        threshold: None,
        sim_args: sim.to_vec(),
    };
    let mut i = 0;
    while i < mine.len() {
        let option = mine[i].as_str();
        let n = option_arity(option).ok_or_else(|| Failure::Usage(format!("unknown option '{option}'\n{USAGE}")))?;
        let values = mine.get(i + 1..i + 1 + n).ok_or_else(|| Failure::Usage(format!("{option} expects {n} value(s)")))?;
        apply_option(&mut o, option, values)?;
        i += 1 + n;
    }
    if o.reference == Reference::CpuEngine
        && let Some(bin) = nb_c_bin.filter(|b| !b.is_empty())
    {
        o.reference = Reference::Program { path: PathBuf::from(bin), from_env: true };
    }
    if o.sample.is_some() && o.reference != Reference::CpuEngine {
        return Err(Failure::Usage("--sample applies to the f64 CPU engine reference only (not with --ref/--ref-bin/NB_C_BIN)".into()));
    }
    Ok(o)
}

fn apply_option(o: &mut Options, option: &str, v: &[String]) -> Result<(), Failure> {
    match option {
        "--out" | "--outdir" => o.out = PathBuf::from(&v[0]),
        "--engine-a" => {
            o.engine_a = match v[0].as_str() {
                "gpu" => EngineA::Gpu { explicit: true },
                "cpu" => EngineA::Cpu,
                other => return Err(Failure::Usage(format!("--engine-a: expected gpu or cpu, got '{other}'"))),
            }
        }
        "--ref" => set_reference(&mut o.reference, Reference::File(PathBuf::from(&v[0])))?,
        "--ref-bin" | "--c-bin" => set_reference(&mut o.reference, Reference::Program { path: PathBuf::from(&v[0]), from_env: false })?,
        "--sample" => match number::<usize>(option, &v[0])? {
            0 => return Err(Failure::Usage("--sample: N must be at least 1".into())),
            n => o.sample = Some(n),
        },
        "--tolerance" => o.tolerance = positive(option, &v[0])?,
        "--threshold" => o.threshold = Some(number(option, &v[0])?),
        "--roi" => {
            let mut r = [0usize; 4];
            for (slot, text) in r.iter_mut().zip(v) {
                *slot = number(option, text)?;
            }
            o.roi = Some(r);
        }
        other => return Err(Failure::Usage(format!("unknown option '{other}'"))),
    }
    Ok(())
}

fn positive(option: &str, v: &str) -> Result<f64, Failure> {
    match number::<f64>(option, v)? {
        x if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(Failure::Usage(format!("{option}: '{v}' must be a non-negative number"))),
    }
}

fn set_reference(slot: &mut Reference, r: Reference) -> Result<(), Failure> {
    if *slot != Reference::CpuEngine {
        return Err(Failure::Usage("give at most one of --ref and --ref-bin".into()));
    }
    *slot = r;
    Ok(())
}

/// One side of the comparison, as `summary.json` describes it.
#[derive(Clone, Debug, serde::Serialize)]
struct SideInfo {
    /// "gpu", "cpu" (the f64 engine), "file" or "program"
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    runtime_ms: f64,
}

impl SideInfo {
    fn new(kind: &str, runtime: Duration) -> Self {
        SideInfo { kind: kind.into(), adapter: None, backend: None, path: None, note: None, runtime_ms: runtime.as_secs_f64() * 1e3 }
    }
    fn label(&self) -> String {
        match (&self.kind[..], &self.adapter, &self.path) {
            ("gpu", Some(a), _) => format!("GPU engine on {a} ({})", self.backend.as_deref().unwrap_or("?")),
            ("cpu", ..) => "f64 CPU engine".into(),
            (kind, _, Some(p)) => format!("{kind} {p}"),
            (kind, ..) => kind.into(),
        }
    }
}

struct Side {
    image: Vec<f32>,
    info: SideInfo,
}

#[derive(Clone, Copy, Debug, serde::Serialize)]
struct PixelAt {
    fast: usize,
    slow: usize,
    a: f64,
    b: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
struct SampleInfo {
    requested: usize,
    pixels: usize,
    brightest: usize,
    random: usize,
    seed: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
struct Summary {
    command: Vec<String>,
    simulation_args: Vec<String>,
    a: SideInfo,
    b: SideInfo,
    /// fast, slow
    detector_pixels: [usize; 2],
    /// inclusive fast min, fast max, slow min, slow max
    roi: [usize; 4],
    sample: Option<SampleInfo>,
    pixels_compared: usize,
    correlation: f64,
    mse: f64,
    rmse: f64,
    max_abs_diff: f64,
    max_abs_diff_at: PixelAt,
    max_rel_diff: f64,
    max_rel_diff_at: PixelAt,
    /// relative differences are taken against max(|b|, rel_floor)
    rel_floor: f64,
    sum_a: f64,
    sum_b: f64,
    sum_ratio: f64,
    tolerance: f64,
    pixels_over_tolerance: usize,
    threshold: Option<f64>,
    passed: bool,
    runtime_a_ms: f64,
    runtime_b_ms: f64,
    png_scale_method: String,
    png_white: f64,
}

/// Fail before any rendering when the reference cannot be read or run (the AT-TOOLS-001
/// preflight); a bare program name is looked up on PATH when it runs.
fn preflight(r: &Reference) -> Result<(), Failure> {
    match r {
        Reference::File(p) if !p.is_file() => Err(Failure::Io(format!("--ref {}: no such file", p.display()))),
        Reference::Program { path, .. } if path.components().count() > 1 && !path.is_file() => {
            Err(Failure::Runner(format!("reference program not found: {}", path.display())))
        }
        _ => Ok(()),
    }
}

fn run(o: &Options, all_args: &[String]) -> Result<i32, Failure> {
    preflight(&o.reference)?;
    let raw = match parse(&o.sim_args, time_seed())? {
        Command::Run(raw) => raw,
        Command::Help => return Err(Failure::Usage("simulation flags expected after '--', not a help request".into())),
    };
    let exp = resolve(&raw)?;
    let plan = Plan::new(&exp);
    let roi = compare_roi(&plan, o.roi)?;
    std::fs::create_dir_all(&o.out).map_err(|e| Failure::Io(format!("{}: {e}", o.out.display())))?;
    let (a, switched_at) = candidate(o.engine_a, &plan, raw.backend.as_deref())?;
    println!("A runtime: {:.3} s ({})", a.info.runtime_ms / 1e3, a.info.label());
    let in_roi = |i: usize| {
        let (f, s) = (i % plan.fpixels, i / plan.fpixels);
        f >= roi[0] && f <= roi[1] && s >= roi[2] && s <= roi[3] && plan.renders(f, s)
    };
    let (b, sample) = reference(o, &plan, &a.image, switched_at, &in_roi)?;
    println!("B runtime: {:.3} s ({})", b.info.runtime_ms / 1e3, b.info.label());
    let compared = |i: usize| in_roi(i) && sample.as_ref().is_none_or(|s| s.pixels.binary_search(&i).is_ok());
    let d = diff(&a.image, &b.image, compared);
    let r = relative_diff(&a.image, &b.image, compared, RELATIVE_FLOOR * d.max_b, o.tolerance);
    let white = write_previews(&o.out, &plan, roi, &a.image, &b.image, &in_roi, &compared, d.max_abs_diff)?;
    let passed = o.threshold.is_none_or(|t| d.correlation >= t);
    let summary = Summary {
        command: std::iter::once("nanobragg".to_string()).chain(std::iter::once("compare".to_string())).chain(all_args.iter().cloned()).collect(),
        simulation_args: o.sim_args.clone(),
        detector_pixels: [plan.fpixels, plan.spixels],
        roi,
        sample: sample.map(|s| SampleInfo { requested: o.sample.unwrap_or(0), pixels: s.pixels.len(), brightest: s.brightest, random: s.random, seed: s.seed }),
        pixels_compared: d.pixels,
        correlation: d.correlation,
        mse: d.rmse * d.rmse,
        rmse: d.rmse,
        max_abs_diff: d.max_abs_diff,
        max_abs_diff_at: at(&plan, d.worst_index, d.worst_a, d.worst_b),
        max_rel_diff: r.max_rel_diff,
        max_rel_diff_at: at(&plan, r.index, r.a, r.b),
        rel_floor: r.floor,
        sum_a: d.sum_a,
        sum_b: d.sum_b,
        sum_ratio: d.sum_ratio,
        tolerance: o.tolerance,
        pixels_over_tolerance: r.over_tolerance,
        threshold: o.threshold,
        passed,
        runtime_a_ms: a.info.runtime_ms,
        runtime_b_ms: b.info.runtime_ms,
        png_scale_method: format!("linear, 0 to the {DEFAULT_PERCENTILE}th percentile of both images over the compared pixels"),
        png_white: white,
        a: a.info,
        b: b.info,
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Failure::Io(format!("summary.json: {e}")))?;
    write_atomic(&o.out.join("summary.json"), json.as_bytes())?;
    print_table(&summary, &d, &r, &o.out);
    if !passed {
        println!("FAIL: correlation {:.9} is below the threshold {}", d.correlation, o.threshold.unwrap_or(f64::NAN));
        return Ok(3);
    }
    Ok(0)
}

fn time_seed() -> i64 {
    -(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1))
}

fn at(plan: &Plan, index: usize, a: f64, b: f64) -> PixelAt {
    PixelAt { fast: index % plan.fpixels, slow: index / plan.fpixels, a, b }
}

/// `--roi` checked against the detector; the whole detector when not given.
fn compare_roi(plan: &Plan, roi: Option<[usize; 4]>) -> Result<[usize; 4], Failure> {
    let full = [0, plan.fpixels - 1, 0, plan.spixels - 1];
    let Some(r) = roi else { return Ok(full) };
    if r[0] > r[1] || r[2] > r[3] || r[1] >= plan.fpixels || r[3] >= plan.spixels {
        return Err(Failure::Usage(format!(
            "--roi {} {} {} {}: must satisfy xmin <= xmax < {} and ymin <= ymax < {}",
            r[0], r[1], r[2], r[3], plan.fpixels, plan.spixels
        )));
    }
    Ok(r)
}

/// Render the candidate; also returns where it flipped C's interpolation switch (c-parity).
fn candidate(choice: EngineA, plan: &Plan, backend: Option<&str>) -> Result<(Side, Option<usize>), Failure> {
    let start = Instant::now();
    let gpu = match choice {
        EngineA::Cpu => None,
        EngineA::Gpu { explicit } => match engine::gpu::render(plan, backend) {
            Ok(r) => Some(r),
            Err(e) if explicit => return Err(Failure::Runner(format!("--engine-a gpu: {e}"))),
            Err(e) => {
                eprintln!("note: {e}; comparing the CPU engine with the f64 CPU engine instead");
                None
            }
        },
    };
    let fell_back = matches!(choice, EngineA::Gpu { .. }) && gpu.is_none();
    let start = if gpu.is_some() { start } else { Instant::now() };
    let rendered: Rendered = gpu.unwrap_or_else(|| cpu::render(plan));
    let mut info = SideInfo::new("cpu", start.elapsed());
    if let EngineUsed::Gpu { adapter, backend } = &rendered.engine {
        info.kind = "gpu".into();
        info.adapter = Some(adapter.clone());
        info.backend = Some(backend.clone());
    }
    if fell_back {
        info.note = Some("no usable GPU adapter: the candidate is the CPU engine".into());
    }
    Ok((Side { image: rendered.image, info }, rendered.interpolation_switched_at))
}

fn reference(
    o: &Options,
    plan: &Plan,
    candidate: &[f32],
    switched_at: Option<usize>,
    in_roi: &dyn Fn(usize) -> bool,
) -> Result<(Side, Option<crate::compare::Sample>), Failure> {
    let start = Instant::now();
    match &o.reference {
        Reference::CpuEngine => match o.sample {
            None => {
                let image = cpu::render(plan).image;
                Ok((Side { image, info: SideInfo::new("cpu", start.elapsed()) }, None))
            }
            Some(n) => {
                let sample = sample_pixels(candidate, in_roi, n, SAMPLE_SEED);
                let image = recompute(plan, switched_at, &sample.pixels);
                let mut info = SideInfo::new("cpu", start.elapsed());
                info.note = Some(format!("{} pixels computed ({} brightest, {} random)", sample.pixels.len(), sample.brightest, sample.random));
                Ok((Side { image, info }, Some(sample)))
            }
        },
        Reference::File(path) => {
            let image = rawfloat::read_float_image(path, None)?;
            check_size(path, image.len(), plan)?;
            let mut info = SideInfo::new("file", start.elapsed());
            info.path = Some(path.display().to_string());
            Ok((Side { image, info }, None))
        }
        Reference::Program { path, from_env } => {
            let (image, elapsed) = run_program(path, &o.sim_args, &o.out)?;
            check_size(path, image.len(), plan)?;
            let mut info = SideInfo::new("program", elapsed);
            info.path = Some(path.display().to_string());
            if *from_env {
                info.note = Some("program taken from NB_C_BIN".into());
            }
            Ok((Side { image, info }, None))
        }
    }
}

fn check_size(path: &Path, floats: usize, plan: &Plan) -> Result<(), Failure> {
    if floats == plan.pixels() {
        return Ok(());
    }
    Err(Failure::Dimension(format!(
        "{}: {floats} pixels, but the simulation has {}x{} = {}",
        path.display(),
        plan.fpixels,
        plan.spixels,
        plan.pixels()
    )))
}

/// Input-file flags whose relative paths are made absolute for a program run elsewhere.
const INPUT_FLAGS: &[&str] = &["-hkl", "-mat", "-matrix", "-img", "-mask", "-sourcefile", "-stol", "-4stol", "-Q"];
const FLOAT_FLAGS: &[&str] = &["-floatfile", "-floatimage"];

/// The simulation flags for the external program: inputs made absolute, the float image
/// redirected to `float_path`.
fn program_args(sim_args: &[String], cwd: &Path, float_path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sim_args.len() {
        let flag = sim_args[i].as_str();
        if FLOAT_FLAGS.contains(&flag) {
            i += 2;
            continue;
        }
        out.push(sim_args[i].clone());
        if INPUT_FLAGS.contains(&flag)
            && let Some(value) = sim_args.get(i + 1)
        {
            out.push(cwd.join(value).display().to_string());
            i += 1;
        }
        i += 1;
    }
    out.extend(["-floatfile".to_string(), float_path.display().to_string()]);
    out
}

/// A scratch directory removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, Failure> {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("nanobragg-compare-{}-{stamp}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| Failure::Io(format!("{}: {e}", dir.display())))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // best effort: a leftover scratch directory in the temp dir is harmless
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the reference program in a scratch directory with the same flags (as nanoBragg.c
/// writes ./Fdump.bin and default-named images there); its stdout/stderr go to `out`.
fn run_program(bin: &Path, sim_args: &[String], out: &Path) -> Result<(Vec<f32>, Duration), Failure> {
    let cwd = std::env::current_dir().map_err(|e| Failure::Io(format!("current directory: {e}")))?;
    // a path with a directory part is resolved here, before the program runs elsewhere
    let program = if bin.components().count() > 1 { cwd.join(bin) } else { bin.to_path_buf() };
    let scratch = ScratchDir::new()?;
    let float_path = scratch.0.join("ref_float.bin");
    let args = program_args(sim_args, &cwd, &float_path);
    // C reads ./Fdump.bin when -hkl is absent; give it the same one it would see here
    if !sim_args.iter().any(|a| a == "-hkl") && cwd.join("Fdump.bin").is_file() {
        std::fs::copy(cwd.join("Fdump.bin"), scratch.0.join("Fdump.bin")).map_err(|e| Failure::Io(format!("Fdump.bin: {e}")))?;
    }
    let start = Instant::now();
    let output = Process::new(&program)
        .args(&args)
        .current_dir(&scratch.0)
        .output()
        .map_err(|e| Failure::Runner(format!("cannot run the reference program {}: {e}", bin.display())))?;
    let elapsed = start.elapsed();
    write_atomic(&out.join("ref_stdout.txt"), &output.stdout)?;
    write_atomic(&out.join("ref_stderr.txt"), &output.stderr)?;
    if !output.status.success() {
        return Err(Failure::Runner(format!(
            "the reference program {} failed ({}); see {}",
            bin.display(),
            output.status,
            out.join("ref_stderr.txt").display()
        )));
    }
    if !float_path.is_file() {
        return Err(Failure::Runner(format!("the reference program {} wrote no float image", bin.display())));
    }
    Ok((rawfloat::read_float_image(&float_path, None)?, elapsed))
}

/// Full-image indices of the ROI, row by row.
fn roi_indices(plan: &Plan, roi: [usize; 4]) -> Vec<usize> {
    (roi[2]..=roi[3]).flat_map(|s| (roi[0]..=roi[1]).map(move |f| s * plan.fpixels + f)).collect()
}

/// a.png and b.png on one scale (0 to the 99.5th percentile of both over the compared pixels)
/// and diff.png (a − b: blue negative, white zero, red positive), all cropped to the ROI;
/// pixels not compared are black. Returns the white point.
#[allow(clippy::too_many_arguments)]
fn write_previews(
    out: &Path,
    plan: &Plan,
    roi: [usize; 4],
    a: &[f32],
    b: &[f32],
    in_roi: &dyn Fn(usize) -> bool,
    compared: &dyn Fn(usize) -> bool,
    max_abs_diff: f64,
) -> Result<f64, Failure> {
    let idx = roi_indices(plan, roi);
    let (w, h) = (roi[1] - roi[0] + 1, roi[3] - roi[2] + 1);
    let crop = |img: &[f32]| -> Vec<f32> { idx.iter().map(|&i| img[i]).collect() };
    let both: Vec<f32> = idx.iter().filter(|&&i| compared(i)).flat_map(|&i| [a[i], b[i]]).collect();
    let white = percentile(&both, |_| true, DEFAULT_PERCENTILE);
    let scale = if white > 0.0 { 255.0 / white } else { 1.0 };
    for (name, image, shown) in [("a.png", a, in_roi), ("b.png", b, compared)] {
        let opts = PngOptions { scale, log: false, percentile: DEFAULT_PERCENTILE, colormap: Default::default(), rendered: |j: usize| shown(idx[j]) };
        write_atomic(&out.join(name), &encode_png(w, h, &gray_levels(&crop(image), &opts))?)?;
    }
    let rgb: Vec<u8> = idx
        .iter()
        .flat_map(|&i| {
            if !compared(i) {
                return [0, 0, 0];
            }
            let d = a[i] as f64 - b[i] as f64;
            signed_rgb(if max_abs_diff > 0.0 { d / max_abs_diff } else { 0.0 })
        })
        .collect();
    write_atomic(&out.join("diff.png"), &encode_rgb_png(w, h, &rgb)?)?;
    Ok(white)
}

fn print_table(s: &Summary, d: &ImageDiff, r: &RelativeDiff, out: &Path) {
    let g = crate::io::cfmt::fmt_g;
    let [x0, x1, y0, y1] = s.roi;
    println!("compared {} pixels (fast {x0}..{x1}, slow {y0}..{y1}){}", d.pixels, if s.sample.is_some() { ", sampled" } else { "" });
    println!("  correlation      {:.9}", d.correlation);
    println!("  rmse             {}", g(d.rmse));
    let where_ = |value: f64, p: PixelAt| {
        if value == 0.0 { " (identical images)".to_string() } else { format!(" at (fast {}, slow {}): {} vs {}", p.fast, p.slow, g(p.a), g(p.b)) }
    };
    println!("  max |a-b|        {}{}", g(d.max_abs_diff), where_(d.max_abs_diff, s.max_abs_diff_at));
    println!("  max relative     {}{} (floor {})", g(r.max_rel_diff), where_(r.max_rel_diff, s.max_rel_diff_at), g(r.floor));
    println!("  sum a, sum b     {}, {} (ratio {:.9})", g(d.sum_a), g(d.sum_b), d.sum_ratio);
    println!("  over tolerance   {} pixels (relative > {})", r.over_tolerance, g(r.tolerance));
    println!("wrote {}: summary.json a.png b.png diff.png", out.display());
}
