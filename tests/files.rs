//! One registry of the files a run touches, through the binary: for the main command (single
//! images, series, shot lists, manifests), `noisify`, `nonBragg` and `manifest merge`, a file
//! written that is a file read (or another file written) is refused before anything renders,
//! through `..`, symbolic links (dangling ones too) and hard links, naming the flags (or the
//! shots file and line) on both sides; a folder where files cannot be created is refused
//! before the first frame, naming its flag. Each refusal: its exit status, one error line,
//! and the folder exactly as before (inputs and earlier outputs byte for byte, nothing new).
//! Also the checks that cost the same whatever the number of frames (`-frames 999999999`),
//! and the counts `nonBragg` bounds as the main command does.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn nanobragg(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(dir).env_remove("RUST_LOG").output().expect("run nanobragg")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Every entry of `dir` and its sub-folders: a file's bytes, a link's target.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type().unwrap();
        if t.is_symlink() {
            out.insert(name, format!("-> {}", std::fs::read_link(e.path()).unwrap().display()).into_bytes());
        } else if t.is_dir() {
            for (inner, bytes) in snapshot(&e.path()) {
                out.insert(format!("{name}/{inner}"), bytes);
            }
        } else {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// A refused run: exit status `code`, one error line holding every fragment, no panic, and
/// the folder as it was (`before`).
fn refused(dir: &Path, out: &Output, before: &BTreeMap<String, Vec<u8>>, code: i32, fragments: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    for f in fragments {
        assert!(errors[0].contains(f), "the error lacks `{f}`:\n{stderr}");
    }
    assert!(!stderr.contains("os error"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("writing "), "wrote: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(&snapshot(dir), before, "the folder changed");
}

/// A small experiment without output names.
const SMALL: &str = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 8 -engine cpu -seed 3 -nopgm -nonoise";
const MATRIX: &str = "-0.0283771 -0.0030539 0.0253582\n-0.0287139 0.0101955 -0.0140005\n0.0105005 -0.0320944 -0.0103605\n";
const HKL: &str = "0 0 0 10\n1 0 0 10\n0 1 0 10\n0 0 1 10\n";

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.mat"), MATRIX).unwrap();
    std::fs::write(dir.path().join("in.hkl"), HKL).unwrap();
    dir
}

#[test]
fn a_shot_lines_input_is_never_an_output() {
    let dir = scratch();
    let d = dir.path();
    // one shot: a literal output name, the line's matrix
    std::fs::write(d.join("one.jsonl"), "{\"mat\": \"a.mat\"}\n").unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words(&format!("{SMALL} -shots one.jsonl -floatfile a.mat -intfile i.img")));
    refused(d, &run, &before, 2, &["-floatfile a.mat: refusing to overwrite the -mat input a.mat of -shots one.jsonl line 1"]);
    // three shots: shot 2's name is line 3's matrix (through "..")
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("m_2.mat"), MATRIX).unwrap();
    std::fs::write(d.join("three.jsonl"), "# the matrices\n{}\n{\"N\": 2}\n{\"mat\": \"sub/../m_2.mat\", \"N\": 4}\n").unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words(&format!("{SMALL} -shots three.jsonl -floatfile m_#.mat -intfile /dev/null")));
    refused(d, &run, &before, 2, &["-floatfile m_2.mat (frame 2): refusing to overwrite the -mat input sub/../m_2.mat of -shots three.jsonl line 4"]);
    // the same on the command line, as before
    let run = nanobragg(d, &words(&format!("{SMALL} -mat a.mat -floatfile a.mat")));
    refused(d, &run, &before, 2, &["-floatfile a.mat: refusing to overwrite the -mat input a.mat"]);
}

