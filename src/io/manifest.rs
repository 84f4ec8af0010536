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
    /// the seed the run drew from the clock, as `-seed` takes it, when it took any seed from
    /// it (no `-seed`, or `-misset random` without `-misset_seed`): a resume reuses it, so a
    /// run without `-seed` can be resumed (absent: every seed was typed)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawn_seed: Option<i64>,
    /// every input file the run reads, with its size and SHA-256: part of the run's identity
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// `SOURCE_DATE_EPOCH`, the time CBF headers carry, when it was set (else the Unix epoch)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<u64>,
}

/// An input file of the run: the flag that names it (and where, for a shot line's), its name
/// as given, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// `-hkl`, or `-mat (-shots l.jsonl line 2)` for a shot line's
    pub input: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The largest input file hashed for a run's identity (larger than any input nanobragg reads).
const MAX_INPUT_BYTES: u64 = 1 << 40;

impl InputRecord {
    /// The record of `path`, read (and hashed) as a regular file.
    pub fn of(input: &str, path: &Path) -> Result<InputRecord> {
        let refuse = |why: String| Error::Usage(format!("{input} {}: {why}", path.display()));
        let (file, size) = open_regular(path)
            .map_err(|e| Error::Usage(format!("{input} {}", Error::io(path, e))))?
            .map_err(|why| refuse(format!("{why}: a run with a manifest records the contents of its inputs, so they must be regular files")))?;
        if size > MAX_INPUT_BYTES {
            return Err(refuse(format!("is larger than {}", crate::limits::human_bytes(MAX_INPUT_BYTES as f64))));
        }
        let sha256 = sha256_of(file, size).map_err(|e| Error::io(path, e))?;
        Ok(InputRecord { input: input.to_string(), name: path.to_string_lossy().into_owned(), size, sha256 })
    }
}

/// A regular file opened for reading, and its size; the inner `Err` says why the file is not
/// one (a device, a FIFO, a folder). Opened without blocking, so that a FIFO found under the
/// name never waits for a writer.
pub fn open_regular(path: &Path) -> std::io::Result<std::result::Result<(std::fs::File, u64), String>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err("is not a regular file (devices and FIFOs are never recorded)".into()));
    }
    Ok(Ok((file, meta.len())))
}

