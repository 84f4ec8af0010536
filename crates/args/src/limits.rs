//! How much memory a run may use, and the refusal when a job would not fit. The check runs
//! before anything large is allocated, so an absurd request ends with a message instead of an
//! allocation failure (which aborts the process) or a machine driven into swap.

use crate::error::Result;
pub use nanobragg_core::budget::{Available, human_bytes};

/// Where Linux reports the memory it can hand out without swapping.
const MEMINFO: &str = "/proc/meminfo";
/// Which cgroups this process is in, and where the hierarchies are mounted.
const SELF_CGROUP: &str = "/proc/self/cgroup";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// This process's current address-space size (`VmSize:`), for the room under `RLIMIT_AS`.
const SELF_STATUS: &str = "/proc/self/status";
/// Address space held back under `RLIMIT_AS` for what the estimates do not count: the worker
/// threads' stacks and malloc arenas, code, the allocator's slack. Measured (docs/robustness.md):
/// under `ulimit -v 800000` the largest CPU run that completes peaks at ~150 MiB more address
/// space than its resident memory. (malloc falls back to an existing arena, and the GPU
/// probe to the CPU engine, when a limit leaves no room for a new one.)
const ADDRESS_SPACE_RESERVE: u64 = 192 << 20;

/// What this process can still allocate (see `available_now`), read once per process: a run
/// checks every frame and every shot against it (a list of 10⁶ shots resolves 10⁶ experiments)
/// and the files under /proc and /sys it comes from cost system time on every read. The first
/// check comes before anything large is allocated, so the figure is the run's own start.
pub fn available() -> Option<Available> {
    static ONCE: std::sync::OnceLock<Option<Available>> = std::sync::OnceLock::new();
    *ONCE.get_or_init(available_now)
}

/// What this process can still allocate now: the smallest of MemAvailable, the room left under
/// the cgroup limits (v2 `memory.max` or v1 `memory.limit_in_bytes`, of this process's group
/// and each group above it), and the address space left under `RLIMIT_AS` (`ulimit -v`). `None`
/// when none is known (not Linux), and callers fall back to their fixed caps.
pub fn available_now() -> Option<Available> {
    let system = std::fs::read_to_string(MEMINFO).ok().and_then(|t| mem_available(&t));
    let group = std::fs::read_to_string(SELF_CGROUP).ok().and_then(|t| cgroup_limit_room(&t));
    let address_space = address_space_room();
    [
        system.map(|bytes| Available { bytes, limited_by: "free memory" }),
        group.map(|bytes| Available { bytes, limited_by: "room under the cgroup memory limit" }),
        address_space.map(|bytes| Available { bytes, limited_by: "address space left under ulimit -v" }),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|a| a.bytes)
}

/// Bytes this process can still allocate (see `available`).
pub fn available_bytes() -> Option<u64> {
    available().map(|a| a.bytes)
}

/// Room under `RLIMIT_AS`, less what the process already maps and a reserve for threads and
/// drivers; `None` without a limit.
fn address_space_room() -> Option<u64> {
    let limit = address_space_limit()?;
    let used = std::fs::read_to_string(SELF_STATUS).ok().and_then(|t| status_kib(&t, "VmSize:")).unwrap_or(0);
    Some(limit.saturating_sub(used).saturating_sub(ADDRESS_SPACE_RESERVE))
}

#[cfg(unix)]
fn address_space_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
    Some(lim.rlim_cur as u64)
}
#[cfg(not(unix))]
fn address_space_limit() -> Option<u64> {
    None
}

