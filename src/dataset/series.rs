//! Rotation series: `-frames N` frames from `-first_frame K` on, frame k covering
//! φ ∈ [phi + (k−K)·osc, phi + (k−K+1)·osc) with the run's `-phisteps` sampling, and the
//! noise seed of each frame.

use crate::cli::defs::RTD;
use crate::cli::raw::{Mode, RawArgs};
use crate::model::Experiment;
use crate::simulator::Frame;

/// Which frames a run renders and how each differs from the experiment as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub first: u64,
    pub count: u64,
    /// whether `-frames`/`-first_frame` was typed: only then are output names templates
    pub templated: bool,
    /// `-phi` and the oscillation per frame, in degrees as typed
    phi_deg: f64,
    osc_deg: f64,
    /// the run's φ start in radians, as resolved
    phi0: f64,
    /// the C `seed` variable of the run (`-seed N` → −N)
    seed: i64,
    mode: Mode,
}

impl Series {
    /// The series a command line asks for (one frame, numbered 1, when it names none).
    pub fn new(raw: &RawArgs, exp: &Experiment) -> Series {
        let osc = exp.sampling.osc;
        // the oscillation as typed when the sampling rules kept it, so that frame k's start is
        // computed from the same numbers a run typed with `-phi <start>` is
        let osc_deg = raw.osc_deg.filter(|d| d / RTD == osc).unwrap_or(osc * RTD);
        Series {
            first: raw.first_frame.unwrap_or(1),
            count: raw.frames.unwrap_or(1),
            templated: raw.frames.is_some() || raw.first_frame.is_some(),
            phi_deg: raw.phi_deg,
            osc_deg,
            phi0: exp.sampling.phi0,
            seed: raw.seed,
            mode: raw.mode,
        }
    }

    pub fn last(&self) -> u64 {
        self.first + self.count - 1
    }

    /// The frame numbers in rendering order.
    pub fn numbers(&self) -> impl Iterator<Item = u64> + use<> {
        self.first..=self.last()
    }

    /// Frame `number`: its φ start (degrees, then radians exactly as `-phi` converts it) and
    /// its noise seed.
    pub fn frame(&self, number: u64) -> Frame {
        let start_deg = self.start_deg(number);
        // the first frame's start is the run's own φ, untouched (it may come from an -img header)
        let phi0 = if number == self.first { self.phi0 } else { start_deg / RTD };
        Frame { number, phi0, phi_start_deg: start_deg, seed: noise_seed(self.seed, number, self.mode) }
    }

    /// φ start of frame `number` in degrees: `-phi + (number − first)·osc`. A run typed with
    /// `-phi` set to this value (printed in full, as `{}` does) renders the same frame.
    pub fn start_deg(&self, number: u64) -> f64 {
        if number == self.first {
            // no arithmetic at all: exactly the typed -phi
            return self.phi_deg;
        }
        self.phi_deg + (number - self.first) as f64 * self.osc_deg
    }
}

/// The noise seed (the C `seed` variable, negative: `-seed N` sets −N) of frame `number`: the
/// run's seed for every frame, in both modes.
///
/// - `-c_parity`: as a loop of nanoBragg.c processes typed with the same `-seed` would use.
/// - default: the frame number is a word of every noise counter (`response::detector`), so
///   frames get independent noise from one key, and frame k's image depends only on the seed
///   and k — never on which process, shard or order renders it; `-first_frame k -frames 1`
///   with the same `-seed` reproduces it alone.
pub fn noise_seed(seed: i64, _number: u64, _mode: Mode) -> i64 {
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_keeps_the_run_seed() {
        assert!((1..10).all(|k| noise_seed(-42, k, Mode::Default) == -42));
    }

    #[test]
    fn c_parity_keeps_the_seed() {
        assert!((1..10).all(|k| noise_seed(-7, k, Mode::CParity) == -7));
    }
}
