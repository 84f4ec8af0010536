//! `nanobragg compare`: outputs, exit statuses (AT-TOOLS-001) and the references it accepts,
//! on a small golden case (a04: 64×64 pixels).

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

const CASE: &str = "a04_at001_det64";

/// Run `nanobragg compare <options> -- <case flags> -c_parity` in a staged copy of the case,
/// with NB_C_BIN cleared so that the reference is what the options say.
fn compare(golden: &Path, dir: &Path, options: &[&str]) -> Output {
    let mut args = strings(&["compare"]);
    args.extend(strings(options));
    args.push("--".into());
    args.extend(case_args(golden, CASE));
    args.push("-c_parity".into());
    std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(&args).current_dir(dir).env_remove("NB_C_BIN").output().expect("run nanobragg")
}

fn summary(dir: &Path, out: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("summary.json")).expect("summary.json")).expect("summary parses")
}

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

#[test]
fn compare_writes_a_complete_summary_and_three_previews() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let out = compare(&golden, &dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("A runtime:") && stdout.contains("B runtime:") && stdout.contains("correlation"), "{stdout}");
    let s = summary(&dir, "compare_out");
    for key in [
        "command", "simulation_args", "a", "b", "detector_pixels", "roi", "sample", "pixels_compared", "correlation", "mse", "rmse",
        "max_abs_diff", "max_abs_diff_at", "max_rel_diff", "max_rel_diff_at", "rel_floor", "sum_a", "sum_b", "sum_ratio", "tolerance",
        "pixels_over_tolerance", "threshold", "passed", "runtime_a_ms", "runtime_b_ms", "png_scale_method", "png_white",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}");
    }
    // the GPU gate (docs/gpu.md, "Gates"): an engine disagreement must not pass here either
    assert!(s["correlation"].as_f64().unwrap() >= 1.0 - 1e-7, "{s}");
    assert_eq!(s["pixels_compared"], 64 * 64);
    assert_eq!(s["roi"], serde_json::json!([0, 63, 0, 63]));
    assert_eq!(s["b"]["kind"], "cpu");
    assert!(["cpu", "gpu"].contains(&s["a"]["kind"].as_str().unwrap()));
    assert!((s["sum_ratio"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    assert_eq!(s["passed"], true);
    for png in ["a.png", "b.png", "diff.png"] {
        assert_eq!(png_size(&dir.join("compare_out").join(png)), (64, 64), "{png}");
    }
    // identical images: the difference map is white wherever pixels were compared
    let diff = image::open(dir.join("compare_out/diff.png")).unwrap().to_rgb8();
    if s["a"]["kind"] == "cpu" {
        assert!(diff.pixels().all(|p| p.0 == [255, 255, 255]));
    }
}

#[test]
fn correlation_below_threshold_exits_3() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let out = compare(&golden, &dir, &["--threshold", "1.1", "--out", "t"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary(&dir, "t")["passed"], false);
    assert!(String::from_utf8_lossy(&out.stdout).contains("below the threshold"));
}

#[test]
fn reference_float_image_from_c() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let c_float = dir.join("c_float.bin");
    let bytes = golden_bytes(&golden, CASE, "float.bin").unwrap();
    let c_max = floats(&bytes).iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    std::fs::write(&c_float, bytes).unwrap();
    let out = compare(&golden, &dir, &["--ref", c_float.to_str().unwrap(), "--engine-a", "cpu", "--out", "r"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&dir, "r");
    assert_eq!(s["b"]["kind"], "file");
    // the f64 CPU engine against nanoBragg.c: the golden acceptance numbers
    assert!(s["correlation"].as_f64().unwrap() >= 0.999999, "{s}");
    assert!(s["max_abs_diff"].as_f64().unwrap() <= 1e-5 * c_max, "{s}");
}

#[test]
fn sample_and_roi_limit_the_reference() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let out = compare(&golden, &dir, &["--sample", "50", "--roi", "8", "39", "16", "31", "--engine-a", "cpu", "--out", "s"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&dir, "s");
    assert_eq!(s["pixels_compared"], 50);
    assert_eq!(s["sample"]["pixels"], 50);
    assert_eq!(s["sample"]["brightest"], 25);
    assert_eq!(s["roi"], serde_json::json!([8, 39, 16, 31]));
    assert_eq!(s["correlation"], 1.0);
    for png in ["a.png", "b.png", "diff.png"] {
        assert_eq!(png_size(&dir.join("s").join(png)), (32, 16), "{png}");
    }
    // pixels outside the sample are black in diff.png, sampled ones white (no difference)
    let diff = image::open(dir.join("s/diff.png")).unwrap().to_rgb8();
    let white = diff.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    let black = diff.pixels().filter(|p| p.0 == [0, 0, 0]).count();
    assert_eq!((white, black), (50, 32 * 16 - 50));
}

#[test]
fn external_program_reference_runs_with_the_same_flags() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    // our own binary stands in for nanoBragg.c: same flags, float image read back
    let out = compare(&golden, &dir, &["--ref-bin", env!("CARGO_BIN_EXE_nanobragg"), "--engine-a", "cpu", "--out", "p"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&dir, "p");
    assert_eq!(s["b"]["kind"], "program");
    // the stand-in renders with `-engine auto`, i.e. on the GPU where one exists
    assert!(s["correlation"].as_f64().unwrap() >= 1.0 - 1e-7, "{s}");
    assert!((s["sum_ratio"].as_f64().unwrap() - 1.0).abs() <= 4e-5, "{s}");
    assert!(dir.join("p/ref_stdout.txt").exists() && dir.join("p/ref_stderr.txt").exists());
    // the program ran elsewhere: the case directory holds no image it wrote
    assert!(!dir.join("float.bin").exists());
}

#[test]
fn failures_map_to_the_nb_compare_exit_statuses() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let other_size = dir.join("other.bin");
    std::fs::write(&other_size, vec![0u8; 4 * 100]).unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--bogus"], 1, "unknown option"),
        (vec!["--roi", "0", "64", "0", "10"], 1, "--roi"),
        (vec!["--sample", "0"], 1, "--sample"),
        (vec!["--ref-bin", "./no_such_program"], 2, "not found"),
        (vec!["--ref", other_size.to_str().unwrap()], 4, "100 pixels"),
        (vec!["--ref", "/no/such/float.bin"], 5, "no such file"),
    ];
    for (options, code, text) in cases {
        let out = compare(&golden, &dir, &options);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{options:?}: {stderr}");
        assert!(stderr.contains(text), "{options:?}: {stderr}");
    }
    let no_separator = nanobragg(&dir, &strings(&["compare", "-N", "5"]));
    assert_eq!(no_separator.status.code(), Some(1));
}