/// SHA-256 of a file of `size` bytes, read in pieces and never past `size` + 1 bytes (a file
/// that grew since is hashed with its extra byte, and differs).
pub fn sha256_of(file: std::fs::File, size: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut reader = file.take(size.saturating_add(1));
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
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
    /// the frame's noise seed as `-seed` takes it (with `-first_frame` set to the frame and
    /// `-frames 1`, a single run gives the same noise; with `-c_parity`, `-seed` alone)
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
    /// The entry of a frame whose `files` (names and bytes) were just put in place, for a
    /// manifest in folder `base`: each file named relative to it. Devices and FIFOs
    /// (`-intfile /dev/null`) are written through but never recorded: what they hold is not
    /// there to be read back.
    #[allow(clippy::too_many_arguments)]
    pub fn of(frame: &crate::simulator::Frame, position: u64, osc_deg: f64, files: &[(PathBuf, Vec<u8>)], image: &[f32], overloads: Option<u64>, base: &Path) -> Entry {
        let (max, sum) = image.iter().fold((f64::NEG_INFINITY, 0.0f64), |(m, s), &v| (m.max(v as f64), s + v as f64));
        Entry {
            frame: frame.number,
            position,
            files: files.iter().filter(|(p, _)| super::special_file(p).is_none()).map(|(p, b)| FileRecord::of(Path::new(&name_from(base, p)), b)).collect(),
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
    /// missing (or unreadable). The name is taken relative to `base`, the manifest's folder;
    /// only a regular file is read, and never past the recorded size (a FIFO or `/dev/zero`
    /// found under the name is a mismatch, not a wait or an endless read).
    pub fn mismatch(&self, base: &Path) -> std::io::Result<Option<String>> {
        let (file, size) = match open_regular(&base.join(&self.name))? {
            Ok(found) => found,
            Err(why) => return Ok(Some(why)),
        };
        if size != self.size {
            return Ok(Some(format!("its size is {size} bytes, the manifest records {}", self.size)));
        }
        let sum = sha256_of(file, size)?;
        Ok((sum != self.sha256).then(|| format!("its SHA-256 is {sum}, the manifest records {}", self.sha256)))
    }
}

/// The folder of a manifest, which the names it records are relative to.
pub fn folder_of(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The name of `file` (as the run named it, relative to the folder it runs in) relative to
/// `base`, a manifest's folder: unchanged when `base` is that folder, else the path from
/// `base` to it through the resolved folders (absolute when there is none).
pub fn name_from(base: &Path, file: &Path) -> String {
    if base.as_os_str().is_empty() || base == Path::new(".") {
        return file.to_string_lossy().into_owned();
    }
    let (Ok(from), Ok(to), Some(name)) = (base.canonicalize(), folder_of(file).canonicalize(), file.file_name()) else {
        return std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()).to_string_lossy().into_owned();
    };
    let (a, b): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out.push(name);
    out.to_string_lossy().into_owned()
}

/// A manifest's entry line with its file names moved from folder `from` to folder `to` (a
/// merge written elsewhere than its shards): the line's text is kept but for the names, so
/// that no number is parsed and printed again.
pub fn rebased(e: &Entry, from: &Path, to: &Path) -> Entry {
    let mut moved = e.clone();
    let mut line = e.line.clone();
    for f in &mut moved.files {
        let new = name_from(to, &from.join(&f.name));
        if let Some(text) = &mut line {
            let (old_json, new_json) = (serde_json::to_string(&f.name).unwrap_or_default(), serde_json::to_string(&new).unwrap_or_default());
            *text = text.replacen(&format!("\"name\":{old_json}"), &format!("\"name\":{new_json}"), 1);
        }
        f.name = new;
    }
    moved.line = line;
    moved
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

/// What sets two runs apart, the first found: `a` is the first run (a manifest's), `b` the
/// second, as `difference` compares them.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// the command words, at word `at` (1-based, of `a`'s `run`): `a`'s word and `b`'s
    Word { at: usize, a: String, b: String },
    Seed { a: i64, b: i64 },
    Frames { a: (u64, u64), b: (u64, u64) },
    /// an input file: its flag and name, and (size, SHA-256) in each (None: not read there)
    Input { input: String, name: String, a: Option<(u64, String)>, b: Option<(u64, String)> },
    Epoch { a: Option<u64>, b: Option<u64> },
}

/// The words that identify a run: `run` without `-seed N`, each with its index in `run`. The
/// seed is compared on its own, so that a run typed with the seed another run drew from the
/// clock (and printed) is the same run.
fn identity_words(run: &[String]) -> Vec<(usize, &String)> {
    let mut out = Vec::new();
    let mut skip = false;
    for (i, w) in run.iter().enumerate() {
        if skip {
            skip = false;
        } else if w == "-seed" || w == "--seed" {
            skip = true;
        } else {
            out.push((i, w));
        }
    }
    out
}

/// The first difference between the runs of two headers (None: one run): the command words
/// (apart from -shard, -manifest, -resume, -gpu_index and the seed's), the seed, the frames,
/// the input files read (by name and content), and `SOURCE_DATE_EPOCH`.
pub fn difference(a: &Header, b: &Header) -> Option<Difference> {
    let (wa, wb) = (identity_words(&a.run), identity_words(&b.run));
    if let Some(k) = (0..wa.len().max(wb.len())).find(|&k| wa.get(k).map(|w| w.1) != wb.get(k).map(|w| w.1)) {
        let at = wa.get(k).map_or(a.run.len(), |w| w.0) + 1;
        let word = |w: &[(usize, &String)]| w.get(k).map_or_else(|| "(end)".to_string(), |w| w.1.clone());
        return Some(Difference::Word { at, a: word(&wa), b: word(&wb) });
    }
    if a.seed != b.seed {
        return Some(Difference::Seed { a: a.seed, b: b.seed });
    }
    if (a.first_frame, a.frames) != (b.first_frame, b.frames) {
        return Some(Difference::Frames { a: (a.first_frame, a.frames), b: (b.first_frame, b.frames) });
    }
    let find = |list: &[InputRecord], r: &InputRecord| list.iter().find(|o| (&o.input, &o.name) == (&r.input, &r.name)).map(|o| (o.size, o.sha256.clone()));
    for r in &a.inputs {
        let theirs = find(&b.inputs, r);
        if theirs.as_ref() != Some(&(r.size, r.sha256.clone())) {
            return Some(Difference::Input { input: r.input.clone(), name: r.name.clone(), a: Some((r.size, r.sha256.clone())), b: theirs });
        }
    }
    if let Some(r) = b.inputs.iter().find(|r| find(&a.inputs, r).is_none()) {
        return Some(Difference::Input { input: r.input.clone(), name: r.name.clone(), a: None, b: Some((r.size, r.sha256.clone())) });
    }
    if a.source_date_epoch != b.source_date_epoch {
        return Some(Difference::Epoch { a: a.source_date_epoch, b: b.source_date_epoch });
    }
    None
}

/// A `SOURCE_DATE_EPOCH` as a message shows it.
pub fn epoch_text(e: Option<u64>) -> String {
    e.map_or_else(|| "unset".to_string(), |s| s.to_string())
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

/// The header of a manifest alone (its first line, at most 16 MiB), without reading the
/// frames' lines: what a run needs to know before it reads the whole manifest. None when
/// the first line is not a complete header.
pub fn read_header(path: &Path) -> Option<Header> {
    use std::io::{BufRead, Read};
    let (file, _) = open_regular(path).ok()?.ok()?;
    let mut line = Vec::new();
    std::io::BufReader::new(file).take(16 << 20).read_until(b'\n', &mut line).ok()?;
    if !line.ends_with(b"\n") {
        return None;
    }
    serde_json::from_slice(&line).ok()
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
            drawn_seed: None,
            inputs: Vec::new(),
            source_date_epoch: None,
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

    #[test]
    fn differences_name_the_word_the_seed_and_the_input() {
        let a = header();
        assert_eq!(difference(&a, &a), None);
        // the seed's words are compared as the seed, not as words
        let mut b = a.clone();
        b.run = vec!["-seed".into(), "3".into(), "-N".into(), "5".into()];
        assert_eq!(difference(&a, &b), None);
        b.run[3] = "6".into();
        assert_eq!(difference(&a, &b), Some(Difference::Word { at: 2, a: "5".into(), b: "6".into() }));
        let mut c = a.clone();
        c.seed = 4;
        assert_eq!(difference(&a, &c), Some(Difference::Seed { a: 3, b: 4 }));
        let input = InputRecord { input: "-hkl".into(), name: "in.hkl".into(), size: 3, sha256: sha256_hex(b"abc") };
        let mut d = a.clone();
        d.inputs.push(input.clone());
        let mut e = d.clone();
        e.inputs[0].sha256 = sha256_hex(b"abd");
        assert!(matches!(difference(&d, &e), Some(Difference::Input { ref input, a: Some(_), b: Some(_), .. }) if input == "-hkl"));
        assert!(matches!(difference(&d, &a), Some(Difference::Input { a: Some(_), b: None, .. })));
        assert!(matches!(difference(&a, &d), Some(Difference::Input { a: None, b: Some(_), .. })));
        // an old manifest without the new fields reads back with none
        let text = serde_json::to_string(&a).unwrap();
        assert!(!text.contains("drawn_seed") && !text.contains("inputs"), "{text}");
        let back: Header = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn files_are_checked_relative_to_the_manifest_and_only_regular_ones_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.bin"), b"abc").unwrap();
        let record = FileRecord::of(Path::new("x.bin"), b"abc");
        assert_eq!(record.mismatch(&dir.path().join("sub")).unwrap(), None);
        assert!(record.mismatch(dir.path()).is_err(), "not there: missing");
        // a device is never read as the file
        if Path::new("/dev/zero").exists() {
            let zero = FileRecord { name: "/dev/zero".into(), size: 3, sha256: sha256_hex(b"abc") };
            assert!(zero.mismatch(dir.path()).unwrap().unwrap().contains("not a regular file"));
        }
        // names relative to another folder
        assert_eq!(name_from(Path::new("."), Path::new("a/b.bin")), "a/b.bin");
        let sub = dir.path().join("sub");
        assert_eq!(name_from(&sub, &dir.path().join("y.bin")), "../y.bin");
        assert_eq!(name_from(dir.path(), &sub.join("x.bin")), "sub/x.bin");
        let e = Entry { files: vec![FileRecord::of(Path::new("sub/x.bin"), b"abc")], ..entry(2) };
        let e = Entry { line: Some(String::from_utf8(line_of(&e)).unwrap().trim_end().to_string()), ..e };
        let moved = rebased(&e, dir.path(), &sub);
        assert_eq!(moved.files[0].name, "x.bin");
        assert!(moved.line.as_deref().unwrap().contains("\"name\":\"x.bin\""), "{:?}", moved.line);
    }
}
