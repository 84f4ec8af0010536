//! The per-adapter precision self-test: before a kernel variant renders anything on an
//! adapter, one tiny dispatch runs the variant's own wide arithmetic (wide_f64.wgsl or
//! wide_df.wgsl) on inputs whose exact results are known, and a variant that gets any of them
//! wrong is not used there.
//!
//! Why: neither WGSL nor SPIR-V marks float operations as exact, so a driver's compiler may
//! apply algebraic identities that are false in floating point (Mesa's NIR turned TwoSum's
//! error term into 0 before the opaque guard, docs/gpu.md), contract products into fused
//! multiply-adds, or (Vulkan only promises f64 the precision of f32) evaluate f64 division
//! and square root with f32 accuracy. The offline checks (`backends.rs`) see the translated
//! text; only the adapter itself shows what its compiler made of it.
//!
//! `cases` lists the checks with their exact answers, `probe_source` turns them into one
//! WGSL entry point, and `judge` (pure, unit-tested with simulated wrong results) compares
//! what came back.

use super::context::GpuContext;
use super::layout::wide;
use super::shader::{Precision, library_source};
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// What a check must give back.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// double-float error-free transformation: the two f32 parts, bit for bit
    Pair(f32, f32),
    /// an f64 result within `ulps` units in the last place (0: exactly)
    Ulps(f64, u32),
    /// a chain of wide operations, within this relative error of the exact value
    Relative(f64, f64),
}

/// One check: what it computes (for the notice), its WGSL expression over the inputs `v[i]`
/// (of type W), and its answer.
#[derive(Clone, Debug)]
pub struct Case {
    pub what: &'static str,
    pub wgsl: &'static str,
    pub expect: Expect,
}

/// The inputs of `cases`, in the order `v[0]`, `v[1]`, … (as the host packs them for the
/// variant; double-float error-free checks use only the f32 high parts).
pub fn inputs() -> Vec<f64> {
    let p = |e: i32| 2f64.powi(e);
    vec![
        1.0,                            // 0
        p(-30),                         // 1
        3.0 * p(-25),                   // 2: 1 + this rounds up in f32, error −2^-25
        1.0 + p(-12),                   // 3: squared = 1 + 2^-11 + 2^-24, one bit too many for f32
        0.1f32 as f64,                  // 4
        0.3f32 as f64,                  // 5
        1.0 + p(-25) + p(-17) + p(-3),  // 6: 26 significant bits
        3.0 + p(-20) + p(-26),          // 7: 27 significant bits, so v6·v7 is exact in f64
        2.0,                            // 8
        3.0,                            // 9
        0.1182 + 0.731e-3,              // 10..14: a detector position component (as tests.rs)
        -0.005998 / (1.0 + 0.731e-7),   // 11
        0.17862 - 0.731e-3,             // 12
        -0.99997 / (1.0 + 0.731 * 3e-7), // 13
        0.216343050492215 + 0.731e-4,   // 14
    ]
}

