//! Inputs that would render garbage, and the structure-factor cache, through the real binary.
//! A refusal must exit non-zero with one error line naming the flag or the file (and line),
//! create no output, and leave every input and every pre-existing output byte for byte as it
//! was. The cache tests pin down when ./Fdump.bin is read and written (docs/robustness.md,
//! "Caches and inputs").

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{Case, OLD_FLOAT};

/// Outputs a run is told to write besides `float.bin`.
const NEW_OUTPUTS: [&str; 2] = ["int.img", "noise.img"];
/// Two reflections, F = 1: a cache of it differs visibly from `-default_F 100`.
const ONES_HKL: &str = "0 0 0 1\n1 1 1 1\n";
const SMALL: &str = "-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -detpixels 32 -engine cpu -seed 1 -nopgm";

impl Case {
    /// Runs `args` (split at blanks) plus the output names, in the case's directory.
    fn run(&self, args: &str) -> Output {
        let mut all: Vec<&str> = args.split_whitespace().collect();
        all.extend(["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img"]);
        Command::new(env!("CARGO_BIN_EXE_nanobragg"))
            .args(&all)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("run nanobragg")
    }

    /// A run that must succeed; returns its stdout.
    fn ok(&self, args: &str) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every file of the directory with its bytes, to show a refusal changed nothing.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
            .collect();
        files.sort();
        files
    }

    /// Runs `args`, which must be refused with exit status `code` and an error line holding
    /// every fragment, leaving the directory exactly as it was.
    fn refused(&self, args: &str, code: i32, fragments: &[&str]) {
        let before = self.snapshot();
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args}: stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args}: panic:\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert_eq!(errors.len(), 1, "{args}: expected one error line:\n{stderr}");
        for f in fragments {
            assert!(errors[0].contains(f), "{args}: error line lacks `{f}`:\n{stderr}");
        }
        assert!(self.read("float.bin") == OLD_FLOAT, "{args}: float.bin changed");
        for name in NEW_OUTPUTS {
            assert!(!self.path(name).exists(), "{args}: {name} was created");
        }
        let after = self.snapshot();
        let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&after), names(&before), "{args}: files appeared or vanished");
        assert!(after == before, "{args}: a file changed");
    }
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The float image of `args` rendered in a fresh directory holding only `files`.
fn image_in_fresh_dir(files: &[(&str, &[u8])], args: &str) -> Vec<u8> {
    let mut case = Case::new();
    for (name, bytes) in files {
        case = case.file(name, bytes);
    }
    case.ok(args);
    case.read("float.bin")
}

/// A directory in which an earlier `-hkl ones.hkl` run left its ./Fdump.bin.
fn case_with_stray_cache() -> Case {
    let case = Case::new().file("ones.hkl", ONES_HKL);
    case.ok(&format!("{SMALL} -hkl ones.hkl"));
    assert!(case.path("Fdump.bin").is_file(), "-hkl writes ./Fdump.bin");
    // back to the planted state, so that a later refusal can be checked against it
    std::fs::write(case.path("float.bin"), OLD_FLOAT).unwrap();
    for name in NEW_OUTPUTS {
        let _ = std::fs::remove_file(case.path(name));
    }
    case
}

/// An Fdump.bin for h, k, l in 0..=0 holding `f` (plus C's spare slots).
fn cache_bytes(f: f64) -> Vec<u8> {
    let mut bytes = b"0 0 0 0 0 0\n\x0c".to_vec();
    bytes.extend_from_slice(&f.to_le_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 7 * 8));
    bytes
}

// ---- the structure-factor cache

#[test]
fn a_stray_cache_does_not_replace_default_f_in_default_mode() {
    let case = case_with_stray_cache();
    let cache = case.read("Fdump.bin");
    let args = format!("{SMALL} -default_F 100");
    let stdout = case.ok(&args);
    assert!(!stdout.contains("reading Fs"), "{stdout}");
    assert!(case.read("float.bin") == image_in_fresh_dir(&[], &args), "the cache changed a -default_F run");
    assert_eq!(case.read("Fdump.bin"), cache);
}

#[test]
fn c_parity_reads_the_stray_cache_as_c_and_says_so() {
    let case = case_with_stray_cache();
    let args = format!("{SMALL} -default_F 100 -c_parity");
    let stdout = case.ok(&args);
    assert!(stdout.contains("reading Fs from Fdump.bin"), "{stdout}");
    assert!(case.read("float.bin") != image_in_fresh_dir(&[], &args), "c-parity ignored the cache");
}

