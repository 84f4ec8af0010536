//! Datasets: many frames from one experiment, rendered by one `Simulator`. `series` says which
//! frames a run renders (rotation series: φ start and noise seed of each frame); `template`
//! turns output-name templates (`img_####.img`) into each frame's file names; `shots` the shot
//! lists (stills), frames numbered 1..N whose experiments differ by flag overrides.
//!
//! Shot lists, sharding and manifests build on these: a frame is fully described by its
//! `simulator::Frame` (a number and what changes), so any process can render any frame.
//! `files` is the one registry of the files a run reads and writes, checked before it renders.

pub mod files;
pub mod series;
pub mod shard;
pub mod shots;
pub mod template;

/// The largest frame number (nine digits): counts and numbers beyond it are refused.
pub use nanobragg_args::MAX_FRAME_NUMBER;
