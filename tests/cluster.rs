//! Sharding under real launchers: Open MPI's `mpirun -np 2` and a single-node Slurm started
//! and stopped by the test itself (`tests/cluster/slurm_up.sh`, `slurm_down.sh`), running an
//! `sbatch --wait --array=0-2` job and an `srun -n 2` step, each process with `-shard auto`,
//! for a rotation series and for a shot list. Each time the union of the shards' files is the one-process run's, byte for byte, and the
//! shards' manifests merge into a complete one.
//!
//! Without the launchers (or, for Slurm, without root) the tests skip loudly; under `CI` or
//! `NANOBRAGG_REQUIRE_CLUSTER=1` they fail instead.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn required() -> bool {
    ["CI", "NANOBRAGG_REQUIRE_CLUSTER"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false")))
}

/// Whether `program` runs here; if not, skips loudly or fails when required.
fn have(test: &str, program: &str, why: &str) -> bool {
    let found = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success());
    if !found {
        let msg = format!("{test}: {program} not found ({why}; .ci/run installs it)");
        assert!(!required(), "{msg}, and CI or NANOBRAGG_REQUIRE_CLUSTER is set");
        common::shout(&format!("{msg}: SKIPPED (set NANOBRAGG_REQUIRE_CLUSTER=1 to make this a failure)"));
    }
    found
}

const NB: &str = env!("CARGO_BIN_EXE_nanobragg");

/// A 6-frame series with noise (per-frame seeds).
const RUN: &str = "-cell 60 70 80 90 90 90 -default_F 50 -N 3 -lambda 1 -distance 60 -detpixels 32 -pixel 0.3 \
     -phi 1 -osc 0.5 -phisteps 2 -mosaic 0.3 -mosaic_dom 2 -engine cpu -seed 5 -frames 6 -quiet \
     -floatfile f_#.bin -intfile i_#.img -nopgm -noisefile n_#.img -manifest run.jsonl";

/// A 6-shot list (per-shot overrides, one random misset, per-shot seeds).
const SHOTS: &str = "-cell 60 70 80 90 90 90 -default_F 50 -N 3 -lambda 1 -distance 60 -detpixels 32 -pixel 0.3 \
     -mosaic 0.3 -mosaic_dom 2 -engine cpu -seed 5 -shots stills.jsonl -quiet \
     -floatfile s_#.bin -intfile si_#.img -nopgm -noisefile sn_#.img -manifest run.jsonl";

const STILLS: &str = "{\"misset\": [10, 20, 30]}\n{\"N\": 4, \"fluence\": 2e22}\n\
     {\"misset\": \"random\", \"misset_seed\": 3}\n{}\n{\"distance\": 70, \"phi\": 5}\n{\"mosaic_dom\": 3}\n";

/// The two runs every launcher renders: the series and the shot list.
const RUNS: [&str; 2] = [RUN, SHOTS];

/// A folder for one run, holding the shot list the `SHOTS` run reads.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stills.jsonl"), STILLS).unwrap();
    dir
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed: {}\n{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
}

/// The run's files (not manifests, not launcher logs).
fn images(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| !n.ends_with(".jsonl") && !n.ends_with(".log"))
        .map(|(n, p)| (n, std::fs::read(p).unwrap()))
        .collect()
}

/// The one-process run, to compare with.
fn reference(run: &str) -> tempfile::TempDir {
    let dir = folder();
    let o = Command::new(NB).args(run.split_whitespace()).current_dir(dir.path()).output().unwrap();
    ok(&o, "the one-process run");
    dir
}

/// The shards' files equal `reference`'s, and their `count` manifests merge into a complete one.
fn check_shards(dir: &Path, reference: &Path, count: u64) {
    assert_eq!(images(dir).keys().collect::<Vec<_>>(), images(reference).keys().collect::<Vec<_>>());
    assert_eq!(images(dir).len(), 18, "6 frames of 3 files each");
    assert!(images(dir) == images(reference), "the shards' files differ from the one-process run's");
    let mut args = vec!["manifest".to_string(), "merge".into()];
    args.extend((0..count).map(|i| format!("run.shard-{i}-of-{count}.jsonl")));
    args.extend(["-o".into(), "merged.jsonl".into()]);
    ok(&Command::new(NB).args(&args).current_dir(dir).output().unwrap(), "manifest merge");
    let merged = std::fs::read_to_string(dir.join("merged.jsonl")).unwrap();
    let frames: Vec<u64> = merged
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [1, 2, 3, 4, 5, 6]);
    ok(&Command::new(NB).args(["manifest", "check", "merged.jsonl"]).current_dir(dir).output().unwrap(), "manifest check");
}

