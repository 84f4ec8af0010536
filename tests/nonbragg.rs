//! `nanobragg nonBragg`: every nonBragg case of the companion corpus (`../shared/golden-ext`,
//! n01..n05) run through the binary with `-c_parity` and compared with nonBragg.c's outputs,
//! case by case with numbers (`--nocapture` prints them); the default mode against the same
//! outputs and in the one place it differs on purpose (F beyond the table).

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn nonbragg(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).current_dir(dir).arg("nonBragg").args(args).output().expect("run nanobragg")
}

fn floats(path: &Path) -> Vec<f64> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
}

fn smv_pixels(bytes: &[u8]) -> Vec<i64> {
    bytes[512..].chunks_exact(2).map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))).collect()
}

/// Pearson correlation and max |Δ| / max |want|.
fn agreement(got: &[f64], want: &[f64]) -> (f64, f64) {
    let n = want.len() as f64;
    let (mg, mw) = (got.iter().sum::<f64>() / n, want.iter().sum::<f64>() / n);
    let (mut sgw, mut sgg, mut sww) = (0.0, 0.0, 0.0);
    for (g, w) in got.iter().zip(want) {
        sgw += (g - mg) * (w - mw);
        sgg += (g - mg) * (g - mg);
        sww += (w - mw) * (w - mw);
    }
    let corr = if sgg == 0.0 && sww == 0.0 { 1.0 } else { sgw / (sgg * sww).sqrt() };
    let max_want = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let max_diff = got.iter().zip(want).fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    (corr, max_diff / max_want)
}

fn cases(corpus: &Path) -> Vec<String> {
    let cases = common::cases_of(corpus, 'n');
    assert!(cases.len() >= 5, "expected the n01..n05 nonBragg cases, found {cases:?}");
    cases
}

fn case_args(corpus: &Path, case: &str) -> Vec<String> {
    let cmd = std::fs::read_to_string(corpus.join(case).join("cmd.txt")).unwrap();
    let mut words = cmd.split_whitespace();
    assert_eq!(words.next(), Some("nonBragg"), "{case}: cmd.txt names another program");
    words.map(String::from).collect()
}

