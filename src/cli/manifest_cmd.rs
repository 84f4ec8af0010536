//! `nanobragg manifest merge SHARD... -o MERGED` and `nanobragg manifest check MANIFEST...`:
//! the dataset manifests (`io::manifest`) of a sharded run put together, and the files a
//! manifest names checked against it.
//!
//! Merge refuses, naming the files and frames, shards of different runs (their commands apart
//! from -shard/-manifest/-resume/-gpu_index, their seeds, frame ranges or versions differ), a
//! frame recorded twice and frames recorded nowhere. The merged manifest holds every frame once,
//! ordered by frame number, under a header for the whole run (shard 0/1).

use crate::dataset::shard::Shard;
use crate::error::{Error, Result};
use crate::io::manifest::{self, Entry, Header, Manifest};
use crate::outln;
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: nanobragg manifest merge SHARD_MANIFEST... -o MERGED\n       nanobragg manifest check MANIFEST...\n";

/// Runs the subcommand; the exit status: 0 done, 1 refused or failed, 2 bad command line.
pub fn main(args: &[String]) -> i32 {
    let outcome = match args.first().map(String::as_str) {
        Some("merge") => merge_cmd(&args[1..]),
        Some("check") => match check_cmd(&args[1..]) {
            Ok(Some(mismatch)) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr().lock(), "nanobragg manifest: error: {}", crate::error::shown(&mismatch));
                return 1;
            }
            other => other.map(drop),
        },
        Some("-h" | "--help" | "help") => {
            crate::out!("{USAGE}");
            return 0;
        }
        _ => Err(Error::Usage(format!("nanobragg manifest: say merge or check (nanobragg manifest -h shows the usage)"))),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "nanobragg manifest: error: {e}");
            e.exit_code()
        }
    }
}

fn merge_cmd(args: &[String]) -> Result<()> {
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut output: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--output" => {
                let v = it.next().ok_or_else(|| Error::Usage(format!("manifest merge: {a} needs a file name (nanobragg manifest -h shows the usage)")))?;
                output = Some(PathBuf::from(v));
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(Error::Usage(format!("manifest merge: unknown option {s} (nanobragg manifest -h shows the usage)"))),
            s => inputs.push(PathBuf::from(s)),
        }
    }
    let output = output.ok_or_else(|| Error::Usage(format!("manifest merge: name the merged manifest with -o (nanobragg manifest -h shows the usage)")))?;
    if inputs.is_empty() {
        return Err(Error::Usage(format!("manifest merge: name the shards' manifests (nanobragg manifest -h shows the usage)")));
    }
    // the merged manifest may be none of the shards' (nor a device: it is read back)
    let mut files = crate::dataset::files::Registry::new();
    for p in &inputs {
        files.read(format!("the manifest {}", p.display()), p);
    }
    files.write("-o", &output);
    files.check()?;
    if crate::io::special_file(&output).is_some() {
        return Err(Error::Usage(format!("-o {}: the merged manifest must be a regular file", output.display())));
    }
    let read: Vec<(PathBuf, Manifest)> = inputs.into_iter().map(|p| manifest::read(&p).map(|m| (p, m))).collect::<Result<_>>()?;
    let (header, entries) = merge(&read)?;
    // names are relative to each manifest's folder: moved to the merged one's where it differs
    let to = manifest::folder_of(&output);
    let entries: Vec<Entry> = entries
        .into_iter()
        .map(|(from, e)| if same_folder(&from, &to) { e } else { manifest::rebased(&e, &from, &to) })
        .collect();
    manifest::write_whole(&output, &header, &entries)?;
    outln!("{}: {} frames from {} manifests", output.display(), entries.len(), read.len());
    Ok(())
}

