//! The acceptance corpus: every case of ../shared/golden through the CLI with the f64 CPU
//! engine, in `-c_parity` mode (all cases) and in the default mode (cases that exercise none
//! of the C defects the default mode fixes), against the C program's outputs.
//!
//! The gates are the claims of README.md and docs/behaviours.md: in `-c_parity` mode the float
//! image equals C's bit for bit; in the default mode it meets REFERENCE.md's acceptance
//! numbers (a01–a03 differ from C at 1e-12..2.5e-8 by design). The SMV int image is equal
//! except ±1 count where the value sits on a rounding boundary (`int_count_explained`).

mod common;
mod gpu_support;

use common::*;
use nanobragg::compare::diff;
use nanobragg::engine::cpu::statistics;
use std::collections::BTreeMap;
use std::path::Path;

/// meta.json features that mark a case as depending on a C defect the default mode fixes
/// (docs/behaviours.md lists them).
const DEFECT_FEATURES: &[&str] = &[
    "phi_carryover",
    "interp_out_of_range",
    "pivot",
    "pix0_vector",
    "pix0_vector_mm",
    "misset_random",
    "smv_header_ingest",
    "sourcefile",
    // the default mode reads a structure-factor cache only when -hkl names it
    "Fdump",
    // the default mode weights each term once by its sub-pixel's factor (C compounds them)
    "oversample_omega",
    "oversample_polar",
    "oversample_thick",
    // the default mode counts the water once, in photons (C applies r_e²·fluence twice)
    "water",
];

fn depends_on_defect(features: &[String], args: &[String]) -> bool {
    let collision = features.iter().any(|f| f == "quirk") && features.iter().any(|f| f == "twotheta_axis");
    collision || features.iter().any(|f| DEFECT_FEATURES.contains(&f.as_str())) || oblique_cell(args)
}

/// A `-cell` whose α or β is not 90°: nanoBragg.c's reciprocal basis for such a cell is
/// slightly inconsistent (c*_z), which the default mode corrects (docs/behaviours.md), so
/// these cases differ from C by design. Most are not tagged `triclinic` in meta.json.
fn oblique_cell(args: &[String]) -> bool {
    let Some(at) = args.iter().position(|a| a == "-cell") else { return false };
    args[at + 1..].iter().take(5).skip(3).any(|a| a.parse::<f64>().is_ok_and(|angle| angle != 90.0))
}

/// SMV header as key → value, and the pixel bytes (the last 2·w·h bytes of the file).
fn smv_parts(bytes: &[u8]) -> (BTreeMap<String, String>, Vec<u16>) {
    let end = bytes.iter().position(|&b| b == b'}').expect("SMV header ends with }");
    let text = String::from_utf8_lossy(&bytes[..end]);
    let header: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_end_matches(';').to_string()))
        .collect();
    let w: usize = header["SIZE1"].parse().unwrap();
    let h: usize = header["SIZE2"].parse().unwrap();
    let data = &bytes[bytes.len() - 2 * w * h..];
    (header, data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
}

fn count_off_by_more_than(a: &[i64], b: &[i64], tol: i64) -> usize {
    a.iter().zip(b).filter(|(x, y)| (*x - *y).abs() > tol).count()
}

/// Whether an int-image count that differs from C's by one is explained by rounding: the
/// SMV writer rounds `v·scale + adc` by adding 0.5 and converting to f32 before truncating
/// (as C stores it), so a value within one f32 step of a .5 boundary — widened by the float
/// images' own difference there, zero in `-c_parity` mode — may land on either side.
fn int_count_explained(ours: f32, theirs: f32, scale: f64, adc: f64) -> bool {
    let t = (theirs as f64 * scale + adc).clamp(0.0, 65535.0);
    let step = {
        let r = (t + 0.5) as f32;
        (f32::from_bits(r.to_bits() + 1) - r) as f64
    };
    let boundary_distance = ((t + 0.5) - (t + 0.5).round()).abs();
    boundary_distance <= step + (ours as f64 - theirs as f64).abs() * scale
}

