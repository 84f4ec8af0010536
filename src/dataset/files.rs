//! One registry of the files a run touches, for every command that writes files (a run with its
//! frames, shots, manifest and NeXus file; `noisify`; `nonBragg`; `manifest merge`): every
//! file written is checked against every file read and against every other file written, and
//! its folder and permissions are tried, before anything is read at length or rendered.
//!
//! Names are compared where they land, not as typed: the folder with every symbolic link and
//! `..` resolved, the file name after following the file's own links (a dangling link lands
//! on the file it names), and, where the file exists, its (device, inode), so that hard links
//! meet too. A refusal names the flag (or shots file and line) on both sides.
//!
//! Frame templates (`img_####.bin` over frames K..L) are never enumerated: whether two
//! templates, or a template and a name, can give the same file is decided arithmetically
//! (`meet`), and the files already in a template's folder are looked at once (a listing of the
//! folder, whatever the frame count), for the links, folders, read-only files and hard links
//! among them. So the checks cost the same for 10 frames and for 10⁹.
//!
//! Character devices (`/dev/null`) take any number of outputs and may be inputs too: nothing
//! written there can be read back, so they are left out of every comparison.

use crate::dataset::template;
use crate::error::{Error, Result};
use crate::io::{OutputTarget, SpecialFile, TempFile, output_target, special_file};
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The frames a templated output names, or one name.
#[derive(Clone, Debug)]
enum Names {
    One(PathBuf),
    /// a run of `#` in the file name, over frames first..=last; `labelled`: messages say
    /// "(frame k)" (a series of several frames)
    Frames { template: PathBuf, first: u64, last: u64, labelled: bool },
}

#[derive(Clone, Debug)]
struct Input {
    /// "the -hkl input in.hkl", "the -mat input a.mat of -shots l.jsonl line 2"
    what: String,
    path: PathBuf,
    /// the structure-factor cache, which the run itself may write after its outputs
    cache: bool,
}

#[derive(Clone, Debug)]
struct Output {
    /// the flag that names it: "-floatfile", "-manifest", "-o"
    flag: String,
    names: Names,
}

/// The files a run reads and writes (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    inputs: Vec<Input>,
    outputs: Vec<Output>,
}

