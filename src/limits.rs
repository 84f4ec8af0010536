//! How much memory a run may use, and the refusal when a job would not fit. The check runs
//! before anything large is allocated, so an absurd request ends with a message instead of an
//! allocation failure (which aborts the process) or a machine driven into swap.

use crate::error::{Error, Result};

/// Where Linux reports the memory it can hand out without swapping.
const MEMINFO: &str = "/proc/meminfo";
/// cgroup v2 limit and usage of this process's group (containers, CI runners).
const CGROUP_MAX: &str = "/sys/fs/cgroup/memory.max";
const CGROUP_CURRENT: &str = "/sys/fs/cgroup/memory.current";

/// Bytes this process can still allocate: the smaller of MemAvailable and the room left under
/// the cgroup limit. `None` when neither is known (not Linux), and callers fall back to their
/// fixed caps.
pub fn available_bytes() -> Option<u64> {
    let system = std::fs::read_to_string(MEMINFO).ok().and_then(|t| mem_available(&t));
    let group = cgroup_room(
        std::fs::read_to_string(CGROUP_MAX).ok().as_deref(),
        std::fs::read_to_string(CGROUP_CURRENT).ok().as_deref(),
    );
    match (system, group) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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

/// Room under a cgroup v2 limit; `None` when there is no limit ("max") or it cannot be read.
fn cgroup_room(max: Option<&str>, current: Option<&str>) -> Option<u64> {
    let max: u64 = max?.trim().parse().ok()?;
    let current: u64 = current.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// A byte count for people: "512 B", "1.5 MiB", "3.0 GiB", "2.1 TiB" …
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Refuses `what` when its estimated `needed` bytes exceed the available memory. `needed` is
/// an f64 so that absurd requests (beyond u64) are still described rather than overflowing.
pub fn check_fits(what: &str, needed: f64) -> Result<()> {
    check_fits_in(what, needed, available_bytes())
}

fn check_fits_in(what: &str, needed: f64, available: Option<u64>) -> Result<()> {
    match available {
        Some(avail) if needed > avail as f64 => Err(Error::Resource(format!(
            "{what} needs about {} of memory, but only {} is available",
            human_bytes(needed),
            human_bytes(avail as f64)
        ))),
        _ => Ok(()),
    }
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
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(3.0 * (1u64 << 30) as f64), "3.0 GiB");
        assert_eq!(human_bytes(2f64.powi(60)), "1024.0 PiB");
    }

    #[test]
    fn refusal_names_needed_and_available() {
        let e = check_fits_in("a 10 × 10 detector", 4096.0, Some(1024)).unwrap_err().to_string();
        assert!(e.contains("a 10 × 10 detector") && e.contains("4.0 KiB") && e.contains("1.0 KiB"), "{e}");
        assert!(check_fits_in("x", 1024.0, Some(1024)).is_ok());
        assert!(check_fits_in("x", f64::INFINITY, None).is_ok());
        assert!(check_fits_in("x", f64::INFINITY, Some(u64::MAX)).is_err());
    }

    #[test]
    fn this_machine_reports_memory() {
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
        }
    }
}