/// A `Name:   1234 kB` line of /proc/self/status, in bytes.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The least room under any memory limit of this process's cgroups (/proc/self/cgroup):
/// cgroup v2 (`0::/path`) and v1 (`N:memory:/path`), each group and its ancestors. A path that
/// is not visible (a container's namespace) falls back to the hierarchy's root.
fn cgroup_limit_room(self_cgroup: &str) -> Option<u64> {
    let read = |p: &std::path::Path| std::fs::read_to_string(p).ok();
    let mut room: Option<u64> = None;
    for line in self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or("/"));
        let (root, max_file, current_file) = if controllers.is_empty() {
            (std::path::PathBuf::from(CGROUP_ROOT), "memory.max", "memory.current")
        } else if controllers.split(',').any(|c| c == "memory") {
            (std::path::Path::new(CGROUP_ROOT).join("memory"), "memory.limit_in_bytes", "memory.usage_in_bytes")
        } else {
            continue;
        };
        let mut dir = root.join(path.trim_start_matches('/'));
        if !dir.is_dir() {
            dir = root.clone();
        }
        loop {
            if let Some(r) = cgroup_room(read(&dir.join(max_file)).as_deref(), read(&dir.join(current_file)).as_deref()) {
                room = Some(room.map_or(r, |old| old.min(r)));
            }
            if dir == root || !dir.pop() {
                break;
            }
        }
    }
    room
}

/// The `MemAvailable:` line of /proc/meminfo, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    let unit = match fields.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(unit)
}

/// Room under a cgroup limit; `None` when there is no limit (v2 "max", or v1's huge "no
/// limit" value) or it cannot be read.
fn cgroup_room(max: Option<&str>, current: Option<&str>) -> Option<u64> {
    let max: u64 = max?.trim().parse().ok()?;
    if max >= 1 << 62 {
        return None;
    }
    let current: u64 = current.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// Refuses `what` when its estimated `needed` bytes exceed the memory available now.
pub fn check_fits(what: &str, needed: f64) -> Result<()> {
    nanobragg_core::budget::check_fits(what, needed, available())
}

/// The budget of a run on `engine`: the memory available now and the engine's bytes per pixel.
pub fn budget(engine: nanobragg_gpu::EngineChoice) -> nanobragg_core::budget::Budget {
    let bytes_per_pixel = match engine {
        nanobragg_gpu::EngineChoice::Gpu => nanobragg_core::model::BYTES_PER_PIXEL_GPU,
        _ => nanobragg_core::model::BYTES_PER_PIXEL,
    };
    nanobragg_core::budget::Budget { available: available(), bytes_per_pixel }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available_in_bytes() {
        let text = "MemTotal:       24684092 kB\nMemFree:  1 kB\nMemAvailable:   23228344 kB\n";
        assert_eq!(mem_available(text), Some(23228344 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(mem_available("MemAvailable: 7 MB\n"), None);
    }

    #[test]
    fn cgroup_room_is_limit_minus_usage() {
        assert_eq!(cgroup_room(Some("1000\n"), Some("400\n")), Some(600));
        assert_eq!(cgroup_room(Some("max\n"), Some("400\n")), None);
        assert_eq!(cgroup_room(Some("100"), Some("400")), Some(0));
        assert_eq!(cgroup_room(None, Some("1")), None);
        assert_eq!(cgroup_room(Some("9223372036854771712\n"), Some("5\n")), None, "v1: no limit");
    }

    #[test]
    fn reads_status_sizes() {
        let status = "Name:\tnanobragg\nVmPeak:\t  20 kB\nVmSize:\t   123456 kB\n";
        assert_eq!(status_kib(status, "VmSize:"), Some(123456 * 1024));
        assert_eq!(status_kib(status, "VmRSS:"), None);
    }

    #[test]
    fn a_cgroup_without_a_visible_limit_gives_no_room() {
        // groups that do not exist under /sys/fs/cgroup fall back to the roots, which carry no
        // limit files in v2 and no limit on an unlimited machine; either way no panic
        let _ = cgroup_limit_room("0::/no/such/group\n4:memory:/no/such/group\n1:cpu:/\n");
        assert_eq!(cgroup_limit_room("1:cpu,cpuacct:/\n"), None);
    }

    #[test]
    fn this_machine_reports_memory() {
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
            assert!(available_now().is_some_and(|a| a.bytes > 0));
        }
    }

    #[test]
    fn limits_are_read_once_per_process() {
        assert_eq!(available(), available(), "the figure of the first read is kept");
    }
}
