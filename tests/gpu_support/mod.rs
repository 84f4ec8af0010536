//! Shared by the GPU test binaries: adapter-or-skip, building a plan from a golden case's
//! command line, and the GPU-vs-CPU acceptance metrics.
#![allow(dead_code)] // each test binary uses its own subset

use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::compare::{self, ImageDiff, RelativeDiff};
use nanobragg::engine::gpu::{self, Fetch, GpuOptions, Precision};
use nanobragg::engine::plan::Plan;
use nanobragg::error::Error;
use nanobragg::model::Experiment;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[path = "../common/mod.rs"]
mod common;
pub use common::shout;

/// `resolve` works in the process's current directory (case paths are relative, and in
/// `-c_parity` mode it reads ./Fdump.bin when -hkl is absent): only one test at a time may
/// move it.
static CWD: Mutex<()> = Mutex::new(());

pub fn require_gpu() -> bool {
    std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1")
}

/// Whether the GPU engine can run here; if not, says so loudly (or fails under
/// NANOBRAGG_REQUIRE_GPU=1). Probes with a one-pixel render.
pub fn gpu_available(test: &str) -> bool {
    let probe = plan_from_args(&["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detpixels", "1"], None);
    match gpu::render_spots_with(&probe, &GpuOptions::default()) {
        Ok(_) => true,
        Err(e @ Error::Gpu(_)) if !require_gpu() => {
            shout(&format!("{test}: SKIPPED, no usable GPU: {e} (set NANOBRAGG_REQUIRE_GPU=1 to make this a failure)"));
            false
        }
        Err(e) => panic!("{test}: NANOBRAGG_REQUIRE_GPU=1 but the GPU engine failed: {e}"),
    }
}

/// The golden corpus, or None (with a loud message naming the test) when it is absent.
pub fn golden_dir(test: &str) -> Option<PathBuf> {
    let dir = common::golden_dir();
    if dir.is_none() {
        shout(&format!("{test}: SKIPPED (no golden corpus)"));
    }
    dir
}

/// Parse and resolve `args` as the CLI does, inside a scratch directory holding copies of
/// `local_inputs` (so a -c_parity ./Fdump.bin read finds the case's cache, never a stray one).
pub fn plan_from_args(args: &[&str], case: Option<(&Path, &[String])>) -> Plan {
    Plan::new(&experiment_from_args(args, case))
}

/// The resolved experiment of `args` (see `plan_from_args`).
pub fn experiment_from_args(args: &[&str], case: Option<(&Path, &[String])>) -> Experiment {
    in_scratch(args, case, |raw| raw.resolve().map(|(exp, _)| exp))
}

