//! Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
//! SC 2011; the Random123 library), the counter-based generator of the default mode.
//!
//! Why Philox4x32-10: it is the standard counter-based generator with published known-answer
//! vectors, it passes BigCrush, it needs only 32-bit integer multiplies, xors and adds (no
//! 64-bit integers, which WGSL lacks, unlike the 64-bit Threefry variants), and one call yields
//! four 32-bit words — exactly the two uniforms a Box–Muller Gaussian or a PTRS Poisson trial
//! consumes, with two to spare. Its 128-bit counter leaves room for every coordinate a pixel's
//! noise depends on, so no state is carried from one pixel to the next.
//!
//! WGSL twin: `mulhilo` needs the high half of a 32×32 product; WGSL has no `u64`, so the twin
//! splits each factor into 16-bit halves (four `u32` products and carries). Everything else is
//! `u32` wrapping add, `^` and shifts, which WGSL defines exactly as here.

/// Philox4x32 round multipliers and Weyl key increments (Random123 `PHILOX_M4x32_*`, `PHILOX_W32_*`).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;
pub const ROUNDS: usize = 10;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// The Philox4x32 bijection with `ROUNDS` rounds: four random words for one counter and key.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..ROUNDS {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The key of a seed: its two's-complement bits, low word first, so every `i64` seed (negative
/// ones included, as noisify's `-seed` produces) is a distinct key.
pub fn key_of_seed(seed: i64) -> [u32; 2] {
    let bits = seed as u64;
    [bits as u32, (bits >> 32) as u32]
}

/// What a draw is for; the stage is part of the counter so that stages never share words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    Flicker = 1,
    Calibration = 2,
    Poisson = 3,
    Readout = 4,
}

/// The counter of one draw block: word 0 the pixel (fast index + slow index × width of the
/// whole detector), word 1 the frame or shot, word 2 the stage in the top 8 bits and the block
/// number within the stage (rejection samplers take more than one) in the low 24 bits, word 3
/// reserved (0; a future panel or shard index keeps the rest of the layout).
pub fn counter(pixel: u32, frame: u32, stage: Stage, block: u32) -> [u32; 4] {
    [pixel, frame, ((stage as u32) << 24) | (block & 0x00FF_FFFF), 0]
}

/// The stream of draw blocks for one (seed, frame, pixel, stage): block 0, 1, 2, ...
#[derive(Clone, Debug)]
pub struct Draws {
    key: [u32; 2],
    pixel: u32,
    frame: u32,
    stage: Stage,
    block: u32,
}

impl Draws {
    pub fn new(seed: i64, frame: u32, pixel: u32, stage: Stage) -> Draws {
        Draws { key: key_of_seed(seed), pixel, frame, stage, block: 0 }
    }

    /// The next four words.
    pub fn next_block(&mut self) -> [u32; 4] {
        let words = philox4x32(counter(self.pixel, self.frame, self.stage, self.block), self.key);
        self.block = self.block.wrapping_add(1);
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `examples/kat_vectors`, the three `philox4x32 10` lines
    /// (counter[4] key[2] → output[4]).
    #[test]
    fn random123_known_answers() {
        let cases: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in cases {
            assert_eq!(philox4x32(ctr, key), want, "counter {ctr:08x?} key {key:08x?}");
        }
    }

    #[test]
    fn counters_separate_pixels_frames_stages_and_blocks() {
        let base = counter(5, 0, Stage::Poisson, 0);
        for other in [
            counter(6, 0, Stage::Poisson, 0),
            counter(5, 1, Stage::Poisson, 0),
            counter(5, 0, Stage::Readout, 0),
            counter(5, 0, Stage::Poisson, 1),
        ] {
            assert_ne!(base, other);
            assert_ne!(philox4x32(base, [1, 2]), philox4x32(other, [1, 2]));
        }
        assert_ne!(key_of_seed(-7), key_of_seed(7));
        let mut d = Draws::new(-7, 0, 5, Stage::Poisson);
        assert_eq!(d.next_block(), philox4x32(base, key_of_seed(-7)));
        assert_eq!(d.next_block(), philox4x32(counter(5, 0, Stage::Poisson, 1), key_of_seed(-7)));
    }
}
