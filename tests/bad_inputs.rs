//! Malformed inputs through the real binary. Every case must end with a non-zero exit, exactly
//! one error line that names the problem (the flag, or the file with its line or key), no panic,
//! and no trace on disk: no new output file, no temporary file, and a pre-existing output left
//! byte for byte as it was.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{Case, OLD_FLOAT};

/// Outputs every run is told to write (besides the planted `float.bin`).
const NEW_OUTPUTS: [&str; 4] = ["int.img", "image.pgm", "noise.img", "out.png"];

impl Case {
    fn run_os(&self, args: Vec<OsString>) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nanobragg"))
            .args(args)
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("run nanobragg")
    }

    /// Runs a small, otherwise valid experiment with `extra` appended (later flags win).
    fn run(&self, extra: &[&str]) -> Output {
        let mut args = base_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.run_os(args.into_iter().map(OsString::from).collect())
    }

    /// Runs exactly `args` plus the output names.
    fn run_bare(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(output_args());
        self.run_os(all.into_iter().map(OsString::from).collect())
    }

    /// The checks every refused run must pass; `fragments` must all appear in the error line.
    fn refused(&self, out: &Output, fragments: &[&str]) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "run succeeded; stderr:\n{stderr}");
        assert!(out.status.code().is_some(), "killed by a signal; stderr:\n{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "panic:\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert_eq!(errors.len(), 1, "expected exactly one error line:\n{stderr}");
        for f in fragments {
            assert!(errors[0].contains(f), "error line lacks `{f}`:\n{stderr}");
        }
        self.left_no_trace();
    }

    fn left_no_trace(&self) {
        assert_eq!(std::fs::read(self.path("float.bin")).unwrap(), OLD_FLOAT, "float.bin was modified");
        for name in NEW_OUTPUTS {
            assert!(!self.path(name).exists(), "{name} was created");
        }
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp") && !name.contains("write-test"), "left behind: {name}");
        }
    }
}

