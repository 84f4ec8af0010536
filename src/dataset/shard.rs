//! Sharding a dataset over processes started by a scheduler or an MPI launcher: shard I of N
//! renders the frames at positions p (0-based, in the run's order) with p mod N = I. No
//! coordination between processes is needed, because a frame's image depends only on the run
//! and its number (`series::noise_seed`).
//!
//! `-shard auto` takes I and N from the variables the launchers set (docs/datasets.md):
//!
//! 1. the Slurm array dimension, `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (or
//!    `SLURM_ARRAY_TASK_MIN`/`MAX`/`STEP`): task index (ID − MIN)/STEP of COUNT;
//! 2. the process dimension, the first present of `OMPI_COMM_WORLD_RANK`/`SIZE` (Open MPI),
//!    `PMI_RANK`/`PMI_SIZE` (MPICH, Intel MPI), `PMIX_RANK` (size from a variable above or
//!    `PMIX_SIZE`; PMIx itself publishes the size only through its library), then
//!    `SLURM_PROCID`/`SLURM_NTASKS` inside an `srun` step (`SLURM_STEP_ID` set; in a batch
//!    script SLURM_NTASKS counts the allocation's tasks while one process runs the script).
//!    MPI variables come before Slurm's because `mpirun` inside a Slurm job leaves every rank
//!    with the job's `SLURM_PROCID`.
//!
//! Both present (an array of tasks each running `srun -n P`): shard = task·P + rank of
//! COUNT·P. None: shard 0 of 1, with a note.

use crate::cli::raw::{Misset, RawArgs};
pub use nanobragg_args::shard::{Shard, ShardSpec, local_rank, parse_spec, process_env};
use crate::dataset::series::Series;
use crate::error::{Error, Result};
use crate::io::manifest::{self, Entry, Header, ManifestWriter};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The shard this process renders, with a sentence saying where it came from.
pub fn resolve(spec: ShardSpec, env: &dyn Fn(&str) -> Option<String>) -> Result<(Shard, String)> {
    match spec {
        ShardSpec::Fixed(s) => Ok((s, "-shard".into())),
        ShardSpec::Auto => from_launcher(env),
    }
}

fn refuse(why: String) -> Error {
    Error::Usage(format!("-shard auto: {why}; give the shard explicitly with -shard I/N"))
}

fn number(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>> {
    match env(name) {
        None => Ok(None),
        Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| refuse(format!("{name}={v} is not a whole number"))),
    }
}

