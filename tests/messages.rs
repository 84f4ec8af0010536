//! Messages a person understands, through the binary: file errors that name their flag,
//! "did you mean", value counts, one-line errors, warnings without module paths, `-quiet`,
//! `--version`, bare usage, the help layout; and the command-line compatibility gaps with
//! nanoBragg.c (synonyms, ignored tokens in `-c_parity`, `-preview` with `-png_log`).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// A small cubic crystal on a 48×48 detector, CPU engine: fast, and without warnings.
const SMALL: &[&str] = &[
    "-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "6.2", "-distance", "100",
    "-detpixels", "48", "-engine", "cpu", "-nopgm", "-nonoise",
];

/// The binary in `dir`, with no RUST_LOG from the caller's environment.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(dir).env_remove("RUST_LOG").output().expect("run nanobragg")
}

fn small(dir: &Path, extra: &[&str]) -> Output {
    let mut args = SMALL.to_vec();
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The single error line of a refused run, checked for its exit status.
fn error_line(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{err}");
    lines[0].to_string()
}

fn succeeded(out: &Output) {
    assert!(out.status.success(), "stderr:\n{}", stderr(out));
}

fn float_image(dir: &Path, name: &str) -> Vec<f32> {
    floats(&std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

// ---- errors

#[test]
fn a_missing_file_names_its_flag_in_plain_words() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, file) in [("-hkl", "nothere.hkl"), ("-mat", "nothere.mat"), ("-img", "nothere.img"), ("-sourcefile", "nothere.txt")] {
        let out = small(tmp.path(), &[flag, file]);
        let line = error_line(&out, 1);
        assert_eq!(line, format!("nanobragg: error: {flag} {file}: no such file"));
    }
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none(), "nothing may be written");
}

#[test]
fn a_misspelt_flag_gets_a_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let line = error_line(&small(tmp.path(), &["-distence", "200"]), 2);
    assert_eq!(line, "nanobragg: error: unknown flag '-distence' (did you mean -distance?)");
    // far from every flag: pointed at the help instead
    let line = error_line(&small(tmp.path(), &["-frobnicate"]), 2);
    assert!(line.contains("unknown flag '-frobnicate'") && line.contains("nanobragg -h"), "{line}");
    // a spelling nanoBragg.c's substring matching takes: say which flag it would be
    let line = error_line(&small(tmp.path(), &["-mosaic_spread_deg", "1"]), 2);
    assert!(line.contains("nanoBragg.c would read it as -mosaic") && line.contains("-c_parity"), "{line}");
}

#[test]
fn missing_values_say_how_many_are_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let line = error_line(&run(tmp.path(), &["-cell"]), 2);
    assert!(line.contains("-cell: expects 6 values <a b c alpha beta gamma>"), "{line}");
    let line = error_line(&run(tmp.path(), &["-cell", "-N", "5"]), 2);
    assert!(line.contains("-cell: expects 6 values") && line.contains("'-N'"), "{line}");
    let line = error_line(&run(tmp.path(), &["-fdet_vector", "0", "0"]), 2);
    assert!(line.contains("-fdet_vector: expects 3 values <x y z>"), "{line}");
    // a value that follows a switch is named with the switch
    let line = error_line(&small(tmp.path(), &["-nopolar", "1"]), 2);
    assert!(line.contains("unexpected argument '1' (-nopolar takes no value)"), "{line}");
}

#[test]
fn bench_option_errors_are_one_clean_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["bench", "--size", "huge"]);
    let line = error_line(&out, 2);
    assert!(line.starts_with("nanobragg bench: error: invalid value 'huge' for '--size"), "{line}");
    assert!(!line.contains("error: error") && !line.contains("\\n"), "{line}");
    assert!(line.contains("small, full"), "{line}");
}

// ---- warnings and -quiet

/// A run that warns twice: mosaic domains without a spread (nanoBragg.c's own warning) and
/// the beam centre 500 mm off a 4.8 mm detector.
const WARNS: &[&str] = &["-mosaic_domains", "3", "-Xbeam", "500"];