/// The largest frame number a template is checked for (`dataset::MAX_FRAME_NUMBER`, 9 digits).
const MAX_DIGITS: usize = 9;

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A file the run reads, described as a refusal names it ("the -hkl input in.hkl").
    pub fn read(&mut self, what: impl Into<String>, path: &Path) {
        self.inputs.push(Input { what: what.into(), path: path.to_path_buf(), cache: false });
    }

    /// The structure-factor cache, read by the run or written after its outputs: no output
    /// may be it.
    pub fn cache(&mut self, what: impl Into<String>, path: &Path) {
        self.inputs.push(Input { what: what.into(), path: path.to_path_buf(), cache: true });
    }

    /// A file the run reads, named by `flag` on the command line: "the FLAG input PATH".
    pub fn read_flag(&mut self, flag: &str, path: &Path) {
        self.read(format!("the {flag} input {}", path.display()), path);
    }

    /// A file the run writes under one name.
    pub fn write(&mut self, flag: impl Into<String>, path: &Path) {
        self.outputs.push(Output { flag: flag.into(), names: Names::One(path.to_path_buf()) });
    }

    /// A template the run writes frames first..=last of (a name without `#` is one file for
    /// every frame: a character device, or a run of one frame). `labelled`: a series of
    /// several frames, whose messages name the frame.
    pub fn write_frames(&mut self, flag: impl Into<String>, template: &Path, first: u64, last: u64, labelled: bool) {
        let names = Names::Frames { template: template.to_path_buf(), first, last, labelled };
        self.outputs.push(Output { flag: flag.into(), names });
    }

    /// The input (not the cache) a file written at `path` would replace, described (None:
    /// none).
    pub fn input_at(&self, path: &Path) -> Option<String> {
        if is_char_device(path) {
            return None;
        }
        let at = Slot::of_name(path);
        self.inputs.iter().find(|i| !i.cache && !is_char_device(&i.path) && Slot::of_name(&i.path).meets(&at).is_some()).map(|i| i.what.clone())
    }

    /// Checks every output (see the module's documentation); the first problem is refused, as a
    /// usage error naming the output's flag and name, and the other side's.
    pub fn check(&self) -> Result<()> {
        let inputs: Vec<(usize, Slot)> = self.inputs.iter().enumerate().filter(|(_, i)| !is_char_device(&i.path)).map(|(k, i)| (k, Slot::of_name(&i.path))).collect();
        // every slot an output fills, in order: (output, slot); a template's frames are one
        // slot, and the links and hard links found among its existing frames one slot each
        let mut written: Vec<(usize, Slot)> = Vec::new();
        // folders already tried, with the mode the temporaries get
        let mut probed: HashSet<(PathBuf, Option<u32>)> = HashSet::new();
        for (k, out) in self.outputs.iter().enumerate() {
            let (slots, probes) = match &out.names {
                Names::One(path) => {
                    let refuse = |why: String| Error::Usage(format!("{} {}: {why}", out.flag, path.display()));
                    let probes = match output_target(path).map_err(refuse)? {
                        OutputTarget::Replace { file, mode } => vec![Probe { file, mode, shown: path.display().to_string() }],
                        OutputTarget::WriteThrough(_) if is_char_device(path) => continue,
                        OutputTarget::WriteThrough(_) => Vec::new(),
                    };
                    (vec![Slot::of_name(path)], probes)
                }
                Names::Frames { template, first, last, labelled } => {
                    let frames = FramesOf::new(&out.flag, template, *first, *last, *labelled)?;
                    if frames.pattern.width == 0 && is_char_device(template) {
                        continue;
                    }
                    let (existing, probes) = frames.existing()?;
                    ([vec![frames.slot()], existing].concat(), probes)
                }
            };
            for slot in slots {
                for (i, input) in &inputs {
                    if let Some((n, _)) = slot.meets(input) {
                        return Err(self.refusal(k, &slot, n, format!("refusing to overwrite {}", self.inputs[*i].what)));
                    }
                }
                for (j, other) in &written {
                    let Some((n, m)) = slot.meets(other) else { continue };
                    if *j == k && n == m {
                        // a frame of a template met by its own name (a file with other hard
                        // links, or a link to itself)
                        continue;
                    }
                    let whose = match &self.outputs[*j].names {
                        Names::Frames { template, labelled: true, .. } => {
                            format!("the {} output of frame {m} ({})", self.outputs[*j].flag, template::expand(template, m).unwrap_or_else(|_| template.clone()).display())
                        }
                        Names::Frames { template, first, .. } => {
                            format!("the {} output {}", self.outputs[*j].flag, template::expand(template, *first).unwrap_or_else(|_| template.clone()).display())
                        }
                        Names::One(path) => format!("the {} output {}", self.outputs[*j].flag, path.display()),
                    };
                    return Err(self.refusal(k, &slot, n, format!("the same file is already {whose}")));
                }
                written.push((k, slot));
            }
            for Probe { file, mode, shown } in probes {
                let dir = Slot::of_name(&file).dir;
                if probed.insert((dir, mode))
                    && let Err(e) = TempFile::beside(&file, mode)
                {
                    return Err(Error::Usage(format!("{} {shown}: cannot create files there: {}", out.flag, folder_reason(&e))));
                }
            }
        }
        Ok(())
    }

    /// The refusal of output `k`'s `slot` (at frame `n` of a template), saying `why`.
    fn refusal(&self, k: usize, slot: &Slot, n: u64, why: String) -> Error {
        let out = &self.outputs[k];
        let (name, frame) = match &out.names {
            Names::One(path) => (path.clone(), None),
            Names::Frames { template, labelled, .. } => {
                let n = slot.frame.unwrap_or(n);
                (template::expand(template, n).unwrap_or_else(|_| template.clone()), labelled.then_some(n))
            }
        };
        let at = frame.map(|f| format!(" (frame {f})")).unwrap_or_default();
        Error::Usage(format!("{} {}{at}: {why}", out.flag, name.display()))
    }
}

/// A folder an output's temporaries go in, tried before the render: `file` is the file to be
/// replaced (links resolved), `mode` its permission bits, `shown` the name for the message.
struct Probe {
    file: PathBuf,
    mode: Option<u32>,
    shown: String,
}

