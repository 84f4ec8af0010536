//! Sharding, manifests and resume through the binary: the union of a run's shards is the
//! one-process run byte for byte and their merged manifest is complete; a killed run resumed
//! ends with the files of an uninterrupted one; bad shard specs, launcher variables that
//! disagree, resumes over changed files and merges of incomplete or foreign shards are refused
//! before anything is rendered, with one message and no file. `-gpu_index` picks adapters.
//! (Real launchers, mpirun and Slurm, are in tests/cluster.rs.)

mod gpu_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// The variables `-shard auto` and `-gpu_index auto` read: cleared for every run here, so
/// that a test run inside a Slurm job or under mpirun sees only what the test sets.
const LAUNCHER_VARS: &[&str] = &[
    "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP",
    "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_LOCALID", "OMPI_COMM_WORLD_RANK",
    "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK", "PMI_SIZE", "PMIX_RANK", "PMIX_SIZE",
    "MPI_LOCALRANKID", "PALS_LOCAL_RANKID",
];

fn run_with(dir: &Path, args: &[String], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nanobragg"));
    for v in LAUNCHER_VARS {
        cmd.env_remove(v);
    }
    cmd.args(args).envs(env.iter().copied()).current_dir(dir).output().expect("run nanobragg")
}

fn run(dir: &Path, args: &[String]) -> Output {
    run_with(dir, args, &[])
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

/// Refused before any frame: non-zero exit, one error line containing `expect`, no frame
/// printed, and the folder holds exactly what it held before.
fn refused(dir: &Path, o: &Output, before: &BTreeMap<String, Vec<u8>>, expect: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "accepted, expected '{expect}'");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {err}");
    assert!(errors[0].contains(expect), "'{expect}' not in: {err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("frame "), "a frame was rendered: {}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(&files(dir), before, "the folder changed");
}

/// Every file in `dir` (not recursive) with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Two folders' files are the same, byte for byte (naming the files that differ).
fn same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let differ: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).collect();
    assert!(differ.is_empty(), "{what}: these differ or are missing on one side: {differ:?}");
}

/// The images: every file but manifests.
fn images(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir).into_iter().filter(|(n, _)| !n.ends_with(".jsonl")).collect()
}

