//! `nanobragg bench`: the four performance workloads of docs/performance.md timed on this
//! machine (engine alone, and the whole program as a user runs it), optionally against
//! another program given the same flags, such as nanoBragg.c. The criterion benches in
//! `benches/` use the same workloads.

use crate::cli::Resolve;
use crate::cli::parse::{Command, parse};
use crate::cli::raw::EngineChoice;
use crate::engine::{self, plan::Plan};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Detector sizes: `Full` is the definition of the workloads, `Small` a quick look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    Small,
    Full,
}

/// One benchmark case: a command line both programs accept.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub summary: &'static str,
    pub args: Vec<String>,
}

/// The workloads, reading structure factors for W4 from `hkl` (see [`write_smooth_hkl`]).
/// Outputs go to the current directory.
pub fn workloads(size: Size, hkl: &Path) -> Vec<Workload> {
    let pixels = |full: usize, small: usize| if size == Size::Full { full } else { small }.to_string();
    let build = |name, summary, flags: &str, detpixels: String| {
        let mut args: Vec<String> = flags.split_whitespace().map(String::from).collect();
        args.extend(["-detpixels".into(), detpixels]);
        args.extend(["-floatfile", "float.bin", "-intfile", "int.img", "-nopgm", "-nonoise"].map(String::from));
        Workload { name, summary, args }
    };
    let mut w4 = build(
        "W4",
        "tricubic F from an HKL grid, N=2",
        "-cell 50 50 50 90 90 90 -lambda 1 -N 2 -distance 150",
        pixels(256, 128),
    );
    w4.args.splice(0..0, ["-hkl".to_string(), hkl.display().to_string()]);
    vec![
        build(
            "W1",
            "cubic, one term per pixel",
            "-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 -distance 100 -pixel 0.1 -nointerpolate",
            pixels(1024, 256),
        ),
        build(
            "W2",
            "mosaic, φ, divergence, dispersion, 2x2 oversample",
            "-cell 100 100 100 90 90 90 -lambda 1 -N 5 -default_F 100 -distance 100 -mosaic 0.5 -mosaic_dom 10 \
             -phisteps 10 -osc 1 -oversample 2 -divergence 0.5 -divsteps 3 -dispersion 0.2 -dispsteps 3",
            pixels(128, 32),
        ),
        build(
            "W3",
            "triclinic with misset, N=8",
            "-cell 70 80 90 85 95 105 -lambda 1.5 -N 8 -misset 10 5 3 -default_F 100 -distance 100",
            pixels(512, 128),
        ),
        w4,
    ]
}

/// A smooth structure-factor grid (h, k, l in −6…6, F a sum of cosines with cross terms,
/// rounded to 0.25 so that a binary Fdump cache holds it exactly): something tricubic
/// interpolation has to work on.
pub fn write_smooth_hkl(path: &Path) -> Result<()> {
    let mut text = String::new();
    for h in -6..=6 {
        for k in -6..=6 {
            for l in -6..=6 {
                let (hf, kf, lf) = (h as f64, k as f64, l as f64);
                let f = 95.0 + 25.0 * (0.9 * hf + 0.2).cos() + 18.0 * (0.7 * kf - 0.4).sin() + 12.0 * (0.5 * lf + 1.1).cos()
                    + 0.8 * hf * kf
                    - 0.5 * kf * lf
                    + 0.3 * hf * lf;
                text.push_str(&format!("{h} {k} {l} {:.2}\n", (f * 4.0).round() / 4.0));
            }
        }
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// The plan a command line renders, as the program builds it (without `-hkl` it reads
/// ./Fdump.bin; only a finished run of the program writes that file, `app`).
pub fn plan_for(args: &[String]) -> Result<Plan> {
    match parse(args, -1)? {
        Command::Run(raw) => Ok(Plan::new(&raw.resolve()?.0)),
        Command::Help => Err(Error::Usage("a workload cannot be a request for help".into())),
    }
}

/// Pixels the plan renders.
pub fn rendered_pixels(plan: &Plan) -> u64 {
    (0..plan.spixels).map(|s| (0..plan.fpixels).filter(|&f| plan.renders(f, s)).count() as u64).sum()
}

/// Terms summed: rendered pixels × sub-pixels × layers × sources × φ steps × mosaic domains.
pub fn terms(plan: &Plan) -> u64 {
    let per_pixel = plan.oversample * plan.oversample * plan.thicksteps * plan.sources.len() * plan.phisteps * plan.domains;
    rendered_pixels(plan) * per_pixel as u64
}

#[derive(clap::Parser, Debug)]
#[command(name = "nanobragg bench", about = "Time the performance workloads W1-W4 (docs/performance.md) on this machine")]
struct BenchArgs {
    /// engine to time; `all` times the CPU and the GPU engine
    #[arg(long, value_enum, default_value = "all")]
    engine: EngineArg,
    /// another program to time on the same command lines (e.g. nanoBragg.c), run with
    /// OMP_NUM_THREADS set to the number of CPUs
    #[arg(long, value_name = "PROGRAM")]
    vs: Option<PathBuf>,
    /// timed runs per measurement (the median is reported)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// detector sizes: `full` defines the workloads, `small` is a quick look
    #[arg(long, value_enum, default_value = "full")]
    size: Size,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EngineArg {
    Cpu,
    Gpu,
    Auto,
    All,
}

/// The `bench` subcommand with its arguments (after the word `bench`); returns the exit
/// status (2 for bad arguments, 1 when a run fails).
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            crate::console::errln(format_args!("nanobragg bench: error: {e}"));
            e.exit_code()
        }
    }
}