/// `f` of the parsed `args`, run inside a scratch directory holding copies of the case's
/// `local_inputs` (headers such as `-mask` are read while parsing).
fn in_scratch<T>(args: &[&str], case: Option<(&Path, &[String])>, f: impl FnOnce(nanobragg::cli::raw::RawArgs) -> nanobragg::error::Result<T>) -> T {
    let scratch = tempfile::tempdir().expect("scratch dir");
    if let Some((dir, files)) = case {
        for f in files {
            std::fs::copy(dir.join(f), scratch.path().join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
    }
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let _guard = CWD.lock().unwrap_or_else(|p| p.into_inner());
    let home = std::env::current_dir().expect("cwd");
    std::env::set_current_dir(scratch.path()).expect("enter scratch dir");
    let result = match parse(&args, -1) {
        Ok(Command::Run(raw)) => f(*raw),
        Ok(Command::Help) => panic!("{args:?} asks for help"),
        Err(e) => Err(e),
    };
    std::env::set_current_dir(home).expect("leave scratch dir");
    result.unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub struct GoldenCase {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub features: Vec<String>,
    pub local_inputs: Vec<String>,
}

impl GoldenCase {
    /// Whether the default mode is expected to agree with C here (REFERENCE.md: cases that
    /// exercise a C defect are checked in c-parity mode only).
    pub fn default_mode_applies(&self) -> bool {
        // "Fdump": the default mode reads ./Fdump.bin only when -hkl names it
        !self.features.iter().any(|f| f.contains("quirk") || f == "phi_carryover" || f == "interp_out_of_range" || f == "Fdump")
    }

    pub fn plan(&self, c_parity: bool) -> Plan {
        Plan::new(&self.experiment(c_parity))
    }

    pub fn experiment(&self, c_parity: bool) -> Experiment {
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        if c_parity {
            args.push("-c_parity");
        }
        experiment_from_args(&args, Some((&self.dir, &self.local_inputs)))
    }

    /// The SMV scale the case's command line types (`-scale`; 0: automatic).
    pub fn intfile_scale(&self) -> f64 {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        in_scratch(&args, Some((&self.dir, &self.local_inputs)), |raw| Ok(raw.intfile_scale))
    }
}

pub fn golden_cases(root: &Path) -> Vec<GoldenCase> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('a') && n.as_bytes().get(1).is_some_and(u8::is_ascii_digit)))
        .collect();
    dirs.sort();
    let inputs = root.join("inputs");
    dirs.into_iter()
        .map(|dir| {
            let cmd = std::fs::read_to_string(dir.join("cmd.txt")).expect("cmd.txt");
            let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json")).expect("meta json");
            let strings = |key: &str| -> Vec<String> {
                meta[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
            };
            // shared inputs by absolute path; local ones are copied next to the run
            let args = cmd
                .split_whitespace()
                .map(|t| match t.strip_prefix("../inputs/") {
                    Some(rest) => inputs.join(rest).to_string_lossy().into_owned(),
                    None => t.to_string(),
                })
                .collect();
            GoldenCase {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                features: strings("features"),
                local_inputs: strings("inputs_local"),
                dir,
                args,
            }
        })
        .collect()
}

/// The GPU kernel variants the tests force, whatever the adapter would choose: native f64 or
/// double-float geometry (docs/gpu.md, precision strategy), and the plain or subgroup lattice
/// fetch (on the adapter's precision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    F64,
    DoubleFloat,
    PlainFetch,
    SubgroupFetch,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::F64, Variant::DoubleFloat, Variant::PlainFetch, Variant::SubgroupFetch];

    pub fn name(self) -> &'static str {
        match self {
            Variant::F64 => "f64",
            Variant::DoubleFloat => "double-float",
            Variant::PlainFetch => "plain-fetch",
            Variant::SubgroupFetch => "subgroup-fetch",
        }
    }

    pub fn options(self) -> GpuOptions {
        let base = GpuOptions::default();
        match self {
            Variant::F64 => GpuOptions { precision: Some(Precision::F64), ..base },
            Variant::DoubleFloat => GpuOptions { precision: Some(Precision::DoubleFloat), ..base },
            Variant::PlainFetch => GpuOptions { fetch: Some(Fetch::Plain), ..base },
            Variant::SubgroupFetch => GpuOptions { fetch: Some(Fetch::Subgroup), ..base },
        }
    }

    /// The acceptance gate of this variant: about ten times the worst value measured over the
    /// golden corpus and the differential test on lavapipe (docs/gpu.md, "Gates", lists the
    /// measurements). Far tighter than REFERENCE.md's acceptance numbers (correlation ≥
    /// 0.99999, max|Δ| ≤ 1e-3·max), which the kernel beats by orders of magnitude: a gate at
    /// the claim is what catches a physics disagreement between the engines.
    pub fn gate(self) -> Gate {
        match self {
            Variant::F64 | Variant::PlainFetch | Variant::SubgroupFetch => GATE_F64,
            Variant::DoubleFloat => GATE_DOUBLE_FLOAT,
        }
    }

    /// Whether the adapter runs this variant; an adapter without it skips with a notice, or
    /// fails the test under NANOBRAGG_REQUIRE_GPU=1.
    pub fn available(self, test: &str) -> bool {
        let probe = plan_from_args(&["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "1", "-detpixels", "4"], None);
        match gpu::render_spots_with(&probe, &self.options()) {
            Ok(_) => true,
            Err(e) if !require_gpu() => {
                shout(&format!("{test}: the {} variant SKIPPED: {e} (NANOBRAGG_REQUIRE_GPU=1 makes this a failure)", self.name()));
                false
            }
            Err(e) => panic!("{test}: NANOBRAGG_REQUIRE_GPU=1 but the {} variant cannot run: {e}", self.name()),
        }
    }
}

/// GPU-vs-CPU acceptance gate.
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    pub min_correlation: f64,
    /// max |GPU − CPU| / max |CPU|
    pub max_delta: f64,
    /// |sum ratio − 1|
    pub max_sum_deviation: f64,
    /// |GPU − CPU| / |CPU| at every pixel at or above RELATIVE_FLOOR_MEASURED of the CPU maximum
    pub max_relative: f64,
}

/// f64 geometry (also the plain and subgroup fetch runs, which use it on lavapipe). Measured
/// worst (golden corpus + 400 random samples, lavapipe): 1 − corr 8.5e-9, max|Δ|/max 7.5e-6,
/// |sum ratio − 1| 2.5e-6, relative 1.65e-5.
pub const GATE_F64: Gate = Gate { min_correlation: 1.0 - 1e-7, max_delta: 7.5e-5, max_sum_deviation: 2.5e-5, max_relative: 2e-4 };
/// double-float geometry. Measured worst: 1 − corr 8.5e-9, max|Δ|/max 7.8e-6, |sum ratio − 1|
/// 4.2e-6, relative 1.65e-5.
pub const GATE_DOUBLE_FLOAT: Gate = Gate { min_correlation: 1.0 - 1e-7, max_delta: 8e-5, max_sum_deviation: 4e-5, max_relative: 2e-4 };

