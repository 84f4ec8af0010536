//! Bad values in input files and on the command lines of `noisify` and `nonBragg`, refused as
//! the main command refuses its own, through the binary: the exit status, one error line that
//! names the flag, file and line (or reflection, pixel, header key), nothing written, and the
//! inputs and earlier outputs byte for byte. Where `-c_parity` renders what the C program
//! renders, it says so in a warning that names the same place.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Bytes planted as an earlier run's output: a refused run must leave them.
const EARLIER: &[u8] = b"an earlier run's image";

/// A scratch folder with input files; `check` runs the binary there and compares every file
/// afterwards with what was there before.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(files: &[(&str, &[u8])]) -> Case {
        let case = Case { dir: tempfile::tempdir().unwrap() };
        for (name, bytes) in files {
            std::fs::write(case.path(name), bytes).unwrap();
        }
        std::fs::write(case.path("float.bin"), EARLIER).unwrap();
        case
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    }

    fn run(&self, args: &str) -> Output {
        let args: Vec<&str> = args.split_whitespace().collect();
        Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(self.dir.path()).env_remove("RUST_LOG").output().expect("run nanobragg")
    }

    /// The run is refused with `code`, one error line holding every fragment, and the folder
    /// is exactly as it was.
    fn refused(&self, args: &str, code: i32, fragments: &[&str]) -> String {
        let before = self.snapshot();
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args}\nstderr:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
        assert_eq!(errors.len(), 1, "{args}: one error line expected:\n{err}");
        for f in fragments {
            assert!(errors[0].contains(f), "{args}: the error lacks `{f}`: {}", errors[0]);
        }
        let after = self.snapshot();
        let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&after), names(&before), "{args}: files were written or removed");
        assert!(after == before, "{args}: a file changed");
        errors[0].to_string()
    }

    /// The run succeeds; returns its stderr.
    fn succeeds(&self, args: &str) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args}\nstderr:\n{err}");
        err
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const CRYSTAL: &str = "-N 2 -detpixels 16 -engine cpu -nopgm -nonoise -floatfile float.bin -intfile int.img";

// ---- structure factors