fn output_args() -> Vec<String> {
    ["-floatfile", "float.bin", "-intfile", "int.img", "-pgmfile", "image.pgm", "-noisefile", "noise.img", "-pngfile", "out.png"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn base_args() -> Vec<String> {
    let mut v: Vec<String> = "-cell 50 50 50 90 90 90 -N 2 -default_F 10 -lambda 1 -distance 100 -detpixels 16 -engine cpu -seed 1"
        .split_whitespace()
        .map(String::from)
        .collect();
    v.extend(output_args());
    v
}

/// An SMV file with the given header lines and `pixels` little-endian u16 values of 1.
fn smv(header_lines: &str, pixels: usize) -> Vec<u8> {
    let mut bytes = format!("{{\n{header_lines}}}\u{c}").into_bytes();
    bytes.resize(512, b' ');
    for _ in 0..pixels {
        bytes.extend_from_slice(&1u16.to_le_bytes());
    }
    bytes
}

fn smv_square(n: usize) -> Vec<u8> {
    smv(&format!("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1={n};\nSIZE2={n};\nPIXEL_SIZE=0.1;\n"), n * n)
}

const GOOD_MAT: &str = "-0.0283771 -0.0030539 0.0253582\n-0.0287139 0.0101955 -0.0140005\n0.0105005 -0.0320944 -0.0103605\n";
const GOOD_HKL: &str = "0 0 0 10\n1 0 0 20\n0 1 0 30\n";

// ---- the control: the base experiment succeeds and writes every output

#[test]
fn base_run_succeeds_and_writes_every_output() {
    let case = Case::new();
    let out = case.run(&["-quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(std::fs::read(case.path("float.bin")).unwrap(), OLD_FLOAT);
    for name in NEW_OUTPUTS {
        assert!(case.path(name).exists(), "{name} missing");
    }
    assert!(!case.path("Fdump.bin").exists(), "no -hkl, so no cache");
}

// ---- missing input files

#[test]
fn missing_hkl_file() {
    let case = Case::new();
    case.refused(&case.run(&["-hkl", "nope.hkl"]), &["nope.hkl", "-hkl nope.hkl: no such file"]);
}

#[test]
fn missing_matrix_file() {
    let case = Case::new();
    case.refused(&case.run(&["-mat", "nope.mat"]), &["nope.mat"]);
}

#[test]
fn missing_img_file() {
    let case = Case::new();
    case.refused(&case.run(&["-img", "nope.img"]), &["nope.img"]);
}

#[test]
fn missing_mask_file() {
    let case = Case::new();
    case.refused(&case.run(&["-mask", "nomask.img"]), &["nomask.img"]);
}

#[test]
fn missing_source_file() {
    let case = Case::new();
    case.refused(&case.run(&["-sourcefile", "nope.txt"]), &["nope.txt"]);
}

#[test]
fn hkl_path_is_a_directory() {
    let case = Case::new();
    std::fs::create_dir(case.path("adir")).unwrap();
    case.refused(&case.run(&["-hkl", "adir"]), &["adir"]);
}

// ---- HKL files

#[test]
fn hkl_line_with_too_few_fields() {
    let case = Case::new().file("bad.hkl", "0 0 0 10\n# note\n1 2 3\n");
    case.refused(&case.run(&["-hkl", "bad.hkl"]), &["bad.hkl", "line 3", "found 3"]);
    assert!(!case.path("Fdump.bin").exists());
}

#[test]
fn hkl_empty_file() {
    let case = Case::new().file("empty.hkl", "");
    case.refused(&case.run(&["-hkl", "empty.hkl"]), &["empty.hkl", "no reflections"]);
}

#[test]
fn hkl_comment_only_file() {
    let case = Case::new().file("c.hkl", "# h k l F\n\n   # nothing here\n");
    case.refused(&case.run(&["-hkl", "c.hkl"]), &["c.hkl", "no reflections"]);
}

#[test]
fn hkl_non_integer_index() {
    let case = Case::new().file("f.hkl", "0 0 0 1\n1 2.5 3 10\n");
    case.refused(&case.run(&["-hkl", "f.hkl"]), &["f.hkl", "line 2", "k = 2.5 is not an integer"]);
}

#[test]
fn hkl_non_numeric_token() {
    let case = Case::new().file("t.hkl", "1 x 3 4\n");
    case.refused(&case.run(&["-hkl", "t.hkl"]), &["t.hkl", "line 1", "`x` is not a number"]);
}

#[test]
fn hkl_nan_structure_factor() {
    let case = Case::new().file("n.hkl", "0 0 0 1\n1 1 1 nan\n");
    case.refused(&case.run(&["-hkl", "n.hkl"]), &["n.hkl", "line 2", "not finite"]);
}

#[test]
fn hkl_infinite_structure_factor() {
    let case = Case::new().file("i.hkl", "0 0 0 -inf\n");
    case.refused(&case.run(&["-hkl", "i.hkl"]), &["i.hkl", "line 1", "not finite"]);
}

#[test]
fn hkl_index_beyond_32_bits() {
    let case = Case::new().file("big.hkl", "3000000000 0 0 1\n");
    case.refused(&case.run(&["-hkl", "big.hkl"]), &["big.hkl", "line 1", "out of range"]);
}

#[test]
fn hkl_absurd_index_ranges_refused_before_allocating() {
    let case = Case::new().file("wide.hkl", "-2000000 -5 -5 1\n2000000 5 5 1\n");
    case.refused(&case.run(&["-hkl", "wide.hkl"]), &["wide.hkl", "h -2000000..2000000, k -5..5, l -5..5", "limit"]);
    assert!(!case.path("Fdump.bin").exists());
}

#[test]
fn hkl_binary_garbage() {
    let case = Case::new().file("g.hkl", [0x00u8, 0xff, 0x13, b'\n', 0x80, 0x81, b' ', b'1']);
    case.refused(&case.run(&["-hkl", "g.hkl"]), &["g.hkl", "line 1"]);
}

// ---- damaged structure-factor caches (named by -hkl, or read by -c_parity from the working directory)

#[test]
fn truncated_fdump_in_cwd() {
    let mut bytes = b"0 1 0 1 0 1\n\x0c".to_vec();
    bytes.extend_from_slice(&[0u8; 100]);
    let case = Case::new().file("Fdump.bin", &bytes);
    case.refused(&case.run(&["-hkl", "Fdump.bin"]), &["Fdump.bin", "data", "truncated"]);
    assert_eq!(std::fs::read(case.path("Fdump.bin")).unwrap(), bytes);
}

#[test]
fn garbage_fdump_in_cwd() {
    let case = Case::new().file("Fdump.bin", b"\x7fELF\x02\x01\x01 not a cache at all");
    case.refused(&case.run(&["-c_parity"]), &["Fdump.bin", "header"]);
}

#[test]
fn fdump_with_absurd_ranges() {
    let case = Case::new().file("Fdump.bin", b"-2147483648 2147483647 0 0 0 0\n\x0c");
    case.refused(&case.run(&["-hkl", "Fdump.bin"]), &["Fdump.bin", "header", "limit"]);
}

#[test]
fn fdump_with_inverted_range() {
    let case = Case::new().file("Fdump.bin", b"5 1 0 0 0 0\n\x0c");
    case.refused(&case.run(&["-hkl", "Fdump.bin"]), &["Fdump.bin", "header", "empty index range"]);
}

// ---- MOSFLM matrices

#[test]
fn matrix_too_short() {
    let case = Case::new().file("short.mat", "0.01 0 0\n0 0.01 0\n");
    case.refused(&case.run(&["-mat", "short.mat"]), &["short.mat", "line 2", "found 6"]);
}

#[test]
fn matrix_empty() {
    let case = Case::new().file("e.mat", "");
    case.refused(&case.run(&["-mat", "e.mat"]), &["e.mat", "found 0"]);
}

#[test]
fn matrix_non_numeric() {
    let case = Case::new().file("w.mat", "0.01 0 0\n0 zero 0\n0 0 0.01\n");
    case.refused(&case.run(&["-mat", "w.mat"]), &["w.mat", "line 2", "`zero` is not a number"]);
}

#[test]
fn matrix_nan() {
    let case = Case::new().file("n.mat", "0.01 0 0\n0 0.01 0\n0 0 NaN\n");
    case.refused(&case.run(&["-mat", "n.mat"]), &["n.mat", "line 3", "not finite"]);
}

#[test]
fn matrix_singular() {
    let case = Case::new().file("s.mat", "0.01 0.02 0.03\n0.02 0.04 0.06\n0.01 0.01 0.01\n");
    case.refused(&case.run(&["-mat", "s.mat"]), &["s.mat", "singular"]);
}

#[test]
fn matrix_unreadable_bytes() {
    let case = Case::new().file("b.mat", [0xffu8, 0xfe, 0x00, 0x01, b'\n']);
    case.refused(&case.run(&["-mat", "b.mat"]), &["b.mat", "line 1"]);
}

#[cfg(unix)]
#[test]
fn matrix_from_an_endless_device() {
    let case = Case::new();
    case.refused(&case.run(&["-mat", "/dev/zero"]), &["/dev/zero", "file size", "1.0 MiB"]);
}

// ---- SMV images given to -img and -mask

#[test]
fn img_header_missing_size1() {
    let case = Case::new().file("h.img", smv("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE2=4;\n", 16));
    case.refused(&case.run(&["-img", "h.img"]), &["h.img", "header key SIZE1", "missing"]);
}

#[test]
fn img_truncated_data() {
    let mut bytes = smv_square(16);
    bytes.truncate(bytes.len() - 3);
    let case = Case::new().file("t.img", bytes);
    case.refused(&case.run(&["-img", "t.img"]), &["t.img", "data", "fewer than"]);
}

#[test]
fn img_not_an_smv_file() {
    let case = Case::new().file("x.img", "P5\n16 16\n255\n");
    case.refused(&case.run(&["-img", "x.img"]), &["x.img", "not an SMV image"]);
}

#[test]
fn img_absurd_size() {
    let case = Case::new().file("a.img", smv("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=2000000;\nSIZE2=2000000;\n", 0));
    case.refused(&case.run(&["-img", "a.img"]), &["a.img", "SIZE1/SIZE2", "exceeds the limit"]);
}

#[test]
fn img_zero_size() {
    let case = Case::new().file("z.img", smv("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=0;\nSIZE2=4;\n", 0));
    case.refused(&case.run(&["-img", "z.img"]), &["z.img", "header key SIZE1", "between 1 and"]);
}

#[test]
fn img_header_with_zero_pixel_size() {
    let case = Case::new().file("p.img", smv("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=4;\nSIZE2=4;\nPIXEL_SIZE=0;\n", 16));
    case.refused(&case.run(&["-img", "p.img"]), &["p.img", "header key PIXEL_SIZE", "greater than zero"]);
}

#[test]
fn img_header_with_nan_wavelength() {
    let case = Case::new().file("w.img", smv("HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=4;\nSIZE2=4;\nWAVELENGTH=nan;\n", 16));
    case.refused(&case.run(&["-img", "w.img"]), &["w.img", "header key WAVELENGTH", "not a finite number"]);
}

#[test]
fn mask_of_the_wrong_size() {
    let case = Case::new().file("mask.img", smv_square(8));
    // the mask header sets 8×8, the later -detpixels asks for 16×16
    case.refused(&case.run(&["-mask", "mask.img", "-detpixels", "16"]), &["-mask", "mask.img", "8×8", "16×16"]);
}

// ---- source files

#[test]
fn sourcefile_nan() {
    let case = Case::new().file("src.txt", "-10 0 0 1 1e-10\n-10 0 nan\n");
    case.refused(&case.run(&["-sourcefile", "src.txt"]), &["src.txt", "line 2", "not finite"]);
}

#[test]
fn sourcefile_without_sources() {
    let case = Case::new().file("src.txt", "# X Y Z weight lambda\n\n");
    case.refused(&case.run(&["-sourcefile", "src.txt"]), &["src.txt", "no sources"]);
}

#[test]
fn sourcefile_zero_wavelength() {
    let case = Case::new().file("src.txt", "-10 0 0 1 0\n");
    case.refused(&case.run(&["-sourcefile", "src.txt"]), &["src.txt", "line 1", "wavelength"]);
}

#[cfg(unix)]
#[test]
fn sourcefile_from_an_endless_device() {
    let case = Case::new();
    case.refused(&case.run(&["-sourcefile", "/dev/zero"]), &["/dev/zero", "file size", "16.0 MiB"]);
}

// ---- command-line values

#[test]
fn unknown_flag() {
    let case = Case::new();
    case.refused(&case.run(&["-bogus", "3"]), &["-bogus", "unknown flag"]);
}

#[test]
fn missing_value_at_the_end() {
    let case = Case::new();
    case.refused(&case.run(&["-distance"]), &["-distance", "expects 1 value"]);
}

#[test]
fn missing_value_before_another_flag() {
    let case = Case::new();
    case.refused(&case.run(&["-lambda", "-distance", "100"]), &["-lambda", "expects 1 value"]);
}

#[test]
fn non_numeric_value() {
    let case = Case::new();
    case.refused(&case.run(&["-distance", "far"]), &["-distance", "'far' is not a number"]);
}

#[test]
fn non_integer_count() {
    let case = Case::new();
    case.refused(&case.run(&["-N", "2.5"]), &["-N", "'2.5' is not a whole number"]);
}

#[test]
fn nan_on_the_command_line() {
    let case = Case::new();
    case.refused(&case.run(&["-lambda", "nan"]), &["-lambda", "not a finite number"]);
}

#[test]
fn infinity_on_the_command_line() {
    let case = Case::new();
    case.refused(&case.run(&["-default_F", "inf"]), &["-default_F", "not a finite number"]);
}

#[test]
fn zero_wavelength() {
    let case = Case::new();
    case.refused(&case.run(&["-lambda", "0"]), &["-lambda", "greater than zero"]);
}

#[test]
fn zero_energy() {
    let case = Case::new();
    case.refused(&case.run(&["-energy", "0"]), &["-energy", "greater than zero"]);
}

#[test]
fn negative_distance() {
    let case = Case::new();
    case.refused(&case.run(&["-distance", "-100"]), &["-distance", "greater than zero"]);
}

#[test]
fn zero_pixel_count() {
    let case = Case::new();
    case.refused(&case.run(&["-detpixels", "0"]), &["-detpixels", "greater than zero"]);
}

#[test]
fn negative_pixel_count() {
    let case = Case::new();
    case.refused(&case.run(&["-detpixels_s", "-5"]), &["-detpixels_s", "greater than zero"]);
}

#[test]
fn zero_pixel_size() {
    let case = Case::new();
    case.refused(&case.run(&["-pixel", "0"]), &["-pixel", "greater than zero"]);
}

#[test]
fn zero_detector_size() {
    let case = Case::new();
    case.refused(&case.run_bare(&["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detsize", "0"]), &["-detsize", "greater than zero"]);
}

#[test]
fn detector_smaller_than_a_pixel() {
    let case = Case::new();
    case.refused(&case.run_bare(&["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detsize", "0.01"]), &["no pixels", "-detsize"]);
}

/// (Linux: the refusal quotes the memory /proc/meminfo reports.)
#[cfg(target_os = "linux")]
#[test]
fn detector_too_large_for_memory() {
    let case = Case::new();
    case.refused(&case.run(&["-detpixels", "2000000"]), &["2000000 × 2000000", "needs about 72.8 TiB", "but only", "is available"]);
}

#[cfg(target_os = "linux")]
#[test]
fn detector_too_large_on_one_axis() {
    let case = Case::new();
    case.refused(&case.run(&["-detpixels_f", "3000000000", "-detpixels_s", "3000000000"]), &["-detpixels", "needs about", "is available"]);
}

#[test]
fn roi_beyond_the_detector() {
    let case = Case::new();
    case.refused(&case.run(&["-roi", "0", "100", "0", "15"]), &["-roi", "100", "16"]);
}

#[test]
fn roi_inverted() {
    let case = Case::new();
    case.refused(&case.run(&["-roi", "10", "5", "0", "15"]), &["-roi", "10", "5"]);
}

#[test]
fn roi_negative() {
    let case = Case::new();
    case.refused(&case.run(&["-roi", "0", "5", "-3", "15"]), &["-roi", "-3"]);
}

#[test]
fn trace_pixel_outside_the_detector() {
    let case = Case::new();
    case.refused(&case.run(&["-trace_pixel", "100", "3"]), &["-trace_pixel", "100"]);
}

#[test]
fn degenerate_cell_angles() {
    let case = Case::new();
    case.refused(&case.run(&["-cell", "50", "50", "50", "120", "120", "120"]), &["-cell", "volume"]);
}

#[test]
fn cell_angle_of_180_degrees() {
    let case = Case::new();
    case.refused(&case.run(&["-cell", "50", "50", "50", "90", "90", "180"]), &["-cell", "180"]);
}

#[test]
fn zero_cell() {
    let case = Case::new();
    case.refused(&case.run(&["-cell", "0", "0", "0"]), &["-cell"]);
}

#[test]
fn absurd_mosaic_domain_count() {
    let case = Case::new();
    case.refused(&case.run(&["-mosaic", "1", "-mosaic_domains", "1000000000"]), &["-mosaic_domains", "1000000000"]);
}

#[test]
fn absurd_divergence_grid() {
    let case = Case::new();
    case.refused(&case.run(&["-divergence", "1", "-divsteps", "1000000"]), &["sources", "limit"]);
}

#[test]
fn oversampling_that_overflows() {
    let case = Case::new();
    case.refused(&case.run(&["-oversample", "5000000000"]), &["-oversample", "5000000000"]);
}

#[test]
fn automatic_oversampling_beyond_reason() {
    let case = Case::new();
    case.refused(&case.run(&["-N", "1000000000"]), &["automatic -oversample", "-N", "give -oversample"]);
}

#[test]
fn unknown_engine() {
    let case = Case::new();
    case.refused(&case.run(&["-engine", "quantum"]), &["-engine", "quantum"]);
}

#[cfg(unix)]
#[test]
fn argument_that_is_not_utf8() {
    use std::os::unix::ffi::OsStringExt;
    let case = Case::new();
    let mut args: Vec<OsString> = base_args().into_iter().map(OsString::from).collect();
    args.push("-hkl".into());
    args.push(OsString::from_vec(b"caf\xe9.hkl".to_vec()));
    case.refused(&case.run_os(args), &["UTF-8", "caf"]);
}

// ---- output paths

#[test]
fn output_in_a_missing_directory() {
    let case = Case::new();
    case.refused(&case.run(&["-intfile", "no_such_dir/int.img"]), &["-intfile", "no_such_dir"]);
    assert!(!case.path("no_such_dir").exists());
}

/// A directory the run cannot write into: a read-only one, or /proc when permissions do not
/// bind (tests running as root).
fn unwritable_dir(case: &Case) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = case.path("locked");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), b"").is_ok() {
        return PathBuf::from("/proc");
    }
    dir
}

#[cfg(unix)]
#[test]
fn output_in_a_read_only_directory() {
    let case = Case::new();
    let dir = unwritable_dir(&case);
    let target = dir.join("noise.img");
    let target = target.to_str().unwrap();
    case.refused(&case.run(&["-noisefile", target]), &["-noisefile", target]);
    assert!(!Path::new(target).exists());
}

#[test]
fn output_equal_to_an_input() {
    let case = Case::new().file("in.hkl", GOOD_HKL);
    case.refused(&case.run(&["-hkl", "in.hkl", "-intfile", "./in.hkl"]), &["-intfile", "in.hkl", "-hkl"]);
    assert_eq!(std::fs::read_to_string(case.path("in.hkl")).unwrap(), GOOD_HKL);
    assert!(!case.path("Fdump.bin").exists());
}

#[test]
fn output_over_the_structure_factor_cache() {
    let case = Case::new().file("in.hkl", GOOD_HKL);
    case.refused(&case.run(&["-hkl", "in.hkl", "-noisefile", "Fdump.bin"]), &["-noisefile", "Fdump.bin"]);
    assert!(!case.path("Fdump.bin").exists());
}

#[test]
fn two_outputs_on_one_file() {
    let case = Case::new();
    case.refused(&case.run(&["-pgmfile", "int.img"]), &["-pgmfile", "-intfile", "int.img"]);
}

#[test]
fn preview_on_top_of_another_output() {
    let case = Case::new();
    // -preview writes <float stem>_preview.png beside the float image
    case.refused(&case.run(&["-preview", "-pngfile", "float_preview.png"]), &["-preview", "float_preview.png", "-pngfile"]);
    assert!(!case.path("float_preview.png").exists());
}

#[test]
fn output_is_an_existing_directory() {
    let case = Case::new();
    std::fs::create_dir(case.path("somedir")).unwrap();
    case.refused(&case.run(&["-intfile", "somedir"]), &["-intfile", "somedir", "directory"]);
}

#[test]
fn matrix_is_also_the_float_output() {
    let case = Case::new().file("A.mat", GOOD_MAT);
    case.refused(&case.run(&["-mat", "A.mat", "-floatfile", "A.mat"]), &["-floatfile", "A.mat", "-mat"]);
    assert_eq!(std::fs::read_to_string(case.path("A.mat")).unwrap(), GOOD_MAT);
}
