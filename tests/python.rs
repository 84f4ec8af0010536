//! The Python package (`python/`): built and installed the way a user installs it (`pip install
//! ./python`, here into a scratch folder with `--target`, so that nothing outside the test
//! changes), then its pytest suite (python/tests) run against this build's program, the golden
//! corpus and the GPU the other tests use. Needs `NANOBRAGG_PYTHON`, a python with maturin,
//! pytest and numpy (.ci/requirements.txt, which .ci/run installs); without one it skips loudly,
//! and fails when `CI` or `NANOBRAGG_REQUIRE_PYTHON` is set. The package's Rust is compiled in
//! release into `target/python` (its own folder: this test runs while `cargo test` holds the
//! workspace's), kept between runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn switch_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The python to build and test with, or None (skipped loudly) where none is set up.
fn python_with_maturin() -> Option<PathBuf> {
    let required = switch_on("CI") || switch_on("NANOBRAGG_REQUIRE_PYTHON");
    let problem = match std::env::var_os("NANOBRAGG_PYTHON") {
        None => "NANOBRAGG_PYTHON is not set".to_string(),
        Some(python) => match Command::new(&python).args(["-c", "import maturin, pytest, numpy"]).output() {
            Ok(o) if o.status.success() => return Some(PathBuf::from(python)),
            Ok(o) => format!("{} cannot import maturin, pytest and numpy: {}", Path::new(&python).display(), String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("{} does not run: {e}", Path::new(&python).display()),
        },
    };
    assert!(!required, "the Python package's tests need a python with maturin, pytest and numpy ({problem}) and CI / NANOBRAGG_REQUIRE_PYTHON is set");
    common::shout(&format!("SKIPPED: the Python package's tests need a python with maturin, pytest and numpy: {problem}"));
    None
}

#[test]
fn the_python_package_installs_and_passes_its_tests() {
    let Some(python) = python_with_maturin() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let site = tempfile::tempdir().expect("a scratch folder");
    // maturin (the build backend) is a program in the venv's bin folder
    let bin = python.parent().expect("the python's folder").to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))).unwrap();
    let install = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-build-isolation", "--no-deps", "--target"])
        .arg(site.path())
        .arg(root.join("python"))
        .env("PATH", &path)
        .env("CARGO_TARGET_DIR", root.join("target").join("python"))
        .output()
        .expect("pip runs");
    assert!(install.status.success(), "pip install ./python failed:\n{}\n{}", String::from_utf8_lossy(&install.stdout), String::from_utf8_lossy(&install.stderr));
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .arg(root.join("python").join("tests"))
        .env("PYTHONPATH", site.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NANOBRAGG_BIN", env!("CARGO_BIN_EXE_nanobragg"))
        .current_dir(site.path());
    if let Some(golden) = common::golden_dir() {
        pytest.env("NANOBRAGG_GOLDEN", golden);
    }
    let run = pytest.output().expect("pytest runs");
    let said = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    println!("{said}");
    assert!(run.status.success(), "the Python package's tests failed:\n{said}");
    assert!(!said.contains(" skipped") || !switch_on("NANOBRAGG_REQUIRE_GPU"), "a test skipped although the GPU is required:\n{said}");
}