/// Check every output of a case against C's; returns the problems found.
fn check_case(golden: &Path, case: &str, dir: &Path, c_parity: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let ours = floats(&std::fs::read(dir.join("float.bin")).unwrap());
    let theirs = floats(&golden_bytes(golden, case, "float.bin").unwrap());
    let fpixels = case_fpixels(golden, case);
    let d = diff(&ours, &theirs, |_| true);
    let line = d.summary(fpixels);
    if c_parity {
        // README.md: "the -c_parity -engine cpu float images are identical to the C
        // program's bit for bit"
        let differing = ours.iter().zip(&theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        if ours.len() != theirs.len() || differing > 0 {
            problems.push(format!("float.bin is not bit-identical to C: {differing} pixels differ; {line}"));
        }
    } else if !(d.correlation >= 0.999999 && d.max_diff_over_max <= 1e-5) {
        problems.push(format!("float.bin {line}"));
    }
    if let Some(c_int) = golden_bytes(golden, case, "int.img") {
        let (h_c, px_c) = smv_parts(&c_int);
        let (h_o, px_o) = smv_parts(&std::fs::read(dir.join("int.img")).unwrap());
        if h_c != h_o {
            let differing: Vec<_> = h_c.iter().filter(|(k, v)| h_o.get(*k) != Some(v)).map(|(k, v)| format!("{k}: C {v} ours {:?}", h_o.get(k))).collect();
            problems.push(format!("int.img header differs: {differing:?}"));
        }
        let (scale, adc) = int_scale(golden, case, c_parity, &theirs);
        let mut unexplained = Vec::new();
        let mut rounding = 0;
        for (i, (&o, &c)) in px_o.iter().zip(&px_c).enumerate() {
            if o == c {
                continue;
            }
            if o.abs_diff(c) == 1 && int_count_explained(ours[i], theirs[i], scale, adc) {
                rounding += 1;
            } else if unexplained.len() < 5 {
                unexplained.push(format!("(fast {}, slow {}) ours {o} C {c} float ours {} C {}", i % fpixels, i / fpixels, ours[i], theirs[i]));
            } else {
                unexplained.push(String::new());
            }
        }
        if !unexplained.is_empty() {
            let shown: Vec<_> = unexplained.iter().filter(|s| !s.is_empty()).cloned().collect();
            problems.push(format!("int.img: {} pixels differ beyond rounding (scale {scale}, adc {adc}), e.g. {shown:?}", unexplained.len()));
        }
        if rounding > 0 {
            println!("{case:48} int.img: {rounding} pixel(s) ±1 on a rounding boundary");
        }
    }
    if let Some(c_pgm) = golden_bytes(golden, case, "image.pgm") {
        let o_pgm = std::fs::read(dir.join("image.pgm")).unwrap();
        let n = theirs.len();
        if c_pgm[..c_pgm.len() - n] != o_pgm[..o_pgm.len().saturating_sub(n)] {
            problems.push("image.pgm header differs".into());
        }
        let a: Vec<i64> = o_pgm[o_pgm.len() - n..].iter().map(|&x| x as i64).collect();
        let b: Vec<i64> = c_pgm[c_pgm.len() - n..].iter().map(|&x| x as i64).collect();
        let off = count_off_by_more_than(&a, &b, 1);
        if off > 0 {
            problems.push(format!("image.pgm: {off} pixels differ by more than 1"));
        }
    }
    if let Some(c_noise) = golden_bytes(golden, case, "noise.img") {
        let (_, px_c) = smv_parts(&c_noise);
        let (_, px_o) = smv_parts(&std::fs::read(dir.join("noise.img")).unwrap());
        if c_parity {
            // Poisson draws are exact functions of the float image: bit-identical floats must
            // give the identical noise image (the generator alone is pinned to C exactly by the
            // rng unit tests)
            let off = px_c.iter().zip(&px_o).filter(|(a, b)| a != b).count();
            let allowed = if ours == theirs { 0 } else { px_c.len() / 100 };
            if off > allowed {
                problems.push(format!("noise.img: {off} pixels differ (allowed {allowed})"));
            }
        } else {
            problems.extend(check_counter_noise(golden, case, &ours, &px_o, &px_c));
        }
    }
    println!("{case:48} {line}");
    problems
}

/// The default mode's noise image is not C's draw: its noise comes from counters (Philox,
/// docs/realism.md), so it must be exactly the detector model applied to our own float image
/// (frame 1, the case's seed, ROI and ADC offset), and hold the photons C's image holds within
/// six standard deviations of the difference of two independent Poisson draws.
fn check_counter_noise(golden: &Path, case: &str, ours: &[f32], px_o: &[u16], px_c: &[u16]) -> Vec<String> {
    let mut problems = Vec::new();
    let gc = gpu_support::golden_cases(golden).into_iter().find(|c| c.name == case).expect("case");
    let e = gc.experiment(false);
    let plan = nanobragg::engine::plan::Plan::new(&e);
    let o = &e.response;
    let want = o.noise.frame_noise(ours, plan.fpixels, plan.spixels, plan.roi, e.detector.pixel_size, o.seed, o.adc_offset, 1).unwrap();
    let off = want.image.int16.iter().zip(px_o).filter(|(a, b)| a != b).count();
    if off > 0 {
        problems.push(format!("noise.img: {off} pixels differ from the counter model of our float image"));
    }
    let adc = o.adc_offset;
    let (mut sum_o, mut sum_c) = (0.0, 0.0);
    for (&a, &b) in px_o.iter().zip(px_c) {
        if a < 65535 && b < 65535 {
            sum_o += f64::from(a) - adc;
            sum_c += f64::from(b) - adc;
        }
    }
    let sigma = (sum_o + sum_c).max(1.0).sqrt();
    println!("{case:48} noise.img photons ours {sum_o} C {sum_c} ({:.2} σ)", (sum_o - sum_c) / sigma);
    if (sum_o - sum_c).abs() > 6.0 * sigma {
        problems.push(format!("noise.img: {sum_o} photons, C's {sum_c}: more than 6σ ({sigma:.1}) apart"));
    }
    problems
}

/// The SMV int image's scale and ADC offset for a case as the program derives them:
/// `-intfile_scale`, else 55000 / the brightest unmasked ROI pixel (of C's float image, which
/// in `-c_parity` mode is ours bit for bit).
fn int_scale(golden: &Path, case: &str, c_parity: bool, c_float: &[f32]) -> (f64, f64) {
    let gc = gpu_support::golden_cases(golden).into_iter().find(|c| c.name == case).expect("case");
    let e = gc.experiment(c_parity);
    let plan = nanobragg::engine::plan::Plan::new(&e);
    let max_i = statistics(&plan, c_float).max_i;
    let typed = gc.intfile_scale();
    let scale = if typed > 0.0 { typed } else if max_i > 0.0 { 55000.0 / max_i } else { 1.0 };
    (scale, e.response.adc_offset)
}

fn run_corpus(mode_args: &[&str], select: impl Fn(&[String], &[String]) -> bool, label: &str) {
    let Some(golden) = golden_dir() else { return };
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases(&golden) {
        let mut args = case_args(&golden, &case);
        if !select(&case_features(&golden, &case), &args) {
            continue;
        }
        let (_guard, dir) = stage_case(&golden, &case);
        args.extend(strings(mode_args));
        let out = nanobragg(&dir, &args);
        ran += 1;
        if !out.status.success() {
            failures.push(format!("{case}: exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
            continue;
        }
        for p in check_case(&golden, &case, &dir, mode_args.contains(&"-c_parity")) {
            failures.push(format!("{case}: {p}"));
        }
    }
    println!("{label}: {ran} cases run, {} problems", failures.len());
    assert!(ran > 0, "no golden case ran");
    assert!(failures.is_empty(), "{label} failures:\n{}", failures.join("\n"));
}

#[test]
fn every_case_matches_c_in_c_parity_mode() {
    run_corpus(&["-c_parity", "-engine", "cpu", "-quiet"], |_, _| true, "c-parity");
}

#[test]
fn defect_free_cases_match_c_in_default_mode() {
    run_corpus(&["-engine", "cpu", "-quiet"], |f, a| !depends_on_defect(f, a), "default mode");
}

/// The two corpus tests above, run again in a child process of this very test binary with
/// `NANOBRAGG_GOLDEN` pointing at an empty directory: under `CI=true` each must FAIL naming the
/// missing corpus (no vacuous pass), and without CI / NANOBRAGG_REQUIRE_GOLDEN it must pass
/// with the loud SKIPPED notice.
#[test]
fn missing_corpus_fails_the_suite_under_ci() {
    let empty = tempfile::tempdir().unwrap();
    let run = |test: &str, ci: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("NANOBRAGG_GOLDEN", empty.path())
            .env_remove("CI")
            .env_remove("NANOBRAGG_REQUIRE_GOLDEN");
        if let Some(v) = ci {
            cmd.env("CI", v);
        }
        let out = cmd.output().expect("run the test binary");
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    for test in ["every_case_matches_c_in_c_parity_mode", "defect_free_cases_match_c_in_default_mode"] {
        let (ok, text) = run(test, Some("true"));
        assert!(!ok, "{test} passed under CI=true without a corpus:\n{text}");
        assert!(text.contains("golden corpus not found") && text.contains("1 failed"), "{test}: {text}");
        let (ok, text) = run(test, None);
        assert!(ok && text.contains("SKIPPED: golden corpus not found"), "{test} without CI: {text}");
    }
    let (ok, text) = run("every_case_matches_c_in_c_parity_mode", Some("false"));
    assert!(ok, "CI=false counts as unset: {text}");
}

/// The ±1 allowance of the int-image check applies on a .5 boundary only.
#[test]
fn int_rounding_allowance_is_only_at_half_counts() {
    // 100.5 + 0.5 is 101 exactly: either side of the boundary is a correct rounding
    assert!(int_count_explained(100.5, 100.5, 1.0, 0.0));
    // 0.3 counts from the boundary: no rounding explains a different count
    assert!(!int_count_explained(100.2, 100.2, 1.0, 0.0));
    // float images that differ across the boundary explain it, by their difference only
    assert!(int_count_explained(100.51, 100.49, 1.0, 0.0));
    assert!(!int_count_explained(100.4, 100.39, 1.0, 0.0));
    // the scale and the ADC offset move the boundary: 40 + 2·30.25 = 100.5
    assert!(int_count_explained(30.25, 30.25, 2.0, 40.0));
}
