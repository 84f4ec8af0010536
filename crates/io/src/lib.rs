//! nanobragg's file formats: HKL text, MTZ, the Fdump.bin cache, MOSFLM matrices, source
//! lists and F(sin θ/λ) tables read (from bytes, and from files here at the edge), SMV images,
//! PGM previews, raw float images, PNG, miniCBF images and NeXus/NXmx files written (as bytes,
//! and put in place atomically); `inputs` loads what an experiment reads into the core's
//! `model::Inputs`.

pub mod cbf;
pub mod colormap;
pub mod dials;
pub mod fdump;
pub mod hkl;
pub mod inputs;
pub mod mat;
pub mod mtz;
pub mod nexus;
pub mod pgm;
pub mod png;
pub mod rawfloat;
pub mod smv;
pub mod sourcefile;
pub mod stol;

pub(crate) use nanobragg_core::{cfmt, error};

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
        let msg = format!("larger than {}, the limit for this kind of file", nanobragg_core::budget::human_bytes(limit as f64));
        return Err(Error::parse(path, "file size", msg));
    }
    Ok(bytes)
}

/// How an output reaches its file, decided by what the path names now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// A regular file, or a name not taken yet: the bytes go to a temporary beside `file`
    /// that is then renamed over it, so readers see the old file or the complete new one.
    /// `file` is the path with symbolic links resolved, so a link to a regular file keeps
    /// pointing at the (replaced) file it named. `mode`: the permission bits of the file being
    /// replaced, which the new one keeps; `None` for a new file (0666 less the umask, as
    /// `fopen` in nanoBragg.c gives).
    Replace { file: PathBuf, mode: Option<u32> },
    /// Not a regular file (`/dev/null`, `/dev/stdout`, a FIFO, a link to one): opened and
    /// written through, never replaced. Such a file cannot be staged, so it is written after
    /// every regular output's temporary is complete and before any is renamed.
    WriteThrough(PathBuf),
}

/// Decides where `path`'s bytes will go, refusing (with the reason, for a message naming the
/// flag) a name that cannot be an output: empty, ending in `/`, naming a directory or a socket,
/// too long for the file system, or an existing file that is read-only. Checked before the
/// render and again when writing.
pub fn output_target(path: &Path) -> std::result::Result<OutputTarget, String> {
    let text = path.as_os_str();
    if text.is_empty() {
        return Err("the file name is empty".into());
    }
    if ends_with_slash(path) || path.file_name().is_none() {
        return Err("names a directory, not a file".into());
    }
    let link = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OutputTarget::Replace { file: path.to_path_buf(), mode: None }),
        // ENAMETOOLONG (a name the file system cannot hold), EACCES, ENOTDIR, ...
        Err(e) => return Err(crate::error::plain_reason(&e)),
    };
    let is_link = link.file_type().is_symlink();
    let meta = if is_link {
        match fs::metadata(path) {
            Ok(m) => m,
            // a dangling link: the file it names is created, the link kept
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = resolve_links(path).map_err(|e| crate::error::plain_reason(&e))?;
                return Ok(OutputTarget::Replace { file, mode: None });
            }
            Err(e) => return Err(crate::error::plain_reason(&e)),
        }
    } else {
        link
    };
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return Err("is a directory".into());
    }
    if is_socket(&file_type) {
        return Err("is a socket".into());
    }
    check_writable(path, &meta)?;
    if !file_type.is_file() {
        return Ok(OutputTarget::WriteThrough(path.to_path_buf()));
    }
    let file = if is_link { path.canonicalize().map_err(|e| crate::error::plain_reason(&e))? } else { path.to_path_buf() };
    Ok(OutputTarget::Replace { file, mode: Some(permission_bits(&meta)) })
}

/// Refuses an existing output that is read-only. nanoBragg.c cannot open one (`fopen` fails)
/// unless it runs as root; replacing it by a rename would bypass the permission silently, so
/// the permission bits decide (not access(2), which lets root write anything), and a file that
/// this user may not write (another owner's) is refused too.
fn check_writable(path: &Path, meta: &fs::Metadata) -> std::result::Result<(), String> {
    let bits = permission_bits(meta);
    if bits != NO_MODE && bits & 0o222 == 0 {
        return Err(format!("is read-only (mode {bits:04o}); refusing to replace it"));
    }
    if !may_write(path) {
        return Err("is not writable by this user; refusing to replace it".into());
    }
    Ok(())
}