/// A template's frames, checked as names.
struct FramesOf<'a> {
    flag: &'a str,
    template: &'a Path,
    first: u64,
    last: u64,
    labelled: bool,
    pattern: Pattern,
    /// the folder as written (where the frames are listed)
    folder: PathBuf,
}

impl<'a> FramesOf<'a> {
    fn new(flag: &'a str, template: &'a Path, first: u64, last: u64, labelled: bool) -> Result<FramesOf<'a>> {
        let refuse = |why: String| Error::Usage(format!("{flag} {}: {why}", template.display()));
        let is_template = template::is_template(template).map_err(refuse)?;
        let folder = match template.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = template.file_name().map(|n| n.as_encoded_bytes().to_vec()).unwrap_or_default();
        if is_template && !file_name.contains(&b'#') {
            return Err(refuse("the run of '#' must be in the file name, not in a folder's name (every frame is written to one folder)".into()));
        }
        // a number with more digits than the run: the first such frame is refused
        let pattern = match file_name.iter().position(|&b| b == b'#') {
            Some(start) => {
                let width = file_name[start..].iter().take_while(|&&b| b == b'#').count();
                if let Some(too_wide) = 10u64.checked_pow(width as u32).map(|limit| limit.max(first)).filter(|&n| n <= last) {
                    return Err(refuse(template::expand(template, too_wide).err().unwrap_or_default()));
                }
                Pattern::new(file_name[..start].to_vec(), width, file_name[start + width..].to_vec())
            }
            None => Pattern::new(file_name, 0, Vec::new()),
        };
        Ok(FramesOf { flag, template, first, last, labelled, pattern, folder })
    }

    /// The frames as one slot, in the folder they land in.
    fn slot(&self) -> Slot {
        let dir = canonical_dir(&self.folder);
        let (first, last) = if self.pattern.width == 0 { (0, 0) } else { (self.first, self.last) };
        Slot { dir, pattern: self.pattern.clone(), first, last, id: None, frame: None }
    }

    fn name(&self, number: u64) -> PathBuf {
        template::expand(self.template, number).unwrap_or_else(|_| self.template.to_path_buf())
    }

    /// What the frames' names already hold, from one listing of their folder: each frame whose
    /// name is taken by something that cannot be replaced is refused; a link, or a file with
    /// other hard links, becomes a slot of its own (it lands elsewhere, or elsewhere lands on
    /// it). Also the folders to try, with the modes of the files replaced.
    fn existing(&self) -> Result<(Vec<Slot>, Vec<Probe>)> {
        let shown = |n: u64| {
            let label = if self.labelled { format!(" (frame {n})") } else { String::new() };
            format!("{}{label}", self.name(n).display())
        };
        let first = if self.pattern.width == 0 { 0 } else { self.first };
        // the name itself (its length, its folder), as the first frame's
        let target = output_target(&self.name(first)).map_err(|why| Error::Usage(format!("{} {}: {why}", self.flag, shown(first))))?;
        let mut probes = Vec::new();
        if let OutputTarget::Replace { file, mode } = target {
            probes.push(Probe { file, mode, shown: shown(first) });
        }
        let mut slots = Vec::new();
        if self.pattern.width == 0 {
            return Ok((slots, probes));
        }
        let Ok(listing) = std::fs::read_dir(&self.folder) else { return Ok((slots, probes)) };
        let mut modes: HashSet<Option<u32>> = probes.iter().map(|p| p.mode).collect();
        for entry in listing.flatten() {
            let name = entry.file_name();
            let Some(n) = self.pattern.number_of(name.as_encoded_bytes()).filter(|n| (self.first..=self.last).contains(n)) else { continue };
            let path = self.name(n);
            let target = output_target(&path).map_err(|why| Error::Usage(format!("{} {}: {why}", self.flag, shown(n))))?;
            let link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if let OutputTarget::Replace { file, mode } = target
                && (link || modes.insert(mode))
            {
                probes.push(Probe { file, mode, shown: shown(n) });
            }
            if is_char_device(&path) {
                continue;
            }
            let linked = link || entry.metadata().is_ok_and(|m| hard_links(&m) > 1);
            if linked {
                let mut slot = Slot::of_name(&path);
                slot.frame = Some(n);
                slots.push(slot);
            }
        }
        Ok((slots, probes))
    }
}

