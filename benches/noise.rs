//! The default mode's noise (Philox counters) at 512², pixels/s, side by side (docs/performance.md):
//! Poisson + readout as `noise_image` computes it on lanes of pixels, the same per pixel with the
//! scalar samplers (the loop before the lanes), and Philox alone for the same two draw blocks a
//! pixel (scalar and on lanes), all on the rayon pool. Ratios, not absolute numbers, are the point.

use criterion::{Criterion, Throughput};
use nanobragg_core::response::noisify::{Generator, NoiseModel, noise_image};
use nanobragg_core::response::philox::{Draws, Stage, counter, key_of_seed, philox4x32, philox4x32_lanes};
use nanobragg_core::response::sample::{gauss, poisson};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const SIDE: usize = 512;
const CHUNK: usize = 4096;

/// Means as a diffraction image has them: a background of 0.5–20 photons with 1 % of pixels in
/// spots of 10²–10⁵.
fn photons() -> Vec<f32> {
    (0..SIDE * SIDE).map(|i| if i % 97 == 0 { 100.0 + ((i * 7919) % 100_000) as f32 } else { 0.5 + ((i * 104_729) % 1950) as f32 * 0.01 }).collect()
}

/// The scalar samplers pixel by pixel: Poisson count, readout, ADU (16-bit clamp).
fn scalar_loop(photons: &[f32], model: &NoiseModel) -> Vec<u16> {
    let mut out = vec![0u16; photons.len()];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        for (k, o) in out.iter_mut().enumerate() {
            let i = (c * CHUNK + k) as u32;
            let count = poisson(photons[i as usize], &mut Draws::new(model.seed, 0, i, Stage::Poisson));
            let z = gauss(&mut Draws::new(model.seed, 0, i, Stage::Readout));
            let adu = f64::from(count) * model.gain + model.adc_offset + model.readout * f64::from(z);
            *o = adu.clamp(0.0, 65535.0) as u16;
        }
    });
    out
}

/// Philox alone: the two blocks a pixel draws (Poisson, readout), one counter at a time.
fn philox_scalar(n: usize, key: [u32; 2]) -> u32 {
    (0..n).into_par_iter().with_min_len(CHUNK).map(|i| philox4x32(counter(i as u32, 0, Stage::Poisson, 0), key)[0] ^ philox4x32(counter(i as u32, 0, Stage::Readout, 0), key)[1]).reduce(|| 0, |a, b| a ^ b)
}

/// Philox alone on sixteen lanes (the portable build of `philox4x32_lanes`).
fn philox_lanes(n: usize, key: [u32; 2]) -> u32 {
    (0..n / 16)
        .into_par_iter()
        .with_min_len(CHUNK / 16)
        .map(|g| {
            let pixels: [u32; 16] = std::array::from_fn(|l| (g * 16 + l) as u32);
            let (a, _) = philox4x32_lanes(&pixels, 0, Stage::Poisson, key);
            let (_, b) = philox4x32_lanes(&pixels, 0, Stage::Readout, key);
            a.iter().zip(&b).fold(0, |s, (x, y)| s ^ x ^ y)
        })
        .reduce(|| 0, |a, b| a ^ b)
}

/// Philox alone on sixteen lanes in AVX2 registers (what the noise uses on such a CPU).
#[cfg(target_arch = "x86_64")]
fn philox_avx2(n: usize, key: [u32; 2]) -> u32 {
    use nanobragg_core::response::philox::philox4x32_lanes_avx2;
    (0..n / 16)
        .into_par_iter()
        .with_min_len(CHUNK / 16)
        .map(|g| {
            let pixels: [u32; 16] = std::array::from_fn(|l| (g * 16 + l) as u32);
            // SAFETY: called only after the CPU was found to have AVX2 (main)
            let ((a, _), (_, b)) = unsafe { (philox4x32_lanes_avx2(&pixels, 0, Stage::Poisson, key), philox4x32_lanes_avx2(&pixels, 0, Stage::Readout, key)) };
            a.iter().zip(&b).fold(0, |s, (x, y)| s ^ x ^ y)
        })
        .reduce(|| 0, |a, b| a ^ b)
}

fn main() {
    let photons = photons();
    let model = NoiseModel { flicker: 0.0, calibration: 0.0, readout: 3.0, gain: 1.0, adc_offset: 40.0, seed: -5, calib_seed: -123_456_789, psf: None, calibration_after_poisson: false, generator: Generator::Counter { frame: 0 } };
    let key = key_of_seed(model.seed);
    let mut c = Criterion::default().configure_from_args().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut group = c.benchmark_group("noise_512");
    group.throughput(Throughput::Elements((SIDE * SIDE) as u64));
    group.bench_function("poisson_readout_lanes", |b| b.iter(|| black_box(noise_image(&photons, SIDE, SIDE, &model, false))));
    group.bench_function("poisson_readout_scalar", |b| b.iter(|| black_box(scalar_loop(&photons, &model))));
    group.bench_function("philox_two_blocks_scalar", |b| b.iter(|| black_box(philox_scalar(SIDE * SIDE, key))));
    group.bench_function("philox_two_blocks_lanes", |b| b.iter(|| black_box(philox_lanes(SIDE * SIDE, key))));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        group.bench_function("philox_two_blocks_avx2", |b| b.iter(|| black_box(philox_avx2(SIDE * SIDE, key))));
    }
    group.finish();
    c.final_summary();
}
