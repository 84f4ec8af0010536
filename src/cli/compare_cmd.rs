//! `nanobragg compare [options] -- <simulation flags>`: render one experiment twice — the
//! candidate (GPU engine, or the CPU engine) against a reference (the f64 CPU engine, a float
//! image, or an external program such as nanoBragg.c run with the same flags) — and report how
//! the two float images agree, with previews and a `summary.json`.
//!
//! Options and exit status follow the nb-compare tool of spec-a-parallel (AT-TOOLS-001):
//! 0 success, 1 usage error, 2 a runner failed (no GPU when `--engine-a gpu` was demanded, the
//! external program missing or failing), 3 correlation below `--threshold`, 4 image sizes
//! differ, 5 I/O or parse error.

use crate::cli::Resolve;
use crate::cli::parse::{Command, parse};
use crate::compare::{ImageDiff, RELATIVE_FLOOR, RelativeDiff, SAMPLE_SEED, Sample, diff, recompute, relative_diff, sample_pixels};
use crate::engine::plan::Plan;
use crate::engine::{self, EngineUsed, Rendered};
use crate::error::{Error, plain_reason};
use crate::io::colormap::signed_rgb;
use crate::io::png::{DEFAULT_PERCENTILE, PngOptions, encode_png, encode_rgb_png, gray_levels, percentile};
use crate::io::{rawfloat, write_atomic};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// Relative per-pixel tolerance when `--tolerance` is not given (the GPU acceptance bound).
pub const DEFAULT_TOLERANCE: f64 = 1e-3;
pub const DEFAULT_OUT_DIR: &str = "compare_out";

/// The options before `--`, parsed by clap; the simulation flags after it are the main
/// program's and are split off first (they look like options to clap).
#[derive(clap::Parser, Debug)]
#[command(
    name = "nanobragg compare",
    override_usage = "nanobragg compare [options] -- <simulation flags>",
    about = "Render one experiment as a candidate and a reference and report how the two float images agree",
    after_help = "exit status: 0 ok, 1 usage, 2 runner failed, 3 below threshold, 4 sizes differ, 5 I/O or parse error",
    allow_negative_numbers = true
)]
struct CompareArgs {
    /// output directory: summary.json, a.png, b.png, diff.png
    #[arg(long, visible_alias = "outdir", value_name = "DIR", default_value = DEFAULT_OUT_DIR)]
    out: PathBuf,
    /// candidate engine [default: gpu, falling back to cpu with a note when no GPU adapter
    /// exists; an explicit `gpu` fails instead]
    #[arg(long = "engine-a", value_enum, value_name = "ENGINE")]
    engine_a: Option<EngineArg>,
    /// reference: a raw float image (e.g. nanoBragg.c's -floatfile output)
    #[arg(long = "ref", value_name = "FILE", conflicts_with = "ref_bin")]
    reference: Option<PathBuf>,
    /// reference: run this program with the same flags (default $NB_C_BIN if set); otherwise
    /// the reference is the f64 CPU engine
    #[arg(long = "ref-bin", visible_alias = "c-bin", value_name = "PATH")]
    ref_bin: Option<PathBuf>,
    /// the f64 reference computes only N pixels (brightest half + seeded random)
    #[arg(long, value_name = "N", value_parser = at_least_one, conflicts_with_all = ["reference", "ref_bin"])]
    sample: Option<usize>,
    /// compare only these pixels (inclusive, fast then slow)
    #[arg(long, num_args = 4, value_names = ["XMIN", "XMAX", "YMIN", "YMAX"])]
    roi: Option<Vec<usize>>,
    /// count pixels whose relative difference exceeds REL
    #[arg(long, value_name = "REL", default_value_t = DEFAULT_TOLERANCE, value_parser = non_negative)]
    tolerance: f64,
    /// exit 3 when the correlation is below CORR
    #[arg(long, value_name = "CORR")]
    threshold: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EngineArg {
    Gpu,
    Cpu,
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("N must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{v}' is not a valid number")),
    }
}

fn non_negative(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("'{v}' must be a non-negative number")),
    }
}