/// clap's message as the one line every nanobragg error is: without clap's own "error: "
/// (the caller adds ours), its usage block and its line breaks.
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let joined = parts.join(" ");
    let message = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{message} (nanobragg bench --help lists the options)")
}

/// Run `nanobragg bench` with its arguments (after the word `bench`).
pub fn run(args: &[String]) -> Result<()> {
    let opts = match <BenchArgs as clap::Parser>::try_parse_from(std::iter::once("nanobragg bench".to_string()).chain(args.iter().cloned())) {
        Ok(o) => o,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            crate::out!("{e}");
            return Ok(());
        }
        Err(e) => return Err(Error::Usage(one_line(&e))),
    };
    let engines: &[(EngineChoice, &str)] = match opts.engine {
        EngineArg::Cpu => &[(EngineChoice::Cpu, "cpu")],
        EngineArg::Gpu => &[(EngineChoice::Gpu, "gpu")],
        EngineArg::Auto => &[(EngineChoice::Auto, "auto")],
        EngineArg::All => &[(EngineChoice::Cpu, "cpu"), (EngineChoice::Gpu, "gpu")],
    };
    let ours = std::env::current_exe().map_err(|e| Error::io(Path::new("nanobragg"), e))?;
    let other = opts.vs.as_deref().map(absolute).transpose()?;
    let scratch = Scratch::new()?;
    // resolving a workload may read ./Fdump.bin and the timed program runs write it: keep
    // both out of the user's directory
    std::env::set_current_dir(&scratch.0).map_err(|e| Error::io(&scratch.0, e))?;
    let hkl = scratch.0.join("smooth.hkl");
    write_smooth_hkl(&hkl)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::outln!(
        "nanobragg bench: {} runs each, median; {cpus} CPUs; kernel = GPU kernel alone (n/a: CPU engine, or no TIMESTAMP_QUERY), render = engine alone, process = whole program",
        opts.runs
    );
    let mut header = format!(
        "{:<4} {:<6} {:>10} {:>9} {:>10} {:>9} {:>9} {:>10} {:>9}",
        "work", "engine", "kernel s", "term/s", "render s", "pixel/s", "term/s", "process s", "term/s"
    );
    if let Some(p) = &other {
        header.push_str(&format!(" {:>10} {:>8}   (other: {})", "other s", "ratio", p.display()));
    }
    crate::outln!("{header}");
    for w in workloads(opts.size, &hkl) {
        let plan = plan_for(&w.args)?;
        let (pixels, terms) = (rendered_pixels(&plan), terms(&plan));
        let mut other_time = None;
        for &(choice, label) in engines {
            let (render, kernel) = match median_render(&plan, choice, opts.runs) {
                Ok(t) => t,
                Err(e) => {
                    crate::outln!("{:<4} {:<6} skipped: {e}", w.name, label);
                    continue;
                }
            };
            let mut ours_args = w.args.clone();
            ours_args.extend(["-engine".to_string(), label.to_string()]);
            let mut process = Vec::new();
            let mut theirs = Vec::new();
            // alternate the two programs so that both see the same machine load
            for _ in 0..opts.runs {
                process.push(time_process(&ours, &ours_args, &scratch.0, &[])?);
                if let (Some(p), None) = (&other, other_time) {
                    theirs.push(time_process(p, &w.args, &scratch.0, &[("OMP_NUM_THREADS", cpus.to_string())])?);
                }
            }
            if !theirs.is_empty() {
                other_time = Some(median(theirs));
            }
            let process = median(process);
            let secs = render.as_secs_f64();
            let (kernel_secs, kernel_rate) = match kernel {
                Some(k) if k > 0.0 => (format!("{k:.4}"), si(terms as f64 / k)),
                _ => ("n/a".to_string(), "n/a".to_string()),
            };
            let mut row = format!(
                "{:<4} {:<6} {:>10} {:>9} {:>10.4} {:>9} {:>9} {:>10.4} {:>9}",
                w.name,
                label,
                kernel_secs,
                kernel_rate,
                secs,
                si(pixels as f64 / secs),
                si(terms as f64 / secs),
                process.as_secs_f64(),
                si(terms as f64 / process.as_secs_f64())
            );
            if let Some(t) = other_time {
                row.push_str(&format!(" {:>10.4} {:>8.2}", t.as_secs_f64(), t.as_secs_f64() / process.as_secs_f64()));
            }
            crate::outln!("{row}");
        }
        crate::outln!("     {}: {} — {pixels} pixels, {terms} terms", w.name, w.summary);
    }
    Ok(())
}

