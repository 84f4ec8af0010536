//! Dataset manifests: JSON lines, one object per line. The first line describes the run
//! (`Header`), each further line one frame whose files are written (`Entry`): its number and
//! position, every file with its size and SHA-256, its parameters and the float image's
//! statistics (docs/datasets.md, "Manifests").
//!
//! A manifest is written so that a killed process leaves a valid prefix: the header (with the
//! entries a resumed run keeps) is put in place atomically, then each frame's line is appended
//! with one `write` after the frame's files are in place, and synced. A reader ignores a last
//! line without its newline (a write cut short), so every complete line names files that exist.

use crate::dataset::shard::Shard;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manifest format's version (the header's `nanobragg_manifest`).
pub const FORMAT: u32 = 1;

/// The largest manifest read (a million frames of a few hundred bytes each).
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// The first line: which run, and which part of it, the manifest describes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub nanobragg_manifest: u32,
    /// nanobragg's version
    pub version: String,
    /// the command words as typed (without the program name)
    pub command: Vec<String>,
    /// the words every shard of the run shares: `command` without -shard, -manifest, -resume
    /// and -gpu_index
    pub run: Vec<String>,
    pub shard: Shard,
    /// number of the run's first frame and how many frames the whole run has
    pub first_frame: u64,
    pub frames: u64,
    /// how many of them this manifest's shard renders
    pub shard_frames: u64,
    /// the run's noise seed as `-seed` takes it (every frame's seed derives from it)
    pub seed: i64,
}

/// One frame whose files are in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub frame: u64,
    /// 0-based position in the run (what shards divide)
    pub position: u64,
    pub files: Vec<FileRecord>,
    /// φ at the frame's start and its oscillation (degrees)
    pub phi_start_deg: f64,
    pub osc_deg: f64,
    /// the frame's noise seed as `-seed` takes it (a single run with it gives the same noise)
    pub seed: i64,
    pub stats: Stats,
    /// the line as read, written back verbatim by a resume or a merge (a number parsed and
    /// printed again could differ in its last digit)
    #[serde(skip)]
    pub line: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// the path as the run named it (relative to the folder it ran in)
    pub name: String,
    pub size: u64,
    /// SHA-256 of the file's bytes, lower-case hex (what `sha256sum` prints)
    pub sha256: String,
}

/// The float image's statistics (photons per pixel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub max: f64,
    pub mean: f64,
    pub sum: f64,
    /// pixels of the noise image at the 16-bit ceiling (null without a noise image)
    pub overloads: Option<u64>,
}

/// A manifest as read: the header and the complete entries, in file order.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub header: Header,
    pub entries: Vec<Entry>,
    /// the last line had no newline (a write cut short) and was left out
    pub torn: bool,
}

impl Entry {
    /// The entry of a frame whose `files` (names and bytes) were just put in place.
    pub fn of(frame: &crate::simulator::Frame, position: u64, osc_deg: f64, files: &[(PathBuf, Vec<u8>)], image: &[f32], overloads: Option<u64>) -> Entry {
        let (max, sum) = image.iter().fold((f64::NEG_INFINITY, 0.0f64), |(m, s), &v| (m.max(v as f64), s + v as f64));
        Entry {
            frame: frame.number,
            position,
            files: files.iter().map(|(p, b)| FileRecord::of(p, b)).collect(),
            phi_start_deg: frame.phi_start_deg,
            osc_deg,
            seed: -frame.seed,
            stats: Stats { max: if image.is_empty() { 0.0 } else { max }, mean: if image.is_empty() { 0.0 } else { sum / image.len() as f64 }, sum, overloads },
            line: None,
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl FileRecord {
    pub fn of(name: &Path, bytes: &[u8]) -> FileRecord {
        FileRecord { name: name.to_string_lossy().into_owned(), size: bytes.len() as u64, sha256: sha256_hex(bytes) }
    }

    /// Why the file on disk is not the one recorded: `Ok(None)` when it is, `Err` when it is
    /// missing (or unreadable).
    pub fn mismatch(&self) -> std::io::Result<Option<String>> {
        let path = Path::new(&self.name);
        let size = std::fs::metadata(path)?.len();
        if size != self.size {
            return Ok(Some(format!("its size is {size} bytes, the manifest records {}", self.size)));
        }
        let sum = sha256_hex(&std::fs::read(path)?);
        Ok((sum != self.sha256).then(|| format!("its SHA-256 is {sum}, the manifest records {}", self.sha256)))
    }
}

/// The command words every shard of a run shares: `words` without the flags that differ
/// between shards or runs of the same dataset.
pub fn run_words(words: &[String]) -> Vec<String> {
    const WITH_VALUE: &[&str] = &["-shard", "--shard", "-manifest", "--manifest", "-gpu_index", "--gpu_index", "--gpu-index"];
    const ALONE: &[&str] = &["-resume", "--resume"];
    let mut run = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if WITH_VALUE.contains(&w.as_str()) {
            it.next();
        } else if !ALONE.contains(&w.as_str()) {
            run.push(w.clone());
        }
    }
    run
}

/// The manifest's name for `shard`: a sharded run inserts `.shard-I-of-N` before the
/// extension (`run.jsonl` → `run.shard-0-of-3.jsonl`), so that the shards never write the
/// same file; an unsharded run uses the name as given.
pub fn shard_name(path: &Path, shard: Shard) -> PathBuf {
    if shard.count == 1 {
        return path.to_path_buf();
    }
    let tag = format!("shard-{}-of-{}", shard.index, shard.count);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{tag}"),
    };
    path.with_file_name(name)
}

/// Reads a manifest; a line that is not a header or an entry is refused by number.
pub fn read(path: &Path) -> Result<Manifest> {
    let bytes = super::read_limited(path, MAX_MANIFEST_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::parse(path, "file", "is not UTF-8 text (not a manifest)"))?;
    let torn = !text.is_empty() && !text.ends_with('\n');
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut lines = complete.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err(Error::parse(path, "line 1", "is missing: the manifest has no complete header line"));
    };
    let header: Header = serde_json::from_str(first).map_err(|e| Error::parse(path, "line 1", format!("is not a nanobragg manifest header ({e})")))?;
    if header.nanobragg_manifest != FORMAT {
        return Err(Error::parse(path, "line 1", format!("manifest format {} (this nanobragg reads {FORMAT})", header.nanobragg_manifest)));
    }
    let mut entries = Vec::new();
    for (i, line) in lines {
        let entry: Entry = serde_json::from_str(line).map_err(|e| Error::parse(path, &format!("line {}", i + 1), format!("is not a frame entry ({e})")))?;
        entries.push(Entry { line: Some(line.to_string()), ..entry });
    }
    Ok(Manifest { header, entries, torn })
}