fn same_folder(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The whole run's manifest from its shards' manifests: the header, and every entry with the
/// folder of the manifest it came from.
pub fn merge(shards: &[(PathBuf, Manifest)]) -> Result<(Header, Vec<(PathBuf, Entry)>)> {
    let (first_path, first) = &shards[0];
    let h = &first.header;
    for (path, m) in &shards[1..] {
        if let Some(why) = different_run(h, &m.header) {
            return Err(Error::Usage(format!(
                "{} and {} are not shards of one run: {why}",
                first_path.display(),
                path.display()
            )));
        }
    }
    // position → (manifest, entry); a frame recorded twice is refused with both manifests
    let mut by_position: std::collections::BTreeMap<u64, (&Path, &Entry)> = std::collections::BTreeMap::new();
    let mut twice: Vec<String> = Vec::new();
    for (path, m) in shards {
        for e in &m.entries {
            if e.position >= h.frames {
                return Err(Error::Usage(format!(
                    "{}: frame {} has position {}, beyond the run's {} frames",
                    path.display(), e.frame, e.position, h.frames
                )));
            }
            if let Some((other, _)) = by_position.insert(e.position, (path, e)) {
                twice.push(format!("frame {} (in {} and {})", e.frame, other.display(), path.display()));
            }
        }
    }
    if !twice.is_empty() {
        return Err(Error::Usage(format!("frames recorded more than once: {}", listed(&twice))));
    }
    let missing: Vec<String> = (0..h.frames)
        .filter(|p| !by_position.contains_key(p))
        .map(|p| format!("{}", h.first_frame + p))
        .collect();
    if !missing.is_empty() {
        let torn: Vec<String> = shards.iter().filter(|(_, m)| m.torn).map(|(p, _)| p.display().to_string()).collect();
        let cut = if torn.is_empty() { String::new() } else { format!(" ({} ended in a line cut short)", torn.join(", ")) };
        return Err(Error::Usage(format!(
            "the shards are incomplete: {} of {} frames missing: frame {}{cut}; render them (e.g. the shard again with -resume) and merge again",
            missing.len(),
            h.frames,
            listed(&missing)
        )));
    }
    let mut entries: Vec<(PathBuf, Entry)> = by_position.into_values().map(|(p, e)| (manifest::folder_of(p), e.clone())).collect();
    entries.sort_by_key(|(_, e)| e.frame);
    let header = Header { command: h.run.clone(), shard: Shard::WHOLE, shard_frames: h.frames, ..h.clone() };
    Ok((header, entries))
}

/// At most 20 items, then how many more.
fn listed(items: &[String]) -> String {
    let shown = items.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 20 { format!("{shown} and {} more", items.len() - 20) } else { shown }
}

/// Why two headers are not of one run (None: they are).
fn different_run(a: &Header, b: &Header) -> Option<String> {
    use manifest::Difference as D;
    let why = match manifest::difference(a, b) {
        Some(D::Word { at, a, b }) => format!("their commands differ at word {at} ('{a}' and '{b}')"),
        Some(D::Seed { a, b }) => format!("their seeds differ ({a} and {b})"),
        Some(D::Frames { a, b }) => format!("their frames differ ({} from {} and {} from {})", a.1, a.0, b.1, b.0),
        Some(D::Input { input, name, a: Some(_), b: Some(_) }) => format!("their {input} input {name} differs in content"),
        Some(D::Input { input, name, a: Some(_), b: None }) => format!("the first reads {input} {name}, the second does not"),
        Some(D::Input { input, name, .. }) => format!("the second reads {input} {name}, the first does not"),
        Some(D::Epoch { a, b }) => format!("their SOURCE_DATE_EPOCH differ ({} and {})", manifest::epoch_text(a), manifest::epoch_text(b)),
        None if a.version != b.version => format!("they were written by nanobragg {} and {}", a.version, b.version),
        None => return None,
    };
    Some(why)
}

/// Checks every file the manifests name; `Some(why)` when any does not match.
fn check_cmd(args: &[String]) -> Result<Option<String>> {
    if args.is_empty() || args.iter().any(|a| a.starts_with('-')) {
        return Err(Error::Usage(format!("manifest check: name the manifests to check (nanobragg manifest -h shows the usage)")));
    }
    let mut bad: Vec<String> = Vec::new();
    let mut files = 0;
    for path in args {
        let m = manifest::read(Path::new(path))?;
        // names are relative to the manifest's folder, wherever the check runs
        let base = manifest::folder_of(Path::new(path));
        for e in &m.entries {
            for f in &e.files {
                files += 1;
                match f.mismatch(&base) {
                    Ok(None) => {}
                    Ok(Some(why)) => bad.push(format!("{} (frame {}): {why}", f.name, e.frame)),
                    Err(err) => bad.push(format!("{} (frame {}): {}", f.name, e.frame, crate::error::plain_reason(&err))),
                }
            }
        }
    }
    if !bad.is_empty() {
        return Ok(Some(format!("{} of {files} files do not match their manifest: {}", bad.len(), listed(&bad))));
    }
    outln!("{files} files match their manifests");
    Ok(None)
}