/// The names a slot stands for, in one folder: `prefix`, a frame number zero-padded to
/// `width` digits (none: one name), `suffix`, as bytes.
#[derive(Clone, Debug, PartialEq)]
struct Pattern {
    prefix: Vec<u8>,
    width: usize,
    suffix: Vec<u8>,
}

impl Pattern {
    /// A run of more than 9 `#` pads every frame number (at most 9 digits) with zeros: the
    /// extra `#` are zeros of the prefix.
    fn new(mut prefix: Vec<u8>, width: usize, suffix: Vec<u8>) -> Pattern {
        let width = if width > MAX_DIGITS {
            prefix.extend(std::iter::repeat_n(b'0', width - MAX_DIGITS));
            MAX_DIGITS
        } else {
            width
        };
        Pattern { prefix, width, suffix }
    }

    fn len(&self) -> usize {
        self.prefix.len() + self.width + self.suffix.len()
    }

    /// The frame number a file name of this pattern holds (None: not of the pattern).
    fn number_of(&self, name: &[u8]) -> Option<u64> {
        if self.width == 0 || name.len() != self.len() || !name.starts_with(&self.prefix) || !name.ends_with(&self.suffix) {
            return None;
        }
        let digits = &name[self.prefix.len()..self.prefix.len() + self.width];
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0')))
    }
}

/// One output's names (or one input's name) where they land: a folder and the names of a
/// pattern over frames first..=last (0..=0 for one name), and for an existing file its
/// (device, inode, links). `frame`: the frame of a template this slot stands for alone.
#[derive(Clone, Debug)]
struct Slot {
    dir: PathBuf,
    pattern: Pattern,
    first: u64,
    last: u64,
    id: Option<(u64, u64, u64)>,
    frame: Option<u64>,
}

