//! The kernel variant an adapter runs when none is forced (`-gpu_precision auto`): each
//! variant the adapter offers that passes the precision self-test is timed on a short
//! calibration render, the fastest is kept, and the choice is recorded in a small text file
//! beside the pipeline cache, so that later runs on the same adapter, driver and kernel reuse
//! it without measuring again.
//!
//! The record is one file per adapter, `gpu-variant-<hash>.txt` in the cache folder
//! (`GpuOptions::cache_dir`; none without one), `key = value` lines. A file that does not parse, or that names
//! another adapter, driver or kernel, is ignored and measured again (and then replaced); a
//! folder that cannot be written costs only the record. Nothing here ever fails a render.

use super::selftest;
use super::shader::{Fetch, Precision, kernel_source};
use std::path::{Path, PathBuf};

const HEADER: &str = "# nanobragg GPU kernel variant choice (delete this file to measure again)";

/// What was measured on one adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// adapter name, backend, driver and driver version as wgpu reports them
    pub adapter: String,
    /// hash of both kernel variants and the self-test (a new kernel is measured again)
    pub kernel: String,
    /// per variant offered: `Ok(seconds of the calibration render)` or `Err(why it was not used)`
    pub variants: Vec<(Precision, std::result::Result<f64, String>)>,
    pub choice: Precision,
}

fn precision_named(name: &str) -> Option<Precision> {
    [Precision::F64, Precision::DoubleFloat].into_iter().find(|p| p.name() == name)
}

impl Record {
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\nadapter = {}\nkernel = {}\n", one_line(&self.adapter), self.kernel);
        for (p, result) in &self.variants {
            match result {
                Ok(seconds) => text.push_str(&format!("{} = {seconds:.6e} s\n", p.name())),
                Err(why) => text.push_str(&format!("{} = not used: {}\n", p.name(), one_line(why))),
            }
        }
        text.push_str(&format!("choice = {}\n", self.choice.name()));
        text
    }

    /// The record in `text`, `None` unless every line is well formed and the choice is one
    /// of the variants measured.
    pub fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let (mut adapter, mut kernel, mut choice, mut variants) = (None, None, None, Vec::new());
        for line in lines {
            let (key, value) = line.split_once(" = ")?;
            match key {
                "adapter" => adapter = Some(value.to_string()),
                "kernel" => kernel = Some(value.to_string()),
                "choice" => choice = Some(precision_named(value)?),
                name => {
                    let p = precision_named(name)?;
                    let result = match value.strip_prefix("not used: ") {
                        Some(why) => Err(why.to_string()),
                        None => {
                            let seconds: f64 = value.strip_suffix(" s")?.parse().ok()?;
                            if !(seconds.is_finite() && seconds > 0.0) {
                                return None;
                            }
                            Ok(seconds)
                        }
                    };
                    variants.push((p, result));
                }
            }
        }
        let choice = choice?;
        if !variants.iter().any(|(p, r)| *p == choice && r.is_ok()) {
            return None;
        }
        Some(Record { adapter: adapter?, kernel: kernel?, variants, choice })
    }

    /// Whether `precision` passed the self-test when this was recorded.
    pub fn passed(&self, precision: Precision) -> bool {
        self.variants.iter().any(|(p, r)| *p == precision && r.is_ok())
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The adapter and driver as recorded.
pub fn adapter_identity(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:04x}:{:04x}, {} {})", info.name, info.backend, info.vendor, info.device, info.driver, info.driver_info)
}

/// 64-bit FNV-1a: stable across builds and Rust versions (the std hasher is not promised to
/// be), which a file name kept between runs needs.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Hash of everything that decides which variant is right and fast: both kernels (plain
/// fetch; the subgroup file differs only in the fetch) and both self-tests.
pub fn kernel_hash() -> String {
    let text: String = [Precision::F64, Precision::DoubleFloat]
        .into_iter()
        .flat_map(|p| [kernel_source(p, Fetch::Plain), kernel_source(p, Fetch::Subgroup), selftest::probe_source(p)])
        .collect();
    format!("{:016x}", fnv(text.as_bytes()))
}

/// The record's file for this adapter in the cache folder `dir`.
pub fn record_path(dir: &Path, info: &wgpu::AdapterInfo) -> PathBuf {
    dir.join(format!("gpu-variant-{:016x}.txt", fnv(adapter_identity(info).as_bytes())))
}