/// Small and fast, with noise (per-frame seeds) and every kind of output that is deterministic.
const RUN: &str = "-cell 60 70 80 90 90 90 -default_F 50 -N 3 -lambda 1 -distance 60 -detpixels 24 -pixel 0.3 \
     -phi 2 -osc 0.5 -phisteps 2 -mosaic 0.3 -mosaic_dom 2 -engine cpu -seed 11 -frames 7 -first_frame 3 \
     -floatfile f_##.bin -intfile i_##.img -pgmfile p_##.pgm -noisefile n_##.img -pngfile g_##.png";

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn shards_union_equals_one_process_and_merge_is_complete() {
    let whole = tempfile::tempdir().unwrap();
    ok(&run(whole.path(), &[words(RUN), words("-manifest whole.jsonl")].concat()));
    let sharded = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let out = ok(&run(sharded.path(), &[words(RUN), words(&format!("-shard {i}/3 -manifest run.jsonl"))].concat()));
        // 7 frames from 3: shard i renders positions i, i+3, i+6 → frames 3+i, ...
        let expected: Vec<u64> = (0..7).filter(|p| p % 3 == i).map(|p| p + 3).collect();
        let rendered: Vec<u64> = out.lines().filter_map(|l| l.strip_prefix("frame ")?.split(':').next()?.parse().ok()).collect();
        assert_eq!(rendered, expected, "{out}");
        assert!(out.contains(&format!("shard {i} of 3")), "{out}");
    }
    same(&images(sharded.path()), &images(whole.path()), "the shards' files against the one-process run's");
    assert_eq!(images(whole.path()).len(), 5 * 7, "5 outputs per frame: {:?}", images(whole.path()).keys());

    let merge = |names: &[&str], out: &str| {
        let mut args = words("manifest merge");
        args.extend(names.iter().map(|s| s.to_string()));
        args.extend(words(&format!("-o {out}")));
        run(sharded.path(), &args)
    };
    let shards = ["run.shard-2-of-3.jsonl", "run.shard-0-of-3.jsonl", "run.shard-1-of-3.jsonl"];
    ok(&merge(&shards, "merged.jsonl"));
    let merged = json_lines(&sharded.path().join("merged.jsonl"));
    let single = json_lines(&whole.path().join("whole.jsonl"));
    assert_eq!(merged.len(), 8);
    // the frames' lines equal the one-process run's: same files, sizes, checksums, seeds, stats
    assert_eq!(merged[1..], single[1..]);
    let frames: Vec<u64> = merged[1..].iter().map(|e| e["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, (3..10).collect::<Vec<_>>());
    assert_eq!(merged[0]["shard"], serde_json::json!({"index": 0, "count": 1}));
    assert_eq!(merged[0]["frames"], 7);
    assert_eq!(merged[0]["run"], single[0]["run"]);
    let e = &single[2];
    assert_eq!(e["position"], 1);
    assert_eq!(e["phi_start_deg"], 2.5);
    assert_eq!(e["files"].as_array().unwrap().len(), 5);
    assert_eq!(e["files"][0]["name"], "f_04.bin");
    assert_eq!(e["files"][0]["size"], 24 * 24 * 4);
    assert!(e["stats"]["sum"].as_f64().unwrap() > 0.0 && e["stats"]["overloads"].is_u64(), "{e}");

    // check: all files match; a damaged one is named
    let check = |dir: &Path| run(dir, &words("manifest check merged.jsonl"));
    assert!(ok(&check(sharded.path())).contains("35 files match"));
    std::fs::write(sharded.path().join("n_05.img"), b"damaged").unwrap();
    let o = check(sharded.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("n_05.img (frame 5): its size is 7 bytes"), "{}", stderr(&o));

    // merges refused, and the output not written
    let before = files(sharded.path());
    refused(sharded.path(), &merge(&shards[..2], "bad.jsonl"), &before, "2 of 7 frames missing: frame 4, 7");
    refused(sharded.path(), &merge(&[shards[0], shards[1], shards[0]], "bad.jsonl"), &before, "recorded more than once: frame 5");
    let foreign = tempfile::tempdir().unwrap();
    ok(&run(foreign.path(), &[words(&RUN.replace("-N 3", "-N 4")), words("-shard 1/3 -manifest run.jsonl")].concat()));
    std::fs::copy(foreign.path().join("run.shard-1-of-3.jsonl"), sharded.path().join("foreign.jsonl")).unwrap();
    let before = files(sharded.path());
    refused(sharded.path(), &merge(&[shards[0], "foreign.jsonl", shards[2]], "bad.jsonl"), &before, "are not shards of one run: their commands differ at word 11 ('3' and '4')");
    let o = run(sharded.path(), &words("manifest merge run.shard-0-of-3.jsonl"));
    assert_eq!(o.status.code(), Some(2));
    refused(sharded.path(), &o, &before, "manifest merge: name the merged manifest with -o (nanobragg manifest -h shows the usage)");
}

#[test]
fn more_shards_than_frames_leave_an_empty_shard_with_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let args = words("-cell 60 60 60 90 90 90 -default_F 5 -N 2 -detpixels 8 -engine cpu -frames 2 -floatfile f#.bin -intfile i#.img -nopgm -nonoise -shard 3/4");
    let out = ok(&run(dir.path(), &args));
    assert!(out.contains("shard 3 of 4: 0 of 2 frames"), "{out}");
    assert_eq!(files(dir.path()).keys().collect::<Vec<_>>(), ["manifest.shard-3-of-4.jsonl"]);
    assert_eq!(json_lines(&dir.path().join("manifest.shard-3-of-4.jsonl")).len(), 1);
}