impl Slot {
    /// A file name where it lands (its links followed, its folder resolved).
    fn of_name(path: &Path) -> Slot {
        let landing = follow_links(path);
        let dir = canonical_dir(landing.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
        let name = landing.file_name().map(|n| n.as_encoded_bytes().to_vec()).unwrap_or_else(|| landing.as_os_str().as_encoded_bytes().to_vec());
        Slot { dir, pattern: Pattern::new(name, 0, Vec::new()), first: 0, last: 0, id: file_id(path), frame: None }
    }

    /// Frame numbers (n of self, m of other) at which the two give the same file, if any: the
    /// same inode, or the same folder and name.
    fn meets(&self, other: &Slot) -> Option<(u64, u64)> {
        let numbers = |s: &Slot| s.frame.unwrap_or(s.first);
        if let (Some((d1, i1, _)), Some((d2, i2, _))) = (self.id, other.id)
            && (d1, i1) == (d2, i2)
        {
            return Some((numbers(self), numbers(other)));
        }
        if self.dir != other.dir {
            return None;
        }
        let (n, m) = meet(&self.pattern, self.first, self.last, &other.pattern, other.first, other.last)?;
        Some((self.frame.unwrap_or(n), other.frame.unwrap_or(m)))
    }
}

/// Whether names of pattern `a` over frames a0..=a1 and of `b` over b0..=b1 meet: the least
/// frame numbers (n, m) with a(n) = b(m), decided without enumerating frames.
///
/// Equal names have equal lengths; position by position, a byte of one that is fixed must be
/// equal to the other's fixed byte, or be a digit where the other has a digit of its number.
/// The two runs of digits overlap in one interval X (possibly empty) whose digits are shared;
/// every other digit is fixed by the other name. So n = P_a·10^(|X|+|S_a|) + x·10^|S_a| + S_a
/// for the shared value x, increasing in x, and likewise m: each range of frames is an
/// interval of x, and the names meet iff the two intervals and 0..10^|X| have a common x.
fn meet(a: &Pattern, a0: u64, a1: u64, b: &Pattern, b0: u64, b1: u64) -> Option<(u64, u64)> {
    if a.len() != b.len() {
        return None;
    }
    let len = a.len();
    let (ra, rb) = (a.prefix.len()..a.prefix.len() + a.width, b.prefix.len()..b.prefix.len() + b.width);
    let byte = |p: &Pattern, i: usize| if i < p.prefix.len() { p.prefix[i] } else { p.suffix[i - p.prefix.len() - p.width] };
    for i in 0..len {
        let (da, db) = (ra.contains(&i), rb.contains(&i));
        match (da, db) {
            (false, false) if byte(a, i) != byte(b, i) => return None,
            (true, false) if !byte(b, i).is_ascii_digit() => return None,
            (false, true) if !byte(a, i).is_ascii_digit() => return None,
            _ => {}
        }
    }
    let shared = ra.start.max(rb.start)..ra.end.min(rb.end);
    let shared = if shared.start < shared.end { shared } else { 0..0 };
    let k = shared.len() as u32;
    // (P, |S|, S) of a number's digits around the shared run: fixed digits from the other name
    let split = |run: &std::ops::Range<usize>, other: &Pattern| -> (i128, u32, i128) {
        let digits = |r: std::ops::Range<usize>| r.fold(0i128, |v, i| v * 10 + i128::from(byte(other, i) - b'0'));
        if shared.is_empty() {
            return (digits(run.clone()), 0, 0);
        }
        (digits(run.start..shared.start), (run.end - shared.end) as u32, digits(shared.end..run.end))
    };
    let (pa, sa_len, sa) = split(&ra, b);
    let (pb, sb_len, sb) = split(&rb, a);
    // the x (0 ≤ x < 10^k) with lo ≤ P·10^(k+s) + x·10^s + S ≤ hi
    let range = |p: i128, s_len: u32, s: i128, lo: u64, hi: u64| -> (i128, i128) {
        let base = p * 10i128.pow(k + s_len) + s;
        let unit = 10i128.pow(s_len);
        ((i128::from(lo) - base).div_euclid(unit) + i128::from((i128::from(lo) - base).rem_euclid(unit) != 0), (i128::from(hi) - base).div_euclid(unit))
    };
    let (lo_a, hi_a) = range(pa, sa_len, sa, a0, a1);
    let (lo_b, hi_b) = range(pb, sb_len, sb, b0, b1);
    let lo = lo_a.max(lo_b).max(0);
    let hi = hi_a.min(hi_b).min(10i128.pow(k) - 1);
    if lo > hi {
        return None;
    }
    let value = |p: i128, s_len: u32, s: i128| (p * 10i128.pow(k + s_len) + lo * 10i128.pow(s_len) + s) as u64;
    Some((value(pa, sa_len, sa), value(pb, sb_len, sb)))
}

/// Where a name lands once the links of the file itself are followed (a dangling link: the
/// file it names, which writing creates).
fn follow_links(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    // the kernel's own limit on links followed in one lookup
    for _ in 0..40 {
        match std::fs::read_link(&current) {
            Ok(next) => {
                let dir = current.parent().map(Path::to_path_buf).unwrap_or_default();
                current = if next.is_absolute() { next } else { dir.join(next) };
            }
            Err(_) => return current,
        }
    }
    current
}

/// A folder with its links and `..` resolved: canonical where it exists; else the nearest
/// existing ancestor canonical and the rest as written, `.` and `..` applied.
fn canonical_dir(dir: &Path) -> PathBuf {
    if let Ok(full) = dir.canonicalize() {
        return full;
    }
    let absolute = if dir.is_absolute() { dir.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(dir) };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => {
                out.push(other);
                if let Ok(full) = out.canonicalize() {
                    out = full;
                }
            }
        }
    }
    out
}

/// How many names an existing file has.
#[cfg(unix)]
fn hard_links(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(m)
}
#[cfg(not(unix))]
fn hard_links(_: &std::fs::Metadata) -> u64 {
    1
}

/// (device, inode, links) of an existing file (links followed).
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino(), m.nlink()))
}
#[cfg(not(unix))]
fn file_id(_: &Path) -> Option<(u64, u64, u64)> {
    None
}

fn is_char_device(path: &Path) -> bool {
    special_file(path) == Some(SpecialFile::CharDevice)
}

/// Why a file cannot be created in a folder, in plain words (no error number): "no such
/// file" is the folder's absence there.
fn folder_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such folder".into(),
        _ => crate::error::plain_reason(e),
    }
}

