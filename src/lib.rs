//! nanobragg: X-ray diffraction images of small crystals, computed by a WebGPU kernel and
//! checked against an f64 CPU engine; command-line compatible with nanoBragg.c.
//!
//! Flow: `cli` (what was typed) → `model` (the resolved experiment in SI units) →
//! `engine::plan` (flat arrays) → `engine::cpu` / `engine::gpu` → `io` (output files).
//! `simulator::Simulator` holds the experiment and plan and renders frame after frame (the
//! library API); `app` is the command line's use of it, `dataset` its rotation series.

pub mod app;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod console;
pub mod dataset;
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
pub mod simulator;
pub mod trace;