/// An MTZ file is a table of f32: an infinite amplitude used to go through, render a
/// non-finite image and land in ./Fdump.bin, which the next run refused. NaN is MTZ's mark of
/// a missing value and stays one.
#[test]
fn an_infinite_mtz_amplitude_is_refused_naming_the_reflection() {
    let fixture = repo("tests/data/mtz/p212121.mtz");
    let header = nanobragg::io::mtz::read_header(&fixture).unwrap();
    let column = header.columns.iter().position(|c| c.kind == 'F').expect("an F column");
    let label = header.columns[column].label.clone();
    let mut bytes = std::fs::read(&fixture).unwrap();
    // the reflection table starts at byte 80, row after row of every column (little-endian here)
    let at = |row: usize| 80 + 4 * (row * header.columns.len() + column);
    let value = |bytes: &[u8], row: usize| f32::from_le_bytes(bytes[at(row)..at(row) + 4].try_into().unwrap());
    let row = (0..header.reflections).find(|&r| value(&bytes, r).is_finite() && value(&bytes, r) > 0.0).expect("a listed amplitude");
    let at_row = at(row);
    bytes[at_row..at_row + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let case = Case::new(&[("x.mtz", &bytes)]);
    let line = case.refused(&format!("-hkl x.mtz {CRYSTAL}"), 1, &["-hkl x.mtz", &format!("reflection {}", row + 1), &format!("`{label}`"), "inf", "finite"]);
    assert!(!case.path("Fdump.bin").exists(), "{line}");
    // the same with -c_parity: no cache of it either
    case.refused(&format!("-hkl x.mtz {CRYSTAL} -c_parity"), 1, &[&format!("reflection {}", row + 1)]);
    // NaN: a missing value, skipped; the cache written holds finite numbers only
    bytes[at_row..at_row + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let case = Case::new(&[("x.mtz", &bytes)]);
    case.succeeds(&format!("-hkl x.mtz {CRYSTAL}"));
    let cache = nanobragg::io::fdump::read_fdump(&case.path("Fdump.bin")).expect("a readable cache");
    assert!(cache.values.iter().all(|v| v.is_finite()));
}

#[test]
fn a_non_finite_hkl_amplitude_is_refused_naming_the_line() {
    for f in ["inf", "1e999", "nan", "-inf"] {
        let text = format!("# h k l F\n0 0 1 10\n0 1 0 {f}\n");
        let case = Case::new(&[("x.hkl", text.as_bytes())]);
        case.refused(&format!("-hkl x.hkl -cell 50 50 50 90 90 90 {CRYSTAL}"), 1, &["-hkl x.hkl", "line 3", f, "not finite"]);
    }
}

// ---- -stol tables

#[test]
fn stol_tables_with_repeated_descending_or_overflowing_values_name_the_line() {
    let crystal = "-cell 50 50 50 90 90 90 -default_F 0 -detpixels 16 -engine cpu -fluence 1e20 -nopgm -nonoise -floatfile float.bin -intfile int.img";
    let nonbragg = "nonBragg -detpixels 16 -fluence 1e20 -nonoise -noprogress -floatfile float.bin -intfile int.img -pgmfile p.pgm";
    let repeated = "# water\n0 2.5\n0.1 2.0\n\n0.1 2.1\n0.3 1.5\n";
    let descending = "0 2.5\n0.2 2.0\n0.1 2.1\n0.3 1.5\n";
    let overflowing = "0 2.5\n0.1 2.0\n1e300 2.1\n";
    for (text, location, what) in [(repeated, "line 5", "repeats line 3"), (descending, "line 3", "below line 2"), (overflowing, "line 3", "overflows")] {
        let case = Case::new(&[("w.stol", text.as_bytes())]);
        case.refused(&format!("{crystal} -stol w.stol"), 1, &["-stol w.stol", location, what]);
        case.refused(&format!("{nonbragg} -stol w.stol"), 1, &["-stol w.stol", location, what]);
        // the unit does not matter, nor the flag's name
        case.refused(&format!("{crystal} -Q w.stol"), 1, &["-stol w.stol", location]);
    }
    // nonBragg.c reads a table in file order: so does -c_parity, saying where
    let case = Case::new(&[("w.stol", descending.as_bytes())]);
    let warning = case.succeeds(&format!("{nonbragg} -stol w.stol -c_parity"));
    assert!(warning.contains("w.stol: line 3") && warning.contains("below line 2"), "{warning}");
    // an overflow is refused in both modes
    let case = Case::new(&[("w.stol", overflowing.as_bytes())]);
    case.refused(&format!("{nonbragg} -stol w.stol -c_parity"), 1, &["line 3", "overflows"]);
}

// ---- noisify

/// A 64 × 64 float image.
fn image(values: impl Fn(usize) -> f32) -> Vec<u8> {
    (0..64 * 64).flat_map(|i| values(i).to_le_bytes()).collect()
}

const NOISIFY_OUT: &str = "-intfile n_int.img -pgmfile n.pgm -noisefile n_noise.img -seed 1";

#[test]
fn noisify_refuses_a_float_file_that_is_not_whole_floats() {
    let mut bytes = image(|i| (i % 7) as f32);
    bytes.truncate(bytes.len() - 2);
    let case = Case::new(&[("in.bin", &bytes)]);
    // it used to be read as 4095 floats: a 63 × 65 image
    case.refused(&format!("noisify -floatfile in.bin {NOISIFY_OUT}"), 1, &["-floatfile in.bin", "file size", "16382 bytes", "not a whole number of 4-byte floats"]);
    // noisify.c reads the whole floats: so does -c_parity, with a warning naming the file
    let warning = case.succeeds(&format!("noisify -floatfile in.bin {NOISIFY_OUT} -c_parity"));
    assert!(warning.contains("in.bin") && warning.contains("16382 bytes"), "{warning}");
}

#[test]
fn noisify_refuses_non_finite_pixels_naming_the_first() {
    for bad in [f32::NAN, f32::INFINITY] {
        let bytes = image(|i| if i == 64 * 3 + 5 || i == 100 * 10 { bad } else { 1.0 });
        let case = Case::new(&[("in.bin", &bytes)]);
        for mode in ["", "-c_parity"] {
            case.refused(&format!("noisify -floatfile in.bin {NOISIFY_OUT} {mode}"), 1, &["-floatfile in.bin", "fast 5, slow 3", "not a finite number", "2 such pixels"]);
        }
    }
}

#[test]
fn noisify_refuses_lengths_and_amplitudes_out_of_range() {
    let case = Case::new(&[("in.bin", &image(|_| 2.0))]);
    let run = |extra: &str| format!("noisify -floatfile in.bin {NOISIFY_OUT} {extra}");
    for (flag, value) in [("-pixel", "-0.1"), ("-distance", "-100"), ("-lambda", "0"), ("-pixel", "0")] {
        // refused in both modes, as the main command refuses them
        for mode in ["", "-c_parity"] {
            case.refused(&run(&format!("{flag} {value} {mode}")), 2, &[flag, "greater than zero"]);
        }
    }
    for (flag, value) in [("-readout_noise", "-3"), ("-flicker", "-0.1"), ("-calibration", "-0.03"), ("-gain", "0"), ("-fluence", "-1e20")] {
        case.refused(&run(&format!("{flag} {value}")), 2, &[flag, value]);
        let warning = case.succeeds(&run(&format!("{flag} {value} -c_parity")));
        assert!(warning.contains(flag) && warning.contains("noisify.c"), "{flag}: {warning}");
    }
}

/// An SMV header whose values noisify takes, with `key` set to `value`.
fn smv_with(key: &str, value: &str) -> Vec<u8> {
    let mut text = String::from("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\nSIZE1=64;\nSIZE2=64;\n");
    for (k, v) in [("PIXEL_SIZE", "0.1"), ("DISTANCE", "100"), ("WAVELENGTH", "1"), ("BEAM_CENTER_X", "3.2"), ("BEAM_CENTER_Y", "3.2")] {
        text.push_str(&format!("{k}={};\n", if k == key { value } else { v }));
    }
    text.push_str("}\u{c}");
    let mut bytes = text.into_bytes();
    bytes.resize(512, b' ');
    bytes.extend(std::iter::repeat_n(0u8, 64 * 64 * 2));
    bytes
}

#[test]
fn noisify_refuses_bad_values_in_the_header_it_copies() {
    for (key, value, says) in [("PIXEL_SIZE", "nan", "not a finite number"), ("DISTANCE", "-100", "greater than zero"), ("WAVELENGTH", "0", "greater than zero"), ("BEAM_CENTER_X", "inf", "not a finite number")] {
        let case = Case::new(&[("in.bin", &image(|_| 2.0)), ("h.img", &smv_with(key, value))]);
        for mode in ["", "-c_parity"] {
            case.refused(&format!("noisify -floatfile in.bin -header h.img {NOISIFY_OUT} {mode}"), 1, &["-header h.img", &format!("header key {key}"), says]);
        }
    }
    // the main command refuses the same in an -img header
    let case = Case::new(&[("h.img", &smv_with("DISTANCE", "inf"))]);
    case.refused(&format!("-img h.img -cell 50 50 50 90 90 90 -default_F 1 {CRYSTAL}"), 1, &["-img h.img", "header key DISTANCE", "not a finite number"]);
}

// ---- nonBragg

#[test]
fn nonbragg_refuses_axes_without_direction_and_a_negative_beam() {
    let table = b"0 2.5\n0.1 2.0\n0.3 1.5\n0.6 1.0\n";
    let case = Case::new(&[("w.stol", table)]);
    let run = |extra: &str| format!("nonBragg -stol w.stol -detpixels 16 -fluence 1e20 -nonoise -noprogress -floatfile float.bin -intfile int.img -pgmfile p.pgm {extra}");
    for (extra, fragments) in [
        ("-fdet_vector 0 0 0", ["-fdet_vector 0 0 0", "no length"]),
        ("-beam_vector 0 0 0", ["-beam_vector 0 0 0", "no length"]),
        ("-fdet_vector 0 1 0 -sdet_vector 0 -2 0", ["-fdet_vector 0 1 0 and -sdet_vector 0 -2 0", "parallel"]),
        ("-fluence -1e20", ["-fluence -1e+20", "must not be negative"]),
        ("-flux -1e12", ["-flux -1e+12", "must not be negative"]),
    ] {
        case.refused(&run(extra), 2, &fragments);
        // nonBragg.c renders them: so does -c_parity, with a warning
        let warning = case.succeeds(&run(&format!("{extra} -c_parity")));
        assert!(warning.contains(fragments[0]) && warning.contains("nonBragg.c"), "{extra}: {warning}");
        std::fs::write(case.path("float.bin"), EARLIER).unwrap();
        for name in ["int.img", "p.pgm"] {
            std::fs::remove_file(case.path(name)).unwrap();
        }
    }
    // a distance that is not positive, in both modes (as the main command)
    for mode in ["", "-c_parity"] {
        case.refused(&run(&format!("-distance -100 {mode}")), 2, &["-distance", "greater than zero"]);
    }
}