/// A clap error as one usage message: "unknown option '--x'" for an unknown option (the
/// wording the tool has always used), clap's own text otherwise, without its "error: " prefix.
pub(crate) fn usage_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let text = text.trim_end().strip_prefix("error: ").unwrap_or(text.trim_end()).to_string();
    match (e.kind(), e.get(clap::error::ContextKind::InvalidArg)) {
        (clap::error::ErrorKind::UnknownArgument, Some(clap::error::ContextValue::String(arg))) => {
            format!("unknown option '{arg}'\n{text}")
        }
        _ => text,
    }
}

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
            Error::Resource(_) | Error::Gpu(_) | Error::Interrupted | Error::Stopped(_) => Failure::Runner(e.to_string()),
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
    match parse_options(args, std::env::var_os("NB_C_BIN")).and_then(|o| match o {
        Some(o) => run(&o, args),
        None => Ok(0),
    }) {
        Ok(code) => code,
        Err(f) => {
            crate::console::errln(format_args!("nanobragg compare: error: {}", f.message()));
            f.code()
        }
    }
}

fn missing_separator() -> Failure {
    Failure::Usage("missing '--' before the simulation flags (nanobragg compare --help)".into())
}

/// The options, or None when help was asked for (and printed).
fn parse_options(args: &[String], nb_c_bin: Option<std::ffi::OsString>) -> Result<Option<Options>, Failure> {
    let (mine, sim) = match args.iter().position(|a| a == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let parsed = <CompareArgs as clap::Parser>::try_parse_from(std::iter::once("nanobragg compare".to_string()).chain(mine.iter().cloned()));
    let a = match parsed {
        Ok(a) => a,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            crate::out!("{e}");
            return Ok(None);
        }
        // without `--` the simulation flags are among clap's: say what is missing instead
        Err(_) if args.len() == mine.len() => return Err(missing_separator()),
        Err(e) => return Err(Failure::Usage(usage_message(&e))),
    };
    if args.len() == mine.len() {
        return Err(missing_separator());
    }
    if sim.is_empty() {
        return Err(Failure::Usage("no simulation flags after '--' (nanobragg compare --help)".into()));
    }
    let mut reference = match (a.reference, a.ref_bin) {
        (Some(file), _) => Reference::File(file),
        (None, Some(path)) => Reference::Program { path, from_env: false },
        (None, None) => Reference::CpuEngine,
    };
    if reference == Reference::CpuEngine
        && let Some(bin) = nb_c_bin.filter(|b| !b.is_empty())
    {
        reference = Reference::Program { path: PathBuf::from(bin), from_env: true };
    }
    if a.sample.is_some() && reference != Reference::CpuEngine {
        return Err(Failure::Usage("--sample applies to the f64 CPU engine reference only (not with --ref/--ref-bin/NB_C_BIN)".into()));
    }
    Ok(Some(Options {
        out: a.out,
        engine_a: match a.engine_a {
            None => EngineA::Gpu { explicit: false },
            Some(EngineArg::Gpu) => EngineA::Gpu { explicit: true },
            Some(EngineArg::Cpu) => EngineA::Cpu,
        },
        reference,
        sample: a.sample,
        roi: a.roi.map(|r| [r[0], r[1], r[2], r[3]]),
        tolerance: a.tolerance,
        threshold: a.threshold,
        sim_args: sim.to_vec(),
    }))
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

/// The agreement numbers of `summary.json`.
#[derive(Clone, Debug, serde::Serialize)]
struct Metrics {
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
}

impl Metrics {
    fn new(plan: &Plan, d: &ImageDiff, r: &RelativeDiff) -> Self {
        Metrics {
            pixels_compared: d.pixels,
            correlation: d.correlation,
            mse: d.rmse * d.rmse,
            rmse: d.rmse,
            max_abs_diff: d.max_abs_diff,
            max_abs_diff_at: at(plan, d.worst_index, d.worst_a, d.worst_b),
            max_rel_diff: r.max_rel_diff,
            max_rel_diff_at: at(plan, r.index, r.a, r.b),
            rel_floor: r.floor,
            sum_a: d.sum_a,
            sum_b: d.sum_b,
            sum_ratio: d.sum_ratio,
            tolerance: r.tolerance,
            pixels_over_tolerance: r.over_tolerance,
        }
    }
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
    #[serde(flatten)]
    metrics: Metrics,
    threshold: Option<f64>,
    passed: bool,
    runtime_a_ms: f64,
    runtime_b_ms: f64,
    png_scale_method: String,
    png_white: f64,
}

/// Which pixels each output covers: the ROI (cropped previews; pixels the simulation renders)
/// and, within it, the compared ones (all, or the sample).
struct Selection {
    roi: [usize; 4],
    in_roi: Vec<bool>,
    compared: Vec<bool>,
}

impl Selection {
    fn new(plan: &Plan, roi: [usize; 4]) -> Self {
        let in_roi: Vec<bool> = (0..plan.pixels())
            .map(|i| {
                let (f, s) = (i % plan.fpixels, i / plan.fpixels);
                f >= roi[0] && f <= roi[1] && s >= roi[2] && s <= roi[3] && plan.renders(f, s)
            })
            .collect();
        Selection { roi, compared: in_roi.clone(), in_roi }
    }

    fn restrict_to(&mut self, sample: &Sample) {
        self.compared.fill(false);
        for &i in &sample.pixels {
            self.compared[i] = true;
        }
    }
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
    let raw = match parse(&o.sim_args, super::time_seed())? {
        Command::Run(raw) => raw,
        Command::Help => return Err(Failure::Usage("simulation flags expected after '--', not a help request".into())),
    };
    let plan = Plan::new(&raw.resolve()?.0);
    let mut sel = Selection::new(&plan, compare_roi(&plan, o.roi)?);
    std::fs::create_dir_all(&o.out).map_err(|e| Failure::Io(format!("{}: {}", o.out.display(), plain_reason(&e))))?;
    let (a, switched_at) = candidate(o.engine_a, &plan, raw.backend.as_deref())?;
    crate::outln!("A runtime: {:.3} s ({})", a.info.runtime_ms / 1e3, a.info.label());
    let (b, sample) = reference(o, &plan, &a.image, switched_at, &sel.in_roi)?;
    crate::outln!("B runtime: {:.3} s ({})", b.info.runtime_ms / 1e3, b.info.label());
    if let Some(s) = &sample {
        sel.restrict_to(s);
    }
    let d = diff(&a.image, &b.image, |i| sel.compared[i]);
    let r = relative_diff(&a.image, &b.image, |i| sel.compared[i], RELATIVE_FLOOR * d.max_b, o.tolerance);
    let png_white = write_previews(&o.out, &plan, &sel, &a.image, &b.image, d.max_abs_diff)?;
    let passed = o.threshold.is_none_or(|t| d.correlation >= t);
    let summary = Summary {
        command: ["nanobragg", "compare"].iter().map(|s| s.to_string()).chain(all_args.iter().cloned()).collect(),
        simulation_args: o.sim_args.clone(),
        detector_pixels: [plan.fpixels, plan.spixels],
        roi: sel.roi,
        sample: sample.map(|s| SampleInfo { requested: o.sample.unwrap_or(0), pixels: s.pixels.len(), brightest: s.brightest, random: s.random, seed: s.seed }),
        metrics: Metrics::new(&plan, &d, &r),
        threshold: o.threshold,
        passed,
        runtime_a_ms: a.info.runtime_ms,
        runtime_b_ms: b.info.runtime_ms,
        png_scale_method: format!("linear, 0 to the {DEFAULT_PERCENTILE}th percentile of both images over the compared pixels"),
        png_white,
        a: a.info,
        b: b.info,
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Failure::Io(format!("summary.json: {e}")))?;
    write_atomic(&o.out.join("summary.json"), json.as_bytes())?;
    print_table(&summary, &o.out);
    if !passed {
        crate::outln!("FAIL: correlation {:.9} is below the threshold {}", d.correlation, o.threshold.unwrap_or(f64::NAN));
        return Ok(3);
    }
    Ok(0)
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
    let EngineA::Gpu { explicit } = choice else { return cpu_candidate(plan, None) };
    let start = Instant::now();
    // the finished image, as a run writes it: the -stol background added on the device
    let finished = engine::gpu::render_on_gpu(plan, &crate::gpu_env::for_backend(backend), &Default::default());
    match finished {
        Ok(r) => Ok(candidate_side(r.rendered, start.elapsed(), None)),
        Err(e) if explicit => Err(Failure::Runner(format!("--engine-a gpu: {e}"))),
        Err(e) => {
            crate::console::errln(format_args!("note: {e}; comparing the CPU engine with the f64 CPU engine instead"));
            cpu_candidate(plan, Some("no usable GPU adapter: the candidate is the CPU engine".into()))
        }
    }
}

fn cpu_candidate(plan: &Plan, note: Option<String>) -> Result<(Side, Option<usize>), Failure> {
    let start = Instant::now();
    // the finished image: spots and the -stol background
    let r = engine::render_on_cpu(plan, &Default::default())?;
    Ok(candidate_side(r, start.elapsed(), note))
}

fn candidate_side(r: Rendered, runtime: Duration, note: Option<String>) -> (Side, Option<usize>) {
    let mut info = SideInfo::new("cpu", runtime);
    if let EngineUsed::Gpu { adapter, backend } = r.engine {
        (info.kind, info.adapter, info.backend) = ("gpu".into(), Some(adapter), Some(backend));
    }
    info.note = note;
    (Side { image: r.image, info }, r.interpolation_switched_at)
}

fn reference(
    o: &Options,
    plan: &Plan,
    candidate: &[f32],
    switched_at: Option<usize>,
    in_roi: &[bool],
) -> Result<(Side, Option<Sample>), Failure> {
    let start = Instant::now();
    match &o.reference {
        Reference::CpuEngine => match o.sample {
            None => {
                // the finished image: spots and the -stol background, as `recompute` gives it
                let image = engine::render_on_cpu(plan, &Default::default())?.image;
                Ok((Side { image, info: SideInfo::new("cpu", start.elapsed()) }, None))
            }
            Some(n) => {
                let sample = sample_pixels(candidate, |i| in_roi[i], n, SAMPLE_SEED);
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
        std::fs::create_dir(&dir).map_err(|e| Failure::Io(format!("{}: {}", dir.display(), plain_reason(&e))))?;
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
    let cwd = std::env::current_dir().map_err(|e| Failure::Io(format!("current directory: {}", plain_reason(&e))))?;
    // a path with a directory part is resolved here, before the program runs elsewhere
    let program = if bin.components().count() > 1 { cwd.join(bin) } else { bin.to_path_buf() };
    let scratch = ScratchDir::new()?;
    let float_path = scratch.0.join("ref_float.bin");
    let args = program_args(sim_args, &cwd, &float_path);
    // C reads ./Fdump.bin when -hkl is absent; give it the same one it would see here
    if !sim_args.iter().any(|a| a == "-hkl") && cwd.join("Fdump.bin").is_file() {
        std::fs::copy(cwd.join("Fdump.bin"), scratch.0.join("Fdump.bin")).map_err(|e| Failure::Io(format!("Fdump.bin: {}", plain_reason(&e))))?;
    }
    let start = Instant::now();
    let output = Process::new(&program)
        .args(&args)
        .current_dir(&scratch.0)
        .output()
        .map_err(|e| Failure::Runner(format!("cannot run the reference program {}: {}", bin.display(), plain_reason(&e))))?;
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
/// a.png shows the whole ROI, b.png and diff.png the compared pixels (others black). Returns
/// the white point.
fn write_previews(out: &Path, plan: &Plan, sel: &Selection, a: &[f32], b: &[f32], max_abs_diff: f64) -> Result<f64, Failure> {
    let idx = roi_indices(plan, sel.roi);
    let (w, h) = (sel.roi[1] - sel.roi[0] + 1, sel.roi[3] - sel.roi[2] + 1);
    let crop = |img: &[f32]| -> Vec<f32> { idx.iter().map(|&i| img[i]).collect() };
    let both: Vec<f32> = idx.iter().filter(|&&i| sel.compared[i]).flat_map(|&i| [a[i], b[i]]).collect();
    let white = percentile(&both, |_| true, DEFAULT_PERCENTILE);
    let scale = if white > 0.0 { 255.0 / white } else { 1.0 };
    for (name, image, shown) in [("a.png", a, &sel.in_roi), ("b.png", b, &sel.compared)] {
        let opts = PngOptions { scale, log: false, percentile: DEFAULT_PERCENTILE, colormap: Default::default(), rendered: |j: usize| shown[idx[j]] };
        write_atomic(&out.join(name), &encode_png(w, h, &gray_levels(&crop(image), &opts))?)?;
    }
    let rgb: Vec<u8> = idx
        .iter()
        .flat_map(|&i| {
            if !sel.compared[i] {
                return [0, 0, 0];
            }
            let d = a[i] as f64 - b[i] as f64;
            signed_rgb(if max_abs_diff > 0.0 { d / max_abs_diff } else { 0.0 })
        })
        .collect();
    write_atomic(&out.join("diff.png"), &encode_rgb_png(w, h, &rgb)?)?;
    Ok(white)
}

fn print_table(s: &Summary, out: &Path) {
    let g = crate::io::cfmt::fmt_g;
    let m = &s.metrics;
    let [x0, x1, y0, y1] = s.roi;
    crate::outln!("compared {} pixels (fast {x0}..{x1}, slow {y0}..{y1}){}", m.pixels_compared, if s.sample.is_some() { ", sampled" } else { "" });
    crate::outln!("  correlation      {:.9}", m.correlation);
    crate::outln!("  rmse             {}", g(m.rmse));
    let where_ = |value: f64, p: PixelAt| {
        if value == 0.0 { " (identical images)".to_string() } else { format!(" at (fast {}, slow {}): {} vs {}", p.fast, p.slow, g(p.a), g(p.b)) }
    };
    crate::outln!("  max |a-b|        {}{}", g(m.max_abs_diff), where_(m.max_abs_diff, m.max_abs_diff_at));
    crate::outln!("  max relative     {}{} (floor {})", g(m.max_rel_diff), where_(m.max_rel_diff, m.max_rel_diff_at), g(m.rel_floor));
    crate::outln!("  sum a, sum b     {}, {} (ratio {:.9})", g(m.sum_a), g(m.sum_b), m.sum_ratio);
    crate::outln!("  over tolerance   {} pixels (relative > {})", m.pixels_over_tolerance, g(m.tolerance));
    crate::outln!("wrote {}: summary.json a.png b.png diff.png", out.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str], env: Option<&str>) -> Result<Options, Failure> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_options(&args, env.map(Into::into)).map(|o| o.expect("not a help request"))
    }

    #[test]
    fn options_and_defaults() {
        let o = opts(&["--roi", "1", "2", "3", "4", "--threshold", "0.9", "--", "-N", "5"], None).unwrap();
        assert_eq!(o.roi, Some([1, 2, 3, 4]));
        assert_eq!(o.threshold, Some(0.9));
        assert_eq!(o.out, PathBuf::from(DEFAULT_OUT_DIR));
        assert_eq!(o.engine_a, EngineA::Gpu { explicit: false });
        assert_eq!(o.reference, Reference::CpuEngine);
        assert_eq!(o.sim_args, ["-N", "5"]);
        assert_eq!(opts(&["--engine-a", "gpu", "--", "-N", "5"], None).unwrap().engine_a, EngineA::Gpu { explicit: true });
    }

    #[test]
    fn nb_c_bin_is_the_default_program_reference() {
        let o = opts(&["--", "-N", "5"], Some("/opt/nanoBragg")).unwrap();
        assert_eq!(o.reference, Reference::Program { path: "/opt/nanoBragg".into(), from_env: true });
        // an explicit reference wins over the environment
        let o = opts(&["--ref", "x.bin", "--", "-N", "5"], Some("/opt/nanoBragg")).unwrap();
        assert_eq!(o.reference, Reference::File("x.bin".into()));
    }

    #[test]
    fn bad_options_are_usage_errors() {
        for args in [
            &["-N", "5"][..],
            &["--"],
            &["--roi", "1", "2", "--", "-N", "5"],
            &["--ref", "a", "--ref-bin", "b", "--", "-N", "5"],
            &["--sample", "10", "--ref", "a", "--", "-N", "5"],
            &["--tolerance", "-1", "--", "-N", "5"],
            &["--engine-a", "tpu", "--", "-N", "5"],
        ] {
            let f = opts(args, None).unwrap_err();
            assert_eq!(f.code(), 1, "{args:?}: {}", f.message());
        }
    }

    #[test]
    fn program_runs_elsewhere_with_absolute_inputs_and_our_float_path() {
        let sim: Vec<String> = ["-hkl", "in/P1.hkl", "-floatfile", "mine.bin", "-mat", "/abs/A.mat", "-N", "5"].iter().map(|s| s.to_string()).collect();
        let args = program_args(&sim, Path::new("/work/here"), Path::new("/tmp/s/ref_float.bin"));
        assert_eq!(args, ["-hkl", "/work/here/in/P1.hkl", "-mat", "/abs/A.mat", "-N", "5", "-floatfile", "/tmp/s/ref_float.bin"]);
    }

    #[test]
    fn library_errors_map_to_exit_statuses() {
        assert_eq!(Failure::from(Error::Usage("x".into())).code(), 1);
        assert_eq!(Failure::from(Error::Gpu("x".into())).code(), 2);
        assert_eq!(Failure::from(Error::parse(Path::new("f"), "line 1", "bad")).code(), 5);
    }
}
