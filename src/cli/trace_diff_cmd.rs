//! `nanobragg trace-diff A B [--tol T]`: line up two pixel traces (from nanoBragg.c's
//! `-trace_pixel` or ours, any engine) and name the first quantity that differs.
//! Exit status: 0 the traces agree, 1 they differ, 2 bad arguments or unreadable files.

use crate::io::cfmt::{fmt_g, fmt_g_precision};
use crate::trace::diff::{ParsedTrace, Verdict, compare_traces, parse_trace};
use std::path::{Path, PathBuf};

/// Relative tolerance when `--tol` is not given: f64 engines doing C's arithmetic in C's order
/// agree to ~1e-15; 1e-9 leaves room for a different but equally valid summation.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

#[derive(clap::Parser, Debug)]
#[command(
    name = "nanobragg trace-diff",
    override_usage = "nanobragg trace-diff A.log B.log [--tol RELATIVE]",
    about = "Compare the TRACE_ lines of two pixel traces by name and occurrence",
    long_about = "Compares the TRACE_ lines of two pixel traces by name and occurrence; prints the first \
                  quantity that differs by more than the relative tolerance (exit 1) or \"traces agree\" (exit 0).",
    after_help = "exit status: 0 the traces agree, 1 they differ, 2 bad arguments or unreadable files"
)]
struct TraceDiffArgs {
    /// the two trace logs (nanoBragg.c's or ours, any engine)
    #[arg(value_name = "TRACE")]
    files: Vec<PathBuf>,
    /// relative tolerance (default 1e-9)
    #[arg(long, value_name = "RELATIVE", default_value_t = DEFAULT_TOLERANCE, hide_default_value = true, value_parser = non_negative)]
    tol: f64,
}

fn non_negative(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("'{v}' is not a non-negative number")),
    }
}

struct Options {
    a: PathBuf,
    b: PathBuf,
    tolerance: f64,
}

/// Run the subcommand; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    match parse_options(args).and_then(|o| match o {
        Some(o) => run(&o),
        None => Ok(0),
    }) {
        Ok(code) => code,
        Err(message) => {
            crate::console::errln(format_args!("nanobragg trace-diff: error: {message}"));
            2
        }
    }
}

/// The options, or None when help was asked for (and printed).
fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let parsed = <TraceDiffArgs as clap::Parser>::try_parse_from(std::iter::once("nanobragg trace-diff".to_string()).chain(args.iter().cloned()));
    let a = match parsed {
        Ok(a) => a,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            crate::out!("{e}");
            return Ok(None);
        }
        Err(e) => return Err(super::compare_cmd::usage_message(&e)),
    };
    match <[PathBuf; 2]>::try_from(a.files) {
        Ok([a_file, b_file]) => Ok(Some(Options { a: a_file, b: b_file, tolerance: a.tol })),
        Err(_) => Err("expected two trace files (nanobragg trace-diff --help)".into()),
    }
}

fn load(path: &Path) -> Result<ParsedTrace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {}", path.display(), crate::error::plain_reason(&e)))?;
    let parsed = parse_trace(&text);
    if parsed.quantities.is_empty() {
        return Err(format!("{}: no TRACE_ lines with numeric values", path.display()));
    }
    Ok(parsed)
}

fn values(v: &[f64]) -> String {
    if v.is_empty() {
        return "(absent)".into();
    }
    v.iter().map(|&x| fmt_g_precision(x, 15)).collect::<Vec<_>>().join(" ")
}

fn run(o: &Options) -> Result<i32, String> {
    let (a, b) = (load(&o.a)?, load(&o.b)?);
    let tag = |t: &ParsedTrace| t.engines.iter().map(|e| format!("TRACE_{e}")).collect::<Vec<_>>().join("+");
    crate::outln!("A: {} ({}, {} quantities)", o.a.display(), tag(&a), a.quantities.len());
    crate::outln!("B: {} ({}, {} quantities)", o.b.display(), tag(&b), b.quantities.len());
    match compare_traces(&a, &b, o.tolerance) {
        Verdict::Agree { compared, max_relative, worst, only_in_a, only_in_b } => {
            let at = worst.map(|w| format!(" (at {w})")).unwrap_or_default();
            crate::outln!(
                "traces agree: {compared} quantities compared, largest relative difference {}{at} \
                 within tolerance {}; {only_in_a} only in A, {only_in_b} only in B",
                fmt_g(max_relative),
                fmt_g(o.tolerance)
            );
            Ok(0)
        }
        Verdict::Differ(d) => {
            let line_b = d.line_b.map_or("-".to_string(), |l| l.to_string());
            crate::outln!("first difference: {} (occurrence {}; A line {}, B line {line_b})", d.name, d.occurrence, d.line_a);
            crate::outln!("  A: {}", values(&d.a));
            crate::outln!("  B: {}", values(&d.b));
            crate::outln!("  {}", d.reason);
            Ok(1)
        }
    }
}
