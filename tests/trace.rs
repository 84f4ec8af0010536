//! `-trace_pixel` against nanoBragg.c's own traces (../shared/traces, beside the golden corpus)
//! and `nanobragg trace-diff`.

mod common;

use common::*;
use nanobragg::trace::diff::{ParsedTrace, Verdict, compare_traces, parse_trace};
use std::path::{Path, PathBuf};

/// Agreement required between our f64 CPU trace and the C trace (relative, per quantity on the
/// scale of its largest component).
const TOLERANCE: f64 = 1e-9;

struct TraceCase {
    case: String,
    slow: usize,
    fast: usize,
    log: PathBuf,
}

fn trace_cases(golden: &Path) -> Vec<TraceCase> {
    let dir = golden.parent().expect("golden has a parent").join("traces");
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("traces/index.json")).expect("index parses");
    index
        .as_array()
        .expect("index is a list")
        .iter()
        .map(|e| TraceCase {
            case: e["case"].as_str().unwrap().to_string(),
            slow: e["slow"].as_u64().unwrap() as usize,
            fast: e["fast"].as_u64().unwrap() as usize,
            log: dir.join(e["trace"].as_str().unwrap()),
        })
        .collect()
}

/// Our CPU trace of the case's traced pixel, in c-parity mode.
fn our_trace(golden: &Path, t: &TraceCase) -> String {
    let (_guard, dir) = stage_case(golden, &t.case);
    let mut args = case_args(golden, &t.case);
    args.extend(strings(&["-c_parity", "-engine", "cpu", "-quiet", "-trace_pixel"]));
    args.extend([t.slow.to_string(), t.fast.to_string()]);
    let out = nanobragg(&dir, &args);
    assert!(out.status.success(), "{}: {}", t.case, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The (tag, name) layout of a trace: what C prints, in order, ignoring the engine prefix and
/// C's extra per-source debugging stream.
fn layout(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("TRACE_") && !l.starts_with("TRACE_C_SOURCE2") && !l.starts_with("TRACE_CONFIG"))
        .map(|l| {
            let (tag, rest) = l.split_once(' ').unwrap_or((l, ""));
            let kind = if tag.ends_with("_PHI") { "PHI" } else { "Q" };
            format!("{kind} {}", rest.split_whitespace().next().unwrap_or(""))
        })
        .collect()
}

#[test]
fn cpu_trace_agrees_with_every_c_trace() {
    let Some(golden) = golden_dir() else { return };
    let cases = trace_cases(&golden);
    for required in ["a02_", "a24_", "a64_"] {
        assert!(cases.iter().any(|t| t.case.starts_with(required)), "traces index lacks {required}");
    }
    let mut failures = Vec::new();
    for t in &cases {
        let c_text = std::fs::read_to_string(&t.log).unwrap();
        let ours = our_trace(&golden, t);
        assert!(ours.lines().any(|l| l.starts_with("TRACE_CPU: ")), "{}: no TRACE_CPU lines", t.case);
        if layout(&c_text) != layout(&ours) {
            failures.push(format!("{}: line layout differs from C", t.case));
        }
        let (c, us): (ParsedTrace, ParsedTrace) = (parse_trace(&c_text), parse_trace(&ours));
        match compare_traces(&c, &us, TOLERANCE) {
            Verdict::Agree { compared, max_relative, only_in_b, .. } => {
                println!("{:40} {compared:4} quantities, max relative difference {max_relative:.3e}", t.case);
                assert_eq!(only_in_b, 0, "{}: we print quantities C does not", t.case);
                // every C quantity is compared except its SOURCE2 debugging stream
                let c_main = c.quantities.iter().filter(|q| !q.name.starts_with("SOURCE2.")).count();
                assert_eq!(compared, c_main, "{}", t.case);
            }
            Verdict::Differ(d) => failures.push(format!("{}: {} differs ({:?} vs {:?}): {}", t.case, d.name, d.a, d.b, d.reason)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn trace_diff(a: &Path, b: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["trace-diff".to_string(), a.display().to_string(), b.display().to_string()];
    args.extend(strings(extra));
    nanobragg(Path::new("."), &args)
}

fn a02_log() -> Option<PathBuf> {
    let golden = golden_dir()?;
    Some(golden.parent()?.join("traces/a02_triclinic_P1_canonical__s368_f262.log"))
}

#[test]
fn trace_diff_names_a_planted_difference() {
    let Some(log) = a02_log() else { return };
    let text = std::fs::read_to_string(&log).unwrap();
    // second sub-pixel's F_latt_b, changed in the 7th digit
    let target = "TRACE_C: F_latt_b 4.96605712664351";
    assert!(text.contains(target));
    let planted = text.replace(target, "TRACE_C: F_latt_b 4.96605812664351");
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("planted.log");
    std::fs::write(&copy, planted).unwrap();
    let out = trace_diff(&log, &copy, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("first difference: F_latt_b (occurrence 2"), "{stdout}");
    // a tolerance looser than the plant accepts it
    assert_eq!(trace_diff(&log, &copy, &["--tol", "1e-5"]).status.code(), Some(0));
}

#[test]
fn trace_diff_agrees_on_identical_logs_and_across_prefixes() {
    let Some(log) = a02_log() else { return };
    let out = trace_diff(&log, &log, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("traces agree"), "{stdout}");
    let tmp = tempfile::tempdir().unwrap();
    let gpu = tmp.path().join("gpu.log");
    std::fs::write(&gpu, std::fs::read_to_string(&log).unwrap().replace("TRACE_C", "TRACE_GPU")).unwrap();
    assert_eq!(trace_diff(&log, &gpu, &[]).status.code(), Some(0));
}

#[test]
fn trace_diff_refuses_bad_input_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.log");
    std::fs::write(&empty, "no trace here\n").unwrap();
    for (args, expect) in [
        (vec!["trace-diff"], "expected two trace files"),
        (vec!["trace-diff", "a", "b", "--tol", "x"], "--tol"),
        (vec!["trace-diff", "/no/such/file", "/no/such/file"], "/no/such/file"),
        (vec!["trace-diff", empty.to_str().unwrap(), empty.to_str().unwrap()], "no TRACE_ lines"),
    ] {
        let out = nanobragg(tmp.path(), &strings(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[test]
fn trace_pixel_must_name_a_rendered_pixel() {
    let tmp = tempfile::tempdir().unwrap();
    let base = strings(&["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-detpixels", "32", "-engine", "cpu", "-quiet"]);
    for (extra, expect) in [(vec!["-trace_pixel", "5", "40"], "outside the 32x32 detector"), (vec!["-roi", "0", "9", "0", "9", "-trace_pixel", "20", "20"], "not rendered")] {
        let mut args = base.clone();
        args.extend(strings(&extra));
        let out = nanobragg(tmp.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
        assert!(!tmp.path().join("floatimage.bin").exists(), "refused before rendering");
    }
}

#[test]
fn trace_prints_even_when_quiet_and_matches_the_float_image() {
    let tmp = tempfile::tempdir().unwrap();
    let args = strings(&[
        "-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "32", "-distance", "50", "-lambda", "6.2",
        "-engine", "cpu", "-quiet", "-trace_pixel", "16", "16", "-floatfile", "f.bin",
    ]);
    let out = nanobragg(tmp.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = parse_trace(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(t.engines, ["CPU"]);
    let acc = t.quantities.iter().find(|q| q.name == "floatimage_accumulated").expect("final value").values[0];
    let image = floats(&std::fs::read(tmp.path().join("f.bin")).unwrap());
    let stored = image[16 * 32 + 16] as f64;
    assert!(stored > 0.0 && (acc - stored).abs() <= 1e-14 * stored, "{acc} vs {stored} (printed with 15 digits)");
    let final_f64 = t.quantities.iter().find(|q| q.name == "I_pixel_final").unwrap().values[0];
    assert!((final_f64 - acc).abs() <= 1e-6 * acc.abs());
}