/// Permission bits of a platform without them (only "read-only" or not is known).
const NO_MODE: u32 = u32::MAX;

#[cfg(unix)]
fn permission_bits(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}
#[cfg(not(unix))]
fn permission_bits(meta: &fs::Metadata) -> u32 {
    if meta.permissions().readonly() { 0o444 } else { NO_MODE }
}

#[cfg(unix)]
fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; faccessat only reads it
    unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}
#[cfg(not(unix))]
fn may_write(_: &Path) -> bool {
    true
}

/// A non-regular file an output path may name, which is written through (`OutputTarget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialFile {
    /// `/dev/null`, a terminal: may take any number of outputs, even every frame of a series
    CharDevice,
    /// a named pipe: opening it waits for a reader
    Fifo,
}

/// Which special file `path` names now (links followed), if any.
#[cfg(unix)]
pub fn special_file(path: &Path) -> Option<SpecialFile> {
    use std::os::unix::fs::FileTypeExt;
    let t = fs::metadata(path).ok()?.file_type();
    if t.is_char_device() {
        Some(SpecialFile::CharDevice)
    } else if t.is_fifo() {
        Some(SpecialFile::Fifo)
    } else {
        None
    }
}
#[cfg(not(unix))]
pub fn special_file(_: &Path) -> Option<SpecialFile> {
    None
}

#[cfg(unix)]
fn is_socket(t: &fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_socket(t)
}
#[cfg(not(unix))]
fn is_socket(_: &fs::FileType) -> bool {
    false
}

/// `Path` drops a trailing `/` ("out/" has the file name "out"), but the user named a
/// directory: refuse rather than create a file called "out".
fn ends_with_slash(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || (cfg!(windows) && text.ends_with('\\'))
}