/// (index, count) of the Slurm array task, None outside an array.
fn array_dimension(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(u64, u64, String)>> {
    let Some(id) = number(env, "SLURM_ARRAY_TASK_ID")? else { return Ok(None) };
    let min = number(env, "SLURM_ARRAY_TASK_MIN")?;
    let max = number(env, "SLURM_ARRAY_TASK_MAX")?;
    let step = number(env, "SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let count = number(env, "SLURM_ARRAY_TASK_COUNT")?;
    let (index, count) = match (min, max, count) {
        (Some(min), Some(max), count) => {
            if id < min || id > max || (id - min) % step != 0 || max < min {
                return Err(refuse(format!("SLURM_ARRAY_TASK_ID={id} is not a task of the array {min}-{max}:{step}")));
            }
            let range = (max - min) / step + 1;
            if count.is_some_and(|c| c != range) {
                return Err(refuse(format!(
                    "SLURM_ARRAY_TASK_COUNT={} but the array {min}-{max}:{step} has {range} tasks (an array given as a list is not evenly spaced)",
                    count.unwrap_or(0)
                )));
            }
            ((id - min) / step, range)
        }
        (None, None, Some(count)) => (id, count),
        _ => return Err(refuse("SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN/MAX".into())),
    };
    if index >= count {
        return Err(refuse(format!("SLURM_ARRAY_TASK_ID={id} gives task {index} of an array of {count}")));
    }
    Ok(Some((index, count, format!("Slurm array task {index} of {count}"))))
}

/// (rank, size) of this process among those one launch started, None when not launched so.
fn process_dimension(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(u64, u64, String)>> {
    let mut mpi: Vec<(u64, Option<u64>, &str)> = Vec::new();
    for (rank, size) in [("OMPI_COMM_WORLD_RANK", Some("OMPI_COMM_WORLD_SIZE")), ("PMI_RANK", Some("PMI_SIZE")), ("PMIX_RANK", None)] {
        if let Some(r) = number(env, rank)? {
            let s = match size {
                Some(name) => Some(number(env, name)?.ok_or_else(|| refuse(format!("{rank} is set without {name}")))?),
                None => None,
            };
            mpi.push((r, s, rank));
        }
    }
    if let Some(&(rank, _, name)) = mpi.first() {
        // the variables of one launch describe the same process
        if let Some(&(other, _, other_name)) = mpi.iter().find(|(r, _, _)| *r != rank) {
            return Err(refuse(format!("{name}={rank} but {other_name}={other}")));
        }
        let size = match mpi.iter().find_map(|(_, s, _)| *s) {
            Some(s) => s,
            None => number(env, "PMIX_SIZE")?.ok_or_else(|| refuse("PMIX_RANK is set but no size (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE)".into()))?,
        };
        if size == 0 || rank >= size {
            return Err(refuse(format!("{name}={rank} is not a rank of a launch of {size}")));
        }
        return Ok(Some((rank, size, format!("{name} {rank} of {size}"))));
    }
    if env("SLURM_STEP_ID").is_some() || env("SLURM_STEPID").is_some() {
        if let Some(rank) = number(env, "SLURM_PROCID")? {
            let size = number(env, "SLURM_NTASKS")?.ok_or_else(|| refuse("SLURM_PROCID is set without SLURM_NTASKS".into()))?;
            if size == 0 || rank >= size {
                return Err(refuse(format!("SLURM_PROCID={rank} is not a task of SLURM_NTASKS={size}")));
            }
            return Ok(Some((rank, size, format!("Slurm task {rank} of {size}"))));
        }
    }
    Ok(None)
}

fn from_launcher(env: &dyn Fn(&str) -> Option<String>) -> Result<(Shard, String)> {
    let array = array_dimension(env)?;
    let process = process_dimension(env)?;
    Ok(match (array, process) {
        (None, None) => (Shard::WHOLE, "no launcher variables found (SLURM_ARRAY_TASK_ID, OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, SLURM_PROCID): the whole run".into()),
        (Some((i, n, why)), None) | (None, Some((i, n, why))) => (Shard { index: i, count: n }, why),
        (Some((a, an, awhy)), Some((p, pn, pwhy))) => {
            let count = an.checked_mul(pn).ok_or_else(|| refuse(format!("{an} array tasks times {pn} processes is too many shards")))?;
            (Shard { index: a * pn + p, count }, format!("{awhy}, {pwhy}"))
        }
    })
}

/// The manifest file a run writes (with -shard, -resume or -manifest), when none is named.
pub const DEFAULT_MANIFEST: &str = "manifest.jsonl";

/// What identifies a run besides its command words and seed, recorded in its manifest: the
/// input files it reads (flag, path), hashed when the manifest is written, and
/// `SOURCE_DATE_EPOCH` (the time CBF headers carry).
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub inputs: Vec<(String, PathBuf)>,
    pub source_date_epoch: Option<u64>,
}

/// The manifest a run with `-manifest`, `-shard` or `-resume` writes (None: none), its shard
/// resolved as `DatasetRun::new` resolves it.
pub fn manifest_path(raw: &RawArgs) -> Result<Option<PathBuf>> {
    if raw.manifest.is_none() && raw.shard.is_none() && !raw.resume {
        return Ok(None);
    }
    let shard = match raw.shard {
        Some(spec) => resolve(spec, &process_env)?.0,
        None => Shard::WHOLE,
    };
    Ok(Some(manifest::shard_name(&raw.manifest.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_MANIFEST)), shard)))
}

/// The seed an earlier run of this manifest drew from the clock, which `-resume` reuses (as
/// `-seed` takes it); None without `-resume`, without a manifest yet, or when every seed of
/// that run was typed. A manifest that cannot be read is left for the resume to refuse.
pub fn drawn_seed_to_reuse(raw: &RawArgs) -> Option<i64> {
    if !raw.resume {
        return None;
    }
    let path = manifest_path(raw).ok().flatten()?;
    manifest::read_header(&path)?.drawn_seed
}