/// The checks for `precision`, their answers computed here in IEEE f64 (which Rust
/// guarantees) from the inputs exactly as the device sees them.
pub fn cases(precision: Precision) -> Vec<Case> {
    let v: Vec<f64> = inputs().iter().map(|&x| seen(x, precision)).collect();
    let f = |i: usize| v[i] as f32;
    let chain = v[10] * v[11] + v[12] * v[13] + v[14];
    match precision {
        Precision::DoubleFloat => {
            // an f32 operation's exact result is representable in f64, so s and e are exact here
            let two_sum = |a: f32, b: f32| {
                let s = (a as f64 + b as f64) as f32;
                Expect::Pair(s, ((a as f64 + b as f64) - s as f64) as f32)
            };
            let two_prod = |a: f32, b: f32| {
                let p = (a as f64 * b as f64) as f32;
                Expect::Pair(p, ((a as f64 * b as f64) - p as f64) as f32)
            };
            vec![
                Case { what: "TwoSum(1, 2^-30)", wgsl: "two_sum(v[0].x, v[1].x)", expect: two_sum(f(0), f(1)) },
                Case { what: "TwoSum(1, 3·2^-25)", wgsl: "two_sum(v[0].x, v[2].x)", expect: two_sum(f(0), f(2)) },
                Case { what: "TwoSum(0.1, 0.3)", wgsl: "two_sum(v[4].x, v[5].x)", expect: two_sum(f(4), f(5)) },
                // the NIR rewrite only struck when the inputs were themselves guarded values
                Case {
                    what: "TwoSum of a TwoSum's parts",
                    wgsl: "two_sum(two_sum(v[0].x, v[2].x).x, two_sum(v[4].x, v[5].x).x)",
                    expect: {
                        let (Expect::Pair(a, _), Expect::Pair(b, _)) = (two_sum(f(0), f(2)), two_sum(f(4), f(5))) else { unreachable!() };
                        two_sum(a, b)
                    },
                },
                Case { what: "FastTwoSum(1, 3·2^-25)", wgsl: "fast_two_sum(v[0].x, v[2].x)", expect: two_sum(f(0), f(2)) },
                Case { what: "TwoProd(1 + 2^-12, 1 + 2^-12)", wgsl: "two_prod(v[3].x, v[3].x)", expect: two_prod(f(3), f(3)) },
                Case { what: "TwoProd(0.1, 0.3)", wgsl: "two_prod(v[4].x, v[5].x)", expect: two_prod(f(4), f(5)) },
                Case { what: "double-float a·b + c·d + e", wgsl: "w_add(w_add(w_mul(v[10], v[11]), w_mul(v[12], v[13])), v[14])", expect: Expect::Relative(chain, DF_CHAIN) },
                Case { what: "double-float 2 / 3", wgsl: "w_div(v[8], v[9])", expect: Expect::Relative(2.0 / 3.0, DF_CHAIN) },
                Case { what: "double-float sqrt(2)", wgsl: "w_sqrt(v[8])", expect: Expect::Relative(2f64.sqrt(), DF_CHAIN) },
            ]
        }
        Precision::F64 => vec![
            Case { what: "f64 1 + 3·2^-25", wgsl: "w_add(v[0], v[2])", expect: Expect::Ulps(v[0] + v[2], 0) },
            Case { what: "f64 0.1 + 0.3", wgsl: "w_add(v[4], v[5])", expect: Expect::Ulps(v[4] + v[5], 0) },
            Case { what: "f64 product", wgsl: "w_mul(v[6], v[7])", expect: Expect::Ulps(v[6] * v[7], 0) },
            // exactly representable answers: any faithfully rounded ÷ or sqrt returns them
            Case { what: "f64 (x·y) / y", wgsl: "w_div(w_mul(v[6], v[7]), v[7])", expect: Expect::Ulps(v[6], 0) },
            Case { what: "f64 sqrt(x²)", wgsl: "w_sqrt(w_mul(v[6], v[6]))", expect: Expect::Ulps(v[6], 0) },
            Case { what: "f64 2 / 3", wgsl: "w_div(v[8], v[9])", expect: Expect::Ulps(2.0 / 3.0, 1) },
            Case { what: "f64 sqrt(2)", wgsl: "w_sqrt(v[8])", expect: Expect::Ulps(2f64.sqrt(), 1) },
            // a driver may contract a·b + c into an fma: allowed, a few ulps
            Case { what: "f64 a·b + c·d + e", wgsl: "w_add(w_add(w_mul(v[10], v[11]), w_mul(v[12], v[13])), v[14])", expect: Expect::Relative(chain, F64_CHAIN) },
        ],
    }
}

/// Relative error allowed to a chain of double-float operations (~2^-46: a few of the
/// format's 48 bits); a lost error term leaves f32's 6e-8.
const DF_CHAIN: f64 = 1e-13;
/// Relative error allowed to a chain of f64 operations (contraction, a few ulps).
const F64_CHAIN: f64 = 2e-15;

/// `x` as the variant holds it (double-float keeps ~48 bits).
fn seen(x: f64, precision: Precision) -> f64 {
    let packed = wide(x, precision);
    match precision {
        Precision::F64 => x,
        Precision::DoubleFloat => f32::from_bits(packed as u32) as f64 + f32::from_bits((packed >> 32) as u32) as f64,
    }
}

