//! Resumes and manifests that never lie, through the binary: a run's identity includes its
//! seed (drawn from the clock or typed) and the contents of its inputs, and a refused resume
//! names the word or input that differs; a run without `-seed` is resumed with the seed it
//! drew, byte for byte, also after SIGKILL; `manifest check` reads names from the manifest's
//! folder, only regular files, never past their recorded size; `/dev/null` outputs are never
//! recorded; CBF bytes are a function of the run and the frame; a failure or a signal in the
//! middle of a series says which frames (or shots) were written.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The launchers' variables (`-shard auto`), cleared so that a test under Slurm or MPI sees none.
const LAUNCHER_VARS: &[&str] = &["SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_STEP_ID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SOURCE_DATE_EPOCH"];

fn command(dir: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nanobragg"));
    for v in LAUNCHER_VARS {
        cmd.env_remove(v);
    }
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    cmd
}

fn run(dir: &Path, args: &[String]) -> Output {
    command(dir, args).output().expect("run nanobragg")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every regular file of `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// The images: every file but manifests.
fn images(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir).into_iter().filter(|(n, _)| !n.ends_with(".jsonl")).collect()
}

fn same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let differ: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).collect();
    assert!(differ.is_empty(), "{what}: these differ or are missing on one side: {differ:?}");
    assert!(!a.is_empty(), "{what}: no files");
}

/// A refused run: status, one error line holding `expect`, nothing rendered, the folder as it was.
fn refused(dir: &Path, o: &Output, before: &BTreeMap<String, Vec<u8>>, expect: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "accepted, expected '{expect}'");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert!(errors[0].contains(expect), "'{expect}' not in: {err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("frame "), "a frame was rendered");
    assert_eq!(&files(dir), before, "the folder changed");
}

fn header(path: &Path) -> serde_json::Value {
    serde_json::from_str(std::fs::read_to_string(path).unwrap().lines().next().unwrap()).unwrap()
}

const HKL: &str = "0 0 0 10\n1 0 0 20\n0 1 0 30\n0 0 1 40\n1 1 1 50\n";
const MATRIX: &str = "-0.0283771 -0.0030539 0.0253582\n-0.0287139 0.0101955 -0.0140005\n0.0105005 -0.0320944 -0.0103605\n";

/// A noisy series of four small frames, without a seed.
const SERIES: &str = "-cell 50 50 50 90 90 90 -hkl in.hkl -nofdump -N 3 -detpixels 12 -engine cpu -osc 1 -frames 4 \
     -floatfile f_#.bin -intfile /dev/null -nopgm -noisefile n_#.img -manifest m.jsonl";

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.hkl"), HKL).unwrap();
    std::fs::write(dir.path().join("a.mat"), MATRIX).unwrap();
    dir
}

#[test]
fn a_run_without_seed_is_resumed_with_the_seed_it_drew() {
    let dir = scratch();
    let d = dir.path();
    ok(&run(d, &words(SERIES)));
    let h = header(&d.join("m.jsonl"));
    let drawn = h["drawn_seed"].as_i64().expect("the drawn seed is recorded");
    assert_eq!(h["seed"].as_i64(), Some(drawn));
    // /dev/null takes every frame's -intfile and is never recorded
    let text = std::fs::read_to_string(d.join("m.jsonl")).unwrap();
    assert!(!text.contains("/dev/null\",\"size"), "{text}");
    // a resume, seconds later, renders the frames removed with the recorded seed
    let whole = images(d);
    std::fs::remove_file(d.join("n_3.img")).unwrap();
    std::fs::remove_file(d.join("f_4.bin")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = ok(&run(d, &[words(SERIES), words("-resume")].concat()));
    assert!(out.contains("resuming: 2 frames already written intact, 2 to render"), "{out}");
    same(&images(d), &whole, "the resumed frames against the first run's");
    // the printed seed typed explicitly is the same run
    std::fs::remove_file(d.join("n_2.img")).unwrap();
    let out = ok(&run(d, &[words(SERIES), words(&format!("-resume -seed {drawn}"))].concat()));
    assert!(out.contains("resuming: 3 frames already written intact, 1 to render"), "{out}");
    same(&images(d), &whole, "the frame resumed with the seed typed");
    // another seed is another run, and the message says which seeds
    let before = files(d);
    let other = drawn % 1000 + 1;
    let o = run(d, &[words(SERIES), words(&format!("-resume -seed {other}"))].concat());
    refused(d, &o, &before, &format!("-resume: the manifest m.jsonl is of another run: its seed is {drawn}, this run's {other}"));
    // and every file matches: /dev/null is not in the way
    assert!(ok(&run(d, &words("manifest check m.jsonl"))).contains("8 files match"));
}

#[test]
fn a_resume_names_the_word_or_the_input_that_differs() {
    let dir = scratch();
    let d = dir.path();
    let seeded = format!("{SERIES} -seed 5");
    ok(&run(d, &words(&seeded)));
    let before = files(d);
    // a word
    let o = run(d, &[words(&seeded.replace("-N 3", "-N 4")), words("-resume")].concat());
    refused(d, &o, &before, "its command differs at word 12 ('3' in the manifest, '4' in this run");
    // the HKL file, edited since
    std::fs::write(d.join("in.hkl"), format!("{HKL}2 0 0 60\n")).unwrap();
    let before = files(d);
    let o = run(d, &[words(&seeded), words("-resume")].concat());
    refused(d, &o, &before, "the -hkl input in.hkl changed since");
    std::fs::write(d.join("in.hkl"), HKL).unwrap();
    assert!(ok(&run(d, &[words(&seeded), words("-resume")].concat())).contains("4 frames already written intact"));
    // a shot list and the matrix one of its lines names
    let shots = "-cell 50 50 50 90 90 90 -hkl in.hkl -nofdump -N 3 -detpixels 12 -engine cpu -seed 5 -shots l.jsonl \
                 -floatfile s_#.bin -intfile /dev/null -nopgm -nonoise -manifest s.jsonl";
    std::fs::write(d.join("l.jsonl"), "{\"mat\": \"a.mat\"}\n{\"N\": 2}\n").unwrap();
    ok(&run(d, &words(shots)));
    std::fs::write(d.join("a.mat"), MATRIX.replace("-0.0283771", "-0.0283772")).unwrap();
    let before = files(d);
    refused(d, &run(d, &[words(shots), words("-resume")].concat()), &before, "the -mat (-shots l.jsonl line 1) input a.mat changed since");
    std::fs::write(d.join("a.mat"), MATRIX).unwrap();
    std::fs::write(d.join("l.jsonl"), "{\"mat\": \"a.mat\"}\n{\"N\": 3}\n").unwrap();
    let before = files(d);
    refused(d, &run(d, &[words(shots), words("-resume")].concat()), &before, "the -shots input l.jsonl changed since");
}

#[test]
fn manifest_check_reads_the_manifests_folder_and_only_regular_files() {
    let dir = scratch();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::write(run_dir.join("in.hkl"), HKL).unwrap();
    ok(&run(&run_dir, &words(&format!("{SERIES} -seed 2"))));
    // from another folder holding other copies under the same names
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for name in ["f_1.bin", "n_1.img"] {
        std::fs::write(elsewhere.join(name), b"another run's copy").unwrap();
    }
    let o = run(&elsewhere, &words("manifest check ../run/m.jsonl"));
    assert!(ok(&o).contains("8 files match their manifests"));
    std::fs::write(run_dir.join("n_2.img"), b"damaged").unwrap();
    let o = run(&elsewhere, &words("manifest check ../run/m.jsonl"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("n_2.img (frame 2): its size is 7 bytes"), "{}", stderr(&o));
    // a manifest naming a FIFO and /dev/zero: neither waits nor reads without end
    let fifo = run_dir.join("n_1.img");
    std::fs::remove_file(&fifo).unwrap();
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut text = std::fs::read_to_string(run_dir.join("m.jsonl")).unwrap();
    text = text.replacen("\"name\":\"f_1.bin\"", "\"name\":\"/dev/zero\"", 1);
    std::fs::write(run_dir.join("m.jsonl"), text).unwrap();
    let mut child = command(&elsewhere, &words("manifest check ../run/m.jsonl")).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("manifest check hangs on a FIFO or /dev/zero");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/zero (frame 1): is not a regular file") && err.contains("n_1.img (frame 1): is not a regular file"), "{err}");
}

/// CBF headers carry `SOURCE_DATE_EPOCH` (else the Unix epoch), not the wall clock: a sharded
/// CBF dataset equals the one-process run byte for byte, and a resume under another
/// `SOURCE_DATE_EPOCH` is another run.
#[test]
fn cbf_datasets_are_the_same_sharded_resumed_or_whole() {
    let cbf = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 12 -engine cpu -osc 1 -frames 3 -seed 8 \
               -floatfile /dev/null -intfile /dev/null -nopgm -nonoise -cbffile c_#.cbf";
    let whole = tempfile::tempdir().unwrap();
    ok(&run(whole.path(), &words(&format!("{cbf} -manifest m.jsonl"))));
    let stamp = String::from_utf8_lossy(&std::fs::read(whole.path().join("c_2.cbf")).unwrap()[..2000]).into_owned();
    assert!(stamp.contains("# 1970-01-01T00:00:00.000"), "{stamp}");
    let sharded = tempfile::tempdir().unwrap();
    for i in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        ok(&run(sharded.path(), &words(&format!("{cbf} -manifest m.jsonl -shard {i}/2"))));
    }
    same(&images(sharded.path()), &images(whole.path()), "the sharded CBF files against the one-process run's");
    // SOURCE_DATE_EPOCH sets the time, and is part of the run
    let dated = tempfile::tempdir().unwrap();
    let with_epoch = |args: &str| command(dated.path(), &words(args)).env("SOURCE_DATE_EPOCH", "86400").output().unwrap();
    ok(&with_epoch(&format!("{cbf} -manifest m.jsonl")));
    let stamp = String::from_utf8_lossy(&std::fs::read(dated.path().join("c_1.cbf")).unwrap()[..2000]).into_owned();
    assert!(stamp.contains("# 1970-01-02T00:00:00.000"), "{stamp}");
    std::fs::remove_file(dated.path().join("c_3.cbf")).unwrap();
    let before = files(dated.path());
    refused(dated.path(), &run(dated.path(), &words(&format!("{cbf} -manifest m.jsonl -resume"))), &before, "its SOURCE_DATE_EPOCH is 86400, this run's unset");
    ok(&with_epoch(&format!("{cbf} -manifest m.jsonl -resume")));
    let bad = command(dated.path(), &words(&format!("{cbf} -manifest m.jsonl"))).env("SOURCE_DATE_EPOCH", "yesterday").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("SOURCE_DATE_EPOCH=yesterday: not a whole number of seconds"), "{}", stderr(&bad));
}

/// Starts `args`, waits until its manifest records `after` frames (or it ends), and kills it
/// with SIGKILL, as a scheduler's preemption does.
fn kill_after(dir: &Path, args: &[String], after: usize) -> usize {
    let mut child = command(dir, args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let lines = || std::fs::read_to_string(dir.join("m.jsonl")).map(|t| t.matches('\n').count()).unwrap_or(0);
    while lines() <= after && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    child.wait().unwrap();
    lines().saturating_sub(1)
}

/// A noisy series without `-seed`, killed with SIGKILL after k frames and resumed (without
/// `-seed`) until done, ends with the files of an uninterrupted run of the seed it drew.
/// `NANOBRAGG_KILL_TRIALS` sets the number of trials (3 by default).
#[test]
fn seedless_noisy_series_killed_and_resumed_equal_an_uninterrupted_run() {
    let trials: usize = std::env::var("NANOBRAGG_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    // frames of tens of ms, so that the kill lands mid-series
    let slow = "-cell 60 70 80 90 90 90 -default_F 50 -N 5 -lambda 1 -distance 60 -detpixels 192 -pixel 0.1 -oversample 3 \
                -phi 0 -osc 0.5 -phisteps 8 -mosaic 0.3 -mosaic_dom 4 -engine cpu -frames 10 \
                -floatfile f_##.bin -intfile i_##.img -nopgm -noisefile n_##.img -manifest m.jsonl";
    let mut identical = 0;
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let recorded = kill_after(dir.path(), &words(slow), 1 + trial % 6);
        assert!((1..10).contains(&recorded), "trial {trial}: the kill came after {recorded} frames: not mid-series");
        let mut resumes = 0;
        loop {
            let out = ok(&run(dir.path(), &[words(slow), words("-resume")].concat()));
            resumes += 1;
            if out.contains("0 to render") || !out.contains("resuming") || resumes > 3 {
                break;
            }
        }
        let drawn = header(&dir.path().join("m.jsonl"))["drawn_seed"].as_i64().expect("drawn seed");
        let reference = tempfile::tempdir().unwrap();
        ok(&run(reference.path(), &[words(slow), words(&format!("-seed {drawn}"))].concat()));
        same(&images(dir.path()), &images(reference.path()), &format!("trial {trial}: killed and resumed against uninterrupted"));
        identical += 1;
    }
    assert_eq!(identical, trials);
    eprintln!("{identical} of {trials} SIGKILL-and-resume trials byte-identical");
}

/// A shot that fails when rendered (its line's values make pixels infinite) is named by file
/// and line, and the message lists what was written before it; nothing of it is written.
#[test]
fn a_shot_failing_at_render_time_is_named_with_what_was_written() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("l.jsonl"), "{}\n# the second shot\n{\"fluence\": 1e300}\n{}\n").unwrap();
    let o = run(d, &words("-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 8 -engine cpu -seed 1 -shots l.jsonl -floatfile f_#.bin -intfile i_#.img -nopgm -nonoise"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("-shots l.jsonl line 3: the rendered image has 64 pixel(s) that are not finite numbers"), "{err}");
    assert!(errors[0].contains("it is not written") && errors[0].contains("shot 1 is written (f_1.bin, i_1.img), later shots are not"), "{err}");
    assert!(!errors[0].contains("nothing was written"), "{err}");
    let mut names: Vec<String> = files(d).into_keys().collect();
    names.sort();
    assert_eq!(names, ["a.mat", "f_1.bin", "i_1.img", "in.hkl", "l.jsonl"]);
}

/// SIGTERM in the middle of a series: the frames written stay, and the last line says which
/// (it used to say that no output file was written).
#[test]
fn sigterm_in_a_series_says_which_frames_are_written() {
    let dir = scratch();
    let d = dir.path();
    let slow = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 160 -oversample 4 -phisteps 8 -osc 1 -engine cpu -seed 2 -frames 40 \
                -floatfile f_##.bin -intfile i_##.img -nopgm -nonoise";
    let mut child = command(d, &words(slow)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    while !d.join("i_02.img").exists() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signalling the child this test started
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default().to_string();
    let written = images(d).keys().filter(|n| n.starts_with("f_")).count();
    assert!(written >= 2, "{err}");
    assert!(
        last.starts_with("nanobragg: error: interrupted: the render was stopped; frames 1 to ")
            && last.contains(&format!("frames 1 to {written} are written (f_01.bin … f_{written:02}.bin, i_01.img … i_{written:02}.img)")),
        "{err}"
    );
    assert!(!err.contains("no output file was written"), "{err}");
}
