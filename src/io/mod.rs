//! File formats read and written by nanoBragg: HKL text, the Fdump.bin cache, MOSFLM matrices,
//! SMV images, PGM previews, raw float images and source lists.

pub mod cfmt;
pub mod colormap;
pub mod fdump;
pub mod hkl;
pub mod mat;
pub mod pgm;
pub mod png;
pub mod rawfloat;
pub mod smv;
pub mod sourcefile;

use crate::error::{Error, Result};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads a whole input file, refusing one larger than `limit` bytes: a device such as
/// /dev/zero, or the wrong file, would otherwise be read until memory runs out.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        let msg = format!("larger than {}, the limit for this kind of file", crate::limits::human_bytes(limit as f64));
        return Err(Error::parse(path, "file size", msg));
    }
    Ok(bytes)
}

/// Distinguishes temporary files of concurrent writers inside one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// the data go to a `.tmp` sibling (same directory, hence same file system) that is then
/// renamed over the target. On failure the sibling is removed and the target left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_all(&[(path, bytes)])
}

/// Writes several files as one step: every file is first written in full to its `.tmp`
/// sibling, and only when all of them are written are they renamed into place. (No `fsync`:
/// the guarantee is against failed or interrupted runs, not power loss; nanoBragg.c syncs
/// nothing either, and a sync per file cost more than a small render — docs/performance.md.) A failure
/// while writing (disk full, permissions) removes every temporary and changes no target, so a
/// run never leaves a mix of new and stale outputs. (Renames within a directory do not fail
/// for lack of space; only a target vanishing or changing type mid-way can stop them.)
pub fn write_atomic_all(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    let outcome = stage(files, &mut staged).and_then(|()| commit(files, &staged));
    if outcome.is_err() {
        // Best effort: a temporary may not exist (creating it failed, or it was renamed).
        for tmp in &staged {
            let _ = fs::remove_file(tmp);
        }
    }
    outcome
}

/// Writes each file's temporary, recording it in `staged` before writing so it can be removed.
fn stage(files: &[(&Path, &[u8])], staged: &mut Vec<PathBuf>) -> Result<()> {
    for (path, bytes) in files {
        let tmp = temp_sibling(path)?;
        staged.push(tmp.clone());
        write_new_file(&tmp, bytes)?;
    }
    Ok(())
}

fn commit(files: &[(&Path, &[u8])], staged: &[PathBuf]) -> Result<()> {
    for ((path, _), tmp) in files.iter().zip(staged) {
        fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

fn temp_sibling(path: &Path) -> Result<PathBuf> {
    let Some(name) = path.file_name() else {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(Error::io(path, e));
    };
    let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        unique
    );
    Ok(path.with_file_name(tmp_name))
}

fn write_new_file(tmp: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| Error::io(tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(tmp, e))
}

/// The golden corpus for tests: `$NANOBRAGG_GOLDEN`, else `<crate>/../shared/golden`. Absent
/// corpus → loud message and `None`, so the calling test skips; but under CI (`CI`) or
/// `NANOBRAGG_REQUIRE_GOLDEN` an absent corpus is a failure, since a skipped golden check
/// passes vacuously (tests/common/mod.rs applies the same rule to the integration tests).
#[cfg(test)]
pub(crate) fn golden_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NANOBRAGG_GOLDEN") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    };
    let on = |name: &str| std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"));
    golden_decision(&dir, on("CI") || on("NANOBRAGG_REQUIRE_GOLDEN")).unwrap_or_else(|msg| panic!("{msg}"))
}

/// The corpus at `dir` if it is there; otherwise `None` with a loud message, or the failure
/// message when the corpus is required.
#[cfg(test)]
fn golden_decision(dir: &Path, required: bool) -> std::result::Result<Option<PathBuf>, String> {
    if dir.is_dir() {
        Ok(Some(dir.to_path_buf()))
    } else if required {
        Err(format!("golden corpus not found at {} and CI / NANOBRAGG_REQUIRE_GOLDEN is set: the golden comparisons cannot run", dir.display()))
    } else {
        eprintln!("!!!!! golden corpus not found at {} — SKIPPING golden comparison !!!!!", dir.display());
        Ok(None)
    }
}

#[cfg(test)]
#[test]
fn missing_golden_corpus_fails_only_when_required() {
    let absent = Path::new("/nonexistent/golden-corpus");
    assert_eq!(golden_decision(absent, false), Ok(None));
    let msg = golden_decision(absent, true).unwrap_err();
    assert!(msg.contains("/nonexistent/golden-corpus") && msg.contains("NANOBRAGG_REQUIRE_GOLDEN"), "{msg}");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(golden_decision(here, true), Ok(Some(here.to_path_buf())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftover_tmp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn write_atomic_creates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        write_atomic(&target, b"first").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"first");
        write_atomic(&target, b"second, longer").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second, longer");
        assert!(leftover_tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn write_atomic_failure_keeps_old_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: the rename fails after the temporary was written.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"keep").unwrap();
        let err = write_atomic(&target, b"new").unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
        assert!(leftover_tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn write_atomic_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no_such_dir").join("x.img");
        let err = write_atomic(&target, b"data").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(leftover_tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn write_atomic_all_changes_nothing_when_one_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.bin");
        fs::write(&first, b"old").unwrap();
        let unwritable = dir.path().join("missing_dir").join("second.bin");
        let err = write_atomic_all(&[(&first, b"new"), (&unwritable, b"x")]).unwrap_err();
        assert!(err.to_string().contains("missing_dir"), "{err}");
        assert_eq!(fs::read(&first).unwrap(), b"old");
        assert!(leftover_tmp_files(dir.path()).is_empty());
        let second = dir.path().join("second.bin");
        write_atomic_all(&[(&first, b"new"), (&second, b"2")]).unwrap();
        assert_eq!((fs::read(&first).unwrap(), fs::read(&second).unwrap()), (b"new".to_vec(), b"2".to_vec()));
        assert!(leftover_tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn read_limited_refuses_oversized_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_limited(&path, 5).unwrap(), b"12345");
        let text = read_limited(&path, 4).unwrap_err().to_string();
        assert!(text.contains("in.txt") && text.contains("file size") && text.contains("4 B"), "{text}");
        if Path::new("/dev/zero").exists() {
            assert!(read_limited(Path::new("/dev/zero"), 1 << 16).is_err());
        }
    }

    #[test]
    fn write_atomic_rejects_path_without_file_name() {
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }
}