#[test]
fn the_manifest_is_checked_with_the_other_files_before_the_render() {
    let dir = scratch();
    let d = dir.path();
    let before = snapshot(d);
    let series = format!("{SMALL} -frames 2 -floatfile f_#.bin -intfile i_#.img");
    // the HKL input
    let run = nanobragg(d, &words(&format!("{SMALL} -hkl in.hkl -floatfile f.bin -intfile i.img -manifest in.hkl")));
    refused(d, &run, &before, 2, &["-manifest in.hkl: refusing to overwrite the -hkl input in.hkl"]);
    // a frame's output
    let run = nanobragg(d, &words(&format!("{series} -manifest f_1.bin")));
    refused(d, &run, &before, 2, &["-manifest f_1.bin: the same file is already the -floatfile output of frame 1 (f_1.bin)"]);
    // a folder that is not there: refused before frame 1 is on disk, naming -manifest
    let run = nanobragg(d, &words(&format!("{series} -manifest missing/m.jsonl")));
    refused(d, &run, &before, 2, &["-manifest missing/m.jsonl: cannot create files there"]);
    // the name a sharded run gives its manifest
    let run = nanobragg(d, &words(&format!("{SMALL} -frames 1 -floatfile f_#.bin -intfile m.shard-0-of-2.jsonl -shard 0/2 -manifest m.jsonl")));
    refused(d, &run, &before, 2, &["-manifest m.shard-0-of-2.jsonl: the same file is already the -intfile output m.shard-0-of-2.jsonl"]);
}

#[test]
fn outputs_meet_through_links_dots_and_hard_links() {
    let dir = scratch();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("target.bin", d.join("d1")).unwrap();
    std::os::unix::fs::symlink("sub/../target.bin", d.join("d2")).unwrap();
    std::fs::hard_link(d.join("in.hkl"), d.join("sub/hard.img")).unwrap();
    let before = snapshot(d);
    // two dangling links to one file
    let run = nanobragg(d, &words(&format!("{SMALL} -floatfile d1 -intfile d2")));
    refused(d, &run, &before, 2, &["-intfile d2: the same file is already the -floatfile output d1"]);
    // a dangling link and the file it names
    let run = nanobragg(d, &words(&format!("{SMALL} -floatfile d1 -intfile sub/../target.bin")));
    refused(d, &run, &before, 2, &["-intfile sub/../target.bin: the same file is already the -floatfile output d1"]);
    // a hard link of an input
    let run = nanobragg(d, &words(&format!("{SMALL} -hkl in.hkl -floatfile f.bin -intfile sub/hard.img")));
    refused(d, &run, &before, 2, &["-intfile sub/hard.img: refusing to overwrite the -hkl input in.hkl"]);
    // a series whose frame 2 float name is a dangling link to frame 2's int name: found by one
    // listing of the folder, not by naming every frame
    std::os::unix::fs::symlink("i_2.img", d.join("f_2.bin")).unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words(&format!("{SMALL} -frames 3 -floatfile f_#.bin -intfile i_#.img")));
    refused(d, &run, &before, 2, &["-intfile i_2.img (frame 2): the same file is already the -floatfile output of frame 2 (f_2.bin)"]);
    // a frame's name linked to an input
    std::fs::remove_file(d.join("f_2.bin")).unwrap();
    std::os::unix::fs::symlink("a.mat", d.join("f_2.bin")).unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words(&format!("{SMALL} -mat a.mat -frames 3 -floatfile f_#.bin -intfile i_#.img")));
    refused(d, &run, &before, 2, &["-floatfile f_2.bin (frame 2): refusing to overwrite the -mat input a.mat"]);
    // a frame's name taken by a folder, and a '#' in a folder's name
    std::fs::remove_file(d.join("f_2.bin")).unwrap();
    std::fs::create_dir(d.join("f_2.bin")).unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words(&format!("{SMALL} -frames 3 -floatfile f_#.bin -intfile i_#.img")));
    refused(d, &run, &before, 2, &["-floatfile f_2.bin (frame 2): is a directory"]);
    let run = nanobragg(d, &words(&format!("{SMALL} -frames 3 -floatfile run_#/f.bin -intfile i_#.img")));
    refused(d, &run, &before, 2, &["-floatfile run_#/f.bin: the run of '#' must be in the file name"]);
}