#[test]
fn hkl_names_the_cache_by_content_and_it_is_not_rewritten() {
    let case = case_with_stray_cache();
    let from_text = image_in_fresh_dir(&[("ones.hkl", ONES_HKL.as_bytes())], &format!("{SMALL} -hkl ones.hkl"));
    let cache = case.read("Fdump.bin");
    let modified = std::fs::metadata(case.path("Fdump.bin")).unwrap().modified().unwrap();
    let stdout = case.ok(&format!("{SMALL} -hkl Fdump.bin"));
    assert!(stdout.contains("reading Fs from Fdump.bin"), "{stdout}");
    assert!(case.read("float.bin") == from_text, "the cache renders differently from its HKL file");
    assert_eq!(case.read("Fdump.bin"), cache);
    assert_eq!(std::fs::metadata(case.path("Fdump.bin")).unwrap().modified().unwrap(), modified, "the input cache was rewritten");
    // any name: the cache is recognised by its content
    std::fs::write(case.path("structure.factors"), &cache).unwrap();
    case.ok(&format!("{SMALL} -hkl structure.factors -nofdump"));
    assert!(case.read("float.bin") == from_text, "a cache under another name renders differently");
}

#[test]
fn a_matrix_named_fdump_is_not_overwritten_by_the_cache() {
    let mat = "-0.0283771 -0.0030539 0.0253582\n-0.0287139 0.0101955 -0.0140005\n0.0105005 -0.0320944 -0.0103605\n";
    let case = Case::new().file("ones.hkl", ONES_HKL).file("Fdump.bin", mat);
    let out = case.run("-mat Fdump.bin -hkl ones.hkl -lambda 1 -N 2 -detpixels 16 -engine cpu -seed 1 -nopgm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(case.read("Fdump.bin"), mat.as_bytes(), "the -mat input was replaced by the cache");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not writing the structure-factor cache Fdump.bin") && stderr.contains("-mat"), "{stderr}");
}

