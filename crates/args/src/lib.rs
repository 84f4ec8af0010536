//! nanoBragg.c's command line as a library, shared by every face that takes one: the `nanobragg`
//! program and the Python package's `Simulator.from_args`. `defs` defines every flag once,
//! `parse` walks the arguments (reading the `-mask` and `-img` headers first, as nanoBragg.c
//! does), `raw` holds what was typed (`RawArgs`: the core's `ExperimentParams` and the files,
//! outputs, engine and reports a command line adds around them) and loads and resolves it.
//! `gpu_env` and `limits` are what the environment and the machine say about a run (GPU options,
//! memory budget), `shard` the dataset flags' own values.
//!
//! Prints nothing: what reading the inputs says comes back as text, the set-up's warnings go
//! through `log` (where the face sends them), and errors are the core's `Error`.

pub mod defs;
pub mod gpu_env;
pub mod limits;
pub mod parse;
pub mod raw;
pub mod shard;

/// The largest frame number (nine digits): counts and numbers beyond it are refused.
pub const MAX_FRAME_NUMBER: u64 = 999_999_999;

// the library's modules under the paths the flag table has always used (it lived in the
// program's `src/cli`)
use nanobragg_core::{error, model, physics, response};
use nanobragg_io as io;

mod engine {
    pub use nanobragg_gpu as gpu;
}

mod dataset {
    pub use crate::MAX_FRAME_NUMBER;
    pub use crate::shard;
}
