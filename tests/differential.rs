//! Random differential test: a seeded generator (tests/support/cmdgen.rs) of valid nanoBragg
//! command lines sampling every flag family; each sample renders on the f64 CPU engine and on
//! the GPU engine, in the default mode and in `-c_parity` mode, and the two must agree within
//! the GPU gate of the kernel variant used (the variants take turns: f64, double-float, plain
//! and subgroup fetch). A failing case prints its full command.
//!
//! `NANOBRAGG_DIFF_SAMPLES` (default 160: each GPU render of a new command builds its pipeline,
//! about half a second on lavapipe) and `NANOBRAGG_DIFF_SEED` choose the run; the long
//! run is in docs/testing.md. When `NANOBRAGG_C_BIN` names a nanoBragg.c binary, the same
//! samples' `-c_parity -engine cpu` float images must equal that program's bit for bit.

mod gpu_support;
#[path = "support/cmdgen.rs"]
mod cmdgen;

use cmdgen::{FAMILIES, Sample, coverage, generate};
use gpu_support::{Agreement, Variant, Worst, experiment_from_args, gpu_available, shout};
use nanobragg::engine::cpu;
use nanobragg::engine::gpu;
use nanobragg::engine::plan::Plan;
use std::collections::BTreeMap;
use std::path::Path;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

fn render_cpu(sample: &Sample, c_parity: bool) -> (Plan, nanobragg::engine::Rendered) {
    let mut args: Vec<&str> = sample.args.iter().map(String::as_str).collect();
    if c_parity {
        args.push("-c_parity");
    }
    let plan = Plan::new(&experiment_from_args(&args, None));
    let r = cpu::render_spots(&plan);
    (plan, r)
}

#[test]
fn random_commands_agree_on_both_engines() {
    let test = "random_commands_agree_on_both_engines";
    if !gpu_available(test) {
        return;
    }
    let samples = env_number("NANOBRAGG_DIFF_SAMPLES", 160) as usize;
    let seed = env_number("NANOBRAGG_DIFF_SEED", 0x6e62_6469_6666);
    let variants: Vec<Variant> = Variant::ALL.into_iter().filter(|v| v.available(test)).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut generated = Vec::new();
    let mut failures = Vec::new();
    let mut worst: BTreeMap<&str, Worst> = BTreeMap::new();
    let (mut cpu_time, mut gpu_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for index in 0..samples {
        let dir = tmp.path().join(index.to_string());
        std::fs::create_dir(&dir).unwrap();
        let sample = generate(seed, index, &dir);
        let variant = variants[index % variants.len()];
        for c_parity in [false, true] {
            let started = std::time::Instant::now();
            let (plan, cpu) = render_cpu(&sample, c_parity);
            cpu_time += started.elapsed();
            let started = std::time::Instant::now();
            let mode = if c_parity { " -c_parity" } else { "" };
            let repro = format!("{}{mode}   [seed {seed:#x} sample {index}, GPU variant {}]", sample.command(), variant.name());
            let gpu = match gpu::render_spots_with(&plan, &variant.options()) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("GPU error {e}: {repro}"));
                    continue;
                }
            };
            gpu_time += started.elapsed();
            let a = Agreement::measure(&cpu.image, &gpu.image);
            worst.entry(variant.name()).or_default().add(&a);
            let switch_differs = cpu.interpolation_switched_at != gpu.interpolation_switched_at;
            if !a.passes_gate(&variant.gate()) || switch_differs {
                failures.push(format!(
                    "{}{}\n    {repro}",
                    a.describe(plan.fpixels),
                    if switch_differs { format!("  interpolation switch cpu {:?} gpu {:?}", cpu.interpolation_switched_at, gpu.interpolation_switched_at) } else { String::new() }
                ));
            }
        }
        generated.push(sample);
    }
    let counts = coverage(generated.iter());
    let mut report = format!("{test}: seed {seed:#x}, {samples} samples; CPU engine {:.1} s, GPU engine {:.1} s\n  coverage:", cpu_time.as_secs_f64(), gpu_time.as_secs_f64());
    for (family, n) in &counts {
        report += &format!(" {family}={n}");
    }
    for (name, w) in &worst {
        report += &format!("\n  [{name}] {}", w.describe());
    }
    shout(&report);
    assert!(failures.is_empty(), "{test}: {} disagreement(s):\n{}", failures.len(), failures.join("\n"));
    if samples >= 50 {
        let missing: Vec<_> = counts.iter().filter(|(_, n)| **n == 0).map(|(f, _)| *f).collect();
        assert!(missing.is_empty(), "{test}: flag families never sampled: {missing:?}");
    }
    assert_eq!(counts.len(), FAMILIES.len());
}

/// The same samples in `-c_parity` mode on the CPU engine against nanoBragg.c itself
/// (`NANOBRAGG_C_BIN`): float images bit for bit.
#[test]
fn random_commands_match_the_c_program_bit_for_bit() {
    let test = "random_commands_match_the_c_program_bit_for_bit";
    let Some(c_bin) = std::env::var_os("NANOBRAGG_C_BIN") else {
        shout(&format!("{test}: SKIPPED (set NANOBRAGG_C_BIN to a nanoBragg.c binary to run it)"));
        return;
    };
    let samples = env_number("NANOBRAGG_DIFF_SAMPLES", 160) as usize;
    let seed = env_number("NANOBRAGG_DIFF_SEED", 0x6e62_6469_6666);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for index in 0..samples {
        let dir = tmp.path().join(index.to_string());
        std::fs::create_dir(&dir).unwrap();
        let sample = generate(seed, index, &dir);
        let (plan, ours) = render_cpu(&sample, true);
        let out = std::process::Command::new(&c_bin)
            .args(&sample.args)
            .args(["-floatfile", "c_float.bin", "-intfile", "c_int.img", "-nopgm", "-nonoise"])
            .current_dir(&dir)
            // single-threaded, as the corpus was made: the φ = 0 carry-over and the one-shot
            // interpolation switch depend on the pixel visiting order
            .env("OMP_NUM_THREADS", "1")
            .output()
            .expect("run the C program");
        let repro = format!("{} -c_parity -engine cpu   [seed {seed:#x} sample {index}]", sample.command());
        let c_float = match std::fs::read(dir.join("c_float.bin")) {
            Ok(b) if out.status.success() => b,
            _ => {
                failures.push(format!("the C program failed ({:?}): {}\n    {repro}", out.status.code(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")));
                continue;
            }
        };
        let theirs: Vec<f32> = c_float.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        compared += 1;
        let differing = ours.image.iter().zip(&theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        if theirs.len() != ours.image.len() || differing > 0 {
            let d = nanobragg::compare::diff(&ours.image, &theirs, |_| true);
            failures.push(format!("{differing} pixels differ from C: {}\n    {repro}", d.summary(plan.fpixels)));
        }
    }
    shout(&format!("{test}: {compared} of {samples} samples compared with {}", Path::new(&c_bin).display()));
    assert!(failures.is_empty(), "{test}: {} failure(s):\n{}", failures.len(), failures.join("\n"));
}