#[test]
fn nofdump_writes_no_cache_and_a_written_cache_leaves_no_temporary() {
    let case = Case::new().file("ones.hkl", ONES_HKL);
    case.ok(&format!("{SMALL} -hkl ones.hkl -nofdump"));
    assert!(!case.path("Fdump.bin").exists());
    case.ok(&format!("{SMALL} -hkl ones.hkl"));
    assert!(case.path("Fdump.bin").is_file());
    let leftovers: Vec<String> = case.snapshot().into_iter().map(|(n, _)| n).filter(|n| n.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cache_holding_nan_or_infinity_is_refused() {
    for (f, shown) in [(f64::NAN, "NaN"), (f64::INFINITY, "inf")] {
        let case = Case::new().file("Fdump.bin", cache_bytes(f));
        case.refused(&format!("{SMALL} -hkl Fdump.bin"), 1, &["Fdump.bin", "data", "F(0 0 0)", shown, "not a finite number"]);
        case.refused(&format!("{SMALL} -default_F 1 -c_parity"), 1, &["Fdump.bin", "not a finite number"]);
    }
}

#[test]
fn a_cache_whose_header_does_not_match_its_data_is_refused() {
    let mut longer = cache_bytes(3.0);
    longer.extend_from_slice(&5.0f64.to_le_bytes());
    let case = Case::new().file("Fdump.bin", &longer);
    case.refused(&format!("{SMALL} -hkl Fdump.bin"), 1, &["Fdump.bin", "data", "header does not match", "64 bytes", "found 72"]);
    let mut shorter = cache_bytes(3.0);
    shorter.truncate(shorter.len() - 8);
    let case = Case::new().file("Fdump.bin", &shorter);
    case.refused(&format!("{SMALL} -hkl Fdump.bin"), 1, &["Fdump.bin", "data", "truncated"]);
}

#[test]
fn without_structure_factors_the_message_tells_how_to_read_the_cache() {
    let case = case_with_stray_cache();
    case.refused(SMALL, 2, &["no structure factors", "-hkl Fdump.bin"]);
}

// ---- axes that define no direction

#[test]
fn zero_or_parallel_axes_are_refused() {
    let case = Case::new();
    for (flags, named) in [
        ("-twotheta_axis 0 0 0", "-twotheta_axis"),
        ("-spindle_axis 0 0 0", "-spindle_axis"),
        ("-fdet_vector 0 0 0", "-fdet_vector"),
        ("-sdet_vector 0 0 0", "-sdet_vector"),
        ("-beam_vector 0 0 0", "-beam_vector"),
        ("-fdet_vector 0 0 1 -sdet_vector 0 0 2", "parallel"),
    ] {
        case.refused(&format!("{SMALL} -default_F 100 {flags}"), 2, &[named]);
    }
}

#[test]
fn c_parity_never_saves_a_non_finite_image_from_a_zero_beam() {
    // C renders what a zero beam vector gives; whatever that is, a NaN image is never saved
    // with a zero exit status
    let case = Case::new();
    let args = format!("{SMALL} -default_F 100 -beam_vector 0 0 0 -c_parity");
    let out = case.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-beam_vector"), "no warning: {stderr}");
    if out.status.success() {
        assert!(floats(&case.read("float.bin")).iter().all(|v| v.is_finite()), "exit 0 with a non-finite image");
    } else {
        // (C's zero beam makes the crystal look infinitely large to the automatic
        // oversampling; the warning above names the real cause)
        assert!(stderr.lines().any(|l| l.starts_with("nanobragg: error:")), "{stderr}");
        assert!(case.read("float.bin") == OLD_FLOAT, "a refused run wrote float.bin");
    }
}

// ---- beam intensity

#[test]
fn flux_over_a_zero_beamsize_is_refused_and_never_saved_as_nan() {
    let case = Case::new();
    case.refused(&format!("{SMALL} -default_F 100 -flux 1e12 -beamsize 0"), 2, &["-beamsize", "-flux", "greater than zero"]);
    // c-parity computes the infinite fluence as C does; the NaN image is refused at the end
    case.refused(&format!("{SMALL} -default_F 100 -flux 1e12 -beamsize 0 -c_parity"), 2, &["not finite", "nothing was written"]);
}

#[test]
fn negative_fluence_is_refused() {
    let case = Case::new();
    case.refused(&format!("{SMALL} -default_F 100 -fluence -1e24"), 2, &["-fluence", "negative"]);
}

#[test]
fn negative_source_weights_are_refused_in_the_default_mode() {
    let case = Case::new().file("sources.txt", "-10 0 0 1 1e-10\n-10 0.01 0 -0.5 1e-10\n");
    case.refused(&format!("{SMALL} -default_F 100 -sourcefile sources.txt"), 1, &["sources.txt", "line 2", "weight", "negative"]);
    // C ignores the weight column: c-parity renders
    case.ok(&format!("{SMALL} -default_F 100 -sourcefile sources.txt -c_parity"));
}

#[test]
fn all_zero_source_weights_are_refused_in_the_default_mode() {
    let case = Case::new().file("sources.txt", "-10 0 0 0 1e-10\n-10 0.01 0 0 1e-10\n");
    case.refused(&format!("{SMALL} -default_F 100 -sourcefile sources.txt"), 1, &["sources.txt", "whole file", "weight 0", "blank"]);
    case.ok(&format!("{SMALL} -default_F 100 -sourcefile sources.txt -c_parity"));
}

// ---- the cell

#[test]
fn a_cell_with_fewer_than_six_numbers_is_refused() {
    let case = Case::new();
    case.refused("-cell 100 100 100 90 90 -default_F 100 -lambda 6.2 -N 5 -detpixels 32 -nopgm", 2, &["-cell expects 6 values", "got 5"]);
    case.refused("-cell 100 -default_F 100 -lambda 6.2 -N 5 -detpixels 32 -nopgm", 2, &["-cell expects 6 values", "got 1"]);
    // c-parity fills it in as C (b = c = a, 90°) and says so
    let out = case.run("-cell 100 -default_F 100 -lambda 6.2 -N 5 -detpixels 32 -nopgm -engine cpu -c_parity");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-cell 100: 1 of 6 values"));
    let full = image_in_fresh_dir(&[], "-cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -detpixels 32 -nopgm -engine cpu -c_parity");
    assert!(case.read("float.bin") == full, "a short -cell renders differently from the full one under -c_parity");
}

// ---- HKL text

#[test]
fn hkl_with_cr_only_line_endings_reads_every_reflection() {
    let lf = "0 0 0 10\n1 0 0 20\n0 1 0 30\n-1 0 1 40\n";
    let args = format!("{SMALL} -hkl in.hkl -nofdump");
    let expected = image_in_fresh_dir(&[("in.hkl", lf.as_bytes())], &args);
    for ending in ["\r", "\r\n"] {
        let text = lf.replace('\n', ending);
        assert!(image_in_fresh_dir(&[("in.hkl", text.as_bytes())], &args) == expected, "line ending {ending:?} renders differently");
    }
}

#[test]
fn hkl_decimal_comma_is_refused() {
    let case = Case::new().file("in.hkl", "0 0 0 10\n1 0 0 2,5\n");
    case.refused(&format!("{SMALL} -hkl in.hkl"), 1, &["in.hkl", "line 2", "2,5", "decimal comma"]);
    // comma-separated columns stay accepted
    let case = Case::new().file("in.hkl", "0,0,0,10\n1, 0, 0, 2.5\n");
    case.ok(&format!("{SMALL} -hkl in.hkl -nofdump"));
}

#[test]
fn dev_zero_as_an_input_is_refused() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let case = Case::new();
    case.refused(&format!("{SMALL} -hkl /dev/zero"), 1, &["/dev/zero", "line 1", "binary data"]);
    case.refused(&format!("{SMALL} -default_F 1 -sourcefile /dev/zero"), 1, &["/dev/zero", "file size"]);
    case.refused("-mat /dev/zero -default_F 1 -detpixels 16", 1, &["/dev/zero", "file size"]);
}