/// Each check writes three f32: double-float its (hi, lo, 0); f64 the value split exactly
/// into three f32 parts (53 bits in 3 × 24), so that a one-ulp error shows.
const PUT_DF: &str = "fn put(i: u32, r: W) { out[3u * i] = r.x; out[3u * i + 1u] = r.y; out[3u * i + 2u] = 0.0; }";
const PUT_F64: &str = "fn put(i: u32, r: W) {
    let hi = f32(r);
    let rest = r - f64(hi);
    let mid = f32(rest);
    out[3u * i] = hi; out[3u * i + 1u] = mid; out[3u * i + 2u] = f32(rest - f64(mid));
}";

/// The self-test kernel: the variant's library and one invocation computing every case.
pub fn probe_source(precision: Precision) -> String {
    let put = match precision {
        Precision::F64 => PUT_F64,
        Precision::DoubleFloat => PUT_DF,
    };
    let body: String = cases(precision).iter().enumerate().map(|(i, c)| format!("    put({i}u, {});\n", c.wgsl)).collect();
    format!(
        "{}
@group(0) @binding(0) var<storage, read> v: array<W>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
{put}
@compute @workgroup_size(1)
fn selftest() {{
    // a zero the compiler cannot know (see wide_df.wgsl)
    w_init(select(1u, 0u, arrayLength(&out) > 0u));
{body}}}
",
        library_source(precision)
    )
}

/// The value a check's three parts stand for (exact: the parts do not overlap).
fn value(parts: &[f32]) -> f64 {
    parts[0] as f64 + parts[1] as f64 + parts[2] as f64
}

