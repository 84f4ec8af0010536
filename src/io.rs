//! File formats (`nanobragg-io`) and the program's own files: the dataset manifests and the
//! shot lists.

pub mod manifest;
pub mod shots;

pub use nanobragg_io::*;
pub use nanobragg_core::cfmt;
