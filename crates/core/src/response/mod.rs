//! Detector response: what a detector does to an ideal photons-per-pixel image — flicker and
//! calibration errors, photon-counting (Poisson) noise, the point-spread function, readout
//! noise, gain, ADC offset and integer conversion.
//!
//! Two generators drive the noise. `-c_parity` replays the serial Numerical Recipes generators
//! of noisify.c (`crate::rng::SharedStatics`) so that its images come out pixel for pixel; the
//! default mode uses the counter-based generator of [`philox`] with the samplers of [`sample`],
//! so that every pixel's noise is a pure function of (seed, frame, pixel, draw) and does not
//! depend on the order pixels are visited, the thread count, tile size, engine or shard.
//!
//! [`record`] puts them together for one rendered frame: the integer image, the noise image
//! and what is reported of them, as the main command writes them.
//!
//! The stages are kept apart (one file each) so that the GPU twins can follow one WGSL file per
//! stage, each with this Rust code as its mirror; the integer and float operations each stage
//! needs on the WGSL side are noted where they occur.

pub mod detector;
mod lanes;
pub mod noisify;
pub mod philox;
pub mod psf;
pub mod record;
pub mod sample;
