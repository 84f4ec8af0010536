//! nanobragg: X-ray diffraction images of small crystals, computed by a WebGPU kernel and
//! checked against an f64 CPU engine; command-line compatible with nanoBragg.c.
//!
//! Flow: `cli` (what was typed) → `model` (the resolved experiment in SI units) →
//! `engine::plan` (flat arrays) → `engine::cpu` / `engine::gpu` → `io` (output files).

pub mod app;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod console;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod io;
pub mod limits;
pub mod model;
pub mod physics;
pub mod preview;
pub mod progress;
pub mod response;
pub mod rng;
pub mod trace;
