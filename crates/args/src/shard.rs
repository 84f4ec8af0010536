//! Which shard of a dataset a process renders, as the command line types it (`-shard I/N` or
//! `auto`), and the launcher's variables `-shard auto` and `-gpu_index auto` read. What a shard
//! renders and records (the run, the manifest) is the program's (`dataset::shard`).

use crate::error::{Error, Result};

/// `-shard` as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardSpec {
    Fixed(Shard),
    Auto,
}

/// Shard `index` of `count`: the frames at positions p with p mod count = index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole run, unsharded.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the frame at `position` (0-based, in the run's order) is this shard's.
    pub fn takes(&self, position: u64) -> bool {
        position % self.count == self.index
    }

    /// The positions of `total` this shard renders, in order (stepped, not filtered, so that
    /// a shard of a huge run costs only its own frames).
    pub fn positions(&self, total: u64) -> impl Iterator<Item = u64> + use<> {
        (self.index..total).step_by(usize::try_from(self.count).unwrap_or(usize::MAX))
    }

    /// How many of `total` positions this shard renders.
    pub fn frames_of(&self, total: u64) -> u64 {
        if total > self.index { (total - self.index).div_ceil(self.count) } else { 0 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `-shard I/N` or `-shard auto`.
pub fn parse_spec(v: &str) -> Result<ShardSpec> {
    if v == "auto" {
        return Ok(ShardSpec::Auto);
    }
    let bad = || Error::Usage(format!("-shard: value '{v}' must be I/N (shard I of N, 0 <= I < N, e.g. 0/4) or auto"));
    let (i, n) = v.split_once('/').ok_or_else(bad)?;
    let (index, count) = (i.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
    if count == 0 || index >= count {
        return Err(Error::Usage(format!("-shard {v}: the shard index must be from 0 to N-1 (here 0 to {})", count.saturating_sub(1))));
    }
    Ok(ShardSpec::Fixed(Shard { index, count }))
}

/// The variables of the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The process's rank among those of its launch on this node (for `-gpu_index auto`): the
/// first present of `OMPI_COMM_WORLD_LOCAL_RANK`, `MPI_LOCALRANKID` (MPICH, Intel MPI),
/// `PALS_LOCAL_RANKID` (Cray PALS), `SLURM_LOCALID`; 0 when none is set.
pub fn local_rank(env: &dyn Fn(&str) -> Option<String>) -> Result<(u64, String)> {
    for name in ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PALS_LOCAL_RANKID", "SLURM_LOCALID"] {
        if let Some(v) = env(name) {
            let rank = v.trim().parse::<u64>().map_err(|_| Error::Usage(format!("-gpu_index auto: {name}={v} is not a whole number")))?;
            return Ok((rank, format!("local rank {rank} from {name}")));
        }
    }
    Ok((0, "no local rank variable set, local rank 0".into()))
}