/// Units in the last place between two f64 of the same sign (∞ when the signs differ or
/// either is not finite).
fn ulps_apart(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    if !a.is_finite() || !b.is_finite() || a.is_sign_negative() != b.is_sign_negative() {
        return u64::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

/// Whether the device's `outputs` (three f32 per case) are right; the error names the first
/// wrong check, what came back and what was expected.
pub fn judge(cases: &[Case], outputs: &[f32]) -> std::result::Result<(), String> {
    if outputs.len() < 3 * cases.len() {
        return Err(format!("the self-test returned {} values, expected {}", outputs.len(), 3 * cases.len()));
    }
    for (case, parts) in cases.iter().zip(outputs.chunks(3)) {
        match case.expect {
            Expect::Pair(s, e) => {
                if parts[0].to_bits() != s.to_bits() || parts[1].to_bits() != e.to_bits() {
                    return Err(format!("{} gave ({:e}, {:e}), exactly ({s:e}, {e:e}) expected", case.what, parts[0], parts[1]));
                }
            }
            Expect::Ulps(x, allowed) => {
                let got = value(parts);
                let apart = ulps_apart(got, x);
                if apart > allowed as u64 {
                    let by = if apart == u64::MAX { "a different sign or not a number".to_string() } else { format!("{apart} ulp") };
                    let within = if allowed == 0 { "exactly".to_string() } else { format!("within {allowed} ulp") };
                    return Err(format!("{} gave {got:e}, {within} {x:e} expected (off by {by})", case.what));
                }
            }
            Expect::Relative(x, tolerance) => {
                let got = value(parts);
                let error = ((got - x) / x).abs();
                if error.is_nan() || error > tolerance {
                    return Err(format!("{} gave {got:e}, expected {x:e} (relative error {error:.1e}, allowed {tolerance:.0e})", case.what));
                }
            }
        }
    }
    Ok(())
}

/// Runs the self-test of the context's variant on its device (a future: it runs while a
/// device is opened). `Ok(Err(reason))`: the variant computed something wrong; `Err`: the
/// dispatch itself failed.
pub async fn run(ctx: &GpuContext) -> Result<std::result::Result<(), String>> {
    let precision = ctx.precision;
    let cases = cases(precision);
    let outputs = ctx.checked_async("the precision self-test", async {
        let device = &ctx.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("nanobragg self-test"),
            source: wgpu::ShaderSource::Wgsl(probe_source(precision).into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("nanobragg self-test"),
            layout: None,
            module: &module,
            entry_point: Some("selftest"),
            compilation_options: Default::default(),
            cache: None,
        });
        let packed: Vec<u64> = inputs().iter().map(|&x| wide(x, precision)).collect();
        let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("self-test inputs"),
            contents: bytemuck::cast_slice(&packed),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bytes = (3 * cases.len() * 4) as u64;
        let output = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("self-test results"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("self-test read-back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("nanobragg self-test"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: input.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: output.as_entire_binding() },
            ],
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        ctx.read_back_async(encoder, &output, &staging, bytes).await
    })
    .await?;
    let outputs: Vec<f32> = bytemuck::pod_collect_to_vec(&outputs);
    Ok(judge(&cases, &outputs))
}

/// `run`, as the one error a forced variant gets.
pub async fn require(ctx: &GpuContext) -> Result<()> {
    run(ctx).await?.map_err(|why| {
        Error::Gpu(format!("the {} kernel variant failed its precision self-test on {}: {why}", ctx.precision.name(), ctx.adapter_name()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a correct device returns.
    fn right_answers(cases: &[Case]) -> Vec<f32> {
        cases
            .iter()
            .flat_map(|c| match c.expect {
                Expect::Pair(s, e) => [s, e, 0.0],
                Expect::Ulps(x, _) | Expect::Relative(x, _) => {
                    let hi = x as f32;
                    let mid = (x - hi as f64) as f32;
                    [hi, mid, (x - hi as f64 - mid as f64) as f32]
                }
            })
            .collect()
    }

    fn position(cases: &[Case], what: &str) -> usize {
        cases.iter().position(|c| c.what == what).unwrap_or_else(|| panic!("no check {what}"))
    }

    #[test]
    fn right_answers_pass_and_split_f64_exactly() {
        for precision in [Precision::F64, Precision::DoubleFloat] {
            let cases = cases(precision);
            let out = right_answers(&cases);
            assert_eq!(judge(&cases, &out), Ok(()), "{}", precision.name());
            for (c, parts) in cases.iter().zip(out.chunks(3)) {
                if let Expect::Ulps(x, _) = c.expect {
                    assert_eq!(value(parts), x, "{}: the three parts do not rebuild the value", c.what);
                }
            }
        }
    }

    #[test]
    fn the_checks_are_not_trivial() {
        // every double-float error-free check that is meant to have an error term has one
        let cases = cases(Precision::DoubleFloat);
        for what in ["TwoSum(1, 2^-30)", "TwoSum(1, 3·2^-25)", "TwoProd(1 + 2^-12, 1 + 2^-12)", "TwoProd(0.1, 0.3)"] {
            let Expect::Pair(_, e) = cases[position(&cases, what)].expect else { panic!("{what}") };
            assert_ne!(e, 0.0, "{what} has no error term to lose");
        }
        let Expect::Pair(_, e) = cases[position(&cases, "TwoProd(1 + 2^-12, 1 + 2^-12)")].expect else { unreachable!() };
        assert_eq!(e, 2f32.powi(-24));
    }

    /// Mesa's NIR before the opaque guard: (a + b) − a → b made TwoSum's error term 0.
    #[test]
    fn a_lost_two_sum_error_term_fails() {
        let cases = cases(Precision::DoubleFloat);
        let mut out = right_answers(&cases);
        let i = position(&cases, "TwoSum(1, 3·2^-25)");
        out[3 * i + 1] = 0.0;
        let why = judge(&cases, &out).unwrap_err();
        assert!(why.starts_with("TwoSum(1, 3·2^-25) gave (1.0000001e0, 0e0), exactly"), "{why}");
    }

    /// A compiler that simplified Veltkamp's split (t − (t − a) → a) or evaluated a·b
    /// differently from the product it subtracts: TwoProd's error term is lost.
    #[test]
    fn a_fused_two_prod_fails() {
        let cases = cases(Precision::DoubleFloat);
        let mut out = right_answers(&cases);
        let i = position(&cases, "TwoProd(1 + 2^-12, 1 + 2^-12)");
        // fma(a, a, −p) from an unrounded p is 0; what came back is the rounded product alone
        out[3 * i + 1] = 0.0;
        assert!(judge(&cases, &out).unwrap_err().contains("TwoProd(1 + 2^-12, 1 + 2^-12)"));
    }

    /// A chain that lost its low parts (f32 accuracy) fails; one within the tolerance passes.
    #[test]
    fn a_chain_at_f32_accuracy_fails() {
        let cases = cases(Precision::DoubleFloat);
        let i = position(&cases, "double-float a·b + c·d + e");
        let Expect::Relative(x, _) = cases[i].expect else { unreachable!() };
        let mut out = right_answers(&cases);
        out[3 * i..3 * i + 3].copy_from_slice(&[x as f32, 0.0, 0.0]);
        assert!(judge(&cases, &out).unwrap_err().contains("relative error"));
        let close = x * (1.0 + 3e-14);
        out[3 * i..3 * i + 3].copy_from_slice(&[close as f32, (close - (close as f32) as f64) as f32, 0.0]);
        assert_eq!(judge(&cases, &out), Ok(()));
    }

    fn with_f64(cases: &[Case], what: &str, got: f64) -> std::result::Result<(), String> {
        let mut out = right_answers(cases);
        let i = position(cases, what);
        let hi = got as f32;
        let mid = (got - hi as f64) as f32;
        out[3 * i..3 * i + 3].copy_from_slice(&[hi, mid, (got - hi as f64 - mid as f64) as f32]);
        judge(cases, &out)
    }

    fn next_up(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1)
    }

    /// A division or square root one ulp off an exactly representable answer is not even
    /// faithfully rounded: rejected. On an inexact answer one ulp is allowed, two are not.
    #[test]
    fn f64_division_and_sqrt_off_by_an_ulp_fail() {
        let cases = cases(Precision::F64);
        let Expect::Ulps(x, 0) = cases[position(&cases, "f64 (x·y) / y")].expect else { panic!("exact division") };
        let why = with_f64(&cases, "f64 (x·y) / y", next_up(x)).unwrap_err();
        assert!(why.contains("off by 1 ulp") && why.contains("exactly"), "{why}");
        let why = with_f64(&cases, "f64 sqrt(x²)", next_up(x)).unwrap_err();
        assert!(why.starts_with("f64 sqrt(x²) gave"), "{why}");
        let third = 2.0 / 3.0;
        assert_eq!(with_f64(&cases, "f64 2 / 3", next_up(third)), Ok(()));
        assert!(with_f64(&cases, "f64 2 / 3", next_up(next_up(third))).unwrap_err().contains("off by 2 ulp"));
        assert!(with_f64(&cases, "f64 sqrt(2)", -(2f64.sqrt())).unwrap_err().contains("different sign"));
    }

    /// "f64" evaluated in f32 (Vulkan only promises f64 the precision of f32).
    #[test]
    fn f64_demoted_to_f32_fails() {
        let cases = cases(Precision::F64);
        let demoted: Vec<f32> = right_answers(&cases).chunks(3).flat_map(|p| [p[0], 0.0, 0.0]).collect();
        let why = judge(&cases, &demoted).unwrap_err();
        assert!(why.starts_with("f64 1 + 3·2^-25 gave"), "{why}");
    }

    #[test]
    fn garbage_and_short_results_fail() {
        let cases = cases(Precision::F64);
        let mut out = right_answers(&cases);
        let i = position(&cases, "f64 a·b + c·d + e");
        out[3 * i] = f32::NAN;
        assert!(judge(&cases, &out).is_err());
        assert!(judge(&cases, &out[..5]).unwrap_err().contains("returned 5 values"));
    }

    #[test]
    fn the_probe_validates_for_both_variants() {
        for precision in [Precision::F64, Precision::DoubleFloat] {
            let source = probe_source(precision);
            let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{}: {}", precision.name(), e.emit_to_string(&source)));
            let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
            validator.validate(&module).unwrap_or_else(|e| panic!("{}: {e:?}", precision.name()));
        }
    }
}
