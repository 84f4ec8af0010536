//! The default mode's noise stages on lanes of neighbouring pixels: what `noisify`'s serial
//! loop computes pixel by pixel, computed [`LANES`] pixels at a time with the same arithmetic in
//! every lane, so that the counts, ADU and overloads are the serial loop's bit for bit.
//!
//! Each pixel's draws are a pure function of (seed, frame, pixel, stage, block), so neighbouring
//! pixels can draw together: their counters differ only in the pixel word, and Philox runs on all
//! of them at once ([`super::philox::philox4x32_lanes`]). The samplers' set-up (the inversion's
//! e^−λ, PTRS's a, b and v_r with their square root and divisions) is computed across the lanes
//! too, where it costs a few vector instructions per group instead of a serial chain per pixel;
//! the inversion walk steps all lanes together (a lane that has found its count stops counting),
//! and PTRS's first trial, which the quick test accepts for about 89 % of pixels, is taken in
//! every lane at once. The rare rest — a PTRS trial the quick test leaves open, means of 2²³ and
//! more — goes to the scalar sampler of the same pixel, which starts from the same counter and so
//! returns the same count. Flicker, calibration and, without a PSF, readout and the ADU are fused
//! into the same pass over the image.
//!
//! No `mul_add` is written here and Rust never contracts `a * b + c` by itself, so the AVX2 + FMA
//! build chosen at run time (as the CPU engine's lanes are) rounds every product as the portable
//! build and the WGSL twins do.

use super::noisify::{NoiseModel, adu_of};
use super::philox::{Draws, Stage, key_of_seed, philox4x32_lanes};
use super::sample::{self, INVERSION_BELOW, INVERSION_CAP, NORMAL_FROM, cos_two_pi, exp, ln, ptrs_first_trial, reciprocal, uniform};

/// Pixels drawn together: sixteen `u32` or `f32` lanes are two AVX2 registers per operation
/// (measured on the 2-core machine, Poisson + readout at 512²: 16 lanes faster than 8 and 32).
pub(super) const LANES: usize = 16;

/// The counter generator's keys for one frame.
#[derive(Clone, Copy, Debug)]
pub(super) struct Keys {
    /// the C `seed` variable (flicker, Poisson, readout) and its key
    pub seed: i64,
    seed_key: [u32; 2],
    /// the calibration's key (`calib_seed`, always frame 0: the same errors in every frame)
    calib_key: [u32; 2],
    pub frame: u32,
}

impl Keys {
    pub fn new(model: &NoiseModel, frame: u32) -> Keys {
        Keys { seed: model.seed, seed_key: key_of_seed(model.seed), calib_key: key_of_seed(model.calib_seed), frame }
    }
}

/// What one chunk's pass adds up. `sum` adds the rendered pixels' values lane by lane, not in
/// pixel order, so it is the serial loop's sum only when every value is a whole number and
/// `magnitude` (Σ|v|) stays below 2⁵²: then every partial sum, in any order, is an integer
/// that `f64` holds exactly ([`Sums::exact`]); otherwise the caller adds in pixel order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sums {
    pub sum: f64,
    pub magnitude: f64,
    pub whole: bool,
    pub overloads: u64,
}

impl Default for Sums {
    fn default() -> Self {
        Sums { sum: 0.0, magnitude: 0.0, whole: true, overloads: 0 }
    }
}

impl Sums {
    /// Both chunks' totals (chunk order).
    pub fn and(self, other: Sums) -> Sums {
        Sums { sum: self.sum + other.sum, magnitude: self.magnitude + other.magnitude, whole: self.whole && other.whole, overloads: self.overloads + other.overloads }
    }

    /// The image's sum when every order of adding gives the same bits (see the type's docs).
    pub fn exact(&self) -> Option<f64> {
        // Σ|v| computed in f64 is within n·2⁻⁵³ of the true one: below 2⁵² it is below 2⁵³
        (self.whole && self.magnitude < 4_503_599_627_370_496.0).then_some(self.sum)
    }

}

/// [`Sums`] kept lane by lane while a chunk is walked (one vector add per group instead of a
/// chain of sixteen), folded at the chunk's end; any order will do (see [`Sums`]).
struct LaneSums {
    sum: [f64; LANES],
    magnitude: [f64; LANES],
    whole: bool,
    overloads: u64,
}

impl LaneSums {
    fn new() -> LaneSums {
        LaneSums { sum: [0.0; LANES], magnitude: [0.0; LANES], whole: true, overloads: 0 }
    }