/// The file a chain of symbolic links ends at (which need not exist).
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    // the kernel's own limit on links followed in one lookup
    for _ in 0..40 {
        match fs::read_link(&current) {
            Ok(next) => {
                let dir = current.parent().map(Path::to_path_buf).unwrap_or_default();
                current = if next.is_absolute() { next } else { dir.join(next) };
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput || e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The directory a file's temporary goes in: its own, so the rename stays on one file system.
fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Temporary names: a fixed prefix and suffix around 16 random hex digits, whatever the
/// output's name. Fixed length, so any name the file system accepts for an output also works
/// for its temporary (an earlier `.<output name>.<pid>.<n>.tmp` overflowed the 255-byte limit
/// for long names, and collided between processes of separate PID namespaces that share a
/// directory). Leftovers of a killed run match `.nanobragg-*.tmp`.
pub const TEMP_PREFIX: &str = ".nanobragg-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Random names for temporaries. The randomness is std's per-process hash keys, which come
/// from the operating system's generator, mixed with the time and a counter: distinct across
/// processes, containers and threads. Uniqueness does not rest on it alone: files are created
/// with `create_new`, and a name that exists is skipped.
fn random_temp_names() -> impl Iterator<Item = String> {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::iter::from_fn(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
        Some(format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", h.finish()))
    })
}

/// A temporary file this process created. Dropping it removes it — and only it: a name that
/// was already taken is never adopted, so a failed run cannot delete another run's file.
pub struct TempFile {
    path: PathBuf,
    file: Option<fs::File>,
    kept: bool,
}

/// Tries this many names before giving up (a directory full of leftovers, or no randomness).
const TEMP_ATTEMPTS: usize = 100;

impl TempFile {
    /// A new, empty file in `dir` named by the first of `names` not yet taken.
    fn create_in(dir: &Path, names: impl IntoIterator<Item = String>, mode: Option<u32>) -> std::io::Result<TempFile> {
        let mut last = None;
        for name in names.into_iter().take(TEMP_ATTEMPTS) {
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
            match options.open(&path) {
                Ok(file) => {
                    let temp = TempFile { path, file: Some(file), kept: false };
                    if let Some(mode) = mode {
                        temp.keep_mode(mode)?;
                    }
                    return Ok(temp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no name for a temporary file")))
    }

    /// A temporary beside `file`, with random name.
    pub fn beside(file: &Path, mode: Option<u32>) -> std::io::Result<TempFile> {
        TempFile::create_in(&directory_of(file), random_temp_names(), mode)
    }

    /// The replaced file's permission bits, exactly (the creation mode passes the umask).
    #[cfg(unix)]
    fn keep_mode(&self, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        match &self.file {
            Some(f) => f.set_permissions(fs::Permissions::from_mode(mode)),
            None => Ok(()),
        }
    }
    #[cfg(not(unix))]
    fn keep_mode(&self, _: u32) -> std::io::Result<()> {
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(bytes),
            None => Err(std::io::Error::other("temporary file already closed")),
        }
    }

    /// Renames the temporary over `target`; from then on it is not ours to remove.
    pub(crate) fn rename_to(mut self, target: &Path) -> std::io::Result<()> {
        self.file = None;
        fs::rename(&self.path, target)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one
/// (see `write_atomic_all`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_all(&[(path, bytes)])
}

/// Writes several files as one step: every regular file is first written in full to a
/// temporary in its directory (same file system), then non-regular outputs (devices, FIFOs)
/// are written through, and only when all of that succeeded are the temporaries renamed into
/// place. (No `fsync`: the guarantee is against failed or interrupted runs, not power loss;
/// nanoBragg.c syncs nothing either, and a sync per file cost more than a small render —
/// docs/performance.md.) A failure while writing (disk full, permissions, a FIFO's reader
/// gone) removes every temporary and changes no regular target, so a run never leaves a mix of
/// new and stale outputs; what already went into a device or FIFO cannot be taken back.
/// (Renames within a directory do not fail for lack of space; only a target vanishing or
/// changing type mid-way can stop them.)
pub fn write_atomic_all(files: &[(&Path, &[u8])]) -> Result<()> {
    OutputsToWrite::open(files)?.write()
}

/// The outputs of a run, classified, with the non-regular ones already open: opening a FIFO
/// blocks until a reader comes, and that wait belongs before the point of no return (the run
/// can still be interrupted then, and no temporary exists yet).
pub struct OutputsToWrite<'a> {
    files: &'a [(&'a Path, &'a [u8])],
    targets: Vec<OutputTarget>,
    streams: Vec<Option<fs::File>>,
}

impl<'a> OutputsToWrite<'a> {
    /// Classifies every output (refusing one that cannot be written) and opens those written
    /// through; may block on a FIFO without a reader, as nanoBragg.c's `fopen` does.
    pub fn open(files: &'a [(&'a Path, &'a [u8])]) -> Result<OutputsToWrite<'a>> {
        let mut targets = Vec::with_capacity(files.len());
        let mut streams = Vec::with_capacity(files.len());
        for (path, _) in files {
            let target = output_target(path).map_err(|why| Error::io(path, std::io::Error::other(why)))?;
            let stream = match &target {
                OutputTarget::WriteThrough(device) => Some(OpenOptions::new().write(true).open(device).map_err(|e| Error::io(path, e))?),
                OutputTarget::Replace { .. } => None,
            };
            targets.push(target);
            streams.push(stream);
        }
        Ok(OutputsToWrite { files, targets, streams })
    }

    /// Writes every output: temporaries, then the open streams, then the renames.
    pub fn write(self) -> Result<()> {
        // Dropping `staged` on any early return removes the temporaries made so far.
        let mut staged = Vec::new();
        for ((path, bytes), target) in self.files.iter().zip(&self.targets) {
            if let OutputTarget::Replace { file, mode } = target {
                let mut temp = TempFile::beside(file, *mode).map_err(|e| Error::io(path, e))?;
                temp.write_all(bytes).map_err(|e| Error::io(path, e))?;
                staged.push((temp, file));
            }
        }
        // With SIGPIPE ignored, a FIFO whose reader left is an error (EPIPE), not a signal
        // that would leave the temporaries behind.
        for ((path, bytes), stream) in self.files.iter().zip(self.streams) {
            if let Some(mut stream) = stream {
                stream.write_all(bytes).and_then(|()| stream.flush()).map_err(|e| Error::io(path, e))?;
            }
        }
        for (temp, file) in staged {
            temp.rename_to(file).map_err(|e| Error::io(file, e))?;
        }
        Ok(())
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
    fn temporary_names_are_distinct_and_fixed_length() {
        let names: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4).map(|_| s.spawn(|| random_temp_names().take(5000).collect::<Vec<_>>())).collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(names.iter().all(|n| n.len() == TEMP_PREFIX.len() + 16 + TEMP_SUFFIX.len() && n.starts_with(TEMP_PREFIX)));
    }

    /// Another run's temporary (a name this process did not create) is skipped, not adopted,
    /// and survives both a successful and a failed write (the old scheme deleted it).
    #[test]
    fn a_taken_temporary_name_is_skipped_and_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", 0);
        fs::write(dir.path().join(&theirs), b"another run's data").unwrap();
        let ours = format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", 1);
        let temp = TempFile::create_in(dir.path(), [theirs.clone(), ours.clone()], None).unwrap();
        assert_eq!(temp.path(), dir.path().join(&ours));
        drop(temp);
        assert!(!dir.path().join(&ours).exists(), "our temporary is removed on drop");
        assert_eq!(fs::read(dir.path().join(&theirs)).unwrap(), b"another run's data");
        // every name taken: an error, and still nothing removed
        assert!(TempFile::create_in(dir.path(), [theirs.clone()], None).is_err());
        assert_eq!(fs::read(dir.path().join(&theirs)).unwrap(), b"another run's data");
        // a failed multi-file write leaves the foreign temporary alone too
        let target = dir.path().join("out.bin");
        let missing = dir.path().join("missing_dir").join("x.bin");
        assert!(write_atomic_all(&[(&target, b"new"), (&missing, b"x")]).is_err());
        assert_eq!(fs::read(dir.path().join(&theirs)).unwrap(), b"another run's data");
        assert_eq!(leftover_tmp_files(dir.path()), vec![theirs]);
    }

    /// Two writers of one directory at once, as two runs in separate PID namespaces (same pid)
    /// are: every write completes and no temporary is left over.
    #[test]
    fn concurrent_writers_in_one_directory_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for w in 0..4 {
                let dir = dir.path();
                s.spawn(move || {
                    for round in 0..50 {
                        let name = dir.join(format!("w{w}.bin"));
                        write_atomic(&name, format!("{w} {round}").as_bytes()).unwrap();
                    }
                });
            }
        });
        for w in 0..4 {
            assert_eq!(fs::read(dir.path().join(format!("w{w}.bin"))).unwrap(), format!("{w} 49").as_bytes());
        }
        assert!(leftover_tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn output_names_that_cannot_be_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let why = |p: &Path| output_target(p).unwrap_err();
        assert!(why(Path::new("")).contains("empty"));
        assert!(why(&dir.path().join("sub/")).contains("directory"));
        assert!(why(dir.path()).contains("directory"));
        assert!(why(&dir.path().join("a".repeat(256))).contains("too long"));
        let longest = dir.path().join("a".repeat(255));
        assert_eq!(output_target(&longest), Ok(OutputTarget::Replace { file: longest.clone(), mode: None }));
        write_atomic(&longest, b"fits").unwrap();
        assert_eq!(fs::read(&longest).unwrap(), b"fits");
    }

    #[cfg(unix)]
    #[test]
    fn replacing_keeps_the_mode_and_refuses_read_only_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
        fs::set_permissions(&target, fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_atomic(&target, b"newer").unwrap_err().to_string();
        assert!(err.contains("read-only"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_regular_file_is_kept_and_its_target_replaced() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let file = dir.path().join("real").join("data.bin");
        fs::write(&file, b"old").unwrap();
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink("real/data.bin", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&file).unwrap(), b"new");
        // a dangling link: the file it names is created
        let dangling = dir.path().join("dangling.bin");
        std::os::unix::fs::symlink("real/made.bin", &dangling).unwrap();
        write_atomic(&dangling, b"made").unwrap();
        assert!(fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(dir.path().join("real").join("made.bin")).unwrap(), b"made");
        assert!(leftover_tmp_files(dir.path()).is_empty() && leftover_tmp_files(&dir.path().join("real")).is_empty());
    }

    #[test]
    fn write_atomic_rejects_path_without_file_name() {
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }
}
