//! MTZ input through the binary: gemmi-written MTZ files (P1, screw-axis groups, anomalous
//! F(+)/F(−), missing values) must render exactly as the equivalent P1 HKL text, the cell
//! comes from the file when none is typed, `-mtz_column` chooses among amplitude columns and
//! is named in the report, and bad files are refused with nothing written.
//!
//! The files are made at test time by tests/data/make_mtz.py with the python in
//! `NANOBRAGG_PYTHON` (gemmi and numpy); without it those tests skip loudly, and fail when `CI`
//! or `NANOBRAGG_REQUIRE_PYTHON` is set. The error cases use the committed fixtures in
//! tests/data/mtz and need no Python.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn switch_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// The python with gemmi, or `None` (said loudly) when the test may skip.
fn python_with_gemmi() -> Option<PathBuf> {
    let required = switch_on("CI") || switch_on("NANOBRAGG_REQUIRE_PYTHON");
    let problem = match std::env::var_os("NANOBRAGG_PYTHON") {
        None => "NANOBRAGG_PYTHON is not set".to_string(),
        Some(python) => {
            let probe = Command::new(&python).args(["-c", "import gemmi, numpy"]).output();
            match probe {
                Ok(o) if o.status.success() => return Some(PathBuf::from(python)),
                Ok(o) => format!("{} cannot import gemmi and numpy: {}", Path::new(&python).display(), String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => format!("{} does not run: {e}", Path::new(&python).display()),
            }
        }
    };
    assert!(!required, "MTZ tests need gemmi ({problem}) and CI / NANOBRAGG_REQUIRE_PYTHON is set");
    common::shout(&format!("SKIPPED: MTZ rendering tests need a python with gemmi 0.7 and numpy: {problem}"));
    None
}

/// Writes the MTZ files and their P1 HKL references into `dir`.
fn make_files(python: &Path, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/make_mtz.py");
    let out = Command::new(python).arg(script).arg(dir).output().expect("run make_mtz.py");
    assert!(out.status.success(), "make_mtz.py failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mtz").join(name)
}

/// The cells make_mtz.py gives each file, as typed for the HKL runs.
fn cell_of(name: &str) -> &'static [&'static str] {
    match name {
        "p1" => &["40", "50", "60", "80", "85", "95"],
        "p212121" | "valm" => &["40", "50", "60", "90", "90", "90"],
        "p43212" | "anom" => &["45", "45", "60", "90", "90", "90"],
        "p6122" => &["45", "45", "70", "90", "90", "120"],
        other => panic!("no cell for {other}"),
    }
}

/// A small render in which many reflections reach the detector: a few cells, tilted, swept
/// through 2° of φ; the float image and the structure-factor cache are the outputs compared.
fn render(dir: &Path, hkl: &Path, extra: &[&str]) -> (Vec<u8>, Vec<u8>, String) {
    std::fs::create_dir_all(dir).unwrap();
    let mut args: Vec<String> = common::strings(&[
        "-engine", "cpu", "-lambda", "1.0", "-distance", "60", "-detpixels", "40", "-pixel", "0.75", "-N", "3",
        "-misset", "10", "20", "30", "-oversample", "1", "-phi", "0", "-osc", "2", "-phisteps", "2", "-nonoise",
        "-nopgm", "-floatfile", "float.bin", "-intfile", "int.img", "-noprogress",
    ]);
    args.push("-hkl".into());
    args.push(hkl.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = common::nanobragg(dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read(dir.join("float.bin")).unwrap(), std::fs::read(dir.join("Fdump.bin")).unwrap(), stdout)
}

fn with_cell<'a>(name: &str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-cell"];
    v.extend_from_slice(cell_of(name));
    v.extend_from_slice(extra);
    v
}

fn lit_pixels(image: &[u8]) -> usize {
    common::floats(image).iter().filter(|&&v| v > 0.0).count()
}

#[test]
fn gemmi_files_render_exactly_as_the_p1_hkl_text() {
    let Some(python) = python_with_gemmi() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    make_files(&python, &data);
    for name in ["p1", "p212121", "p43212", "p6122", "valm", "anom"] {
        let mtz = data.join(format!("{name}.mtz"));
        let text = data.join(format!("{name}_p1.hkl"));
        let (want_image, want_grid, _) = render(&tmp.path().join(format!("{name}-hkl")), &text, &with_cell(name, &[]));
        assert!(lit_pixels(&want_image) > 50, "{name}: the render must reach many reflections to be a test");
        // the cell from the file (no -cell) and the typed cell render the same
        let (image, grid, report) = render(&tmp.path().join(format!("{name}-mtz")), &mtz, &[]);
        assert!(grid == want_grid, "{name}: the expanded structure factors differ from the P1 HKL text");
        assert!(image == want_image, "{name}: the MTZ renders differently from the P1 HKL text");
        assert!(report.contains(&format!("taking the unit cell from {}", mtz.display())), "{report}");
        let column = if name == "anom" { "F(+)/F(-)" } else { "FP" };
        assert!(report.contains(&format!("MTZ column {column},")), "{report}");
        // the same reflections as gemmi writes them in P1 (its own expansion, half the sphere)
        let as_p1 = data.join(format!("{name}_asp1.mtz"));
        if as_p1.exists() {
            let (image, _, _) = render(&tmp.path().join(format!("{name}-asp1")), &as_p1, &with_cell(name, &[]));
            assert!(image == want_image, "{name}: gemmi's P1 expansion renders differently");
        }
    }
}

