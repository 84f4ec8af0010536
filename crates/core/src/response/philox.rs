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

/// Philox4x32-10 of `L` counters at once that differ only in word 0 (`pixels`, the other
/// words as [`counter`] makes them: `frame`, `stage` with block 0, 0), returning words 0 and 1
/// of each (what every sampler's first block uses). The same rounds as [`philox4x32`] written
/// lane by lane, with no branch, so that LLVM keeps each word of the `L` counters in vector
/// registers (the 32 × 32 → 64-bit products become `vpmuludq`); the noise of
/// `response::lanes` draws its first block of every pixel here.
#[inline(always)]
pub fn philox4x32_lanes<const L: usize>(pixels: &[u32; L], frame: u32, stage: Stage, key: [u32; 2]) -> ([u32; L], [u32; L]) {
    let first = counter(0, frame, stage, 0);
    let mut c0 = *pixels;
    let mut c1 = [first[1]; L];
    let mut c2 = [first[2]; L];
    let mut c3 = [first[3]; L];
    let (mut k0, mut k1) = (key[0], key[1]);
    for round in 0..ROUNDS {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        for l in 0..L {
            let p0 = u64::from(M0) * u64::from(c0[l]);
            let p1 = u64::from(M1) * u64::from(c2[l]);
            let next = [((p1 >> 32) as u32) ^ c1[l] ^ k0, p1 as u32, ((p0 >> 32) as u32) ^ c3[l] ^ k1, p0 as u32];
            [c0[l], c1[l], c2[l], c3[l]] = next;
        }
    }
    (c0, c1)
}

/// [`philox4x32_lanes`] of sixteen counters in AVX2 registers: each 32 × 32 → 64-bit product
/// of a round is two `vpmuludq` (even and odd lanes) whose halves are blended back into the
/// high and low words, where LLVM's own code for the portable lanes widens, multiplies and
/// narrows through shuffles (measured: slower than the scalar generator). The same bits.
///
/// # Safety
/// The CPU must have AVX2 (`is_x86_feature_detected!("avx2")`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub fn philox4x32_lanes_avx2(pixels: &[u32; 16], frame: u32, stage: Stage, key: [u32; 2]) -> ([u32; 16], [u32; 16]) {
    use std::arch::x86_64::*;
    let first = counter(0, frame, stage, 0);
    let (m0, m1) = (_mm256_set1_epi32(M0 as i32), _mm256_set1_epi32(M1 as i32));
    // SAFETY: reads 2 × 8 u32 from an array of 16
    let mut c0 = unsafe { [_mm256_loadu_si256(pixels.as_ptr().cast()), _mm256_loadu_si256(pixels.as_ptr().add(8).cast())] };
    let mut c1 = [_mm256_set1_epi32(first[1] as i32); 2];
    let mut c2 = [_mm256_set1_epi32(first[2] as i32); 2];
    let mut c3 = [_mm256_set1_epi32(first[3] as i32); 2];
    let (mut k0, mut k1) = (key[0], key[1]);
    // (high, low) words of m × c per lane: products of the even lanes, then of the odd ones
    // shifted down, each blended into place
    let mulhilo = |m: __m256i, c: __m256i| {
        let even = _mm256_mul_epu32(m, c);
        let odd = _mm256_mul_epu32(m, _mm256_srli_epi64::<32>(c));
        (_mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd), _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd)))
    };
    for round in 0..ROUNDS {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let (kv0, kv1) = (_mm256_set1_epi32(k0 as i32), _mm256_set1_epi32(k1 as i32));
        for h in 0..2 {
            let (hi0, lo0) = mulhilo(m0, c0[h]);
            let (hi1, lo1) = mulhilo(m1, c2[h]);
            c0[h] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[h]), kv0);
            c1[h] = lo1;
            c2[h] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[h]), kv1);
            c3[h] = lo0;
        }
    }
    let (mut w0, mut w1) = ([0u32; 16], [0u32; 16]);
    // SAFETY: writes 2 × 8 u32 into arrays of 16
    unsafe {
        _mm256_storeu_si256(w0.as_mut_ptr().cast(), c0[0]);
        _mm256_storeu_si256(w0.as_mut_ptr().add(8).cast(), c0[1]);
        _mm256_storeu_si256(w1.as_mut_ptr().cast(), c1[0]);
        _mm256_storeu_si256(w1.as_mut_ptr().add(8).cast(), c1[1]);
    }
    (w0, w1)
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

    /// The lanes give, pixel for pixel, words 0 and 1 of the scalar generator's first block.
    #[test]
    fn lanes_equal_the_scalar_generator() {
        for (frame, stage, key) in [(0u32, Stage::Poisson, key_of_seed(-7)), (123_456, Stage::Readout, [u32::MAX, 5]), (0, Stage::Calibration, [0, 0])] {
            let pixels: [u32; 16] = std::array::from_fn(|l| (l as u32).wrapping_mul(2_654_435_761) ^ 0x8000_0001);
            let (w0, w1) = philox4x32_lanes(&pixels, frame, stage, key);
            for l in 0..16 {
                let want = philox4x32(counter(pixels[l], frame, stage, 0), key);
                assert_eq!([w0[l], w1[l]], [want[0], want[1]], "lane {l}");
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2
                assert_eq!(unsafe { philox4x32_lanes_avx2(&pixels, frame, stage, key) }, (w0, w1));
            }
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