/// What a run renders of its dataset and what it records: its shard, the frames a resumed
/// run skips, its manifest.
pub struct DatasetRun {
    pub shard: Shard,
    /// positions already written intact (-resume)
    done: HashSet<u64>,
    /// the manifest, written from the first frame on (None: no manifest asked for)
    pub manifest: Option<PendingManifest>,
}

impl DatasetRun {
    /// The run as the command line asks (every check done here is before any render: a bad
    /// shard, launcher variables that disagree, a resume over files that do not match, a
    /// resume of another run). `words`: the command line as typed; `time_seed`: the clock seed
    /// a run without -seed gets; `identity`: what else makes the run this run (its inputs).
    pub fn new(raw: &RawArgs, words: &[String], series: &Series, time_seed: i64, identity: &Identity) -> Result<DatasetRun> {
        let (shard, source) = match raw.shard {
            Some(spec) => resolve(spec, &process_env)?,
            None => (Shard::WHOLE, String::new()),
        };
        if raw.shard == Some(ShardSpec::Auto) && source.starts_with("no launcher") {
            log::info!("-shard auto: {source}");
        }
        if shard.count > 1 {
            // each process would take its own seed from the clock
            let noise = raw.calculate_noise || raw.cbffile.is_some();
            if noise && raw.seed == time_seed {
                return Err(Error::Usage(format!("-shard {shard}: the noise images need the same -seed in every shard; add -seed N")));
            }
            if raw.misset == Misset::Random && raw.misset_seed == time_seed {
                return Err(Error::Usage(format!("-shard {shard}: -misset random needs the same -misset_seed in every shard; add -misset_seed N")));
            }
        }
        let wanted = raw.manifest.is_some() || raw.shard.is_some() || raw.resume;
        // a run with a manifest goes through the dataset's writer, which has no one-image reports
        let single = [("-trace_pixel", raw.trace_pixel.is_some()), ("-validate", raw.validate.is_some()), ("-preview", raw.preview)];
        if let (true, Some((flag, _))) = (wanted, single.iter().find(|(_, on)| *on)) {
            return Err(Error::Usage(format!("{flag} reports on one image: not with -shard, -manifest or -resume (run the frame alone)")));
        }
        let mut run = DatasetRun { shard, done: HashSet::new(), manifest: None };
        if !wanted {
            return Ok(run);
        }
        let path = manifest::shard_name(&raw.manifest.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_MANIFEST)), shard);
        let inputs = identity.inputs.iter().map(|(input, p)| manifest::InputRecord::of(input, p)).collect::<Result<Vec<_>>>()?;
        let drawn = raw.seed == time_seed || (raw.misset == Misset::Random && raw.misset_seed == time_seed);
        let header = Header {
            nanobragg_manifest: manifest::FORMAT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            command: words.to_vec(),
            run: manifest::run_words(words),
            shard,
            first_frame: series.first,
            frames: series.count,
            shard_frames: shard.frames_of(series.count),
            seed: -raw.seed,
            drawn_seed: drawn.then_some(-time_seed),
            inputs,
            source_date_epoch: identity.source_date_epoch,
        };
        let kept = if raw.resume { resumable(&path, &header)? } else { Vec::new() };
        run.done = kept.iter().map(|e| e.position).collect();
        run.manifest = Some(PendingManifest { path, header, kept, writer: None });
        Ok(run)
    }

    /// Whether this process renders the frame at `position`.
    pub fn renders(&self, position: u64) -> bool {
        self.shard.takes(position) && !self.done.contains(&position)
    }

    /// Whether a resume skips some of the shard's frames (written intact before).
    pub fn resumes(&self) -> bool {
        !self.done.is_empty()
    }

    /// How many of the run's `total` frames this process renders.
    pub fn to_render(&self, total: u64) -> u64 {
        self.shard.frames_of(total).saturating_sub(self.done.len() as u64)
    }

    /// The report line: which shard, how many frames, what a resume skips.
    pub fn describe(&self, series: &Series) -> Option<String> {
        let m = self.manifest.as_ref()?;
        let mut line = format!("manifest {}", m.path.display());
        if self.shard.count > 1 {
            // the shard's first three positions: index, index + count, index + 2·count
            let positions = (0..3u64).filter_map(|j| self.shard.count.checked_mul(j)?.checked_add(self.shard.index)).filter(|&p| p < series.count);
            let frames: Vec<String> = positions.map(|p| (series.first + p).to_string()).collect();
            line = format!(
                "shard {} of {}: {} of {} frames (positions p with p mod {} = {}: frames {}{}), {line}",
                self.shard.index,
                self.shard.count,
                self.shard.frames_of(series.count),
                series.count,
                self.shard.count,
                self.shard.index,
                frames.join(", "),
                if self.shard.frames_of(series.count) > 3 { ", ..." } else { "" }
            );
        }
        if !self.done.is_empty() {
            line.push_str(&format!("; resuming: {} frames already written intact, {} to render", self.done.len(), self.to_render(series.count)));
        }
        Some(line)
    }
}

