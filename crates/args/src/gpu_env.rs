//! What the environment says about the GPU engine, read here in the face and handed to the
//! GPU crate in its `GpuOptions` (the library reads no variable and writes no file unless told):
//! `WGPU_BACKEND` for `-backend auto`, wgpu's debugging variables (`WGPU_VALIDATION`,
//! `WGPU_DEBUG`, ...), and the folder where the pipeline cache and the kernel-variant record
//! are kept between runs.

use crate::engine::gpu::GpuOptions;
use std::path::PathBuf;

/// `opts` with what the environment says filled in (each run's options go through here, so
/// that a run's render, trace and noise stages ask for the same shared device).
pub fn with_environment(opts: GpuOptions) -> GpuOptions {
    GpuOptions {
        cache_dir: cache_dir(),
        auto_backends: wgpu::Backends::from_env(),
        instance_flags: Some(wgpu::InstanceFlags::from_env_or_default()),
        ..opts
    }
}

/// `-backend` (None: auto) with the environment's settings (`with_environment`).
pub fn for_backend(backend: Option<&str>) -> GpuOptions {
    with_environment(GpuOptions::for_backend(backend))
}

/// The folder for the GPU engine's cache files: `$NANOBRAGG_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/nanobragg`, else `~/.cache/nanobragg`; None when `NANOBRAGG_CACHE_DIR` is
/// `off` (or empty) or no home is known.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("NANOBRAGG_CACHE_DIR") {
        Some(dir) if dir == "off" || dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("nanobragg")),
    }
}
