//! Shared by the GPU test binaries: adapter-or-skip, building a plan from a golden case's
//! command line, and the GPU-vs-CPU acceptance metrics.
#![allow(dead_code)] // each test binary uses its own subset

use nanobragg::cli::parse::{Command, parse};
use nanobragg::engine::gpu::{self, GpuOptions};
use nanobragg::engine::plan::Plan;
use nanobragg::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[path = "../common/mod.rs"]
mod common;
pub use common::shout;

/// `resolve` works in the process's current directory (it reads and writes ./Fdump.bin, and
/// case paths are relative): only one test at a time may move it.
static CWD: Mutex<()> = Mutex::new(());

pub fn require_gpu() -> bool {
    std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1")
}

/// Whether the GPU engine can run here; if not, says so loudly (or fails under
/// NANOBRAGG_REQUIRE_GPU=1). Probes with a one-pixel render.
pub fn gpu_available(test: &str) -> bool {
    let probe = plan_from_args(&["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detpixels", "1"], None);
    match gpu::render_with(&probe, &GpuOptions::default()) {
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
/// `local_inputs` (so ./Fdump.bin reads and writes stay there).
pub fn plan_from_args(args: &[&str], case: Option<(&Path, &[String])>) -> Plan {
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
    let resolved = match parse(&args, -1) {
        Ok(Command::Run(raw)) => nanobragg::model::resolve(&raw),
        Ok(Command::Help) => panic!("{args:?} asks for help"),
        Err(e) => Err(e),
    };
    std::env::set_current_dir(home).expect("leave scratch dir");
    Plan::new(&resolved.unwrap_or_else(|e| panic!("{args:?}: {e}")))
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
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        if c_parity {
            args.push("-c_parity");
        }
        plan_from_args(&args, Some((&self.dir, &self.local_inputs)))
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

/// GPU-vs-CPU agreement of two images (REFERENCE.md acceptance numbers).
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    pub correlation: f64,
    pub sum_ratio: f64,
    /// max |GPU − CPU| / max |CPU|
    pub max_delta: f64,
    pub worst_pixel: usize,
    pub worst_cpu: f32,
    pub worst_gpu: f32,
}

impl Agreement {
    pub fn measure(cpu: &[f32], gpu: &[f32]) -> Agreement {
        assert_eq!(cpu.len(), gpu.len());
        let n = cpu.len() as f64;
        let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut max_cpu, mut max_delta, mut worst) = (0.0f64, 0.0f64, 0usize);
        for (i, (&c, &g)) in cpu.iter().zip(gpu).enumerate() {
            let (x, y) = (c as f64, g as f64);
            sx += x;
            sy += y;
            sxx += x * x;
            syy += y * y;
            sxy += x * y;
            max_cpu = max_cpu.max(x.abs());
            let d = (x - y).abs();
            if d > max_delta || d.is_nan() {
                max_delta = d;
                worst = i;
            }
        }
        let cov = sxy - sx * sy / n;
        let (vx, vy) = (sxx - sx * sx / n, syy - sy * sy / n);
        // identical constant images (e.g. all zero) agree perfectly
        let correlation = if vx == 0.0 && vy == 0.0 && max_delta == 0.0 { 1.0 } else { cov / (vx * vy).sqrt() };
        let sum_ratio = if sx == 0.0 && sy == 0.0 { 1.0 } else { sy / sx };
        let scale = if max_cpu > 0.0 { max_cpu } else { 1.0 };
        Agreement { correlation, sum_ratio, max_delta: max_delta / scale, worst_pixel: worst, worst_cpu: cpu[worst], worst_gpu: gpu[worst] }
    }

    /// correlation ≥ 0.99999, |sum ratio − 1| ≤ 1e-4, max|Δ| ≤ 1e-3·max|CPU| (NaN fails).
    pub fn passes(&self) -> bool {
        self.correlation >= 0.99999 && (self.sum_ratio - 1.0).abs() <= 1e-4 && self.max_delta <= 1e-3
    }

    pub fn describe(&self, fpixels: usize) -> String {
        format!(
            "corr {:.9}  max|Δ|/max {:.3e}  sum ratio {:.9}  worst pixel (fast {}, slow {}): cpu {} gpu {}",
            self.correlation,
            self.max_delta,
            self.sum_ratio,
            self.worst_pixel % fpixels,
            self.worst_pixel / fpixels,
            self.worst_cpu,
            self.worst_gpu
        )
    }
}
