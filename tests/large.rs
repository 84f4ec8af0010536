//! Large detectors through the command line: the full 2463 × 2527 supervisor frame on both
//! engines and a 6000 × 6000 frame on the CPU engine (the GPU engine renders one in
//! tests/gpu.rs), within the machine's memory; and the notice when no GPU adapter exists.

mod common;
mod gpu_support;

use common::*;
use nanobragg::compare::diff;
use std::path::Path;

/// Largest resident set of any child process so far (bytes).
#[cfg(unix)]
fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024
}

fn gpu_wanted() -> bool {
    std::env::var_os("NANOBRAGG_REQUIRE_GPU").is_some_and(|v| v == "1")
}

fn render(dir: &Path, args: &[String], engine: &str) -> Result<Vec<f32>, String> {
    let mut args = args.to_vec();
    args.extend(strings(&["-engine", engine, "-quiet", "-floatfile", "big.bin", "-intfile", "big.img", "-nopgm", "-nonoise"]));
    let out = nanobragg(dir, &args);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(floats(&std::fs::read(dir.join("big.bin")).unwrap()))
}

#[test]
fn cpu_renders_6000_square_within_memory() {
    let dir = tempfile::tempdir().unwrap();
    let args = strings(&["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "1", "-lambda", "1", "-distance", "500", "-detpixels", "6000", "-pixel", "0.1", "-oversample", "1"]);
    let image = render(dir.path(), &args, "cpu").unwrap();
    assert_eq!(image.len(), 6000 * 6000);
    assert!(image.iter().all(|v| v.is_finite() && *v > 0.0));
    // the float image is 144 MB; no per-term arrays may push the process far beyond it
    #[cfg(unix)]
    assert!(children_peak_rss() < 2 << 30, "peak RSS {} bytes", children_peak_rss());
}

/// Golden a52's command without its ROI: every pixel of the supervisor detector, on the CPU
/// engine and (when a GPU is required or present) on the GPU engine, which must agree.
#[test]
fn supervisor_full_frame_on_both_engines() {
    let Some(golden) = golden_dir() else { return };
    let case = "a52_supervisor_roi64_literal";
    let (_guard, dir) = stage_case(&golden, case);
    let with_roi = case_args(&golden, case);
    let mut args = with_roi.clone();
    let roi = args.iter().position(|a| a == "-roi").unwrap();
    args.drain(roi..roi + 5);
    let cpu = render(&dir, &args, "cpu").unwrap();
    assert_eq!(cpu.len(), 2463 * 2527);
    // default mode: a pixel does not depend on where rendering starts, so inside the golden
    // ROI the full frame equals the ROI render
    let roi_only = render(&dir, &with_roi, "cpu").unwrap();
    let in_roi = |i: usize| (1007..=1070).contains(&(i % 2463)) && (653..=716).contains(&(i / 2463));
    assert_eq!(diff(&cpu, &roi_only, in_roi).max_abs_diff, 0.0);
    match render(&dir, &args, "gpu") {
        Ok(gpu) => {
            // the GPU gate of the kernel the adapter picks (docs/gpu.md, "Gates")
            let a = gpu_support::Agreement::measure(&cpu, &gpu);
            assert!(a.passes(), "{}", a.describe(2463));
        }
        Err(e) if !gpu_wanted() && e.contains("no GPU adapter") => eprintln!("\n*** SKIPPED the GPU half: {e}"),
        Err(e) => panic!("GPU render failed: {e}"),
    }
    #[cfg(unix)]
    assert!(children_peak_rss() < 2 << 30, "peak RSS {} bytes", children_peak_rss());
}

/// No adapter for the asked-for API (Metal on Linux, or any API on a machine without one):
/// `-engine auto` says so and renders on the CPU; `-engine gpu` is an error.
#[cfg(not(target_os = "macos"))]
#[test]
fn missing_adapter_gives_notice_and_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let base = strings(&["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "3", "-lambda", "1", "-detpixels", "32", "-nopgm", "-nonoise", "-backend", "metal"]);
    let auto = nanobragg(dir.path(), &base);
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{err}");
    assert!(err.contains("no GPU adapter") && err.contains("using the CPU engine"), "{err}");
    assert!(dir.path().join("floatimage.bin").exists());
    let forced = nanobragg(dir.path(), &[base, strings(&["-engine", "gpu", "-floatfile", "gpu.bin"])].concat());
    let err = String::from_utf8_lossy(&forced.stderr);
    assert_eq!(forced.status.code(), Some(1), "{err}");
    assert!(err.contains("GPU") && !err.contains("panicked"), "{err}");
    assert!(!dir.path().join("gpu.bin").exists());
}
