//! The layering of the workspace is a compile error, not a convention: these tests hold the
//! crates to it (docs/architecture.md draws it). The core depends on none of the command
//! line's or the file formats' crates and builds for wasm32-unknown-unknown; the GPU and io
//! crates depend on the core and on nothing above them.

mod common;

use common::shout;
use std::path::Path;
use std::process::Command;

/// The workspace root (this package's folder).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo` as the test was built by, run in the workspace root, offline (every crate the
/// workspace needs is already in the local registry when its tests are built).
fn cargo(args: &[&str]) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo).args(args).arg("--offline").current_dir(root()).output().expect("run cargo")
}

/// The packages `package` depends on for a build (normal dependencies, all features of the
/// workspace's choosing), by name.
fn dependencies(package: &str) -> Vec<String> {
    let out = cargo(&["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"]);
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What the core must never depend on: the command line's crates (argument parsing, signals,
/// progress bars, logging back ends, libc) and the file formats' and GPU's.
const NOT_IN_THE_CORE: &[&str] = &[
    "clap", "ctrlc", "indicatif", "env_logger", "libc", "rust-hdf5", "image", "png", "flate2", "md-5", "sha2", "serde_json", "wgpu",
    "naga", "pollster", "nanobragg-gpu", "nanobragg-io", "nanobragg",
];

#[test]
fn the_core_depends_on_no_face_file_format_or_gpu_crate() {
    let deps = dependencies("nanobragg-core");
    assert!(deps.contains(&"nanobragg-core".to_string()), "cargo tree lists the package itself: {deps:?}");
    let found: Vec<&&str> = NOT_IN_THE_CORE.iter().filter(|d| deps.iter().any(|x| x == **d)).collect();
    assert!(found.is_empty(), "nanobragg-core depends on {found:?} (all: {deps:?})");
}

#[test]
fn the_gpu_and_io_crates_sit_on_the_core_and_below_the_faces() {
    for (package, not_below) in [
        ("nanobragg-gpu", &["nanobragg-io", "nanobragg", "clap", "ctrlc", "indicatif", "env_logger", "rust-hdf5"][..]),
        ("nanobragg-io", &["nanobragg-gpu", "nanobragg", "clap", "ctrlc", "indicatif", "env_logger", "wgpu"][..]),
        // the command line as a library: below both faces, none of the program's own crates
        ("nanobragg-args", &["nanobragg", "nanobragg-python", "clap", "ctrlc", "indicatif", "env_logger", "pyo3"][..]),
        // the Python face sits on the library and the command line's table, not on the program
        ("nanobragg-python", &["nanobragg", "clap", "ctrlc", "indicatif", "env_logger"][..]),
    ] {
        let deps = dependencies(package);
        assert!(deps.iter().any(|d| d == "nanobragg-core"), "{package} does not depend on the core: {deps:?}");
        let found: Vec<&&str> = not_below.iter().filter(|d| deps.iter().any(|x| x == **d)).collect();
        assert!(found.is_empty(), "{package} depends on {found:?}");
    }
}

/// The core builds for the browser's target, with rayon and without (a page has no threads).
/// CI installs the target (`rustup target add wasm32-unknown-unknown` in .ci/run); elsewhere a
/// missing target skips loudly, unless `CI` or `NANOBRAGG_REQUIRE_WASM` makes it a failure.
#[test]
fn the_core_builds_for_wasm32() {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let has_target = installed.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-unknown-unknown"));
    if !has_target {
        let required = ["CI", "NANOBRAGG_REQUIRE_WASM"].iter().any(|v| std::env::var(v).is_ok_and(|x| !matches!(x.trim(), "" | "0" | "false")));
        assert!(!required, "the wasm32-unknown-unknown target is not installed (rustup target add wasm32-unknown-unknown) and CI / NANOBRAGG_REQUIRE_WASM is set");
        shout("the_core_builds_for_wasm32: SKIPPED (rustup target add wasm32-unknown-unknown to run it)");
        return;
    }
    // a target folder of its own: the outer `cargo test` may still hold the workspace's
    let target_dir = root().join("target").join("wasm32-check");
    for features in [&[][..], &["--no-default-features"][..]] {
        let mut args = vec!["build", "-p", "nanobragg-core", "--target", "wasm32-unknown-unknown", "--target-dir"];
        args.push(target_dir.to_str().expect("a UTF-8 path"));
        args.extend(features);
        let out = cargo(&args);
        assert!(out.status.success(), "cargo {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
}