#[test]
fn template_collisions_are_decided_without_enumerating_the_frames() {
    let dir = scratch();
    let d = dir.path();
    let before = snapshot(d);
    // an input that a template reaches only at its last frame, of 999 999 999
    let run = nanobragg(d, &words(&format!("{SMALL} -mat x999999999.bin -frames 999999999 -floatfile x#########.bin -intfile /dev/null")));
    refused(d, &run, &before, 2, &["-floatfile x999999999.bin (frame 999999999): refusing to overwrite the -mat input x999999999.bin"]);
    // a run of '#' too short for the last frames
    let run = nanobragg(d, &words(&format!("{SMALL} -first_frame 12 -frames 999999 -floatfile a##1.bin -intfile a1##.bin")));
    refused(d, &run, &before, 2, &["-floatfile a##1.bin: frame 100 needs 3 digits"]);
    // two templates that meet only at int frame 21 and float frame 100 000 002
    let run = nanobragg(d, &words(&format!("{SMALL} -first_frame 12 -frames 999999988 -floatfile a#########1.bin -intfile a1#########.bin")));
    refused(d, &run, &before, 2, &["-intfile a1000000021.bin (frame 21): the same file is already the -floatfile output of frame 100000002 (a1000000021.bin)"]);
}

/// A NeXus file of 10⁹ frames is refused by the memory its index needs, before anything is
/// made (it used to grow to 21 GB and die).
#[test]
fn a_nexus_file_of_a_billion_frames_is_refused_by_its_index() {
    let dir = scratch();
    let d = dir.path();
    let before = snapshot(d);
    // under 8 GiB of address space, so that the refusal does not depend on the machine
    let bin = env!("CARGO_BIN_EXE_nanobragg");
    let args = format!("{SMALL} -frames 999999999 -floatfile /dev/null -intfile /dev/null -nexusfile x.h5");
    let run = Command::new("sh").arg("-c").arg(format!("ulimit -v 8000000 && exec '{bin}' {args}")).current_dir(d).output().unwrap();
    refused(d, &run, &before, 1, &["-nexusfile x.h5: the index of one file of 999999999 frames needs about 59.6 GiB of memory"]);
    // a thousand frames are fine
    let run = nanobragg(d, &words(&format!("{SMALL} -frames 1000 -floatfile /dev/null -intfile /dev/null -nexusfile x.h5 -quiet")));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

/// `-frames 999999999` starts at once (it took over a minute and hundreds of MB of checks
/// before); the run is stopped after its first frame.
#[test]
fn a_run_of_a_billion_frames_starts_promptly() {
    let dir = scratch();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(words(&format!("{SMALL} -frames 999999999 -floatfile f_#########.bin -intfile /dev/null -shard 3/999999998")))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
        let done = line.starts_with("frame 4:");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    child.wait().unwrap();
    assert!(seen.iter().any(|l| l.contains("shard 3 of 999999998: 1 of 999999999 frames (positions p with p mod 999999998 = 3: frames 4)")), "{seen:?}");
    assert!(seen.iter().any(|l| l.starts_with("frame 4:")), "{seen:?}");
}

#[test]
fn noisify_never_writes_over_its_inputs() {
    let dir = scratch();
    let d = dir.path();
    let floats: Vec<u8> = (0..64).flat_map(|i| (i as f32).to_le_bytes()).collect();
    std::fs::write(d.join("in.bin"), &floats).unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words("noisify -floatfile in.bin -noisefile in.bin -seed 1"));
    refused(d, &run, &before, 2, &["-noisefile in.bin: refusing to overwrite the -floatfile input in.bin"]);
    let run = nanobragg(d, &words("noisify -floatfile in.bin -nonoise -intfile ./sub/../in.bin"));
    refused(d, &run, &before, 2, &["-intfile ./sub/../in.bin: refusing to overwrite the -floatfile input in.bin"]);
    let run = nanobragg(d, &words("noisify -floatfile in.bin -intfile x.img -pgmfile x.img -seed 1"));
    refused(d, &run, &before, 2, &["-pgmfile x.img: the same file is already the -intfile output x.img"]);
    let run = nanobragg(d, &words("noisify -floatfile in.bin -intfile x.img -noisefile missing/n.img -nopgm -seed 1"));
    refused(d, &run, &before, 2, &["-noisefile missing/n.img: cannot create files there"]);
    // the header input too
    std::fs::write(d.join("h.img"), b"{\nHEADER_BYTES=512;\n}").unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words("noisify -floatfile in.bin -header h.img -intfile h.img"));
    refused(d, &run, &before, 2, &["-intfile h.img: refusing to overwrite the -header input h.img"]);
}