/// GPU-vs-CPU agreement of two images, measured by the crate's own `compare` functions (the
/// numbers `nanobragg compare` reports).
#[derive(Debug, Clone)]
pub struct Agreement {
    pub diff: ImageDiff,
    /// relative differences above `RELATIVE_FLOOR_MEASURED` of the maximum
    pub relative: RelativeDiff,
    pub correlation: f64,
    pub sum_ratio: f64,
    /// max |GPU − CPU| / max |CPU|
    pub max_delta: f64,
    pub worst_pixel: usize,
    pub worst_cpu: f32,
    pub worst_gpu: f32,
    /// smallest CPU pixel value
    pub cpu_min: f64,
}

/// The floor of the per-pixel relative check, as a fraction of the CPU image's maximum.
pub const RELATIVE_FLOOR_MEASURED: f64 = 1e-3;

impl Agreement {
    pub fn measure(cpu: &[f32], gpu: &[f32]) -> Agreement {
        let diff = compare::diff(gpu, cpu, |_| true);
        let floor = diff.max_b * RELATIVE_FLOOR_MEASURED;
        // only pixels at or above the floor count; below it the absolute check (max_delta) rules
        let relative = compare::relative_diff(gpu, cpu, |i| (cpu[i] as f64).abs() >= floor && floor > 0.0, floor, f64::INFINITY);
        let w = diff.worst_index;
        Agreement {
            correlation: diff.correlation,
            sum_ratio: diff.sum_ratio,
            max_delta: diff.max_diff_over_max,
            worst_pixel: w,
            worst_cpu: cpu.get(w).copied().unwrap_or(0.0),
            worst_gpu: gpu.get(w).copied().unwrap_or(0.0),
            cpu_min: cpu.iter().fold(f64::INFINITY, |m, &v| m.min((v as f64).abs())),
            relative,
            diff,
        }
    }

    /// Within the gate of whichever precision the adapter picks by itself (the looser of the
    /// two), for renders with the default options.
    pub fn passes(&self) -> bool {
        let (f, d) = (GATE_F64, GATE_DOUBLE_FLOAT);
        self.passes_gate(&Gate {
            min_correlation: f.min_correlation.min(d.min_correlation),
            max_delta: f.max_delta.max(d.max_delta),
            max_sum_deviation: f.max_sum_deviation.max(d.max_sum_deviation),
            max_relative: f.max_relative.max(d.max_relative),
        })
    }

    /// Every number within `gate` (NaN fails).
    pub fn passes_gate(&self, gate: &Gate) -> bool {
        (self.correlation >= gate.min_correlation || !self.has_contrast())
            && (self.sum_ratio - 1.0).abs() <= gate.max_sum_deviation
            && self.max_delta <= gate.max_delta
            && self.relative.max_rel_diff <= gate.max_relative
    }

    /// Whether the CPU image varies by more than 10% of its maximum. On a nearly flat image (a
    /// water background with no spot in view) the correlation measures the engines' rounding
    /// against a variance that is itself rounding-sized, so it says nothing; there the
    /// absolute and per-pixel relative checks carry the gate.
    pub fn has_contrast(&self) -> bool {
        self.cpu_min <= 0.9 * self.diff.max_b
    }

    pub fn describe(&self, fpixels: usize) -> String {
        let r = &self.relative;
        format!(
            "corr {:.10}  max|Δ|/max {:.3e}  |sum ratio−1| {:.3e}  worst pixel (fast {}, slow {}): cpu {} gpu {}  max rel (above 1e-3·max) {:.3e} at (fast {}, slow {})",
            self.correlation,
            self.max_delta,
            (self.sum_ratio - 1.0).abs(),
            self.worst_pixel % fpixels.max(1),
            self.worst_pixel / fpixels.max(1),
            self.worst_cpu,
            self.worst_gpu,
            r.max_rel_diff,
            r.index % fpixels.max(1),
            r.index / fpixels.max(1),
        )
    }
}

/// The worst of each number over many comparisons (for the measurements docs/gpu.md records).
#[derive(Debug, Clone, Copy)]
pub struct Worst {
    pub min_correlation: f64,
    pub max_delta: f64,
    pub max_sum_deviation: f64,
    pub max_relative: f64,
    pub count: usize,
}

impl Default for Worst {
    fn default() -> Worst {
        Worst { min_correlation: 1.0, max_delta: 0.0, max_sum_deviation: 0.0, max_relative: 0.0, count: 0 }
    }
}

impl Worst {
    pub fn add(&mut self, a: &Agreement) {
        if a.has_contrast() {
            self.min_correlation = self.min_correlation.min(a.correlation);
        }
        self.max_delta = self.max_delta.max(a.max_delta);
        self.max_sum_deviation = self.max_sum_deviation.max((a.sum_ratio - 1.0).abs());
        self.max_relative = self.max_relative.max(a.relative.max_rel_diff);
        self.count += 1;
    }

    pub fn describe(&self) -> String {
        format!(
            "{} images: worst corr (images with contrast) {:.10} (1−corr {:.2e})  max|Δ|/max {:.3e}  |sum ratio−1| {:.3e}  max rel above 1e-3·max {:.3e}",
            self.count,
            self.min_correlation,
            1.0 - self.min_correlation,
            self.max_delta,
            self.max_sum_deviation,
            self.max_relative
        )
    }
}
