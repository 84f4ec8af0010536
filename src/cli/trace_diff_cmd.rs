//! `nanobragg trace-diff A B [--tol T]`: line up two pixel traces (from nanoBragg.c's
//! `-trace_pixel` or ours, any engine) and name the first quantity that differs.
//! Exit status: 0 the traces agree, 1 they differ, 2 bad arguments or unreadable files.

use crate::io::cfmt::{fmt_g, fmt_g_precision};
use crate::trace::diff::{ParsedTrace, Verdict, compare_traces, parse_trace};
use std::path::{Path, PathBuf};

/// Relative tolerance when `--tol` is not given: f64 engines doing C's arithmetic in C's order
/// agree to ~1e-15; 1e-9 leaves room for a different but equally valid summation.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

const USAGE: &str = "usage: nanobragg trace-diff A.log B.log [--tol RELATIVE]  (default 1e-9)\n\
    Compares the TRACE_ lines of two pixel traces by name and occurrence; prints the first\n\
    quantity that differs by more than the relative tolerance (exit 1) or \"traces agree\" (exit 0).\n";

struct Options {
    a: PathBuf,
    b: PathBuf,
    tolerance: f64,
}

/// Run the subcommand; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return 0;
    }
    match parse_options(args).and_then(|o| run(&o)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("nanobragg trace-diff: error: {message}");
            2
        }
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut files = Vec::new();
    let mut tolerance = DEFAULT_TOLERANCE;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--tol" {
            let v = args.get(i + 1).ok_or("--tol expects a value")?;
            tolerance = v.parse::<f64>().ok().filter(|t| t.is_finite() && *t >= 0.0).ok_or(format!("--tol: '{v}' is not a non-negative number"))?;
            i += 2;
        } else if args[i].starts_with("--") {
            return Err(format!("unknown option '{}'\n{USAGE}", args[i]));
        } else {
            files.push(PathBuf::from(&args[i]));
            i += 1;
        }
    }
    match <[PathBuf; 2]>::try_from(files) {
        Ok([a, b]) => Ok(Options { a, b, tolerance }),
        Err(_) => Err(format!("expected two trace files\n{USAGE}")),
    }
}

fn load(path: &Path) -> Result<ParsedTrace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
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
    println!("A: {} ({}, {} quantities)", o.a.display(), tag(&a), a.quantities.len());
    println!("B: {} ({}, {} quantities)", o.b.display(), tag(&b), b.quantities.len());
    match compare_traces(&a, &b, o.tolerance) {
        Verdict::Agree { compared, max_relative, worst, only_in_a, only_in_b } => {
            let at = worst.map(|w| format!(" (at {w})")).unwrap_or_default();
            println!(
                "traces agree: {compared} quantities compared, largest relative difference {}{at} \
                 within tolerance {}; {only_in_a} only in A, {only_in_b} only in B",
                fmt_g(max_relative),
                fmt_g(o.tolerance)
            );
            Ok(0)
        }
        Verdict::Differ(d) => {
            let line_b = d.line_b.map_or("-".to_string(), |l| l.to_string());
            println!("first difference: {} (occurrence {}; A line {}, B line {line_b})", d.name, d.occurrence, d.line_a);
            println!("  A: {}", values(&d.a));
            println!("  B: {}", values(&d.b));
            println!("  {}", d.reason);
            Ok(1)
        }
    }
}