/// A rate with three significant digits and an SI prefix ("61.4M").
fn si(x: f64) -> String {
    let (scaled, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")].into_iter().find(|(s, _)| x >= *s).map_or((x, ""), |(s, p)| (x / s, p));
    let decimals = if scaled >= 100.0 { 0 } else if scaled >= 10.0 { 1 } else { 2 };
    format!("{scaled:.decimals$}{prefix}")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| Error::io(p, e))
}

/// Median render time and median kernel time (GPU with timestamps only), after one untimed
/// render (first touches, GPU pipeline creation).
fn median_render(plan: &Plan, choice: EngineChoice, runs: u32) -> Result<(Duration, Option<f64>)> {
    let gpu = crate::gpu_env::for_backend(None);
    let control = crate::progress::RenderControl::default();
    engine::render(plan, choice, &gpu, &control)?;
    let mut times = Vec::new();
    let mut kernel = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let rendered = engine::render(plan, choice, &gpu, &control)?;
        times.push(start.elapsed());
        kernel.extend(rendered.kernel_seconds.map(Duration::from_secs_f64));
    }
    let kernel = (kernel.len() == times.len()).then(|| median(kernel).as_secs_f64());
    Ok((median(times), kernel))
}

/// Wall time of one run of `program`, output discarded; each run starts without the
/// structure-factor cache so that every run does the same work.
fn time_process(program: &Path, args: &[String], dir: &Path, env: &[(&str, String)]) -> Result<Duration> {
    let _ = std::fs::remove_file(dir.join("Fdump.bin"));
    let start = Instant::now();
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| Error::io(program, e))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(Error::Usage(format!("{} {} failed ({status})", program.display(), args.join(" "))));
    }
    Ok(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A private directory for the bench's files, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("nanobragg-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_with_si_prefixes() {
        assert_eq!(si(61_430_000.0), "61.4M");
        assert_eq!(si(1.5e9), "1.50G");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(123_456.0), "123k");
    }

    #[test]
    fn workloads_resolve_and_count_terms() {
        let dir = std::env::temp_dir().join(format!("nanobragg-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hkl = dir.join("smooth.hkl");
        write_smooth_hkl(&hkl).unwrap();
        assert_eq!(std::fs::read_to_string(&hkl).unwrap().lines().count(), 13 * 13 * 13);
        let w = workloads(Size::Full, &hkl);
        let w2 = plan_for(&w[1].args).unwrap();
        // 2×2 sub-pixels × 15 sources × 10 φ steps × 10 domains: 6000 terms per pixel on 128²
        assert_eq!(terms(&w2), 128 * 128 * 6000);
        let w1 = plan_for(&w[0].args).unwrap();
        assert_eq!((rendered_pixels(&w1), terms(&w1)), (1024 * 1024, 1024 * 1024));
        let small = workloads(Size::Small, &hkl);
        assert!(small.iter().zip(&w).all(|(s, f)| s.name == f.name && s.args.len() == f.args.len()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