/// Whether two names give the same file, compared where they land (links followed, folders
/// resolved, hard links by inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    Slot::of_name(a).meets(&Slot::of_name(b)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(t: &str) -> Pattern {
        match t.find('#') {
            Some(s) => {
                let w = t[s..].chars().take_while(|&c| c == '#').count();
                Pattern::new(t[..s].as_bytes().to_vec(), w, t[s + w..].as_bytes().to_vec())
            }
            None => Pattern::new(t.as_bytes().to_vec(), 0, Vec::new()),
        }
    }

    /// The least (n, m) by enumeration, to check `meet` against.
    fn brute(a: &str, a0: u64, a1: u64, b: &str, b0: u64, b1: u64) -> Option<(u64, u64)> {
        let name = |t: &str, n: u64| template::expand(Path::new(t), n).unwrap().display().to_string();
        let mut best: Option<(u64, u64)> = None;
        for n in a0..=a1 {
            for m in b0..=b1 {
                if name(a, n) == name(b, m) && best.is_none_or(|(bn, _)| n < bn) {
                    best = Some((n, m));
                }
            }
        }
        best
    }

    #[test]
    fn meet_agrees_with_enumeration() {
        let templates = ["a##1.bin", "a1##.bin", "a###.bin", "a_#.bin", "a_##.bin", "x1#", "x##", "a#b", "ab#", "12#", "#2#x", "1##", "##1", "a01.bin", "a_5.bin", "#", "##"];
        let ranges = [(1, 9), (12, 21), (0, 150), (95, 105), (5, 5)];
        for a in templates {
            for b in templates {
                if a.matches('#').count() > 0 && a[a.find('#').unwrap()..].trim_start_matches('#').contains('#') {
                    continue;
                }
                if b.find('#').is_some_and(|s| b[s..].trim_start_matches('#').contains('#')) {
                    continue;
                }
                for &(a0, a1) in &ranges {
                    for &(b0, b1) in &ranges {
                        let fits = |t: &str, hi: u64| t.matches('#').count() == 0 || hi < 10u64.pow(t.matches('#').count() as u32);
                        if !fits(a, a1) || !fits(b, b1) {
                            continue;
                        }
                        let (ra, rb) = (if a.contains('#') { (a0, a1) } else { (0, 0) }, if b.contains('#') { (b0, b1) } else { (0, 0) });
                        let got = meet(&pat(a), ra.0, ra.1, &pat(b), rb.0, rb.1);
                        let want = brute(a, ra.0, ra.1, b, rb.0, rb.1);
                        assert_eq!(got.is_some(), want.is_some(), "{a} {ra:?} / {b} {rb:?}: {got:?} vs {want:?}");
                        if let (Some((n, m)), Some((wn, _))) = (got, want) {
                            let name = |t: &str, n: u64| template::expand(Path::new(t), n).unwrap();
                            assert_eq!(name(a, n), name(b, m), "{a} {n} / {b} {m}");
                            assert_eq!(n, wn, "{a} / {b}: the least frame");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn long_runs_and_large_frames_need_no_enumeration() {
        // 10⁹ frames of two templates that meet only at the last frame
        let a = pat("f_#########.bin");
        let b = pat("f_999999999.bin");
        assert_eq!(meet(&a, 1, 999_999_999, &b, 0, 0), Some((999_999_999, 0)));
        assert_eq!(meet(&a, 1, 999_999_998, &b, 0, 0), None);
        // a run of 12 '#' is three zeros and nine digits
        let long = pat("g############");
        assert_eq!(meet(&long, 1, 999_999_999, &pat("g000000000042"), 0, 0), Some((42, 0)));
        assert_eq!(meet(&long, 1, 999_999_999, &pat("g100000000042"), 0, 0), None);
        assert_eq!(long.number_of(b"g000000000042"), Some(42));
    }

    #[cfg(unix)]
    #[test]
    fn names_meet_through_links_dots_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("in.hkl"), "1 2 3 4\n").unwrap();
        std::fs::hard_link(d.join("in.hkl"), d.join("sub/hard.hkl")).unwrap();
        std::os::unix::fs::symlink("target.bin", d.join("dangling.bin")).unwrap();
        assert!(same_file(&d.join("sub/../in.hkl"), &d.join("in.hkl")));
        assert!(same_file(&d.join("sub/hard.hkl"), &d.join("in.hkl")));
        assert!(same_file(&d.join("dangling.bin"), &d.join("target.bin")));
        assert!(!same_file(&d.join("dangling.bin"), &d.join("other.bin")));
        assert!(same_file(&d.join("no/such/../x"), &d.join("no/x")));
    }
}