#[test]
fn c_parity_matches_nonbragg_c_on_every_corpus_case() {
    let Some(corpus) = common::golden_ext_dir() else { return };
    let mut failures = Vec::new();
    for case in &cases(&corpus) {
        let want_dir = corpus.join(case);
        let mut args = case_args(&corpus, case);
        args.push("-c_parity".into());
        let dir = common::golden_ext_scratch(&corpus);
        let out = nonbragg(dir.path(), &args);
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        let (got, want) = (floats(&dir.path().join("float.bin")), floats(&want_dir.join("float.bin")));
        assert_eq!(got.len(), want.len(), "{case}: float.bin size");
        let (corr, rel) = agreement(&got, &want);
        let bits = got.iter().zip(&want).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        eprintln!("{case} float.bin: correlation {corr:.9}, max|Δ|/max {rel:.3e}, {:.4} % bit-identical", 100.0 * bits as f64 / want.len() as f64);
        if !(corr >= 0.999999 && rel <= 1e-5) {
            failures.push(format!("{case} float.bin: correlation {corr}, max|Δ|/max {rel}"));
        }
        for name in ["int.img", "noise.img"] {
            let got = std::fs::read(dir.path().join(name)).unwrap();
            let want = std::fs::read(want_dir.join(name)).unwrap();
            let header_same = got.len() == want.len() && got[..512] == want[..512];
            let (g, w) = (smv_pixels(&got), smv_pixels(&want));
            let same = g.iter().zip(&w).filter(|(a, b)| a == b).count();
            let max_diff = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).max().unwrap_or(0);
            let fraction = same as f64 / w.len() as f64;
            eprintln!("{case} {name}: {:.4} % identical, max |Δ| {max_diff} ADU, header {}", 100.0 * fraction, if header_same { "identical" } else { "DIFFERS" });
            if !(header_same && g.len() == w.len() && fraction >= 0.999 && max_diff <= 1) {
                failures.push(format!("{case} {name}: {fraction} identical, max |Δ| {max_diff}, header same {header_same}"));
            }
        }
        // image.pgm: the C writes two bytes per pixel, the second half being whatever memory
        // followed its image; the header and the first byte per pixel are the image
        let got = std::fs::read(dir.path().join("image.pgm")).unwrap();
        let want = std::fs::read(want_dir.join("image.pgm")).unwrap();
        let pixels = want_dir.join("float.bin").metadata().unwrap().len() as usize / 4;
        let head = got.len() - pixels;
        let pgm_ok = got[..head] == want[..head] && got[head..].iter().zip(&want[head..head + pixels]).all(|(a, b)| a.abs_diff(*b) <= 1);
        eprintln!("{case} image.pgm: header and pixels {}", if pgm_ok { "match (±1)" } else { "DIFFER" });
        if !pgm_ok {
            failures.push(format!("{case} image.pgm differs"));
        }
        // the report: every line nonBragg.c printed, in order
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want_stdout = std::fs::read_to_string(want_dir.join("stdout.txt")).unwrap();
        let got_lines: Vec<&str> = stdout.lines().collect();
        let want_lines: Vec<&str> = want_stdout.lines().collect();
        if got_lines != want_lines {
            let first = got_lines.iter().zip(&want_lines).position(|(a, b)| a != b).unwrap_or(got_lines.len().min(want_lines.len()));
            failures.push(format!(
                "{case}: report differs from line {}: ours {:?}, C {:?}",
                first + 1,
                got_lines.get(first),
                want_lines.get(first)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The default mode renders the same physics on these cases (the table covers every pixel, so
/// its one deliberate difference, F beyond the table, does not arise): float images agree
/// with nonBragg.c's to the f32 level, and the counter-based noise has the right mean.
#[test]
fn default_mode_agrees_with_nonbragg_c_inside_the_table() {
    let Some(corpus) = common::golden_ext_dir() else { return };
    for case in &cases(&corpus) {
        let args = case_args(&corpus, case);
        let dir = common::golden_ext_scratch(&corpus);
        let out = nonbragg(dir.path(), &args);
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        let (got, want) = (floats(&dir.path().join("float.bin")), floats(&corpus.join(case).join("float.bin")));
        let (corr, rel) = agreement(&got, &want);
        eprintln!("{case} default float.bin: correlation {corr:.9}, max|Δ|/max {rel:.3e}");
        assert!(corr >= 0.999999 && rel <= 1e-5, "{case}: correlation {corr}, max|Δ|/max {rel}");
        // Poisson counts: the mean of (noise − ADC) over pixels with a mean between 1 and
        // 65000 photons matches the mean of the float image within 5 standard errors
        let noise = smv_pixels(&std::fs::read(dir.path().join("noise.img")).unwrap());
        let (mut sum_mean, mut sum_count, mut n) = (0.0, 0.0, 0.0);
        for (m, c) in got.iter().zip(&noise) {
            if *m >= 1.0 && *m < 65000.0 {
                sum_mean += m;
                sum_count += (*c - 40) as f64;
                n += 1.0;
            }
        }
        if n > 100.0 {
            let err = (sum_mean / n).sqrt() / n.sqrt();
            assert!(((sum_count - sum_mean) / n).abs() < 5.0 * err + 1e-9, "{case}: counts {} vs mean {}", sum_count / n, sum_mean / n);
        }
    }
}

/// Beyond the table's last point nonBragg.c extrapolates F from the last two points; the
/// default mode holds F at the last value. A table ending at 0.05 Å⁻¹ with F falling to 2.5
/// therefore renders, past that, exactly what a flat F = 2.5 table renders — in the default
/// mode only.
#[test]
fn default_mode_holds_f_beyond_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let short: String = (0..=5).map(|i| format!("{} {}\n", i as f64 * 0.01, 3.0 - 10.0 * i as f64 * 0.01)).collect();
    std::fs::write(dir.path().join("short.stol"), short).unwrap();
    std::fs::write(dir.path().join("flat.stol"), "0 2.5\n0.1 2.5\n0.2 2.5\n0.3 2.5\n").unwrap();
    let render = |table: &str, extra: &[&str]| -> Vec<f64> {
        let mut args: Vec<String> = format!("-stol {table} -lambda 1 -distance 100 -detpixels 64 -pixel 0.8 -seed 1 -nonoise -noprogress -floatfile {table}.bin")
            .split_whitespace()
            .map(String::from)
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = nonbragg(dir.path(), &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        floats(&dir.path().join(format!("{table}.bin")))
    };
    // the corner pixel (0, 0): 2θ ≈ 19.9°, stol ≈ 0.17 Å⁻¹
    let (short_default, flat_default) = (render("short.stol", &[]), render("flat.stol", &[]));
    assert!((short_default[0] / flat_default[0] - 1.0).abs() < 1e-6, "{} {}", short_default[0], flat_default[0]);
    let short_c = render("short.stol", &["-c_parity"]);
    // C: F = 3 − 10·stol carried on, ≈ 1.3 at the corner, so about a quarter of the intensity
    assert!(short_c[0] < 0.5 * flat_default[0], "{} {}", short_c[0], flat_default[0]);
}

#[test]
fn refusals_name_the_flag_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["-lambda", "1"], "no amorphous table"),
        (vec!["-stol", "missing.stol"], "missing.stol"),
        (vec!["-stol", "x.stol", "-img", "a.img"], "-img is not supported"),
        (vec!["-stol", "x.stol", "-pixel", "0"], "-pixel"),
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = nonbragg(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a refused run wrote files");
}

/// A water-like table (F in electrons against sin θ/λ in Å⁻¹), written in `dir`.
fn write_table(dir: &Path) {
    let text: String = (0..=100).map(|i| {
        let s = i as f64 * 0.005;
        format!("{s} {}\n", 2.57 + 3.0 * (-((s - 0.16) / 0.05).powi(2)).exp() - 1.5 * s)
    }).collect();
    std::fs::write(dir.join("w.stol"), text).unwrap();
}

fn main_command(dir: &Path, line: &str) -> Output {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    common::nanobragg(dir, &args)
}

/// The main command with `-stol` and no spots renders what `nanobragg nonBragg` renders on the
/// same detector (nonBragg's beam centre (X, Y) is MOSFLM's (Y − ½ pixel, X − ½ pixel)), for
/// divergence, dispersion, oversampling, polarisation and a curved detector; with spots, the
/// image is the spots plus that background.
#[test]
fn main_command_stol_adds_what_nonbragg_renders() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path());
    let detector = "-lambda 1 -distance 80 -detpixels 96 -pixel 0.2 -fluence 1e22 -oversample 2";
    let sample = "-density 0.9 -MW 18";
    for (extra, what) in [
        ("-divergence 0.4 -divsteps 3 -dispersion 0.2 -dispsteps 3 -polar 0.9", "divergence, dispersion, polarisation"),
        ("-curved_det -nopolar -point_pixel", "curved detector, no polarisation, point pixels"),
    ] {
        let nb = nonbragg(
            dir.path(),
            &format!("-stol w.stol {detector} {sample} -thick 0.004 -Xbeam 9.0 -Ybeam 10.2 {extra} -floatfile nb.bin -intfile nb.img -nonoise -noprogress")
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        );
        assert!(nb.status.success(), "{}", String::from_utf8_lossy(&nb.stderr));
        let crystal = "-cell 40 40 40 90 90 90 -N 5";
        let common_flags = format!("{crystal} {detector} {sample} -Xbeam 10.1 -Ybeam 8.9 {extra} -engine cpu -nopgm -nonoise -intfile i.img");
        let bg = main_command(dir.path(), &format!("{common_flags} -default_F 0 -stol w.stol -bg_thick 0.004 -floatfile bg.bin"));
        assert!(bg.status.success(), "{}", String::from_utf8_lossy(&bg.stderr));
        let spots = main_command(dir.path(), &format!("{common_flags} -default_F 100 -floatfile spots.bin"));
        assert!(spots.status.success(), "{}", String::from_utf8_lossy(&spots.stderr));
        let both = main_command(dir.path(), &format!("{common_flags} -default_F 100 -stol w.stol -thick 0.004 -floatfile both.bin"));
        assert!(both.status.success(), "{}", String::from_utf8_lossy(&both.stderr));
        let (nb, bg, spots, both) = (
            floats(&dir.path().join("nb.bin")),
            floats(&dir.path().join("bg.bin")),
            floats(&dir.path().join("spots.bin")),
            floats(&dir.path().join("both.bin")),
        );
        let (corr, rel) = agreement(&bg, &nb);
        eprintln!("{what}: -stol alone vs nonBragg: correlation {corr:.9}, max|Δ|/max {rel:.3e}");
        assert!(nb.iter().all(|&v| v > 0.0), "{what}: the nonBragg image has empty pixels");
        assert!(corr >= 0.9999999 && rel <= 1e-6, "{what}: correlation {corr}, max|Δ|/max {rel}");
        let sum: Vec<f64> = spots.iter().zip(&nb).map(|(s, b)| s + b).collect();
        let (corr, rel) = agreement(&both, &sum);
        eprintln!("{what}: spots + -stol vs spots + nonBragg: correlation {corr:.9}, max|Δ|/max {rel:.3e}");
        assert!(corr >= 0.9999999 && rel <= 1e-6, "{what}: correlation {corr}, max|Δ|/max {rel}");
        assert!(spots.iter().zip(&both).any(|(s, b)| b - s > 0.5 * b), "{what}: the background is not visible");
    }
}

/// nanoBragg.c parses `-stol` and never uses it: `-c_parity` renders exactly what it renders
/// without the table, and says so.
#[test]
fn c_parity_ignores_stol_as_nanobragg_c_does() {
    let dir = tempfile::tempdir().unwrap();
    write_table(dir.path());
    let base = "-cell 40 40 40 90 90 90 -N 5 -default_F 100 -lambda 1 -distance 80 -detpixels 64 -pixel 0.2 -oversample 1 -c_parity -engine cpu -nopgm -nonoise -intfile i.img";
    let with = main_command(dir.path(), &format!("{base} -stol w.stol -floatfile with.bin"));
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(String::from_utf8_lossy(&with.stderr).contains("ignored with -c_parity"), "{}", String::from_utf8_lossy(&with.stderr));
    let without = main_command(dir.path(), &format!("{base} -floatfile without.bin"));
    assert!(without.status.success());
    assert_eq!(std::fs::read(dir.path().join("with.bin")).unwrap(), std::fs::read(dir.path().join("without.bin")).unwrap());
    // the default mode refuses a sample it cannot scatter from, naming the flag
    let bad = main_command(dir.path(), "-cell 40 40 40 90 90 90 -default_F 1 -detpixels 8 -stol w.stol -MW 0 -floatfile x.bin -nopgm -nonoise -intfile x.img");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("-MW"), "{}", String::from_utf8_lossy(&bad.stderr));
}