#[test]
fn bad_shard_specs_and_launcher_variables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let before = files(dir.path());
    for (spec, expect) in [
        ("3/3", "-shard 3/3: the shard index must be from 0 to N-1 (here 0 to 2)"),
        ("0/0", "-shard 0/0: the shard index must be from 0 to N-1"),
        ("one/two", "-shard: value 'one/two' must be I/N"),
        ("1", "-shard: value '1' must be I/N"),
    ] {
        refused(dir.path(), &run(dir.path(), &[words(RUN), words(&format!("-shard {spec}"))].concat()), &before, expect);
    }
    for (env, expect) in [
        (&[("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "2")][..], "-shard auto: OMPI_COMM_WORLD_RANK=2 is not a rank of a launch of 2"),
        (&[("SLURM_ARRAY_TASK_ID", "1")], "-shard auto: SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT"),
        (&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2"), ("PMIX_RANK", "1")], "-shard auto: OMPI_COMM_WORLD_RANK=0 but PMIX_RANK=1"),
        (&[("PMIX_RANK", "0")], "PMIX_RANK is set but no size"),
    ] {
        refused(dir.path(), &run_with(dir.path(), &[words(RUN), words("-shard auto")].concat(), env), &before, expect);
    }
    let single = "-cell 60 60 60 90 90 90 -default_F 5 -N 2 -detpixels 8 -engine cpu -nopgm -nonoise -manifest m.jsonl -validate";
    refused(dir.path(), &run(dir.path(), &words(single)), &before, "-validate reports on one image: not with -shard, -manifest or -resume");
    // noise in shards needs one seed for all of them
    let unseeded = RUN.replace("-seed 11", "");
    refused(dir.path(), &run(dir.path(), &[words(&unseeded), words("-shard 0/2")].concat()), &before, "-shard 0/2: the noise images need the same -seed in every shard");
}

#[test]
fn shard_auto_reads_the_launcher_and_defaults_to_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run_with(dir.path(), &[words(RUN), words("-shard auto")].concat(), &[("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_MAX", "6"), ("SLURM_ARRAY_TASK_COUNT", "3")]));
    assert!(out.contains("shard 2 of 3: 2 of 7 frames (positions p with p mod 3 = 2: frames 5, 8)"), "{out}");
    let alone = tempfile::tempdir().unwrap();
    let o = run(alone.path(), &[words(RUN), words("-shard auto")].concat());
    ok(&o);
    assert!(stderr(&o).contains("-shard auto: no launcher variables found"), "{}", stderr(&o));
    assert_eq!(json_lines(&alone.path().join("manifest.jsonl")).len(), 8);
}

/// Runs `args` and kills the process (SIGKILL, as a scheduler's preemption ends) once its
/// manifest records `after` frames; returns how many it recorded.
fn kill_after(dir: &Path, args: &[String], manifest: &str, after: usize) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = || std::fs::read_to_string(dir.join(manifest)).map(|t| t.matches('\n').count()).unwrap_or(0);
    loop {
        if lines() > after || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
    lines().saturating_sub(1)
}

#[test]
fn a_killed_run_resumes_where_it_stopped() {
    // frames slow enough (tens of ms) for the kill to land mid-series
    let slow = "-cell 60 70 80 90 90 90 -default_F 50 -N 5 -lambda 1 -distance 60 -detpixels 96 -pixel 0.1 -oversample 2 \
         -phi 0 -osc 0.5 -phisteps 8 -mosaic 0.3 -mosaic_dom 4 -engine cpu -seed 3 -frames 12 \
         -floatfile f_##.bin -intfile i_##.img -nopgm -noisefile n_##.img -manifest m.jsonl";
    let whole = tempfile::tempdir().unwrap();
    ok(&run(whole.path(), &words(slow)));
    let dir = tempfile::tempdir().unwrap();
    let recorded = kill_after(dir.path(), &words(slow), "m.jsonl", 2);
    assert!((2..12).contains(&recorded), "the kill came after {recorded} frames: not mid-series");
    let out = ok(&run(dir.path(), &[words(slow), words("-resume")].concat()));
    assert!(out.contains(&format!("resuming: {recorded} frames already written intact, {} to render", 12 - recorded)), "{out}");
    let rendered = out.lines().filter(|l| l.starts_with("frame ")).count();
    assert_eq!(rendered, 12 - recorded);
    same(&images(dir.path()), &images(whole.path()), "the resumed run's files against an uninterrupted run's");
    // the manifest records every frame once, and the files it names are intact
    let lines = json_lines(&dir.path().join("m.jsonl"));
    let mut frames: Vec<u64> = lines[1..].iter().map(|e| e["frame"].as_u64().unwrap()).collect();
    frames.sort();
    assert_eq!(frames, (1..=12).collect::<Vec<_>>());
    ok(&run(dir.path(), &words("manifest check m.jsonl")));
    // a second resume has nothing left to do and changes nothing
    let before = files(dir.path());
    let out = ok(&run(dir.path(), &[words(slow), words("-resume")].concat()));
    assert_eq!(out.lines().filter(|l| l.starts_with("frame ")).count(), 0, "{out}");
    same(&files(dir.path()), &before, "a resume with nothing to render");
}

#[test]
fn resume_refuses_changed_files_and_other_runs() {
    let dir = tempfile::tempdir().unwrap();
    ok(&run(dir.path(), &[words(RUN), words("-manifest m.jsonl")].concat()));
    let resume = |extra: &str| run(dir.path(), &[words(RUN), words("-manifest m.jsonl -resume"), words(extra)].concat());
    // an intact run: nothing to render
    assert!(ok(&resume("")).contains("resuming: 7 frames already written intact, 0 to render"));
    // a file changed after the run wrote it
    let mut bytes = std::fs::read(dir.path().join("i_06.img")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.path().join("i_06.img"), &bytes).unwrap();
    let before = files(dir.path());
    refused(dir.path(), &resume(""), &before, "-resume: i_06.img (frame 6) does not match the manifest m.jsonl: its SHA-256 is");
    // another run's manifest
    let other = [words(&RUN.replace("-N 3", "-N 2")), words("-manifest m.jsonl -resume")].concat();
    refused(dir.path(), &run(dir.path(), &other), &before, "-resume: the manifest m.jsonl is of another run: its command differs");
    // a missing file is rendered again
    std::fs::write(dir.path().join("i_06.img"), {
        bytes[last] ^= 1;
        &bytes
    })
    .unwrap();
    std::fs::remove_file(dir.path().join("f_08.bin")).unwrap();
    let out = ok(&resume(""));
    assert!(out.contains("resuming: 6 frames already written intact, 1 to render"), "{out}");
    assert!(dir.path().join("f_08.bin").exists());
}

#[test]
fn gpu_index_picks_an_adapter_or_names_the_range() {
    if !gpu_support::gpu_available("gpu_index_picks_an_adapter_or_names_the_range") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = "-cell 60 60 60 90 90 90 -default_F 5 -N 2 -detpixels 8 -engine gpu -floatfile f.bin -intfile i.img -nopgm -nonoise";
    let before = files(dir.path());
    let o = run(dir.path(), &[words(base), words("-gpu_index 64")].concat());
    refused(dir.path(), &o, &before, "-gpu_index 64: there are");
    refused(dir.path(), &run(dir.path(), &[words(base), words("-gpu_index x")].concat()), &before, "-gpu_index: value 'x' must be an adapter number");
    // auto: local rank 5 modulo the adapters; with one adapter (lavapipe) that is adapter 0
    let first = ok(&run(dir.path(), &[words(base), words("-gpu_index 0")].concat()));
    let adapter = first.lines().find(|l| l.starts_with("GPU engine: ")).unwrap_or_else(|| panic!("{first}")).to_string();
    let adapters = stderr(&run(dir.path(), &[words(base), words("-gpu_index 64")].concat()));
    if adapters.contains("there are 1 adapter(s)") {
        let auto = ok(&run_with(dir.path(), &[words(base), words("-gpu_index auto")].concat(), &[("OMPI_COMM_WORLD_LOCAL_RANK", "5")]));
        assert!(auto.contains(&adapter), "{auto}");
    } else {
        gpu_support::shout(&format!("gpu_index: several adapters ({adapters}): auto's pick not checked"));
    }
}
