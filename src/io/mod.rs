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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writers inside one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// the data go to a `.tmp` sibling (same directory, hence same file system) that is then
/// renamed over the target. On failure the sibling is removed and the target left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path)?;
    let outcome = write_new_file(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if outcome.is_err() {
        // Best effort: the temporary may not even exist if creating it was what failed.
        let _ = fs::remove_file(&tmp);
    }
    outcome
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
    file.write_all(bytes).map_err(|e| Error::io(tmp, e))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))
}

/// The golden corpus for tests: `$NANOBRAGG_GOLDEN`, else `<crate>/../shared/golden`. Absent
/// corpus → loud message and `None`, so the calling test skips instead of failing.
#[cfg(test)]
pub(crate) fn golden_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("NANOBRAGG_GOLDEN") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "!!!!! golden corpus not found at {} — SKIPPING golden comparison !!!!!",
            dir.display()
        );
        None
    }
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
    fn write_atomic_rejects_path_without_file_name() {
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }
}