    /// Adds the lanes, which hold 0 where no pixel is rendered (adding 0 changes no sum).
    #[inline(always)]
    fn add(&mut self, values: &[f32; LANES]) {
        let mut whole = true;
        for l in 0..LANES {
            let v = values[l];
            self.sum[l] += f64::from(v);
            self.magnitude[l] += f64::from(v.abs());
            // false for fractions, NaN and infinities (∞ − ∞ is NaN)
            whole &= v - v.trunc() == 0.0;
        }
        self.whole &= whole;
    }

    fn total(&self) -> Sums {
        Sums { sum: self.sum.iter().sum(), magnitude: self.magnitude.iter().sum(), whole: self.whole, overloads: self.overloads }
    }
}

/// Words 0 and 1 of each lane's first block; `AVX2`: in the AVX2 build (the caller's), with
/// the generator written for its registers.
#[inline(always)]
fn words<const AVX2: bool>(pixels: &[u32; LANES], frame: u32, stage: Stage, key: [u32; 2]) -> ([u32; LANES], [u32; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: only the AVX2 build passes AVX2 = true, and only on a CPU that has it
        return unsafe { super::philox::philox4x32_lanes_avx2(pixels, frame, stage, key) };
    }
    philox4x32_lanes(pixels, frame, stage, key)
}

/// A unit normal deviate per lane, as `sample::gauss` draws it at each lane's counter.
#[inline(always)]
fn gauss_lanes<const AVX2: bool>(pixels: &[u32; LANES], frame: u32, stage: Stage, key: [u32; 2]) -> [f32; LANES] {
    let (w0, w1) = words::<AVX2>(pixels, frame, stage, key);
    let mut z = [0.0f32; LANES];
    for l in 0..LANES {
        z[l] = (-2.0 * ln(uniform(w0[l]))).sqrt() * cos_two_pi(w1[l]);
    }
    z
}

/// A Poisson count per lane, as `sample::poisson` draws it at each lane's counter.
#[inline(always)]
fn poisson_lanes<const AVX2: bool>(lambda: &[f32; LANES], pixels: &[u32; LANES], keys: &Keys) -> [f32; LANES] {
    let (w0, w1) = words::<AVX2>(pixels, keys.frame, Stage::Poisson, keys.seed_key);
    let mut count = [0.0f32; LANES];
    // NaN fails every comparison: no photons, as λ ≤ 0
    let mut inversion = [false; LANES];
    let mut ptrs = [false; LANES];
    let (mut any_inversion, mut any_ptrs, mut any_beyond) = (false, false, false);
    for l in 0..LANES {
        let x = lambda[l];
        inversion[l] = x > 0.0 && x < INVERSION_BELOW;
        ptrs[l] = (INVERSION_BELOW..NORMAL_FROM).contains(&x);
        any_inversion |= inversion[l];
        any_ptrs |= ptrs[l];
        any_beyond |= x >= NORMAL_FROM;
    }
    if any_inversion {
        // other lanes walk with λ = 0: e⁰ = 1 ≥ u, they never count
        let mut lam = [0.0f32; LANES];
        let mut u = [0.0f32; LANES];
        let mut p = [0.0f32; LANES];
        for l in 0..LANES {
            lam[l] = if inversion[l] { lambda[l] } else { 0.0 };
            u[l] = uniform(w0[l]);
            p[l] = exp(-lam[l]);
        }
        let mut cdf = p;
        let mut k = [0u32; LANES];
        // step j of the walk for every lane still below its uniform: the lanes that stepped
        // j − 1 times; p ≥ 0, so a lane's cdf never falls back below u once it reached it
        for step in 1..=INVERSION_CAP {
            let r = reciprocal(step);
            let mut walking = false;
            for l in 0..LANES {
                let on = u[l] > cdf[l];
                walking |= on;
                k[l] += u32::from(on);
                p[l] = p[l] * lam[l] * r;
                cdf[l] += p[l];
            }
            if !walking {
                break;
            }
        }
        // 0 in the lanes that did not walk
        for l in 0..LANES {
            count[l] = k[l] as f32;
        }
    }
    let mut scalar = [false; LANES];
    if any_ptrs {
        for l in 0..LANES {
            let (k, quick) = ptrs_first_trial(if ptrs[l] { lambda[l] } else { INVERSION_BELOW }, w0[l], w1[l]);
            if ptrs[l] {
                count[l] = k;
                scalar[l] = !quick;
            }
        }
    }
    if any_ptrs || any_beyond {
        for l in 0..LANES {
            if scalar[l] || lambda[l] >= NORMAL_FROM {
                count[l] = sample::poisson(lambda[l], &mut Draws::new(keys.seed, keys.frame, pixels[l], Stage::Poisson));
            }
        }
    }
    count
}

