//! nanobragg's simulator core: X-ray diffraction images of small crystals in f64, as
//! nanoBragg.c computes them (`-c_parity`) or with its defects fixed (the default mode).
//!
//! Flow: `params::ExperimentParams` (what was asked, in nanoBragg.c's units) and
//! `model::Inputs` (structure factors, matrix, sources, tables: loaded by the caller) →
//! `model::resolve` (every default and precedence rule; pure: no files, no printing) →
//! `model::Experiment` (SI units) → `engine::plan::Plan` (flat, pixel-independent arrays) →
//! `engine::cpu` (the f64 engine) → `engine::Rendered` → `response` (noise, PSF, ADC).
//!
//! This crate knows no command line, opens no file and needs no thread (rayon is optional,
//! feature `parallel`); it builds for `wasm32-unknown-unknown`. The GPU engine
//! (`nanobragg-gpu`), the file formats (`nanobragg-io`) and the faces (the `nanobragg`
//! program) sit above it.

pub mod budget;
pub mod cfmt;
pub mod control;
pub mod engine;
pub mod gradients;
pub mod error;
pub mod model;
pub(crate) mod par;
pub mod params;
pub mod physics;
pub mod response;
pub mod rng;
pub mod structure;
#[doc(hidden)]
pub mod testing;