fn line_of<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("manifest values serialize");
    line.push(b'\n');
    line
}

fn entry_line(e: &Entry) -> Vec<u8> {
    match &e.line {
        Some(text) => format!("{text}\n").into_bytes(),
        None => line_of(e),
    }
}

/// Writes a whole manifest atomically (merge).
pub fn write_whole(path: &Path, header: &Header, entries: &[Entry]) -> Result<()> {
    let mut bytes = line_of(header);
    for e in entries {
        bytes.extend(entry_line(e));
    }
    super::write_atomic(path, &bytes)
}

/// A manifest being written by a run: one line appended per frame.
pub struct ManifestWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl ManifestWriter {
    /// Puts the header and `kept` (a resumed run's frames already written) in place at once,
    /// replacing any earlier manifest of that name, then opens it for appending.
    pub fn create(path: &Path, header: &Header, kept: &[Entry]) -> Result<ManifestWriter> {
        write_whole(path, header, kept)?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(ManifestWriter { path: path.to_path_buf(), file })
    }

    /// Appends a frame's line in one write, so that a process killed at any moment leaves
    /// complete lines only (at worst the last one without its newline, which readers leave
    /// out). Not synced, as the outputs are not (io::write_atomic_all): the guarantee is
    /// against killed and preempted processes, not power loss.
    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        let line = line_of(entry);
        self.file.write_all(&line).map_err(|e| Error::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            nanobragg_manifest: FORMAT,
            version: "0".into(),
            command: vec!["-N".into(), "5".into(), "-shard".into(), "1/2".into()],
            run: vec!["-N".into(), "5".into()],
            shard: Shard { index: 1, count: 2 },
            first_frame: 1,
            frames: 4,
            shard_frames: 2,
            seed: 3,
        }
    }

    fn entry(frame: u64) -> Entry {
        Entry {
            frame,
            position: frame - 1,
            files: vec![FileRecord::of(Path::new("x.bin"), b"abc")],
            phi_start_deg: 0.5,
            osc_deg: 0.1,
            seed: 7,
            stats: Stats { max: 1.0, mean: 0.25, sum: 4.0, overloads: None },
            line: None,
        }
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn round_trip_and_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut w = ManifestWriter::create(&path, &header(), &[entry(2)]).unwrap();
        w.append(&entry(4)).unwrap();
        drop(w);
        let m = read(&path).unwrap();
        assert_eq!((m.header, m.entries.len(), m.torn), (header(), 2, false));
        assert_eq!(Entry { line: None, ..m.entries[1].clone() }, entry(4));
        // a line cut short by a kill is left out
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"frame\": 6, \"posi");
        std::fs::write(&path, text).unwrap();
        let m = read(&path).unwrap();
        assert_eq!((m.entries.len(), m.torn), (2, true));
        // a broken complete line is refused by number
        std::fs::write(&path, format!("{}\n{{}}\n", serde_json::to_string(&header()).unwrap())).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn names_and_run_words() {
        assert_eq!(shard_name(Path::new("d/run.jsonl"), Shard { index: 0, count: 3 }), Path::new("d/run.shard-0-of-3.jsonl"));
        assert_eq!(shard_name(Path::new("run"), Shard { index: 2, count: 3 }), Path::new("run.shard-2-of-3"));
        assert_eq!(shard_name(Path::new("run.jsonl"), Shard::WHOLE), Path::new("run.jsonl"));
        let words: Vec<String> = "-N 5 -shard auto -resume -manifest m -gpu_index 1 -seed 2".split(' ').map(String::from).collect();
        assert_eq!(run_words(&words), ["-N", "5", "-seed", "2"]);
    }
}
