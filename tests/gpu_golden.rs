//! Every golden case rendered by the CPU engine and the GPU engine, in -c_parity mode and (for
//! cases without a C-defect feature) in the default mode, held to the GPU acceptance numbers:
//! correlation ≥ 0.99999, |sum ratio − 1| ≤ 1e-4, max |Δ| ≤ 1e-3 · max |CPU|.

mod gpu_support;

use gpu_support::{Agreement, golden_cases, golden_dir, gpu_available};
use nanobragg::engine::cpu;
use nanobragg::engine::gpu::{self, Fetch, GpuOptions, Precision};

fn check_corpus(test: &str, c_parity: bool, opts: GpuOptions) {
    if !gpu_available(test) {
        return;
    }
    let Some(root) = golden_dir(test) else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut worst: Option<(String, Agreement)> = None;
    for case in golden_cases(&root) {
        if !c_parity && !case.default_mode_applies() {
            continue;
        }
        let plan = case.plan(c_parity);
        let cpu = cpu::render(&plan);
        let gpu = match gpu::render_with(&plan, &opts) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: GPU error: {e}", case.name));
                continue;
            }
        };
        checked += 1;
        let a = Agreement::measure(&cpu.image, &gpu.image);
        let mut line = format!("{test} {:<48} {}", case.name, a.describe(plan.fpixels));
        let switch_differs = cpu.interpolation_switched_at != gpu.interpolation_switched_at;
        if switch_differs {
            line += &format!("  interpolation switch: cpu {:?} gpu {:?}", cpu.interpolation_switched_at, gpu.interpolation_switched_at);
        }
        eprintln!("{line}");
        if !a.passes() || switch_differs {
            failures.push(line);
        }
        if worst.as_ref().is_none_or(|(_, w)| a.max_delta > w.max_delta) {
            worst = Some((case.name.clone(), a));
        }
    }
    if let Some((name, w)) = &worst {
        eprintln!("{test}: {checked} cases; largest max|Δ|/max in {name}: {w:?}");
    }
    assert!(checked > 0, "{test}: no golden case was checked");
    assert!(failures.is_empty(), "{test}: {} case(s) out of tolerance:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn golden_corpus_c_parity() {
    check_corpus("golden_corpus_c_parity", true, GpuOptions::default());
}

#[test]
fn golden_corpus_default_mode() {
    check_corpus("golden_corpus_default_mode", false, GpuOptions::default());
}

/// The portable double-float kernel (what adapters without SHADER_F64 run), forced here so it
/// is checked on every machine that has any adapter.
#[test]
fn golden_corpus_c_parity_double_float() {
    check_corpus("golden_corpus_c_parity_double_float", true, GpuOptions { precision: Some(Precision::DoubleFloat), ..GpuOptions::default() });
}

/// Each lattice-fetch variant on every case, whatever the automatic choice would be: the
/// plain loads (what adapters without subgroups run), and the subgroup broadcast also where a
/// case has fewer terms than one chunk (the chunk's tail lanes must add nothing; cases with
/// tricubic interpolation keep the plain variant, the only one that interpolates). Skipped
/// with a notice on an adapter without subgroups.
#[test]
fn golden_corpus_c_parity_each_fetch() {
    for (test, fetch) in [("golden_corpus_c_parity_plain_fetch", Fetch::Plain), ("golden_corpus_c_parity_subgroup_fetch", Fetch::Subgroup)] {
        let opts = GpuOptions { fetch: Some(fetch), ..GpuOptions::default() };
        let probe = gpu_support::plan_from_args(&["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "1", "-detpixels", "4"], None);
        if fetch == Fetch::Subgroup
            && let Err(e) = gpu::render_with(&probe, &opts)
        {
            gpu_support::shout(&format!("{test}: skipped, {e}"));
            continue;
        }
        check_corpus(test, true, opts);
    }
}
