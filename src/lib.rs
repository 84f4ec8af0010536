//! The `nanobragg` program: nanoBragg.c's command line (and nonBragg.c's and noisify.c's) on
//! the simulator library, with what a command-line run adds around it.
//!
//! The library is three crates below this one (docs/architecture.md): `nanobragg-core`
//! (parameters, the resolved experiment, the plan, the f64 CPU engine, the detector response;
//! no files, no command line), `nanobragg-gpu` (the WebGPU engine and the `Simulator`) and
//! `nanobragg-io` (file formats); `nanobragg-args` above them is nanoBragg.c's command line
//! (the flag table, shared with the Python package). This crate is the face: `cli` (flag table → parameters),
//! `app` (the run: one frame or a series, outputs, reports, progress, Ctrl-C), `dataset`
//! (series, shot lists, shards, manifests) and the subcommands.

pub mod app;
pub mod bench;
pub mod cli;
pub mod compare;
pub mod console;
pub mod dataset;
pub mod diagnostics;
pub mod io;
pub mod output;
pub mod preview;
pub mod progress;
pub mod trace;

// the library's modules under the names this crate (and its tests) use
pub use nanobragg_args::{gpu_env, limits};
pub use nanobragg_core::{error, model, params, physics, response, rng};
pub use nanobragg_gpu::simulator;

/// The engines: the core's (plan, CPU engine, background, what a render returns), the GPU
/// engine as `engine::gpu`, and the choice between them.
pub mod engine {
    pub use nanobragg_core::engine::*;
    pub use nanobragg_gpu as gpu;
    pub use nanobragg_gpu::engine::{EngineChoice, RenderedImage, render};
}
