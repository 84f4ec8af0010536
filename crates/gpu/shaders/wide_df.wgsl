// Wide arithmetic ("W"), double-float variant for adapters without SHADER_F64: a value is an
// unevaluated sum hi + lo of two f32 (|lo| ≤ ½ ulp(hi)), about 48 significant bits.
//
// The error-free transformations below are Knuth's TwoSum, Dekker's FastTwoSum and Dekker's
// TwoProd with Veltkamp splitting (not fma: WGSL only promises fma the accuracy of a·b + c,
// and lavapipe indeed rounds twice). w_add is the accurate (IEEE-style) double-float sum;
// w_div and w_sqrt refine an f32 estimate with exact residuals, so neither depends on f32 ÷
// or sqrt being correctly rounded (WGSL allows 2.5 ulp).
//
// SPIR-V float operations carry no "exact" marking from naga, so a driver compiler may apply
// algebraic identities that are false in floating point: Mesa's NIR rewrites (a + b) − a to
// b, which turns TwoSum's error term into 0 (measured on lavapipe). Every intermediate such
// an identity could see through therefore passes through `opaque`: an XOR of its bits with a
// zero the compiler cannot know (loaded from a buffer by the entry point via w_init). A
// multiplication by an opaque 1.0 is not enough: NIR factors x·1 + y·1 into (x + y)·1 and
// then sees the pattern again (also measured).

// Same function set as wide_f64.wgsl; the kernel only touches W through these functions.

alias W = vec2<f32>;

var<private> opaque_zero: u32;

/// Must run first in every entry point, with a 0 read from a buffer.
fn w_init(zero: u32) {
    opaque_zero = zero;
}

/// x, hidden from algebraic simplification.
fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ opaque_zero);
}

/// s + e == a + b exactly.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    let v = opaque(s - a);
    let e = (a - (s - v)) + (b - v);
    return vec2<f32>(s, e);
}

/// s + e == a + b exactly, provided |a| ≥ |b| (or a == 0).
fn fast_two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    return vec2<f32>(s, b - (s - a));
}

/// hi + lo == a with 12 significant bits each, so products of halves are exact in f32.
fn split(a: f32) -> vec2<f32> {
    let t = opaque(4097.0 * a);
    let hi = t - opaque(t - a);
    return vec2<f32>(hi, a - hi);
}

/// p + e == a · b exactly (Dekker). Contraction cannot hurt: every partial product is exact.
fn two_prod(a: f32, b: f32) -> vec2<f32> {
    let p = opaque(a * b);
    let x = split(a);
    let y = split(b);
    return vec2<f32>(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}

fn w(x: f32) -> W {
    return vec2<f32>(x, 0.0);
}

fn w_int(i: i32) -> W {
    let hi = f32(i);
    return vec2<f32>(hi, f32(i - i32(hi)));
}

fn w_add(a: W, b: W) -> W {
    let s = two_sum(a.x, b.x);
    let t = two_sum(a.y, b.y);
    let u = fast_two_sum(s.x, s.y + t.x);
    return fast_two_sum(u.x, u.y + t.y);
}

fn w_sub(a: W, b: W) -> W {
    return w_add(a, -b);
}

fn w_mul(a: W, b: W) -> W {
    let p = two_prod(a.x, b.x);
    return fast_two_sum(p.x, p.y + (a.x * b.y + a.y * b.x));
}

fn w_div(a: W, b: W) -> W {
    let q1 = a.x / b.x;
    let r1 = w_sub(a, w_mul(b, w(q1)));
    let q2 = r1.x / b.x;
    let r2 = w_sub(r1, w_mul(b, w(q2)));
    let q3 = r2.x / b.x;
    return w_add(fast_two_sum(q1, q2), w(q3));
}

fn w_neg(a: W) -> W {
    return -a;
}

fn w_sqrt(a: W) -> W {
    if a.x <= 0.0 {
        return w(0.0);
    }
    let x = sqrt(a.x);
    let r = w_sub(a, two_prod(x, x));
    return fast_two_sum(x, r.x / (2.0 * x));
}

/// When hi is not an integer, hi + lo lies strictly between the integers around hi (|lo| is
/// below half an ulp of hi), so only an integral hi needs lo's help.
fn w_ceil(a: W) -> W {
    let hi = ceil(a.x);
    if hi != a.x {
        return w(hi);
    }
    return fast_two_sum(hi, ceil(a.y));
}

fn w_floor(a: W) -> W {
    let hi = floor(a.x);
    if hi != a.x {
        return w(hi);
    }
    return fast_two_sum(hi, floor(a.y));
}

fn w_lt(a: W, b: W) -> bool {
    return a.x < b.x || (a.x == b.x && a.y < b.y);
}

fn w_is_zero(a: W) -> bool {
    return a.x == 0.0;
}

/// Nearest f32.
fn w_f32(a: W) -> f32 {
    return a.x + a.y;
}

/// An integer-valued W (from w_ceil / w_floor) as i32.
fn w_i32(a: W) -> i32 {
    return i32(a.x) + i32(a.y);
}

/// (hi, lo) for the trace buffer.
fn w_parts(a: W) -> vec2<f32> {
    return a;
}

fn w_half_pi() -> W {
    return vec2<f32>(1.5707963705062866, -4.371138828673793e-8);
}

/// One term's lattice as stored: the nine (hi, lo) pairs of a, b, c in order, two per vector
/// word, so that it is fetched with five vector loads rather than nine scalar ones.
alias LatticeWords = array<vec4<f32>, 5>;

fn lattice_from_words(w: LatticeWords) -> Lattice {
    return Lattice(
        W3(w[0].xy, w[0].zw, w[1].xy),
        W3(w[1].zw, w[2].xy, w[2].zw),
        W3(w[3].xy, w[3].zw, w[4].xy),
    );
}
