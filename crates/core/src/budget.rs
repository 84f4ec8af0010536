//! How much memory a run may use, and the refusal when a job would not fit: the check runs
//! before anything large is allocated, so an absurd request ends with a message instead of an
//! allocation failure. The core does not look at the machine: whoever runs it says what is
//! available (the command line reads `/proc` and the cgroup limits once per run).

use crate::error::{Error, Result};

/// Memory this process can still use, and what limits it (for the refusal message).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Available {
    pub bytes: u64,
    pub limited_by: &'static str,
}

/// What a resolve may allocate: the memory available (None: no check beyond the fixed caps)
/// and the peak bytes a run holds per detector pixel with the engine and outputs the caller
/// chose (`model::BYTES_PER_PIXEL`, `model::BYTES_PER_PIXEL_GPU`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub available: Option<Available>,
    pub bytes_per_pixel: u64,
}

impl Default for Budget {
    /// No memory check, the CPU engine's bytes per pixel.
    fn default() -> Self {
        Budget { available: None, bytes_per_pixel: crate::model::BYTES_PER_PIXEL }
    }
}

impl Budget {
    /// Refuses `what` when its estimated `needed` bytes exceed the available memory.
    pub fn check_fits(&self, what: &str, needed: f64) -> Result<()> {
        check_fits(what, needed, self.available)
    }
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

/// Refuses `what` when its estimated `needed` bytes exceed `available`. `needed` is an f64 so
/// that absurd requests (beyond u64) are still described rather than overflowing.
pub fn check_fits(what: &str, needed: f64, available: Option<Available>) -> Result<()> {
    match available {
        Some(avail) if needed > avail.bytes as f64 => Err(Error::Resource(format!(
            "{what} needs about {} of memory, but only {} is available ({})",
            human_bytes(needed),
            human_bytes(avail.bytes as f64),
            avail.limited_by
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(3.0 * (1u64 << 30) as f64), "3.0 GiB");
        assert_eq!(human_bytes(2f64.powi(60)), "1024.0 PiB");
    }

    #[test]
    fn refusal_names_needed_and_available() {
        let kib = |bytes| Some(Available { bytes, limited_by: "free memory" });
        let e = check_fits("a 10 × 10 detector", 4096.0, kib(1024)).unwrap_err().to_string();
        assert!(e.contains("a 10 × 10 detector") && e.contains("4.0 KiB") && e.contains("1.0 KiB is available (free memory)"), "{e}");
        assert!(check_fits("x", 1024.0, kib(1024)).is_ok());
        assert!(check_fits("x", f64::INFINITY, None).is_ok());
        assert!(check_fits("x", f64::INFINITY, kib(u64::MAX)).is_err());
    }

}
