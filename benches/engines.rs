//! Engine throughput on the workloads of `nanobragg bench` (docs/performance.md) at their
//! small sizes, so that `cargo bench` finishes in a few minutes: pixels/s and terms/s
//! (terms = pixels × sub-pixels × layers × sources × φ steps × mosaic domains) for the CPU
//! engine, and for the GPU engine when this machine has one.

use criterion::{Criterion, Throughput};
use nanobragg::bench::{Size, plan_for, rendered_pixels, terms, workloads, write_smooth_hkl};
use nanobragg::engine::{cpu, gpu, plan::Plan};
use std::time::Duration;

fn main() {
    // resolving a workload reads and writes ./Fdump.bin: work in a scratch directory
    let scratch = tempfile::tempdir().expect("scratch directory");
    std::env::set_current_dir(scratch.path()).expect("enter scratch directory");
    let hkl = scratch.path().join("smooth.hkl");
    write_smooth_hkl(&hkl).expect("write smooth.hkl");
    let plans: Vec<(&str, Plan)> = workloads(Size::Small, &hkl).into_iter().map(|w| (w.name, plan_for(&w.args).expect("workload resolves"))).collect();

    let mut c = Criterion::default().configure_from_args().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    bench_engine(&mut c, "cpu", &plans, |p| Some(cpu::render_spots(p)));
    match gpu::render_spots(&plans[0].1, None) {
        Ok(_) => bench_engine(&mut c, "gpu", &plans, |p| gpu::render_spots(p, None).ok()),
        Err(e) => eprintln!("GPU benches skipped: {e}"),
    }
    c.final_summary();
}

/// One group per throughput unit, since criterion reports one unit per benchmark.
fn bench_engine<R>(c: &mut Criterion, engine: &str, plans: &[(&str, Plan)], render: impl Fn(&Plan) -> Option<R>) {
    for (unit, count) in [("pixels", rendered_pixels as fn(&Plan) -> u64), ("terms", terms)] {
        let mut group = c.benchmark_group(format!("{engine}_{unit}"));
        for (name, plan) in plans {
            group.throughput(Throughput::Elements(count(plan)));
            group.bench_function(*name, |b| b.iter(|| render(plan).expect("render")));
        }
        group.finish();
    }
}
