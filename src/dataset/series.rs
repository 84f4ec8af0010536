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
        Frame { number, phi0, phi_start_deg: start_deg, seed: noise_seed(self.seed, number, self.mode), noise_counter: number }
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

/// The noise seed of shot `number` of a shot list (`dataset::shots`), in both modes: shot 1
/// keeps the run's seed, any other shot's is a hash of (seed, number) in 1 … 2³¹−2, the range
/// nanoBragg.c's generator takes. A shot's noise is counted as frame 1's (the single run its
/// report line prints is a one-frame run), so its own seed is what sets it apart.
pub fn shot_noise_seed(seed: i64, number: u64) -> i64 {
    if number == 1 {
        return seed;
    }
    c_seed(stream_state(seed, number, Stream::Noise))
}

/// The random streams a frame or shot draws from, each derived from (run seed, number) on
/// its own, so that changing how one stream is drawn never shifts another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// the noise image (`-seed`)
    Noise,
    /// the mosaic domains (`-mosaic_seed`)
    Mosaic,
    /// a random crystal orientation (`-random_orientation`)
    Orientation,
    /// `-misset random`'s seed (`-misset_seed`)
    Misset,
}

impl Stream {
    /// Mixed into the run's seed before the number; the noise stream's tag is 0, so its seeds
    /// are the ones shot lists have always used.
    fn tag(self) -> u64 {
        match self {
            Stream::Noise => 0,
            Stream::Mosaic => 0x6D6F_7361_6963, // "mosaic"
            Stream::Orientation => 0x6F72_6965_6E74, // "orient"
            Stream::Misset => 0x6D69_7373_6574, // "misset"
        }
    }
}

/// The 64-bit state of `stream` for frame or shot `number` of a run seeded with `seed`: a pure
/// function of the three, so any process derives the same value for the same frame.
pub fn stream_state(seed: i64, number: u64, stream: Stream) -> u64 {
    splitmix64(splitmix64(seed as u64 ^ stream.tag()) ^ number)
}

/// A seed as nanoBragg.c's generator takes it (the C variable, negative: `-seed N` sets −N),
/// reduced from a stream state to 1 … 2³¹−2.
pub fn c_seed(state: u64) -> i64 {
    const RANGE: u64 = (1 << 31) - 2;
    -((state % RANGE) as i64 + 1)
}

/// The uniform numbers in [0, 1) of a stream, 53 bits each (SplitMix64 as a generator: the
/// state advances by the golden-ratio increment, each output is the mix of the state).
pub fn uniforms(state: u64) -> impl Iterator<Item = f64> {
    (0u64..).map(move |i| (splitmix64(state.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) >> 11) as f64 / (1u64 << 53) as f64)
}

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mix whose
/// outputs for consecutive inputs are statistically independent.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_keeps_the_run_seed() {
        assert!((1..10).all(|k| noise_seed(-42, k, Mode::Default) == -42));
    }

    #[test]
    fn shot_seeds_are_distinct_pure_and_in_range() {
        assert_eq!(shot_noise_seed(-42, 1), -42);
        let seeds: Vec<i64> = (1..=100).map(|k| shot_noise_seed(-42, k)).collect();
        let mut distinct = seeds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 100);
        assert!(seeds.iter().all(|&s| (-(1i64 << 31) + 2..=-1).contains(&s)), "{seeds:?}");
        assert_eq!(shot_noise_seed(-42, 57), seeds[56]);
        assert_ne!(shot_noise_seed(-43, 57), seeds[56]);
    }

    #[test]
    fn c_parity_keeps_the_seed() {
        assert!((1..10).all(|k| noise_seed(-7, k, Mode::CParity) == -7));
    }
}