#[test]
fn mpirun_two_ranks_equal_one_process() {
    let test = "mpirun_two_ranks_equal_one_process";
    if !have(test, "mpirun", "Debian's openmpi-bin") {
        return;
    }
    for run in RUNS {
        let reference = reference(run);
        let dir = folder();
        let mut cmd = Command::new("mpirun");
        cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", "2", NB]).args(run.split_whitespace()).arg("-shard").arg("auto");
        let o = cmd.current_dir(dir.path()).output().unwrap();
        ok(&o, "mpirun -np 2");
        check_shards(dir.path(), reference.path(), 2);
    }
}

/// A Slurm started for the test, stopped (all its daemons) when dropped, also when the test
/// fails half-way.
struct Slurm {
    dir: PathBuf,
    conf: PathBuf,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster").join(name)
}

impl Slurm {
    fn start() -> Slurm {
        // a folder of its own and ports of its own, so that it never meets another Slurm here
        let dir = std::env::temp_dir().join(format!("nanobragg-slurm-{}", std::process::id()));
        let port = 20000 + (std::process::id() % 20000) as u16 * 2;
        let slurm = Slurm { conf: dir.join("slurm.conf"), dir };
        let o = Command::new("bash").arg(script("slurm_up.sh")).env("SLURM_DIR", &slurm.dir).env("SLURM_PORT", port.to_string()).output().unwrap();
        // on failure `slurm` is dropped by the panic, which stops whatever did start
        ok(&o, "tests/cluster/slurm_up.sh");
        slurm
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        for v in ["SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_ID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"] {
            c.env_remove(v);
        }
        c
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let stopped = Command::new("bash").arg(script("slurm_down.sh")).env("SLURM_DIR", &self.dir).status();
        if !stopped.is_ok_and(|s| s.success()) {
            common::shout(&format!("slurm_down.sh failed for {}: daemons may be left running", self.dir.display()));
        }
    }
}

#[test]
fn slurm_array_and_srun_equal_one_process() {
    let test = "slurm_array_and_srun_equal_one_process";
    if !(have(test, "slurmctld", "Debian's slurmctld (slurm-wlm)") && have(test, "slurmd", "Debian's slurmd (slurm-wlm)") && have(test, "munged", "Debian's munge")) {
        return;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        assert!(!required(), "{test}: the test's Slurm runs its daemons as root, and CI or NANOBRAGG_REQUIRE_CLUSTER is set");
        common::shout(&format!("{test}: SKIPPED, not root (the test's single-node Slurm runs slurmd as root)"));
        return;
    }
    let slurm = Slurm::start();
    for run in RUNS {
        let reference = reference(run);

        // an array of 3 tasks, each one process with -shard auto (SLURM_ARRAY_TASK_ID of 3)
        let array = folder();
        let wrap = format!("{NB} {run} -shard auto");
        let o = slurm
            .command("sbatch")
            .args(["--wait", "--array=0-2", "--overcommit", "-o", "slurm-%a.log", "--wrap", &wrap])
            .current_dir(array.path())
            .output()
            .unwrap();
        if !o.status.success() {
            let logs: Vec<String> = (0..3).map(|i| std::fs::read_to_string(array.path().join(format!("slurm-{i}.log"))).unwrap_or_default()).collect();
            panic!("sbatch --wait --array=0-2 failed: {}\n{}", String::from_utf8_lossy(&o.stderr), logs.join("\n"));
        }
        check_shards(array.path(), reference.path(), 3);

        // one step of 2 tasks (SLURM_PROCID of SLURM_NTASKS)
        let step = folder();
        let o = slurm
            .command("srun")
            .args(["-n", "2", "--overcommit", NB])
            .args(run.split_whitespace())
            .args(["-shard", "auto"])
            .current_dir(step.path())
            .output()
            .unwrap();
        ok(&o, "srun -n 2");
        check_shards(step.path(), reference.path(), 2);
    }
    drop(slurm);
}
