//! The driver's pipeline cache kept on disk between runs, where the adapter offers one (wgpu's
//! `PIPELINE_CACHE`, Vulkan): a later process then reuses the compiled kernels instead of
//! compiling them again.
//!
//! The file lives in the cache folder the caller gives (`GpuOptions::cache_dir`; the CLI's is
//! `$NANOBRAGG_CACHE_DIR`, else `$XDG_CACHE_HOME/nanobragg`, else `~/.cache/nanobragg`), named
//! by wgpu's adapter/driver key; without a folder there is no file. It only ever holds what `PipelineCache::get_data` returned (written under a name of
//! the process's own, then renamed into place);
//! data from another driver version or a damaged file is rejected by wgpu's header check and
//! an empty cache is used. A cache that cannot be read or written never fails a render.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct DiskPipelineCache {
    cache: wgpu::PipelineCache,
    path: PathBuf,
    /// bytes last read or written, to skip rewriting an unchanged cache
    stored: Mutex<usize>,
}

impl DiskPipelineCache {
    /// The cache for this device (created with `PIPELINE_CACHE`) in `dir`, seeded from its file.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo, dir: &Path) -> Option<DiskPipelineCache> {
        let key = wgpu::util::pipeline_cache_key(info)?;
        let path = dir.join(key);
        let data = std::fs::read(&path).ok();
        // SAFETY: the file is only ever written from `PipelineCache::get_data` (see `save`);
        // with `fallback` set, data that does not match this adapter and driver is dropped.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor { label: Some("nanobragg"), data: data.as_deref(), fallback: true })
        };
        Some(DiskPipelineCache { cache, path, stored: Mutex::new(data.map_or(0, |d| d.len())) })
    }

    pub fn cache(&self) -> &wgpu::PipelineCache {
        &self.cache
    }

    /// Writes the cache back when it has changed (new kernels compiled since).
    pub fn save(&self) {
        let Some(data) = self.cache.get_data() else { return };
        let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        if data.len() == *stored {
            return;
        }
        // a temporary name of this process's own, so that concurrent runs never mix their
        // bytes in one file; the rename replaces the cache in one step
        let temporary = self.path.with_extension(format!("{}.tmp", std::process::id()));
        let written = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&temporary, &data))
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        match written {
            Ok(()) => *stored = data.len(),
            Err(e) => {
                let _ = std::fs::remove_file(&temporary);
                log::debug!("pipeline cache {} not saved: {e}", self.path.display());
            }
        }
    }
}
