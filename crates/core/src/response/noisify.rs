//! The noisify model, stage by stage, in noisify.c's order:
//!
//! 1. photons/pixel = input × scale × fluence·r_e² (`f32` image, product in `f64`);
//! 2. the noiseless integer image: photons × gain + ADC offset, clamped, truncated;
//! 3. per pixel: flicker (× (1 + f·N(0,1)), from `seed`), calibration (× (1 + c·N(0,1)), from
//!    `calib_seed`, the same from shot to shot), then a Poisson count of that mean (`seed`);
//! 4. the PSF, applied to the counts (or, with `-nonoise`, to the noiseless image before 2);
//! 5. per pixel: ADU = counts × gain + ADC offset + readout·N(0,1) (`seed`), clamped to
//!    2³¹−1 and, for the 16-bit image, to 65535 (each clamp of the written width counts as an
//!    overload), truncated.
//!
//! `Generator::CParity` draws from noisify.c's serial generators (whose statics the two seeds
//! share, see `rng::SharedStatics`), pixel after pixel; `Generator::Counter` draws each
//! deviate from Philox at (seed, frame, pixel, stage), calibration at (calib_seed, frame 0,
//! pixel) so that it stays fixed across frames.

use super::philox::{Draws, Stage};
use super::psf::{PsfReport, PsfShape, apply_psf};
use super::sample;
use crate::physics::constants::R_E_SQR;
use crate::rng::SharedStatics;