/// A manifest put in place when the first frame is written (a run refused or stopped before
/// that leaves the earlier manifest as it was), or at the end of a run that wrote no frame.
pub struct PendingManifest {
    path: PathBuf,
    header: Header,
    kept: Vec<Entry>,
    writer: Option<ManifestWriter>,
}

impl PendingManifest {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder the manifest's names are relative to.
    pub fn folder(&self) -> PathBuf {
        manifest::folder_of(&self.path)
    }

    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(ManifestWriter::create(&self.path, &self.header, &self.kept)?);
        }
        self.writer.as_mut().expect("created above").append(entry)
    }

    /// After a run that completed: the manifest exists even when the shard had no frame to
    /// render (more shards than frames, or all written before a resume).
    pub fn finish(self) -> Result<()> {
        if self.writer.is_none() {
            ManifestWriter::create(&self.path, &self.header, &self.kept)?;
        }
        Ok(())
    }
}

/// The entries of an earlier manifest of this run whose files are all intact. Refused: a
/// manifest of another run, and a file present but not as recorded (changed or damaged since:
/// skipping it would keep a wrong file, rendering it would hide that). A frame with a file
/// missing is rendered again.
fn resumable(path: &Path, header: &Header) -> Result<Vec<Entry>> {
    if !path.exists() {
        log::info!("-resume: no manifest {} yet, rendering every frame of the shard", path.display());
        return Ok(Vec::new());
    }
    let old = manifest::read(path)?;
    let o = &old.header;
    use manifest::Difference as D;
    let why = match manifest::difference(o, header) {
        Some(D::Word { at, a, b }) => Some(format!(
            "its command differs at word {at} ('{a}' in the manifest, '{b}' in this run; -shard, -manifest, -resume and -gpu_index aside)"
        )),
        Some(D::Seed { a, b }) => Some(format!("its seed is {a}, this run's {b} (give the same -seed)")),
        Some(D::Frames { a, b }) => Some(format!("its frames differ ({} from {} in the manifest, {} from {} in this run)", a.1, a.0, b.1, b.0)),
        Some(D::Input { input, name, a: Some((sa, ha)), b: Some((sb, hb)) }) => Some(format!(
            "the {input} input {name} changed since (now {sb} bytes, SHA-256 {hb}; the manifest records {sa} bytes, {ha})"
        )),
        Some(D::Input { input, name, a: Some(_), b: None }) => Some(format!("its run read {input} {name}, this run does not")),
        Some(D::Input { input, name, .. }) => Some(format!("this run reads {input} {name}, the manifest's run did not")),
        Some(D::Epoch { a, b }) => Some(format!(
            "its SOURCE_DATE_EPOCH is {}, this run's {} (the time CBF headers carry)",
            manifest::epoch_text(a),
            manifest::epoch_text(b)
        )),
        None if o.shard != header.shard => Some(format!("it is shard {}, this run shard {}", o.shard, header.shard)),
        None => None,
    };
    if let Some(why) = why {
        return Err(Error::Usage(format!("-resume: the manifest {} is of another run: {why}; nothing was rendered", path.display())));
    }
    let base = manifest::folder_of(path);
    let mut kept = Vec::new();
    let mut positions = HashSet::new();
    for e in old.entries {
        let mut intact = true;
        for f in &e.files {
            match f.mismatch(&base) {
                Ok(None) => {}
                Ok(Some(why)) => {
                    return Err(Error::Usage(format!(
                        "-resume: {} (frame {}) does not match the manifest {}: {why}; nothing was rendered: \
                         remove the file to render the frame again, or run without -resume to render every frame",
                        f.name,
                        e.frame,
                        path.display()
                    )));
                }
                Err(_) => intact = false,
            }
        }
        if intact && positions.insert(e.position) {
            kept.push(e);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn auto(vars: &[(&str, &str)]) -> Result<Shard> {
        resolve(ShardSpec::Auto, &with(vars)).map(|(s, _)| s)
    }

    #[test]
    fn positions_modulo_the_count() {
        let s = Shard { index: 1, count: 3 };
        let taken: Vec<u64> = (0..8).filter(|&p| s.takes(p)).collect();
        assert_eq!(taken, [1, 4, 7]);
        assert_eq!(s.frames_of(8), 3);
        assert_eq!(Shard { index: 4, count: 5 }.frames_of(3), 0);
        assert_eq!(Shard::WHOLE.frames_of(7), 7);
    }

    #[test]
    fn parses_specs_and_refuses_bad_ones() {
        assert_eq!(parse_spec("2/3").unwrap(), ShardSpec::Fixed(Shard { index: 2, count: 3 }));
        assert_eq!(parse_spec("auto").unwrap(), ShardSpec::Auto);
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", "1/2/3", ""] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn launcher_variables() {
        assert_eq!(auto(&[]).unwrap(), Shard::WHOLE);
        assert_eq!(auto(&[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")]).unwrap(), Shard { index: 2, count: 3 });
        // an array numbered 5-9:2 is tasks 5, 7, 9
        let a = [("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_MAX", "9"), ("SLURM_ARRAY_TASK_STEP", "2")];
        assert_eq!(auto(&a).unwrap(), Shard { index: 1, count: 3 });
        assert_eq!(auto(&[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"), ("PMIX_RANK", "1")]).unwrap(), Shard { index: 1, count: 2 });
        assert_eq!(auto(&[("PMI_RANK", "3"), ("PMI_SIZE", "4")]).unwrap(), Shard { index: 3, count: 4 });
        assert_eq!(auto(&[("PMIX_RANK", "1"), ("PMIX_SIZE", "2")]).unwrap(), Shard { index: 1, count: 2 });
        let step = [("SLURM_STEP_ID", "0"), ("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")];
        assert_eq!(auto(&step).unwrap(), Shard { index: 1, count: 2 });
        // a batch script: SLURM_PROCID/NTASKS without a step are not a launch of several
        assert_eq!(auto(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "4")]).unwrap(), Shard::WHOLE);
        // mpirun inside a Slurm step: MPI's rank wins
        let nested = [("SLURM_STEP_ID", "0"), ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1"), ("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4")];
        assert_eq!(auto(&nested).unwrap(), Shard { index: 3, count: 4 });
        // array of 3 tasks, each srun -n 2
        let both = [("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3"), ("SLURM_STEP_ID", "0"), ("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")];
        assert_eq!(auto(&both).unwrap(), Shard { index: 5, count: 6 });
    }

    #[test]
    fn inconsistent_variables_are_refused() {
        for vars in [
            &[("SLURM_ARRAY_TASK_ID", "1")][..],
            &[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "3")],
            &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "2"), ("SLURM_ARRAY_TASK_COUNT", "2")],
            &[("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "2")],
            &[("OMPI_COMM_WORLD_RANK", "1")],
            &[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"), ("PMI_RANK", "0"), ("PMI_SIZE", "2")],
            &[("PMIX_RANK", "0")],
            &[("PMI_RANK", "x"), ("PMI_SIZE", "2")],
        ] {
            let e = auto(vars).unwrap_err().to_string();
            assert!(e.starts_with("-shard auto: ") && e.contains("-shard I/N"), "{vars:?}: {e}");
        }
    }

    #[test]
    fn local_rank_order() {
        assert_eq!(local_rank(&with(&[])).unwrap().0, 0);
        assert_eq!(local_rank(&with(&[("SLURM_LOCALID", "2"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")])).unwrap().0, 1);
        assert!(local_rank(&with(&[("SLURM_LOCALID", "x")])).is_err());
    }
}