#[test]
fn warnings_read_plainly_and_quiet_silences_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = small(tmp.path(), WARNS);
    succeeded(&out);
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().collect();
    assert_eq!(warnings.len(), 2, "{err}");
    for w in &warnings {
        assert!(w.starts_with("nanobragg: warning: "), "{w}");
        assert!(!w.contains("nanobragg::") && !w.contains("[WARN"), "module path in {w}");
    }
    assert!(err.contains("no mosaic spread specified.  setting mosaic_domains = 1"), "{err}");
    assert!(err.contains("the beam centre is off the detector"), "{err}");

    let out = small(tmp.path(), &[WARNS, &["-quiet"]].concat());
    succeeded(&out);
    assert_eq!(stderr(&out), "", "-quiet prints only errors");
    assert_eq!(stdout(&out), "", "-quiet prints no report");
}

#[test]
fn beam_centre_warning_only_when_the_beam_misses_the_detector() {
    let tmp = tempfile::tempdir().unwrap();
    // the default centre, and one near the edge of the 4.8 mm detector: no warning
    for extra in [&[][..], &["-Xbeam", "4.7", "-Ybeam", "0.1"][..]] {
        let out = small(tmp.path(), extra);
        succeeded(&out);
        assert_eq!(stderr(&out), "", "{extra:?}");
    }
    let out = small(tmp.path(), &["-Ybeam", "-3"]);
    succeeded(&out);
    let err = stderr(&out);
    assert!(err.contains("beam centre is off the detector") && err.contains("outside the 48x48 pixels"), "{err}");
}

/// The README's first command with `-oversample 3` (it has `-oversample 2`, below the
/// automatic choice for this crystal, which nanoBragg.c warns about): no warning at all.
#[test]
fn demo_command_is_warning_free() {
    // the README's first command, read from the README itself (the first line of its first
    // sh block: `cargo run --release -- <flags>`), run in a scratch folder with the inputs'
    // paths made absolute and the out/ folder it writes into made there
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).expect("README opens with a sh block");
    let demo = block.lines().next().unwrap();
    let flags = demo.split_once(" -- ").expect("the demo is `cargo run --release -- <flags>`").1;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let mut args: Vec<String> = flags
        .split_whitespace()
        .map(|a| if a.starts_with("assets/") { root.join(a).to_string_lossy().into_owned() } else { a.to_string() })
        .collect();
    args.extend(["-engine", "cpu"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(tmp.path(), &args);
    succeeded(&out);
    assert_eq!(stderr(&out), "");
    // it writes where the README says, and nothing else (no ./Fdump.bin)
    let mut written: Vec<String> =
        std::fs::read_dir(tmp.path().join("out")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    written.sort();
    assert_eq!(written, ["demo.bin", "demo.img", "demo.png"]);
    assert!(!tmp.path().join("Fdump.bin").exists());
}

// ---- version, usage, help

#[test]
fn version_is_printed_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    for flag in ["--version", "-version"] {
        let out = run(tmp.path(), &[flag]);
        succeeded(&out);
        assert_eq!(stdout(&out), format!("nanobragg {}\n", env!("CARGO_PKG_VERSION")));
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn bare_nanobragg_prints_usage_as_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "", "usage goes to stderr");
    let err = stderr(&out);
    assert!(err.starts_with("nanobragg: ") && err.contains("usage: nanobragg [flags]") && err.contains("nanobragg -h"), "{err}");
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none(), "nothing may be written");
}