/// The lanes of the group starting at pixel `first`: pixel indices, and which of the `n` real
/// pixels are rendered, as masks (all bits set: rendered; 0: not, or past the image), which
/// vectorise where arrays of `bool` do not.
#[inline(always)]
fn group(first: usize, n: usize, rendered: &impl Fn(usize) -> bool) -> ([u32; LANES], [u32; LANES]) {
    let mut pixels = [0u32; LANES];
    let mut inside = [0u32; LANES];
    for l in 0..LANES {
        // the counter's pixel word, as the serial loop's `pixel as u32`
        pixels[l] = (first + l) as u32;
    }
    for (l, inside) in inside.iter_mut().enumerate().take(n) {
        *inside = if rendered(first + l) { u32::MAX } else { 0 };
    }
    (pixels, inside)
}

/// The integer images of one chunk, when stage 5 is fused into stage 3's pass.
pub(super) struct AduOut<'a> {
    pub int32: &'a mut [u32],
    pub int16: &'a mut [u16],
    pub bits32: bool,
}

/// Stages 3 (flicker, calibration, Poisson) of the pixels `base..base + counts.len()` of
/// `photons` (the chunk's own slice), writing their counts (0 where `rendered` says no); with
/// `adu`, stage 5 (readout, gain, offset, clamps) of the same counts in the same pass. Returns
/// the counts' [`Sums`] and the overloads.
#[inline(always)]
fn counts_body<const AVX2: bool>(photons: &[f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, counts: &mut [f32], mut adu: Option<AduOut>) -> Sums {
    let mut sums = LaneSums::new();
    let calibrate = model.calibration > 0.0;
    for g in (0..counts.len()).step_by(LANES) {
        let n = LANES.min(counts.len() - g);
        let (pixels, inside) = group(base + g, n, rendered);
        let mut mean = [0.0f64; LANES];
        for l in 0..n {
            mean[l] = f64::from(photons[g + l]);
        }
        if model.flicker > 0.0 {
            let z = gauss_lanes::<AVX2>(&pixels, keys.frame, Stage::Flicker, keys.seed_key);
            for l in 0..LANES {
                mean[l] *= 1.0 + model.flicker * f64::from(z[l]);
            }
        }
        if calibrate && !model.calibration_after_poisson {
            let z = gauss_lanes::<AVX2>(&pixels, 0, Stage::Calibration, keys.calib_key);
            for l in 0..LANES {
                mean[l] *= 1.0 + model.calibration * f64::from(z[l]);
            }
        }
        // C: `poidev(float xm, ...)` — the mean is rounded to float at the call
        let mut lambda = [0.0f32; LANES];
        for l in 0..LANES {
            // λ = 0 outside: no draw, a count of +0 (as the serial loop leaves it)
            lambda[l] = f32::from_bits((mean[l] as f32).to_bits() & inside[l]);
        }
        let mut count = poisson_lanes::<AVX2>(&lambda, &pixels, keys);
        if calibrate && model.calibration_after_poisson {
            let z = gauss_lanes::<AVX2>(&pixels, 0, Stage::Calibration, keys.calib_key);
            for l in 0..LANES {
                // masked: 0 × a negative factor would be −0
                count[l] = f32::from_bits(((f64::from(count[l]) * (1.0 + model.calibration * f64::from(z[l]))) as f32).to_bits() & inside[l]);
            }
        }
        counts[g..g + n].copy_from_slice(&count[..n]);
        sums.add(&count);
        if let Some(out) = adu.as_mut() {
            sums.overloads += adu_group::<AVX2>(&count, &pixels, &inside, n, model, keys, &mut out.int32[g..g + n], &mut out.int16[g..g + n], out.bits32);
        }
    }
    sums.total()
}

/// Stage 5 of one group: ADU of the written widths (0 outside), returning the overloads. The
/// serial loop's `adu_of` with its clamps as selects; its conversions `(adu as i64) as u32` and
/// `(adu as i32) as u16` equal `adu as i32` for every value from −2³¹ on (the top is clamped
/// at 2³¹ − 1), which vectorises; a group holding a lower value (a large negative offset or
/// calibration) takes `adu_of` itself.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adu_group<const AVX2: bool>(signal: &[f32; LANES], pixels: &[u32; LANES], inside: &[u32; LANES], n: usize, model: &NoiseModel, keys: &Keys, int32: &mut [u32], int16: &mut [u16], bits32: bool) -> u64 {
    const TOP32: f64 = 2_147_483_647.0;
    let mut adu = [0.0f64; LANES];
    for l in 0..LANES {
        adu[l] = f64::from(signal[l]) * model.gain + model.adc_offset;
    }
    let z = if model.readout > 0.0 {
        let z = gauss_lanes::<AVX2>(pixels, keys.frame, Stage::Readout, keys.seed_key);
        for l in 0..LANES {
            adu[l] += model.readout * f64::from(z[l]);
        }
        z
    } else {
        [0.0; LANES]
    };
    const BOTTOM32: f64 = -2_147_483_648.0;
    let (mut a32, mut a16) = ([0u32; LANES], [0u16; LANES]);
    let mut overloads = 0u32;
    let mut in_range = true;
    for l in 0..LANES {
        let over32 = adu[l] > TOP32;
        let clamped = if over32 { TOP32 } else { adu[l] };
        let over16 = clamped > 65535.0;
        let short = if over16 { 65535.0 } else { clamped };
        // below −2³¹ (or NaN) the group is redone by `adu_of`; the lane converts −2³¹ meanwhile
        let fits = clamped >= BOTTOM32;
        in_range &= fits || inside[l] == 0;
        let (clamped, short) = if fits { (clamped, short) } else { (BOTTOM32, BOTTOM32) };
        // SAFETY: −2³¹ ≤ both ≤ 2³¹ − 1, so the truncation fits an i32 (what `as i32` does there)
        let (wide, narrow) = unsafe { (clamped.to_int_unchecked::<i32>(), short.to_int_unchecked::<i32>()) };
        a32[l] = wide as u32 & inside[l];
        a16[l] = (narrow as u32 & inside[l]) as u16;
        overloads += u32::from(if bits32 { over32 } else { over16 }) & inside[l];
    }
    let mut overloads = u64::from(overloads);
    if !in_range {
        overloads = 0;
        for l in 0..n {
            (a32[l], a16[l]) = (0, 0);
            if inside[l] != 0 {
                let (a, b, over) = adu_of(signal[l], model, bits32, || z[l]);
                (a32[l], a16[l]) = (a, b);
                overloads += over;
            }
        }
    }
    int32.copy_from_slice(&a32[..n]);
    int16.copy_from_slice(&a16[..n]);
    overloads
}