/// noisify.c's default fluence, 1/r_e² in photons/m² (so fluence·r_e² ≈ 1 and the input is
/// already on the photons/pixel scale).
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// noisify.c's `ran1`/`gaussdev`/`poidev`, serial, bit for bit.
    CParity,
    /// Philox4x32-10 counters; `frame` is the shot index in the counter.
    Counter { frame: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Psf {
    pub shape: PsfShape,
    pub fwhm_pixels: f64,
    /// 0: automatic
    pub radius: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NoiseModel {
    pub flicker: f64,
    pub calibration: f64,
    pub readout: f64,
    pub gain: f64,
    pub adc_offset: f64,
    /// the C `seed` variable (`-seed N` makes it −N)
    pub seed: i64,
    /// the C `calib_seed` variable (`-calib_seed N` makes it −N; default 123456789)
    pub calib_seed: i64,
    pub psf: Option<Psf>,
    /// simtbx's order: the calibration error multiplies the Poisson count instead of its mean
    /// (noisify.c applies it to the mean, before the count; docs/realism.md)
    pub calibration_after_poisson: bool,
    pub generator: Generator,
}

/// Both integer images of one stage (the file gets one of them, by `-bits`).
#[derive(Clone, Debug, PartialEq)]
pub struct IntImages {
    pub int16: Vec<u16>,
    pub int32: Vec<u32>,
}

/// Input values on the photons/pixel scale, stored as `f32` as the C stores them.
pub fn photon_image(input: &[f32], fluence: f64, scale: f64) -> Vec<f32> {
    input.iter().map(|&v| ((fluence * R_E_SQR) * scale * f64::from(v)) as f32).collect()
}

/// C `(unsigned int) double` on x86-64: a 64-bit truncation whose low 32 bits are kept.
fn to_uint(adu: f64) -> u32 {
    (adu as i64) as u32
}

/// C `(unsigned short int) double` on x86-64: a 32-bit truncation whose low 16 bits are kept.
fn to_ushort(adu: f64) -> u16 {
    (adu as i32) as u16
}

/// The noiseless image in ADU. noisify.c clamps to 65535 before making the 32-bit image too,
/// so its 32-bit noiseless image never exceeds 65535; the default mode clamps that one at
/// 2³¹−1 only, as the noise image is.
pub fn noiseless_ints(photons: &[f32], gain: f64, adc_offset: f64, c_parity: bool) -> IntImages {
    let mut int16 = Vec::with_capacity(photons.len());
    let mut int32 = Vec::with_capacity(photons.len());
    for &p in photons {
        let adu = (f64::from(p) * gain + adc_offset).min(2_147_483_647.0);
        let short = adu.min(65535.0);
        int32.push(to_uint(if c_parity { short } else { adu }));
        int16.push(to_ushort(short));
    }
    IntImages { int16, int32 }
}

/// The C generators' state across the two noise loops: the shared statics and both seed
/// variables.
struct CStreams {
    statics: SharedStatics,
    seed: i64,
    calib_seed: i64,
}

enum Streams {
    C(Box<CStreams>),
    Counter { seed: i64, calib_seed: i64, frame: u32 },
}

impl Streams {
    fn new(model: &NoiseModel) -> Streams {
        match model.generator {
            Generator::CParity => Streams::C(Box::new(CStreams {
                statics: SharedStatics::new(),
                seed: model.seed,
                calib_seed: model.calib_seed,
            })),
            Generator::Counter { frame } => Streams::Counter { seed: model.seed, calib_seed: model.calib_seed, frame },
        }
    }

    fn gauss(&mut self, stage: Stage, pixel: usize) -> f32 {
        match self {
            Streams::C(c) => {
                let seed = if stage == Stage::Calibration { &mut c.calib_seed } else { &mut c.seed };
                c.statics.gauss(seed)
            }
            Streams::Counter { seed, calib_seed, frame } => {
                let (key, frame) = if stage == Stage::Calibration { (*calib_seed, 0) } else { (*seed, *frame) };
                sample::gauss(&mut Draws::new(key, frame, pixel as u32, stage))
            }
        }
    }

    fn poisson(&mut self, mean: f32, pixel: usize) -> f32 {
        match self {
            Streams::C(c) => c.statics.poisson(mean, &mut c.seed),
            Streams::Counter { seed, frame, .. } => {
                sample::poisson(mean, &mut Draws::new(*seed, *frame, pixel as u32, Stage::Poisson))
            }
        }
    }
}

/// What the noise stages report (the C prints these sums).
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseResult {
    pub image: IntImages,
    /// photons counted before the PSF (C: "photons on noise image before PSF")
    pub photons_before_psf: f64,
    pub psf: Option<PsfReport>,
    /// photons after the PSF (C: "photons on noise image")
    pub photons: f64,
    /// clamped pixels of the written width (16 or 32 bits)
    pub overloads: u64,
    /// the photons of each pixel after the PSF (before gain, offset and readout): what a
    /// photon-counting detector records
    pub counts: Vec<f32>,
}

/// Stages 3–5 on a photons/pixel image of `width` × `height`.
pub fn noise_image(photons: &[f32], width: usize, height: usize, model: &NoiseModel, bits32: bool) -> NoiseResult {
    noise_image_where(photons, width, height, model, bits32, |_| true)
}

/// As [`noise_image`], with the pixels `rendered` rejects left out: they draw nothing, hold
/// no photons, are 0 in every output and count in no sum (the main command's ROI). With the
/// counter generator the other pixels' noise does not depend on which are left out.
///
/// The counter generator runs chunks of pixels in parallel (each pixel's draws are a pure
/// function of its coordinates); the sums are then taken serially in pixel order, so that
/// every output, sums included, is the same for any thread count and equals the serial loop
/// that `-c_parity`'s serial generator needs.
pub fn noise_image_where(
    photons: &[f32],
    width: usize,
    height: usize,
    model: &NoiseModel,
    bits32: bool,
    rendered: impl Fn(usize) -> bool + Sync,
) -> NoiseResult {
    noise_image_of_panels(photons, width, height, model, bits32, rendered)
}

/// As [`noise_image_where`] for an image of panels stacked as `[panel, slow, fast]`, each
/// `panel_rows` rows of `width`: the PSF spreads each panel's photons within that panel, never
/// across a gap or onto another panel (each panel is blurred as an image of its own).
pub fn noise_image_of_panels(
    photons: &[f32],
    width: usize,
    panel_rows: usize,
    model: &NoiseModel,
    bits32: bool,
    rendered: impl Fn(usize) -> bool + Sync,
) -> NoiseResult {
    match model.generator {
        Generator::CParity => noise_image_serial(photons, width, panel_rows, model, bits32, rendered),
        Generator::Counter { frame } => noise_image_parallel(photons, width, panel_rows, model, bits32, rendered, frame),
    }
}

/// Stage 3 for one pixel: flicker, calibration and the Poisson count, in the model's order.
fn noisy_count(ideal: f32, model: &NoiseModel, streams: &mut Streams, pixel: usize) -> f32 {
    let mut mean = f64::from(ideal);
    if model.flicker > 0.0 {
        mean *= 1.0 + model.flicker * f64::from(streams.gauss(Stage::Flicker, pixel));
    }
    let calibrate = model.calibration > 0.0;
    if calibrate && !model.calibration_after_poisson {
        mean *= 1.0 + model.calibration * f64::from(streams.gauss(Stage::Calibration, pixel));
    }
    // C: `poidev(float xm, ...)` — the mean is rounded to float at the call
    let mut count = streams.poisson(mean as f32, pixel);
    if calibrate && model.calibration_after_poisson {
        // simtbx: the recorded photons, not their mean, carry the pixel's gain error
        count = (f64::from(count) * (1.0 + model.calibration * f64::from(streams.gauss(Stage::Calibration, pixel)))) as f32;
    }
    count
}

/// Stage 5 for one pixel: the ADU of the written widths and the overloads it adds.
#[inline(always)]
pub(super) fn adu_of(signal: f32, model: &NoiseModel, bits32: bool, readout: impl FnOnce() -> f32) -> (u32, u16, u64) {
    let mut adu = f64::from(signal) * model.gain + model.adc_offset;
    if model.readout > 0.0 {
        adu += model.readout * f64::from(readout());
    }
    let mut overloads = 0;
    if adu > 2_147_483_647.0 {
        adu = 2_147_483_647.0;
        overloads += u64::from(bits32);
    }
    let int32 = to_uint(adu);
    if adu > 65535.0 {
        adu = 65535.0;
        overloads += u64::from(!bits32);
    }
    (int32, to_ushort(adu), overloads)
}

/// The PSF over each panel of `panel_rows` rows (the whole image when it is one panel); the
/// panels' reports as one: the brightest input and the widest automatic radius, the lost
/// photons summed.
fn apply_model_psf(counts: Vec<f32>, width: usize, panel_rows: usize, model: &NoiseModel) -> (Vec<f32>, Option<PsfReport>) {
    let Some(psf) = model.psf.as_ref().filter(|p| p.fwhm_pixels > 0.0) else {
        return (counts, None);
    };
    let c_parity = model.generator == Generator::CParity;
    let panel = (width * panel_rows).max(1);
    if counts.len() <= panel {
        let (blurred, report) = apply_psf(&counts, width, panel_rows, psf.shape, psf.fwhm_pixels, psf.radius, c_parity);
        return (blurred, Some(report));
    }
    let mut out = Vec::with_capacity(counts.len());
    let mut merged: Option<PsfReport> = None;
    for chunk in counts.chunks(panel) {
        let (blurred, report) = apply_psf(chunk, width, panel_rows, psf.shape, psf.fwhm_pixels, psf.radius, c_parity);
        out.extend_from_slice(&blurred);
        merged = Some(match merged {
            None => report,
            Some(m) => PsfReport {
                max_input: match (m.max_input, report.max_input) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
                auto_radius: m.auto_radius.max(report.auto_radius),
                lost_photons: match (m.lost_photons, report.lost_photons) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                },
            },
        });
    }
    (out, merged)
}

/// The pixel loop in pixel order: the only order noisify.c's serial generators allow.
fn noise_image_serial(
    photons: &[f32],
    width: usize,
    panel_rows: usize,
    model: &NoiseModel,
    bits32: bool,
    rendered: impl Fn(usize) -> bool,
) -> NoiseResult {
    let mut streams = Streams::new(model);
    let mut counts = Vec::with_capacity(photons.len());
    let mut photons_before_psf = 0.0f64;
    for (i, &ideal) in photons.iter().enumerate() {
        if !rendered(i) {
            counts.push(0.0);
            continue;
        }
        let count = noisy_count(ideal, model, &mut streams, i);
        photons_before_psf += f64::from(count);
        counts.push(count);
    }
    let (mut counts, psf_report) = apply_model_psf(counts, width, panel_rows, model);
    let mut image = IntImages { int16: Vec::with_capacity(counts.len()), int32: Vec::with_capacity(counts.len()) };
    let (mut sum, mut overloads) = (0.0f64, 0u64);
    for (i, signal) in counts.iter_mut().enumerate() {
        if !rendered(i) {
            *signal = 0.0;
            image.int32.push(0);
            image.int16.push(0);
            continue;
        }
        sum += f64::from(*signal);
        let (int32, int16, over) = adu_of(*signal, model, bits32, || streams.gauss(Stage::Readout, i));
        image.int32.push(int32);
        image.int16.push(int16);
        overloads += over;
    }
    NoiseResult { image, photons_before_psf, psf: psf_report, photons: sum, overloads, counts }
}

/// Pixels per parallel task of the counter generator's loops: small enough that a small
/// detector still splits, large enough that scheduling costs nothing measurable.
const CHUNK: usize = 4096;

/// The sum of the rendered pixels' values in pixel order (f64), as the serial loop adds them.
fn ordered_sum(values: &[f32], rendered: impl Fn(usize) -> bool) -> f64 {
    values.iter().enumerate().filter(|(i, _)| rendered(*i)).fold(0.0f64, |s, (_, &v)| s + f64::from(v))
}

/// The counter generator's stages on lanes of pixels (`super::lanes`), chunks in parallel.
/// Without a PSF, stages 3 and 5 are one pass. The sums are the serial loop's: when every count
/// is a whole number (Poisson counts are) and their total is below 2⁵², every order of adding
/// gives the same bits, so the chunks' totals are used; otherwise they are added again in
/// pixel order.
fn noise_image_parallel(
    photons: &[f32],
    width: usize,
    panel_rows: usize,
    model: &NoiseModel,
    bits32: bool,
    rendered: impl Fn(usize) -> bool + Sync,
    frame: u32,
) -> NoiseResult {
    use super::lanes::{AduOut, Keys, Sums, adu_chunk, counts_chunk};
    use crate::par::*;
    let keys = Keys::new(model, frame);
    let n = photons.len();
    let mut counts = vec![0.0f32; n];
    let mut image = IntImages { int16: vec![0; n], int32: vec![0; n] };
    let psf = model.psf.as_ref().is_some_and(|p| p.fwhm_pixels > 0.0);
    let rendered = &rendered;
    let before: Sums = if psf {
        counts
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, counts)| counts_chunk(&photons[c * CHUNK..c * CHUNK + counts.len()], c * CHUNK, model, &keys, rendered, counts, None))
            .collect::<Vec<Sums>>()
            .into_iter()
            .fold(Sums::default(), Sums::and)
    } else {
        counts
            .par_chunks_mut(CHUNK)
            .zip(image.int32.par_chunks_mut(CHUNK).zip(image.int16.par_chunks_mut(CHUNK)))
            .enumerate()
            .map(|(c, (counts, (int32, int16)))| {
                let adu = AduOut { int32, int16, bits32 };
                counts_chunk(&photons[c * CHUNK..c * CHUNK + counts.len()], c * CHUNK, model, &keys, rendered, counts, Some(adu))
            })
            .collect::<Vec<Sums>>()
            .into_iter()
            .fold(Sums::default(), Sums::and)
    };
    let photons_before_psf = before.exact().unwrap_or_else(|| ordered_sum(&counts, rendered));
    if !psf {
        return NoiseResult { image, photons_before_psf, psf: None, photons: photons_before_psf, overloads: before.overloads, counts };
    }
    let (mut counts, psf_report) = apply_model_psf(counts, width, panel_rows, model);
    let after = counts
        .par_chunks_mut(CHUNK)
        .zip(image.int32.par_chunks_mut(CHUNK).zip(image.int16.par_chunks_mut(CHUNK)))
        .enumerate()
        .map(|(c, (signal, (int32, int16)))| adu_chunk(signal, c * CHUNK, model, &keys, rendered, int32, int16, bits32))
        .collect::<Vec<Sums>>()
        .into_iter()
        .fold(Sums::default(), Sums::and);
    let photons = after.exact().unwrap_or_else(|| ordered_sum(&counts, rendered));
    NoiseResult { image, photons_before_psf, psf: psf_report, photons, overloads: after.overloads, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(generator: Generator) -> NoiseModel {
        NoiseModel {
            flicker: 0.02,
            calibration: 0.03,
            readout: 2.0,
            gain: 1.0,
            adc_offset: 40.0,
            seed: 5,
            calib_seed: 123_456_789,
            psf: None,
            calibration_after_poisson: false,
            generator,
        }
    }

    /// The counter mode's image does not depend on the order pixels are visited: noising the
    /// image reversed gives the reversed pixels only if the noise followed the visiting order;
    /// instead each pixel's value is its own (checked by noising one pixel alone).
    #[test]
    fn counter_noise_is_per_pixel() {
        let photons: Vec<f32> = (0..500).map(|i| (i % 37) as f32 * 3.5).collect();
        let m = model(Generator::Counter { frame: 0 });
        let whole = noise_image(&photons, 500, 1, &m, false);
        for i in [0usize, 17, 499] {
            // a one-pixel image at the same pixel index: prepend zeros so the index matches
            let mut lone = vec![0.0f32; i + 1];
            lone[i] = photons[i];
            let alone = noise_image(&lone, i + 1, 1, &m, false);
            assert_eq!(alone.image.int16[i], whole.image.int16[i], "pixel {i}");
        }
        // another frame: different shot noise, same calibration errors
        let other = noise_image(&photons, 500, 1, &model(Generator::Counter { frame: 1 }), false);
        assert_ne!(other.image.int16, whole.image.int16);
    }

    /// The counter mode's parallel loops give the serial loop's images, counts and sums bit for
    /// bit, with 1 and 2 threads: PSF (automatic radius), readout, flicker and calibration in
    /// both orders, overloads, and a ROI.
    #[cfg(feature = "parallel")]
    #[test]
    fn parallel_counter_noise_equals_the_serial_loop_for_any_thread_count() {
        let (w, h) = (61usize, 53usize);
        let photons: Vec<f32> = (0..w * h).map(|i| if i % 97 == 0 { 1.0e6 } else { ((i * 7919) % 401) as f32 * 0.05 }).collect();
        let in_roi = |i: usize| (3..58).contains(&(i % w)) && (2..50).contains(&(i / w));
        for (after, bits32) in [(false, false), (true, true)] {
            let m = NoiseModel {
                psf: Some(Psf { shape: PsfShape::Gauss, fwhm_pixels: 1.7, radius: 0 }),
                calibration_after_poisson: after,
                ..model(Generator::Counter { frame: 3 })
            };
            let serial = noise_image_serial(&photons, w, h, &m, bits32, in_roi);
            assert!(serial.photons > 1e4 && (bits32 || serial.overloads > 0));
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| noise_image_where(&photons, w, h, &m, bits32, in_roi));
                assert_eq!(got.image, serial.image, "{threads} threads");
                assert!(got.counts.iter().zip(&serial.counts).all(|(a, b)| a.to_bits() == b.to_bits()));
                assert_eq!(got.photons_before_psf.to_bits(), serial.photons_before_psf.to_bits());
                assert_eq!(got.photons.to_bits(), serial.photons.to_bits());
                assert_eq!((got.overloads, &got.psf), (serial.overloads, &serial.psf));
            }
        }
    }

    /// The lanes (`super::super::lanes`) against the serial loop, pixel for pixel and sum for
    /// sum, in every regime of the samplers: no photons, NaN and negative means, inversion
    /// (below 16), PTRS (its quick test and the trials it leaves to the scalar sampler), the
    /// normal approximation from 2²³ and infinity; with and without readout, flicker and
    /// calibration in both orders, 16- and 32-bit clamps, a ROI, a PSF (stage 5 apart) and
    /// none (fused), images whose length is not a multiple of the lanes or the chunks, sums
    /// taken exactly (whole counts) and in pixel order (fractional ones); 1 and 2 threads.
    #[cfg(feature = "parallel")]
    #[test]
    fn lanes_equal_the_serial_loop_in_every_regime() {
        let (w, h) = (173usize, 97usize);
        let special = [0.0f32, -3.0, f32::NAN, 1.0e-7, 0.3, 10.0, 15.999, 16.0, 1.0e3, 1.0e7, 8_388_607.0, 8_388_608.0, 3.0e9, f32::INFINITY, f32::NEG_INFINITY];
        let photons: Vec<f32> = (0..w * h)
            .map(|i| match i % 11 {
                0 => special[(i / 11) % special.len()],
                1..=4 => ((i * 7919) % 1601) as f32 * 0.01,
                5..=8 => 16.0 + ((i * 104_729) % 100_000) as f32 * 0.37,
                _ => 2.0e4 + ((i * 31) % 997) as f32,
            })
            .collect();
        let in_roi = |i: usize| (3..170).contains(&(i % w)) && (1..95).contains(&(i / w));
        let everything = |_: usize| true;
        let psf = Some(Psf { shape: PsfShape::Gauss, fwhm_pixels: 1.3, radius: 2 });
        let base = model(Generator::Counter { frame: 7 });
        let cases = [
            (NoiseModel { flicker: 0.0, calibration: 0.0, readout: 0.0, ..base.clone() }, false),
            (NoiseModel { flicker: 0.0, calibration: 0.0, ..base.clone() }, true),
            (base.clone(), false),
            (NoiseModel { calibration_after_poisson: true, gain: 0.7, adc_offset: -3.0, ..base.clone() }, true),
            (NoiseModel { psf: psf.clone(), ..base.clone() }, false),
            (NoiseModel { psf, calibration: 0.0, flicker: 0.0, ..base }, true),
        ];
        // without the infinite mean, whole counts sum exactly (the lanes' own sums); with it,
        // the sums are ∞ and taken in pixel order
        let finite: Vec<f32> = photons.iter().map(|&v| if v.is_infinite() { 5.0 } else { v }).collect();
        for (m, bits32) in cases {
            for (photons, roi) in [(&photons, true), (&finite, false), (&finite, true), (&photons, false)] {
                let (serial, rendered): (NoiseResult, &(dyn Fn(usize) -> bool + Sync)) = if roi {
                    (noise_image_serial(photons, w, h, &m, bits32, in_roi), &in_roi)
                } else {
                    (noise_image_serial(photons, w, h, &m, bits32, everything), &everything)
                };
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let got = pool.install(|| noise_image_where(photons, w, h, &m, bits32, rendered));
                    let what = format!("{m:?}, 32 bits {bits32}, ROI {roi}, {threads} threads, finite {}", serial.photons.is_finite());
                    assert_eq!(got.image, serial.image, "{what}");
                    assert!(got.counts.iter().zip(&serial.counts).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}");
                    assert_eq!(got.photons_before_psf.to_bits(), serial.photons_before_psf.to_bits(), "{what}");
                    assert_eq!(got.photons.to_bits(), serial.photons.to_bits(), "{what}");
                    assert_eq!((got.overloads, &got.psf), (serial.overloads, &serial.psf), "{what}");
                }
            }
        }
    }

    /// The PSF of a detector of panels spreads each panel's photons within that panel: a
    /// spike on panel 0's last row leaves panel 1 dark, and panel 0 is blurred as alone.
    #[test]
    fn the_psf_stays_within_each_panel() {
        let (w, rows) = (9usize, 7usize);
        let mut counts = vec![0.0f32; w * rows * 2];
        counts[(rows - 1) * w + 4] = 1.0e4;
        let m = NoiseModel { psf: Some(Psf { shape: PsfShape::Gauss, fwhm_pixels: 2.0, radius: 0 }), ..model(Generator::Counter { frame: 0 }) };
        let (stacked, _) = apply_model_psf(counts.clone(), w, rows, &m);
        assert!(stacked[..w * rows].iter().filter(|&&v| v > 0.0).count() > 5);
        assert!(stacked[w * rows..].iter().all(|&v| v == 0.0));
        let (alone, _) = apply_model_psf(counts[..w * rows].to_vec(), w, rows, &m);
        assert_eq!(&stacked[..w * rows], &alone[..]);
        // one image of the same rows: the spike reaches the rows below
        let (whole, _) = apply_model_psf(counts, w, 2 * rows, &m);
        assert!(whole[w * rows..].iter().any(|&v| v > 0.0));
    }

    #[test]
    fn c_parity_noise_depends_on_order_and_overloads_count() {
        let photons = vec![10.0f32, 1.0e5, 3.0e9, 0.0];
        let r = noise_image(&photons, 4, 1, &model(Generator::CParity), false);
        assert_eq!(r.image.int16[1], 65535);
        assert_eq!(r.image.int32[2], 2_147_483_647);
        assert_eq!(r.overloads, 2);
        let r32 = noise_image(&photons, 4, 1, &model(Generator::CParity), true);
        assert_eq!(r32.overloads, 1);
    }

    #[test]
    fn noiseless_c_clamps_the_32_bit_image_at_65535() {
        let c = noiseless_ints(&[1.0e6, 2.5, -100.0], 1.0, 40.0, true);
        assert_eq!(c.int32, vec![65535, 42, 4_294_967_236]);
        assert_eq!(c.int16, vec![65535, 42, 65476]);
        let ours = noiseless_ints(&[1.0e6], 1.0, 40.0, false);
        assert_eq!(ours.int32, vec![1_000_040]);
    }
}
