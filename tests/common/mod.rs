//! Shared test plumbing: where the golden corpus is, how a case is laid out in a scratch
//! directory (the C program was run from inside the case folder, with ../inputs beside it),
//! and how the CLI is run there.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A message that shows even when the test passes (libtest captures `eprintln!`, not direct
/// writes to stderr).
pub fn shout(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!!!! {msg}\n");
}

/// Whether an environment switch is on: set, and not empty, `0` or `false`.
fn switch_on(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// A missing corpus fails the run (instead of skipping) under CI (`CI`, which CI services set)
/// or `NANOBRAGG_REQUIRE_GOLDEN`: a golden test that returns early passes vacuously, and an
/// engine disagreement then goes unseen.
pub fn golden_required() -> bool {
    switch_on("CI") || switch_on("NANOBRAGG_REQUIRE_GOLDEN")
}

/// What to do about the corpus at `dir`: use it, skip (with the message), or fail (with the
/// message). Kept apart from the environment so that the rule itself is unit-tested.
pub fn golden_decision(dir: &Path, required: bool) -> Result<Option<PathBuf>, String> {
    if dir.join("MANIFEST.md").exists() {
        return Ok(Some(dir.to_path_buf()));
    }
    if required {
        Err(format!(
            "golden corpus not found at {} and CI / NANOBRAGG_REQUIRE_GOLDEN is set: the golden comparisons cannot run (set NANOBRAGG_GOLDEN to the corpus)",
            dir.display()
        ))
    } else {
        Ok(None)
    }
}

/// `$NANOBRAGG_GOLDEN`, else `../shared/golden` beside the repository; None (with a loud
/// message) when absent, or a panic when the corpus is required (`golden_required`).
pub fn golden_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NANOBRAGG_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"));
    match golden_decision(&dir, golden_required()) {
        Ok(Some(dir)) => Some(dir),
        Ok(None) => {
            shout(&format!(
                "SKIPPED: golden corpus not found at {} (set NANOBRAGG_GOLDEN; CI or NANOBRAGG_REQUIRE_GOLDEN=1 makes this a failure)",
                dir.display()
            ));
            None
        }
        Err(msg) => panic!("{msg}"),
    }
}

/// Every case folder (aNN_*), sorted.
pub fn cases(golden: &Path) -> Vec<String> {
    cases_of(golden, 'a')
}

/// Every case folder of `corpus` whose name starts with `program` (golden: a; golden-ext:
/// n for nonBragg, z for noisify) and that holds a `cmd.txt`, sorted.
pub fn cases_of(corpus: &Path, program: char) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(corpus)
        .expect("read the corpus folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(program) && corpus.join(n).join("cmd.txt").exists())
        .collect();
    v.sort();
    v
}

pub fn case_args(golden: &Path, case: &str) -> Vec<String> {
    std::fs::read_to_string(golden.join(case).join("cmd.txt")).expect("cmd.txt").split_whitespace().map(String::from).collect()
}

pub fn case_features(golden: &Path, case: &str) -> Vec<String> {
    let text = std::fs::read_to_string(golden.join(case).join("meta.json")).expect("meta.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("meta.json parses");
    v["features"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

pub fn case_fpixels(golden: &Path, case: &str) -> usize {
    let text = std::fs::read_to_string(golden.join(case).join("meta.json")).expect("meta.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("meta.json parses");
    v["fpixels"].as_u64().expect("fpixels") as usize
}

/// A scratch copy of a case: `<tmp>/inputs` (the shared inputs) and `<tmp>/<case>` holding the
/// case's own input files; returns (guard, case dir).
pub fn stage_case(golden: &Path, case: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inputs = tmp.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    for e in std::fs::read_dir(golden.join("inputs")).unwrap().flatten() {
        std::fs::copy(e.path(), inputs.join(e.file_name())).unwrap();
    }
    let dir = tmp.path().join(case);
    std::fs::create_dir(&dir).unwrap();
    for name in ["Fdump.bin", "test_pattern.hkl", "sources.txt", "mask.img", "header.img"] {
        let src = golden.join(case).join(name);
        if src.exists() {
            std::fs::copy(&src, dir.join(name)).unwrap();
        }
    }
    (tmp, dir)
}

pub fn nanobragg(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(dir).output().expect("run nanobragg")
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A file of the corpus, transparently gunzipped when only `<name>.gz` exists.
pub fn golden_bytes(golden: &Path, case: &str, name: &str) -> Option<Vec<u8>> {
    let p = golden.join(case).join(name);
    if p.exists() {
        return Some(std::fs::read(p).unwrap());
    }
    let gz = golden.join(case).join(format!("{name}.gz"));
    if !gz.exists() {
        return None;
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap()), &mut out).unwrap();
    Some(out)
}

pub fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Bytes planted in `float.bin` before a run: a refused run must leave them untouched.
pub const OLD_FLOAT: &[u8] = b"an earlier run's float image";

/// A scratch folder for runs through the binary, holding an earlier run's `float.bin`
/// (`OLD_FLOAT`); each test file adds the runs and checks it needs.
pub struct Case {
    pub dir: tempfile::TempDir,
}

impl Case {
    pub fn new() -> Case {
        let case = Case { dir: tempfile::tempdir().expect("tempdir") };
        std::fs::write(case.path("float.bin"), OLD_FLOAT).unwrap();
        case
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn file(self, name: &str, bytes: impl AsRef<[u8]>) -> Case {
        std::fs::write(self.path(name), bytes).unwrap();
        self
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// `$NANOBRAGG_GOLDEN_EXT`, else `../shared/golden-ext` beside the repository; None (loudly) when
/// absent, a panic when CI / NANOBRAGG_REQUIRE_GOLDEN requires it.
pub fn golden_ext_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NANOBRAGG_GOLDEN_EXT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden-ext"));
    if dir.join("README.md").exists() && dir.join("inputs").is_dir() {
        return Some(dir);
    }
    if golden_required() {
        panic!("companion corpus not found at {} and CI / NANOBRAGG_REQUIRE_GOLDEN is set (set NANOBRAGG_GOLDEN_EXT)", dir.display());
    }
    shout(&format!(
        "SKIPPED: companion corpus not found at {} (set NANOBRAGG_GOLDEN_EXT; CI or NANOBRAGG_REQUIRE_GOLDEN=1 makes this a failure)",
        dir.display()
    ));
    None
}

/// A scratch folder for a companion-corpus case with `inputs/` linked to the corpus's, as the C was run.
pub fn golden_ext_scratch(corpus: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(corpus.join("inputs"), dir.path().join("inputs")).unwrap();
    dir
}
