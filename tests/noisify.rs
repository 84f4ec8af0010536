//! `nanobragg noisify`: every noisify case of the companion corpus (`../shared/golden-ext`,
//! z01..z05) run through the binary with `-c_parity` and compared with noisify.c's outputs;
//! and the default (counter-based) mode's properties through the binary.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn noisify(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).current_dir(dir).arg("noisify").args(args).output().expect("run nanobragg")
}

/// SMV pixels after noisify's 512-byte header: 2- or 4-byte little-endian, by the file length.
fn smv_pixels(bytes: &[u8], pixels: usize) -> Vec<i64> {
    let data = &bytes[512..];
    let width = data.len() / pixels;
    data.chunks_exact(width)
        .map(|c| if width == 4 { i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])) } else { i64::from(u16::from_le_bytes([c[0], c[1]])) })
        .collect()
}

#[test]
fn c_parity_matches_noisify_c_on_every_corpus_case() {
    let Some(corpus) = common::golden_ext_dir() else { return };
    let cases = common::cases_of(&corpus, 'z');
    assert!(cases.len() >= 5, "expected the z01..z05 noisify cases, found {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let want_dir = corpus.join(case);
        let cmd = std::fs::read_to_string(want_dir.join("cmd.txt")).unwrap();
        let mut words = cmd.split_whitespace();
        assert_eq!(words.next(), Some("noisify"), "{case}: cmd.txt names another program");
        let mut args: Vec<String> = words.map(String::from).collect();
        args.push("-c_parity".into());
        let dir = common::golden_ext_scratch(&corpus);
        let out = noisify(dir.path(), &args);
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        for name in ["int.img", "noise.img"] {
            let got = std::fs::read(dir.path().join(name)).unwrap();
            let want = std::fs::read(want_dir.join(name)).unwrap();
            let header_same = got.len() == want.len() && got[..512] == want[..512];
            let pixels = (want.len() - 512) / if want.len() > 512 + 2 * 65536 { 4 } else { 2 };
            let (g, w) = (smv_pixels(&got, pixels), smv_pixels(&want, pixels));
            let same = g.iter().zip(&w).filter(|(a, b)| a == b).count();
            let max_diff = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).max().unwrap_or(0);
            let fraction = same as f64 / w.len() as f64;
            eprintln!("{case} {name}: {:.4} % identical, max |Δ| {max_diff} ADU, header {}", 100.0 * fraction, if header_same { "identical" } else { "DIFFERS" });
            if !(header_same && g.len() == w.len() && fraction >= 0.999 && max_diff <= 1) {
                failures.push(format!("{case} {name}: {fraction} identical, max |Δ| {max_diff}, header same {header_same}"));
            }
        }
        let pgm_same = std::fs::read(dir.path().join("image.pgm")).unwrap() == std::fs::read(want_dir.join("image.pgm")).unwrap();
        eprintln!("{case} image.pgm: {}", if pgm_same { "identical" } else { "DIFFERS" });
        if !pgm_same {
            failures.push(format!("{case} image.pgm differs"));
        }
        // the report's totals are the C program's
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want_stdout = std::fs::read_to_string(want_dir.join("stdout.txt")).unwrap();
        for line in want_stdout.lines().filter(|l| l.contains("photons on noise image") || l.contains("lost photons")) {
            if !stdout.lines().any(|l| l == line) {
                failures.push(format!("{case}: report lacks '{line}'"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A 64 × 48 float image with a few bright spots on a weak background, written in `dir`.
fn test_image(dir: &Path) -> Vec<f32> {
    let (w, h) = (64usize, 48usize);
    let image: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            0.5 + 3000.0 * (-((x - 20.0).powi(2) + (y - 30.0).powi(2)) / 4.0).exp() + 40.0 * (-((x - 50.0).powi(2) + (y - 10.0).powi(2)) / 9.0).exp()
        })
        .collect();
    let bytes: Vec<u8> = image.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("in.bin"), bytes).unwrap();
    image
}

fn run_default(dir: &Path, extra: &[&str]) -> Vec<i64> {
    let mut args: Vec<String> = "-floatfile in.bin -detpixels_x 64 -seed 5 -readout 2 -flicker 0.01 -psf gauss -psf_fwhm 120 -noisefile n.img -intfile i.img -nopgm"
        .split_whitespace()
        .map(String::from)
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = noisify(dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Philox4x32-10"), "the report names the generator: {stdout}");
    smv_pixels(&std::fs::read(dir.join("n.img")).unwrap(), 64 * 48)
}

/// The default mode is reproducible for a seed, differs between seeds, and has the right
/// statistics: the mean of (noisy − noiseless) over the image is ~0 and its variance is about the
/// photon count plus the readout variance.
#[test]
fn default_mode_is_seeded_and_statistically_sound() {
    let dir = tempfile::tempdir().unwrap();
    let image = test_image(dir.path());
    let a = run_default(dir.path(), &[]);
    let again = run_default(dir.path(), &[]);
    assert_eq!(a, again, "same seed, same image");
    let b = run_default(dir.path(), &["-seed", "6"]);
    assert_ne!(a, b);
    // without PSF and flicker, per-pixel residuals against the ideal image
    let plain = run_default(dir.path(), &["-psf_fwhm", "0", "-flicker", "0", "-calibration", "0", "-readout", "0"]);
    let (mut sum, mut chi) = (0.0f64, 0.0f64);
    for (n, ideal) in plain.iter().zip(&image) {
        let d = (*n - 40) as f64 - f64::from(*ideal);
        sum += d;
        chi += d * d / f64::from(*ideal).max(0.5);
    }
    let pixels = image.len() as f64;
    let total: f64 = image.iter().map(|&v| f64::from(v)).sum();
    assert!(sum.abs() < 5.0 * total.sqrt(), "residual sum {sum}, photons {total}");
    // truncation of the integer image is exact here (counts are integers); χ²/N ≈ 1
    assert!((chi / pixels - 1.0).abs() < 0.1, "χ²/N {}", chi / pixels);
}

#[test]
fn errors_are_one_line_and_leave_no_outputs() {
    let dir = tempfile::tempdir().unwrap();
    test_image(dir.path());
    for (args, want) in [
        ("-floatfile nothere.bin", "-floatfile nothere.bin: no such file"),
        ("-floatfile in.bin -detpixels 100", "fewer than the 40000"),
        ("-floatfile in.bin -bits 12", "-bits: value '12' must be 16 or 32"),
        ("-floatfile in.bin -wibble 3", "unknown flag '-wibble'"),
        ("-scale 3", "no input image"),
    ] {
        let out = noisify(dir.path(), &args.split_whitespace().map(String::from).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args}");
        assert!(stderr.contains(want) && stderr.lines().count() == 1, "{args}: {stderr}");
        for name in ["intimage.img", "noiseimage.img", "image.pgm"] {
            assert!(!dir.path().join(name).exists(), "{args}: {name} written");
        }
    }
    let help = noisify(dir.path(), &["-h".to_string()]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("-psf_fwhm"));
}

/// noisify's automatic fiber radius grows with the brightest pixel (10·g·√I): past
/// `WIDE_RADIUS` pixels the run says so before spreading, with the way out (`-psf_radius`);
/// a Gaussian's radius stays small and says nothing.
#[test]
fn a_wide_automatic_psf_radius_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (128usize, 2usize);
    let image: Vec<f32> = (0..w * h).map(|i| if i == 70 { 1e6 } else { 0.5 }).collect();
    std::fs::write(dir.path().join("in.bin"), image.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let run = |shape: &str| {
        let args: Vec<String> = format!("-floatfile in.bin -detpixels_x {w} -seed 5 -psf {shape} -psf_fwhm 100 -noisefile n.img -intfile i.img -nopgm")
            .split_whitespace()
            .map(String::from)
            .collect();
        let out = noisify(dir.path(), &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let fiber = run("fiber");
    assert!(fiber.contains("warning: -psf: the automatic radius is 128 pixels") && fiber.contains("-psf_radius"), "{fiber}");
    let gauss = run("gauss");
    assert!(!gauss.contains("automatic radius"), "{gauss}");
}