#[test]
fn mtz_column_chooses_among_amplitudes_and_is_reported() {
    let Some(python) = python_with_gemmi() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    make_files(&python, &data);
    let mtz = data.join("p212121.mtz");
    let (fc_image, _, report) = render(&tmp.path().join("fc"), &mtz, &["-mtz_column", "FC"]);
    assert!(report.contains("MTZ column FC,") && report.contains("P 21 21 21 (4 operators)"), "{report}");
    let (want, _, _) = render(&tmp.path().join("fc-hkl"), &data.join("p212121_p1_fc.hkl"), &with_cell("p212121", &[]));
    assert!(fc_image == want, "FC renders differently from its P1 HKL text");
    let (fp_image, _, _) = render(&tmp.path().join("fp"), &mtz, &[]);
    assert!(fp_image != fc_image, "FP and FC must render differently, or the comparisons above prove nothing");
    // a typed cell wins over the file's
    let (_, _, report) = render(&tmp.path().join("typed"), &mtz, &["-cell", "41", "50", "60", "90", "90", "90"]);
    assert!(!report.contains("taking the unit cell"), "{report}");
}

/// Runs the binary in a fresh directory holding `files`; the run must fail, name `needle` in
/// one error line, and leave nothing behind.
fn refused(files: &[(&str, Vec<u8>)], args: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(tmp.path().join(name), bytes).unwrap();
    }
    let mut all = common::strings(&["-N", "2", "-detpixels", "16", "-floatfile", "float.bin", "-noprogress"]);
    all.extend(args.iter().map(|s| s.to_string()));
    refused_in(tmp.path(), &all, files.len(), needle);
}

fn refused_in(dir: &Path, args: &[String], inputs: usize, needle: &str) {
    let out: Output = common::nanobragg(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(needle), "{args:?}: expected `{needle}` in:\n{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), inputs, "{args:?} left files behind: {left:?}");
}

#[test]
fn bad_mtz_files_are_refused_with_nothing_written() {
    let good = std::fs::read(fixture("p212121.mtz")).unwrap();
    refused(&[("x.mtz", b"0 0 1 10\n".to_vec())], &["-hkl", "x.mtz"], "x.mtz: byte 0: not an MTZ file");
    refused(&[("x.mtz", good.clone())], &["-hkl", "x.mtz", "-mtz_column", "FOBS"], "x.mtz: -mtz_column: no column `FOBS`");
    refused(&[("x.mtz", good.clone())], &["-hkl", "x.mtz", "-mtz_column", "SIGFP"], "column `SIGFP` is of type Q (standard deviation), not an amplitude");
    // truncated: any extension, recognised by the magic
    refused(&[("x.dat", good[..good.len() / 2].to_vec())], &["-hkl", "x.dat"], "x.dat: whole file: truncated");
    refused(&[("x.dat", good[..good.len() - 300].to_vec())], &["-hkl", "x.dat", "-cell", "40", "50", "60", "90", "90", "90"], "truncated: the header has no END record");
    // -mtz_column with HKL text
    refused(&[("x.hkl", b"0 0 1 10\n".to_vec())], &["-hkl", "x.hkl", "-cell", "40", "50", "60", "90", "90", "90", "-mtz_column", "FP"], "-mtz_column FP: -hkl x.hkl is not an MTZ file");
}

#[cfg(unix)]
#[test]
fn a_device_named_mtz_is_refused_at_once() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.mtz")).unwrap();
    let args = common::strings(&["-N", "2", "-detpixels", "16", "-noprogress", "-hkl", "zero.mtz"]);
    refused_in(tmp.path(), &args, 1, "zero.mtz: byte 0: not an MTZ file");
    let args = common::strings(&["-N", "2", "-detpixels", "16", "-noprogress", "-cell", "40", "50", "60", "90", "90", "90", "-hkl", "/dev/zero"]);
    refused_in(tmp.path(), &args, 1, "/dev/zero");
}

#[test]
fn fixtures_render_without_python() {
    // the committed fixture, cell from its header, against its committed P1 text
    let tmp = tempfile::tempdir().unwrap();
    let (want, want_grid, _) = render(&tmp.path().join("hkl"), &fixture("p6122_p1.hkl"), &with_cell("p6122", &[]));
    let (image, grid, report) = render(&tmp.path().join("mtz"), &fixture("p6122.mtz"), &[]);
    assert!(grid == want_grid && image == want, "p6122 fixture renders differently from its P1 text");
    assert!(report.contains("P 61 2 2 (12 operators)"), "{report}");
}
