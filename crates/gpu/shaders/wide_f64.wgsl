// Wide arithmetic ("W"), native-f64 variant: chosen when the adapter offers SHADER_F64.
//
// Only + − × ÷, sqrt, ceil and floor are used on f64: naga emits GLSL.std.450 Sin/Exp/... on
// doubles, which SPIR-V does not define and lavapipe silently evaluates wrongly (WGPU.md §4,
// gfx-rs/wgpu#6087). Everything transcendental stays in f32 on reduced arguments.
//
// The other variant, wide_df.wgsl, offers the same functions on f32 pairs; the kernel only
// ever touches W through these functions, so it reads the same with either.

alias W = f64;

/// Nothing to set up: native f64 needs no protection from the compiler (see wide_df.wgsl).
fn w_init(zero: u32) {}

fn w(x: f32) -> W {
    return f64(x);
}

fn w_int(i: i32) -> W {
    return f64(i);
}

fn w_add(a: W, b: W) -> W {
    return a + b;
}

fn w_sub(a: W, b: W) -> W {
    return a - b;
}

fn w_mul(a: W, b: W) -> W {
    return a * b;
}

fn w_div(a: W, b: W) -> W {
    return a / b;
}

fn w_neg(a: W) -> W {
    return -a;
}

fn w_sqrt(a: W) -> W {
    return sqrt(a);
}

fn w_ceil(a: W) -> W {
    return ceil(a);
}

fn w_floor(a: W) -> W {
    return floor(a);
}

fn w_lt(a: W, b: W) -> bool {
    return a < b;
}

fn w_is_zero(a: W) -> bool {
    return a == f64(0.0);
}

/// Nearest f32.
fn w_f32(a: W) -> f32 {
    return f32(a);
}

/// An integer-valued W (from w_ceil / w_floor) as i32.
fn w_i32(a: W) -> i32 {
    return i32(a);
}

/// (hi, lo) f32 pair whose sum approximates `a` to ~48 bits, for the trace buffer.
fn w_parts(a: W) -> vec2<f32> {
    let hi = f32(a);
    return vec2<f32>(hi, f32(a - f64(hi)));
}

fn w_half_pi() -> W {
    return 1.5707963267948966lf;
}

/// One term's lattice as stored: a, b, c in three vector words (xyz; w unused), so that it is
/// fetched with three vector loads rather than nine scalar ones (llvmpipe pays a loop over
/// the lanes for every load instruction).
alias LatticeWords = array<vec4<f64>, 3>;

fn lattice_from_words(w: LatticeWords) -> Lattice {
    return Lattice(W3(w[0].x, w[0].y, w[0].z), W3(w[1].x, w[1].y, w[1].z), W3(w[2].x, w[2].y, w[2].z));
}