#[test]
fn explicit_gpu_candidate_never_silently_becomes_cpu() {
    let Some(golden) = golden_dir() else { return };
    let (_guard, dir) = stage_case(&golden, CASE);
    let out = compare(&golden, &dir, &["--engine-a", "gpu", "--out", "g"]);
    match out.status.code() {
        // an adapter exists: the candidate really is the GPU
        Some(0) => assert_eq!(summary(&dir, "g")["a"]["kind"], "gpu"),
        // none: a runner failure that says why
        Some(2) => assert!(String::from_utf8_lossy(&out.stderr).contains("GPU"), "{}", String::from_utf8_lossy(&out.stderr)),
        other => panic!("unexpected status {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// With `-stol` both sides are the finished image (spots + the amorphous background), whether
/// the reference is the whole f64 image or a sample of recomputed pixels (which always added
/// the background: a candidate of spots alone put every sampled pixel out of tolerance).
#[test]
fn stol_background_is_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let table: String = (0..=40).map(|k| format!("{} {}\n", k as f64 * 0.05, 2.6 - k as f64 * 0.03)).collect();
    std::fs::write(dir.path().join("w.stol"), table).unwrap();
    let flags = "-cell 40 40 40 90 90 90 -N 10 -default_F 1000 -lambda 1 -distance 80 -detpixels 64 -pixel 0.4 -nopgm";
    let run = |extra: &[&str], out: &str, stol: bool| {
        let mut args = strings(&["compare", "--engine-a", "cpu", "--out", out]);
        args.extend(strings(extra));
        args.push("--".into());
        args.extend(flags.split_whitespace().map(String::from));
        if stol {
            args.extend(strings(&["-stol", "w.stol", "-bg_thick", "0.005"]));
        }
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(&args).current_dir(dir.path()).env_remove("NB_C_BIN").output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        summary(dir.path(), out)
    };
    let spots = run(&[], "spots", false);
    for (extra, out) in [(&[][..], "whole"), (&["--sample", "64"][..], "sampled")] {
        let m = run(extra, out, true);
        assert_eq!(m["pixels_over_tolerance"], 0, "{out}: {m}");
        assert_eq!(m["correlation"], 1.0, "{out}: {m}");
        assert_eq!(m["sum_a"], m["sum_b"], "{out}: {m}");
        if out == "whole" {
            // the background is there: far more photons than the spots alone
            assert!(m["sum_a"].as_f64().unwrap() > 2.0 * spots["sum_a"].as_f64().unwrap(), "{m} vs {spots}");
        }
    }
}