#[test]
fn nonbragg_never_writes_over_its_table_and_bounds_its_counts() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("w.stol"), "0 1\n0.1 2\n0.2 3\n0.5 1\n").unwrap();
    let before = snapshot(d);
    let run = nanobragg(d, &words("nonBragg -stol w.stol -detpixels 8 -floatfile w.stol"));
    refused(d, &run, &before, 2, &["-floatfile w.stol: refusing to overwrite the -stol input w.stol"]);
    let run = nanobragg(d, &words("nonBragg -stol w.stol -detpixels 8 -floatfile x.bin -noisefile x.bin"));
    refused(d, &run, &before, 2, &["-noisefile x.bin: the same file is already the -floatfile output x.bin"]);
    // the main command's table limit, before anything is built
    let run = nanobragg(d, &words("nonBragg -stol w.stol -detpixels 8 -dispersion 0.1 -dispsteps 1000000000"));
    refused(d, &run, &before, 1, &["sources (-hdivsteps × -vdivsteps × -dispsteps): 1 × 1 × 1000000000 entries are more than the limit of 16777216"]);
    let main = nanobragg(d, &words(&format!("{SMALL} -dispersion 0.1 -dispsteps 1000000000 -floatfile f.bin -intfile i.img")));
    refused(d, &main, &before, 1, &["sources (-hdivsteps × -vdivsteps × -dispsteps)", "more than the limit of 16777216"]);
}

#[test]
fn a_merge_never_writes_over_one_of_its_shards() {
    let dir = scratch();
    let d = dir.path();
    let run = format!("{SMALL} -frames 2 -floatfile f_#.bin -intfile i_#.img -manifest m.jsonl");
    for i in 0..2 {
        assert!(nanobragg(d, &words(&format!("{run} -shard {i}/2"))).status.success());
    }
    let before = snapshot(d);
    let o = nanobragg(d, &words("manifest merge m.shard-0-of-2.jsonl m.shard-1-of-2.jsonl -o m.shard-1-of-2.jsonl"));
    refused(d, &o, &before, 2, &["-o m.shard-1-of-2.jsonl: refusing to overwrite the manifest m.shard-1-of-2.jsonl"]);
    let o = nanobragg(d, &words("manifest merge m.shard-0-of-2.jsonl m.shard-1-of-2.jsonl -o ./sub/../m.shard-0-of-2.jsonl"));
    refused(d, &o, &before, 2, &["refusing to overwrite the manifest m.shard-0-of-2.jsonl"]);
    // into another folder: the names are moved to it, and check finds every file
    std::fs::create_dir(d.join("merged")).unwrap();
    let o = nanobragg(d, &words("manifest merge m.shard-0-of-2.jsonl m.shard-1-of-2.jsonl -o merged/all.jsonl"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(d.join("merged/all.jsonl")).unwrap();
    assert!(text.contains("\"name\":\"../f_1.bin\"") && text.contains("\"name\":\"../i_2.img\""), "{text}");
    let o = nanobragg(&d.join("merged"), &words("manifest check all.jsonl"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 files match"), "{}", String::from_utf8_lossy(&o.stderr));
}