#[test]
fn help_is_sectioned_aligned_and_fits_100_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["-h"]);
    succeeded(&out);
    let help = stdout(&out);
    for section in [
        "Crystal:", "Beam:", "Detector:", "Rotation:", "Sampling:", "Files in:", "Files out:", "Noise and seeds:",
        "GPU and engine", "Reports:", "Compatibility with nanoBragg.c:",
    ] {
        assert!(help.lines().any(|l| l.starts_with(section)), "no section {section}");
    }
    for line in help.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    const COLUMN: usize = 32;
    let mut entries = 0;
    let flag_lines = help.lines().skip_while(|l| !l.starts_with("Crystal:"));
    for line in flag_lines {
        let chars: Vec<char> = line.chars().collect();
        let is_entry = line.starts_with("  -") || line.starts_with(" +-");
        // a flag whose name and values leave no room has its description on the next lines
        let has_description = line.get(2..).is_some_and(|rest| rest.contains("  "));
        if is_entry && has_description {
            // the description starts in the same column on every line that has one
            entries += 1;
            assert!(chars[COLUMN - 1] == ' ' && chars[COLUMN] != ' ', "misaligned: {line}");
        } else if line.starts_with(' ') && !is_entry {
            assert!(line.starts_with(&" ".repeat(COLUMN)) && chars[COLUMN] != ' ', "misaligned continuation: {line}");
        }
    }
    assert!(entries > 100, "{entries} flag lines");
    // synonyms are listed with their flag
    assert!(help.contains("-mosaici"), "{help}");
}

// ---- compatibility with nanoBragg.c's command line

#[test]
fn mosaici_is_accepted_in_both_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let mosaic = ["-mosaic_domains", "3", "-mosaic_seed", "7"];
    succeeded(&small(tmp.path(), &[&mosaic[..], &["-mosaic", "2", "-floatfile", "ref.bin"]].concat()));
    succeeded(&small(tmp.path(), &[&mosaic[..], &["-mosaici", "2", "-floatfile", "default.bin"]].concat()));
    succeeded(&small(tmp.path(), &[&mosaic[..], &["-c_parity", "-mosaici", "2", "-floatfile", "parity.bin"]].concat()));
    let reference = float_image(tmp.path(), "ref.bin");
    assert!(reference.iter().any(|&v| v > 0.0));
    assert_eq!(float_image(tmp.path(), "default.bin"), reference);
    assert_eq!(float_image(tmp.path(), "parity.bin"), reference);
}

#[test]
fn c_parity_skips_the_tokens_nanobragg_c_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let parity = ["-c_parity", "-oversample_thick", "-oversample", "1"];
    succeeded(&small(dir, &[&parity[..], &["-floatfile", "clean.bin"]].concat()));
    // `-oversample_thick 0 -oversample 1`: nanoBragg.c skips the 0 (and an unknown flag)
    let out = small(dir, &["-c_parity", "-oversample_thick", "0", "-oversample", "1", "-frobnicate", "-floatfile", "stray.bin"]);
    succeeded(&out);
    let err = stderr(&out);
    assert!(err.contains("nanobragg: warning: ignoring '0', as nanoBragg.c does"), "{err}");
    assert!(err.contains("nanobragg: warning: ignoring '-frobnicate', as nanoBragg.c does"), "{err}");
    assert_eq!(float_image(dir, "stray.bin"), float_image(dir, "clean.bin"));
    // the default mode still refuses it, saying why
    let line = error_line(&small(dir, &["-oversample_thick", "0", "-oversample", "1", "-floatfile", "refused.bin"]), 2);
    assert!(line.contains("unexpected argument '0' (-oversample_thick takes no value)"), "{line}");
    assert!(!dir.join("refused.bin").exists());
}

#[test]
fn preview_with_png_log_scales_like_pngfile() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 48×48 is not pooled, so the preview and the -pngfile image must be the same picture
    for (extra, name) in [(&["-png_log"][..], "log"), (&[][..], "linear"), (&["-png_log", "-pngscale", "0.5"][..], "scaled")] {
        let float = format!("{name}.bin");
        let png = format!("{name}.png");
        let out = small(dir, &[extra, &["-preview", "-floatfile", &float, "-pngfile", &png]].concat());
        succeeded(&out);
        let full = image::open(dir.join(&png)).unwrap().to_luma8();
        let preview = image::open(dir.join(format!("{name}_preview.png"))).unwrap().to_luma8();
        assert_eq!(preview.dimensions(), (48, 48));
        assert!(full.pixels().any(|p| p.0[0] > 0) && full.pixels().any(|p| p.0[0] == 0), "{name}: a blank image proves nothing");
        assert!(preview.as_raw() == full.as_raw(), "{name}: -preview and -pngfile differ");
    }
}