/// The record for this adapter and kernel in `dir`, if one was kept there and is intact.
pub fn recorded(dir: &Path, info: &wgpu::AdapterInfo) -> Option<(Record, PathBuf)> {
    let path = record_path(dir, info);
    let record = Record::parse(&std::fs::read_to_string(&path).ok()?)?;
    (record.adapter == one_line(&adapter_identity(info)) && record.kernel == kernel_hash()).then_some((record, path))
}

/// Keeps `record` in `dir` (under a name of this process's own, then renamed into place, as
/// the pipeline cache); `None` when it could not be written.
pub fn keep(dir: &Path, info: &wgpu::AdapterInfo, record: &Record) -> Option<PathBuf> {
    let path = record_path(dir, info);
    let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&temporary, record.to_text()))
        .and_then(|()| std::fs::rename(&temporary, &path));
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            log::debug!("GPU variant choice {} not saved: {e}", path.display());
            None
        }
    }
}

/// The fastest variant that passed (`None` when none did).
pub fn fastest(variants: &[(Precision, std::result::Result<f64, String>)]) -> Option<Precision> {
    variants
        .iter()
        .filter_map(|(p, r)| r.as_ref().ok().map(|s| (*p, *s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(p, _)| p)
}

/// The calibration render: flat detector, 128² pixels, 2 × 2 sub-pixels, 2 φ steps × 4
/// mosaic domains (the subgroup fetch's chunk), ~half a million terms: tens of milliseconds
/// on lavapipe, well under one on a GPU (timed there by the kernel's own timestamps).
pub fn calibration_plan() -> nanobragg_core::engine::plan::Plan {
    let p = calibration_params().expect("the calibration parameters are valid");
    let exp = nanobragg_core::model::resolve(&p, &Default::default(), &Default::default(), &mut Vec::new()).expect("the calibration experiment resolves");
    nanobragg_core::engine::plan::Plan::new(&exp)
}

fn calibration_params() -> Result<nanobragg_core::params::ExperimentParams, nanobragg_core::params::ParamError> {
    let mut p = nanobragg_core::params::ExperimentParams::default();
    p.cell([100.0, 100.0, 100.0, 90.0, 90.0, 90.0])?.lambda(1.0)?.n_cells(5)?.default_f(100.0)?.distance(100.0)?;
    p.mosaic(0.5)?.mosaic_domains(4)?.phisteps(2)?.osc(0.1)?.oversample(2).detpixels(128)?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            adapter: "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, 10005:0000, llvmpipe Mesa 22.3.6)".into(),
            kernel: kernel_hash(),
            variants: vec![(Precision::F64, Ok(0.0123)), (Precision::DoubleFloat, Err("TwoSum(1, 2^-30) gave (1e0, 0e0)".into()))],
            choice: Precision::F64,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = sample();
        assert_eq!(Record::parse(&r.to_text()), Some(r.clone()));
        assert!(r.passed(Precision::F64) && !r.passed(Precision::DoubleFloat));
        assert!(r.to_text().contains("\nf64 = 1.230000e-2 s\ndouble-float = not used: TwoSum"), "{}", r.to_text());
    }

    #[test]
    fn damaged_records_are_refused() {
        let text = sample().to_text();
        let broken = [
            String::new(),
            "garbage\u{0}\u{1}".to_string(),
            text.replace("choice = f64", "choice = f32"),
            text.replace("choice = f64", "choice = double-float"), // chose a variant that failed
            text.replace("1.230000e-2 s", "fast"),
            text.replace("1.230000e-2 s", "NaN s"),
            text.replace("kernel = ", "kernel: "),
            text[..text.len() / 2].to_string(),
            text.replace(HEADER, "# something else"),
        ];
        for b in &broken {
            assert_eq!(Record::parse(b), None, "accepted:\n{b}");
        }
    }

    #[test]
    fn the_fastest_passing_variant_is_chosen() {
        assert_eq!(fastest(&[(Precision::F64, Ok(2.0)), (Precision::DoubleFloat, Ok(1.0))]), Some(Precision::DoubleFloat));
        assert_eq!(fastest(&[(Precision::F64, Ok(2.0)), (Precision::DoubleFloat, Err("wrong".into()))]), Some(Precision::F64));
        assert_eq!(fastest(&[(Precision::DoubleFloat, Err("wrong".into()))]), None);
    }

    #[test]
    fn the_calibration_plan_resolves() {
        let plan = calibration_plan();
        assert_eq!((plan.fpixels, plan.spixels, plan.phisteps * plan.domains, plan.oversample), (128, 128, 8, 2));
    }
}
