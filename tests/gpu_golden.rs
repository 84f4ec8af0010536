//! Every golden case rendered by the CPU engine and the GPU engine, in -c_parity mode and (for
//! cases without a C-defect feature) in the default mode, for each kernel variant (f64 and
//! double-float geometry, plain and subgroup lattice fetch), held to that variant's gate
//! (`Variant::gate`: about ten times the worst agreement measured, docs/gpu.md "Gates").

mod gpu_support;

use gpu_support::{Agreement, Variant, Worst, golden_cases, golden_dir, gpu_available};
use nanobragg::engine::cpu;
use nanobragg::engine::gpu;

fn check_corpus(test: &str, c_parity: bool, variant: Variant) {
    if !gpu_available(test) || !variant.available(test) {
        return;
    }
    let Some(root) = golden_dir(test) else { return };
    let gate = variant.gate();
    let opts = variant.options();
    let mut failures = Vec::new();
    let mut worst = Worst::default();
    for case in golden_cases(&root) {
        if !c_parity && !case.default_mode_applies() {
            continue;
        }
        let plan = case.plan(c_parity);
        let cpu = cpu::render_spots(&plan);
        let gpu = match gpu::render_spots_with(&plan, &opts) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: GPU error: {e}", case.name));
                continue;
            }
        };
        let a = Agreement::measure(&cpu.image, &gpu.image);
        worst.add(&a);
        let mut line = format!("{test} {:<48} {}", case.name, a.describe(plan.fpixels));
        let switch_differs = cpu.interpolation_switched_at != gpu.interpolation_switched_at;
        if switch_differs {
            line += &format!("  interpolation switch: cpu {:?} gpu {:?}", cpu.interpolation_switched_at, gpu.interpolation_switched_at);
        }
        eprintln!("{line}");
        if !a.passes_gate(&gate) || switch_differs {
            failures.push(line);
        }
    }
    gpu_support::shout(&format!("{test} [{}]: {}", variant.name(), worst.describe()));
    assert!(worst.count > 0, "{test}: no golden case was checked");
    assert!(failures.is_empty(), "{test}: {} case(s) outside the gate {gate:?}:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn golden_corpus_c_parity_f64() {
    check_corpus("golden_corpus_c_parity_f64", true, Variant::F64);
}

#[test]
fn golden_corpus_default_mode_f64() {
    check_corpus("golden_corpus_default_mode_f64", false, Variant::F64);
}

/// The portable double-float kernel (what adapters without SHADER_F64 run), forced here so it
/// is checked on every machine that has any adapter.
#[test]
fn golden_corpus_c_parity_double_float() {
    check_corpus("golden_corpus_c_parity_double_float", true, Variant::DoubleFloat);
}

#[test]
fn golden_corpus_default_mode_double_float() {
    check_corpus("golden_corpus_default_mode_double_float", false, Variant::DoubleFloat);
}

/// Each lattice-fetch variant on every case, whatever the automatic choice would be: the
/// plain loads (what adapters without subgroups run), and the subgroup broadcast also where a
/// case has fewer terms than one chunk (the chunk's tail lanes must add nothing; cases with
/// tricubic interpolation keep the plain variant, the only one that interpolates). An adapter
/// without subgroups skips that half with a notice, or fails under NANOBRAGG_REQUIRE_GPU=1.
#[test]
fn golden_corpus_c_parity_plain_fetch() {
    check_corpus("golden_corpus_c_parity_plain_fetch", true, Variant::PlainFetch);
}

#[test]
fn golden_corpus_c_parity_subgroup_fetch() {
    check_corpus("golden_corpus_c_parity_subgroup_fetch", true, Variant::SubgroupFetch);
}