/// Stage 5 alone (after the PSF) on the pixels `base..base + signal.len()`: `signal` is set to
/// 0 outside `rendered`; returns the signal's [`Sums`] and the overloads.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adu_body<const AVX2: bool>(signal: &mut [f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, int32: &mut [u32], int16: &mut [u16], bits32: bool) -> Sums {
    let mut sums = LaneSums::new();
    for g in (0..signal.len()).step_by(LANES) {
        let n = LANES.min(signal.len() - g);
        let (pixels, inside) = group(base + g, n, rendered);
        let mut values = [0.0f32; LANES];
        for l in 0..n {
            values[l] = f32::from_bits(signal[g + l].to_bits() & inside[l]);
            signal[g + l] = values[l];
        }
        sums.add(&values);
        sums.overloads += adu_group::<AVX2>(&values, &pixels, &inside, n, model, keys, &mut int32[g..g + n], &mut int16[g..g + n], bits32);
    }
    sums.total()
}

/// Whether this x86-64 CPU runs the AVX2 build of the lanes.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn counts_avx2(photons: &[f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, counts: &mut [f32], adu: Option<AduOut>) -> Sums {
    counts_body::<true>(photons, base, model, keys, rendered, counts, adu)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn adu_avx2(signal: &mut [f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, int32: &mut [u32], int16: &mut [u16], bits32: bool) -> Sums {
    adu_body::<true>(signal, base, model, keys, rendered, int32, int16, bits32)
}

/// [`counts_body`] with the fastest code this CPU runs.
pub(super) fn counts_chunk(photons: &[f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, counts: &mut [f32], adu: Option<AduOut>) -> Sums {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked just above)
            return unsafe { counts_avx2(photons, base, model, keys, rendered, counts, adu) };
        }
    }
    counts_body::<false>(photons, base, model, keys, rendered, counts, adu)
}

/// [`adu_body`] with the fastest code this CPU runs.
#[allow(clippy::too_many_arguments)]
pub(super) fn adu_chunk(signal: &mut [f32], base: usize, model: &NoiseModel, keys: &Keys, rendered: &impl Fn(usize) -> bool, int32: &mut [u32], int16: &mut [u16], bits32: bool) -> Sums {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked just above)
            return unsafe { adu_avx2(signal, base, model, keys, rendered, int32, int16, bits32) };
        }
    }
    adu_body::<false>(signal, base, model, keys, rendered, int32, int16, bits32)
}
