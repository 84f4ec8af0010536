// Detector noise on the device: the WGSL twin of `src/response/philox.rs`,
// `src/response/sample.rs` and stages 3 and 5 of `src/response/noisify.rs` (the Rust code is
// the mirror: change one, change the other). Two entry points, run after the spots:
// `noise_counts` (flicker, calibration, Poisson: photons → counts) and `noise_readout`
// (gain, ADC offset, readout noise, clamps, truncation: counts → integer pixels).
//
// The counts must equal the CPU's, so the arithmetic is the CPU's, step by step:
// - Philox4x32-10's 32×32→64 multiply by 16-bit halves (WGSL has no u64);
// - the samplers in f32 with ln, exp and cos as the same polynomials, every product passed
//   through `opaque` so that no driver fuses it into a multiply–add (WGSL allows contraction
//   and only promises fma the accuracy of a·b + c), and the sums that a compiler might
//   reassociate passed through it too (Mesa's NIR applies inexact identities to unmarked
//   SPIR-V, measured on lavapipe for wide_df.wgsl);
// - division and square root correctly rounded (`div_rn`, `sqrt_rn`): WGSL allows 2.5 ulp
//   for `/` and does not promise a correctly rounded `sqrt`, so each result is chosen among
//   the hardware's value and its two neighbours by an exact residual (Dekker's TwoProd);
// - the steps the CPU does in f64 (the flicker/calibration factors, the ADU sum) in
//   double-float (an unevaluated f32 pair, ~48 bits), rounded to f32 only where the CPU
//   rounds: results differ from the CPU's only when the f64 value lies within ~2⁻⁴⁸ of a
//   rounding boundary.

// keep in sync: `GpuNoiseParams` in src/engine/gpu/response.rs (layout test there)
struct NoiseParams {
    width: u32,
    pixels: u32,
    frame: u32,
    flags: u32,
    // fast0, fast1, slow0, slow1 (inclusive)
    roi: vec4<u32>,
    key: vec2<u32>,
    calib_key: vec2<u32>,
    // f64 values as (hi, lo) f32 pairs
    flicker: vec2<f32>,
    calibration: vec2<f32>,
    gain: vec2<f32>,
    adc: vec2<f32>,
    readout: vec2<f32>,
    // a 0 the compiler cannot know (see `opaque`)
    zero: u32,
    pad: u32,
}

// keep in sync: the FLAG_* constants in src/engine/gpu/response.rs
const FLAG_FLICKER: u32 = 1u;
const FLAG_CALIBRATION: u32 = 2u;
const FLAG_CALIBRATION_AFTER_POISSON: u32 = 4u;
const FLAG_READOUT: u32 = 8u;

// keep in sync: `Stage` in src/response/philox.rs
const STAGE_FLICKER: u32 = 1u;
const STAGE_CALIBRATION: u32 = 2u;
const STAGE_POISSON: u32 = 3u;
const STAGE_READOUT: u32 = 4u;

@group(0) @binding(0) var<uniform> params: NoiseParams;
@group(0) @binding(1) var<storage, read> photons: array<f32>;
// the counts (stage 3's output, stage 5's input; the PSF runs between them)
@group(0) @binding(2) var<storage, read_write> counts: array<f32>;
// per pixel: x the 32-bit image's value, y the 16-bit image's value | overload16 << 16 |
// overload32 << 17
@group(0) @binding(3) var<storage, read_write> pixels_out: array<vec2<u32>>;

// ---- exactness helpers (opaque, add, two_sum, fast_two_sum, df_add: exact_f32.wgsl, appended)

fn mul(a: f32, b: f32) -> f32 {
    return opaque(a * b);
}

fn split(a: f32) -> vec2<f32> {
    let t = mul(4097.0f, a);
    let hi = opaque(t - opaque(t - a));
    return vec2<f32>(hi, opaque(a - hi));
}

/// p + e == a · b exactly (Dekker's TwoProd with Veltkamp splitting, no fma).
fn two_prod(a: f32, b: f32) -> vec2<f32> {
    let p = mul(a, b);
    let x = split(a);
    let y = split(b);
    let e = add(add(add(opaque(mul(x.x, y.x) - p), mul(x.x, y.y)), mul(x.y, y.x)), mul(x.y, y.y));
    return vec2<f32>(p, e);
}

fn next_up(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    if x == 0.0 {
        return bitcast<f32>(1u);
    }
    if x > 0.0 {
        return bitcast<f32>(b + 1u);
    }
    return bitcast<f32>(b - 1u);
}

fn next_down(x: f32) -> f32 {
    return -next_up(-x);
}

/// |a − c·b| as a double-float's leading part (exact enough to compare neighbours).
fn residual(a: f32, b: f32, c: f32) -> f32 {
    let p = two_prod(c, b);
    return abs(opaque(opaque(a - p.x) - p.y));
}

/// a / b correctly rounded: of the hardware quotient and its neighbours, the one whose
/// product with b is nearest a (b fixed, so nearest in value too).
fn div_rn(a: f32, b: f32) -> f32 {
    let q = a / b;
    var best = q;
    var r = residual(a, b, q);
    let down = next_down(q);
    let rd = residual(a, b, down);
    if rd < r {
        best = down;
        r = rd;
    }
    let up = next_up(q);
    if residual(a, b, up) < r {
        best = up;
    }
    return best;
}

/// √x correctly rounded (x ≥ 0 finite): of the hardware root and its neighbours, the one
/// whose square is nearest x.
fn sqrt_rn(x: f32) -> f32 {
    if x <= 0.0 {
        return sqrt(x);
    }
    let s = sqrt(x);
    var best = s;
    var r = residual(x, s, s);
    let down = next_down(s);
    let rd = residual(x, down, down);
    if rd < r {
        best = down;
        r = rd;
    }
    let up = next_up(s);
    if residual(x, up, up) < r {
        best = up;
    }
    return best;
}

// ---- double-float (hi, lo) arithmetic for the CPU's f64 steps

/// a · b for a double-float a and an f32 b.
fn df_mul_f(a: vec2<f32>, b: f32) -> vec2<f32> {
    let p = two_prod(a.x, b);
    return fast_two_sum(p.x, add(p.y, mul(a.y, b)));
}

/// a > b for normalised double-floats.
fn df_gt(a: vec2<f32>, b: vec2<f32>) -> bool {
    return a.x > b.x || (a.x == b.x && a.y > b.y);
}

/// The integer part (toward zero) of a double-float below 2³¹ in magnitude, as i32.
fn df_trunc(a: vec2<f32>) -> i32 {
    let negative = a.x < 0.0 || (a.x == 0.0 && a.y < 0.0);
    var hi: f32;
    if negative {
        hi = ceil(a.x);
    } else {
        hi = floor(a.x);
    }
    if hi != a.x {
        return i32(hi);
    }
    // hi is an integer: the low part decides, rounded the same way
    var lo: f32;
    if negative {
        lo = ceil(a.y);
    } else {
        lo = floor(a.y);
    }
    // hi may be 2³¹ with a negative low part (2147483647.5 is (2³¹, −0.5))
    if hi >= 2147483648.0 {
        return i32(hi - 1.0) + i32(lo + 1.0);
    }
    return i32(hi) + i32(lo);
}

// ---- Philox4x32-10 (src/response/philox.rs)

/// (high, low) words of a · b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let p0 = al * bl;
    let p1 = al * bh;
    let p2 = ah * bl;
    let p3 = ah * bh;
    let mid = (p0 >> 16u) + (p1 & 0xffffu) + (p2 & 0xffffu);
    let hi = p3 + (p1 >> 16u) + (p2 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r_i = 0u; r_i < 10u; r_i++) {
        if r_i > 0u {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let r0 = mulhilo(0xD2511F53u, c.x);
        let r1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(r1.x ^ c.y ^ k.x, r1.y, r0.x ^ c.w ^ k.y, r0.y);
    }
    return c;
}

/// `Draws`: the stream of blocks of one (key, frame, pixel, stage).
struct Draws {
    key: vec2<u32>,
    pixel: u32,
    frame: u32,
    stage: u32,
    block: u32,
}

fn next_block(d: ptr<function, Draws>) -> vec4<u32> {
    let counter = vec4<u32>((*d).pixel, (*d).frame, ((*d).stage << 24u) | ((*d).block & 0x00ffffffu), 0u);
    (*d).block = (*d).block + 1u;
    return philox4x32(counter, (*d).key);
}

// ---- samplers (src/response/sample.rs)

fn uniform01(word: u32) -> f32 {
    return (f32(word >> 9u) + 0.5f) * 1.1920929e-07f;
}

fn ln(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    var e = i32((bits >> 23u) & 0xffu) - 126;
    var m = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    if m < 7.0710677e-01f {
        e -= 1;
        m = opaque(add(m, m) - 1.0f);
    } else {
        m = opaque(m - 1.0f);
    }
    let z = mul(m, m);
    var y = 7.0376836e-2f;
    y = add(mul(y, m), -1.151461e-1f);
    y = add(mul(y, m), 1.1676999e-1f);
    y = add(mul(y, m), -1.2420141e-1f);
    y = add(mul(y, m), 1.4249323e-1f);
    y = add(mul(y, m), -1.6668057e-1f);
    y = add(mul(y, m), 2.0000714e-1f);
    y = add(mul(y, m), -2.4999994e-1f);
    y = add(mul(y, m), 3.3333331e-1f);
    y = mul(mul(y, m), z);
    let ef = f32(e);
    y = add(y, mul(-2.1219444e-4f, ef));
    y = add(y, mul(-0.5f, z));
    return add(add(m, y), mul(0.6933594f, ef));
}

fn exp_poly(x: f32) -> f32 {
    let n = floor(add(mul(1.442695f, x), 0.5f));
    let r = opaque(opaque(x - mul(n, 0.6933594f)) - mul(n, -2.1219444e-4f));
    let z = mul(r, r);
    var p = 1.9875691e-4f;
    p = add(mul(p, r), 1.3981999e-3f);
    p = add(mul(p, r), 8.333452e-3f);
    p = add(mul(p, r), 4.1665796e-2f);
    p = add(mul(p, r), 1.6666665e-1f);
    p = add(mul(p, r), 5.0000001e-1f);
    let y = add(add(mul(p, z), r), 1.0f);
    let scale = bitcast<f32>(u32(i32(n) + 127) << 23u);
    return mul(y, scale);
}

fn cos_two_pi(word: u32) -> f32 {
    let m = word >> 9u;
    let quadrant = m >> 21u;
    let r = m & 0x1fffffu;
    let twice = 2u * r + 1u;
    var fold = twice;
    var swapped = false;
    if twice >= (1u << 21u) {
        fold = (1u << 22u) - twice;
        swapped = true;
    }
    let a = mul(f32(fold), 3.7450704e-07f);
    let a2 = mul(a, a);
    let cos_a = add(1.0f, mul(a2, add(-0.5f, mul(a2, add(4.1666668e-02f, mul(a2, add(-1.3888889e-03f, mul(a2, 2.4801588e-05f))))))));
    let sin_a = mul(a, add(1.0f, mul(a2, add(-1.6666667e-01f, mul(a2, add(8.333334e-03f, mul(a2, add(-1.984127e-04f, mul(a2, 2.7557319e-06f)))))))));
    var c = cos_a;
    var s = sin_a;
    if swapped {
        c = sin_a;
        s = cos_a;
    }
    switch quadrant {
        case 0u: { return c; }
        case 1u: { return -s; }
        case 2u: { return -c; }
        default: { return s; }
    }
}

fn gauss(d: ptr<function, Draws>) -> f32 {
    let w = next_block(d);
    return mul(sqrt_rn(mul(-2.0f, ln(uniform01(w.x)))), cos_two_pi(w.y));
}

const INVERSION_BELOW: f32 = 16.0f;
const NORMAL_FROM: f32 = 8388608.0f;
const INVERSION_CAP: u32 = 64u;
// PTRS trials before giving up (never reached: each trial is accepted with p ≈ 0.9)
const PTRS_TRIALS: u32 = 4096u;

var<private> RECIPROCAL: array<f32, 65> = array<f32, 65>(
    0.0f, 1.e+00f, 5.e-01f, 3.3333334e-01f, 2.5e-01f, 2.e-01f, 1.6666667e-01f, 1.4285715e-01f,
    1.25e-01f, 1.1111111e-01f, 1.e-01f, 9.090909e-02f, 8.3333336e-02f, 7.692308e-02f, 7.1428575e-02f, 6.666667e-02f,
    6.25e-02f, 5.882353e-02f, 5.5555556e-02f, 5.263158e-02f, 5.e-02f, 4.761905e-02f, 4.5454547e-02f, 4.347826e-02f,
    4.1666668e-02f, 4.e-02f, 3.846154e-02f, 3.7037037e-02f, 3.5714287e-02f, 3.448276e-02f, 3.3333335e-02f, 3.2258064e-02f,
    3.125e-02f, 3.0303031e-02f, 2.9411765e-02f, 2.8571429e-02f, 2.7777778e-02f, 2.7027028e-02f, 2.631579e-02f, 2.5641026e-02f,
    2.5e-02f, 2.4390243e-02f, 2.3809524e-02f, 2.3255814e-02f, 2.2727273e-02f, 2.2222223e-02f, 2.173913e-02f, 2.1276595e-02f,
    2.0833334e-02f, 2.0408163e-02f, 2.e-02f, 1.9607844e-02f, 1.923077e-02f, 1.8867925e-02f, 1.8518519e-02f, 1.8181818e-02f,
    1.7857144e-02f, 1.754386e-02f, 1.724138e-02f, 1.6949153e-02f, 1.6666668e-02f, 1.6393442e-02f, 1.6129032e-02f, 1.5873017e-02f,
    1.5625e-02f,
);

var<private> LN_FACTORIAL_SMALL: array<f32, 16> = array<f32, 16>(
    0.0f, 0.0f, 6.931472e-01f, 1.7917595f, 3.178054f, 4.787492f, 6.579251f, 8.525161f,
    10.604603f, 12.801827f, 15.104413f, 17.502308f, 19.987214f, 22.552164f, 25.191221f, 27.899271f,
);

fn ln_poisson_pmf(k: f32, lambda: f32, ln_lambda: f32, inv_lambda: f32) -> f32 {
    if k < 16.0f {
        return opaque(add(-lambda, mul(k, ln_lambda)) - LN_FACTORIAL_SMALL[u32(k)]);
    }
    let t = mul(opaque(k - lambda), inv_lambda);
    var phi: f32;
    if abs(t) < 0.25f {
        var s = 1.7857144e-02f;
        s = add(mul(s, t), -2.3809524e-02f);
        s = add(mul(s, t), 3.3333335e-02f);
        s = add(mul(s, t), -0.05f);
        s = add(mul(s, t), 8.3333336e-02f);
        s = add(mul(s, t), -1.6666667e-01f);
        s = add(mul(s, t), 0.5f);
        phi = mul(mul(s, t), t);
    } else {
        phi = opaque(mul(add(1.0f, t), ln(add(1.0f, t))) - t);
    }
    let inv_k = div_rn(1.0f, k);
    let stirling = add(mul(0.5f, ln(mul(6.2831855f, k))), mul(inv_k, opaque(8.3333336e-02f - mul(mul(inv_k, inv_k), 2.7777778e-03f))));
    return opaque(mul(-lambda, phi) - stirling);
}

fn poisson(lambda: f32, d: ptr<function, Draws>) -> f32 {
    if lambda != lambda || lambda <= 0.0f {
        return 0.0f;
    }
    if lambda < INVERSION_BELOW {
        let u = uniform01(next_block(d).x);
        var p = exp_poly(-lambda);
        var cdf = p;
        var k = 0u;
        while u > cdf && k < INVERSION_CAP {
            k += 1u;
            p = mul(mul(p, lambda), RECIPROCAL[k]);
            cdf = add(cdf, p);
        }
        return f32(k);
    }
    if lambda < NORMAL_FROM {
        // Ptrs::new
        let b = add(0.931f, mul(2.53f, sqrt_rn(lambda)));
        let a = add(-0.059f, mul(0.02483f, b));
        let ln_lambda = ln(lambda);
        let inv_lambda = div_rn(1.0f, lambda);
        let two_a = mul(2.0f, a);
        let v_r = opaque(0.9277f - div_rn(3.6224f, opaque(b - 2.0f)));
        let ln_inv_alpha = ln(add(1.1239f, div_rn(1.1328f, opaque(b - 3.4f))));
        // Ptrs::sample
        for (var trial = 0u; trial < PTRS_TRIALS; trial++) {
            let w = next_block(d);
            let u = opaque(uniform01(w.x) - 0.5f);
            let v = uniform01(w.y);
            let us = opaque(0.5f - abs(u));
            let k = floor(add(add(mul(add(div_rn(two_a, us), b), u), lambda), 0.43f));
            if us >= 0.07f && v <= v_r {
                return k;
            }
            if k < 0.0f || (us < 0.013f && v > us) {
                continue;
            }
            let lhs = opaque(add(ln(v), ln_inv_alpha) - ln(add(div_rn(a, mul(us, us)), b)));
            if lhs <= ln_poisson_pmf(k, lambda, ln_lambda, inv_lambda) {
                return k;
            }
        }
        return lambda;
    }
    if lambda > 3.4028235e38f {
        return lambda;
    }
    return max(round(add(lambda, mul(sqrt_rn(lambda), gauss(d)))), 0.0f);
}

// ---- the stages (src/response/noisify.rs, noise_image_where)

fn in_roi(i: u32) -> bool {
    let fast = i % params.width;
    let slow = i / params.width;
    return fast >= params.roi.x && fast <= params.roi.y && slow >= params.roi.z && slow <= params.roi.w;
}

fn pixel_index(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * 64u;
}

/// 1 + f·g, as the CPU's f64 `1.0 + f * f64::from(g)`.
fn factor(f: vec2<f32>, g: f32) -> vec2<f32> {
    return df_add(vec2<f32>(1.0f, 0.0f), df_mul_f(f, g));
}

/// f64 × f32 rounded to f32 (the CPU's `(x * y) as f32`, x a double-float).
fn df_times(x: vec2<f32>, y: f32) -> vec2<f32> {
    // x · y with x double-float: both parts times y
    let p = two_prod(x.x, y);
    return fast_two_sum(p.x, add(p.y, mul(x.y, y)));
}

fn df_mul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let p = two_prod(a.x, b.x);
    return fast_two_sum(p.x, add(p.y, add(mul(a.x, b.y), mul(a.y, b.x))));
}

@compute @workgroup_size(64)
fn noise_counts(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = pixel_index(id, groups);
    if i >= params.pixels {
        return;
    }
    if !in_roi(i) {
        counts[i] = 0.0f;
        return;
    }
    var mean = vec2<f32>(photons[i], 0.0f);
    if (params.flags & FLAG_FLICKER) != 0u {
        var d = Draws(params.key, i, params.frame, STAGE_FLICKER, 0u);
        mean = df_mul(mean, factor(params.flicker, gauss(&d)));
    }
    let calibrate = (params.flags & FLAG_CALIBRATION) != 0u;
    let after = (params.flags & FLAG_CALIBRATION_AFTER_POISSON) != 0u;
    var calib = vec2<f32>(1.0f, 0.0f);
    if calibrate {
        // the calibration errors: calib_seed's key, frame 0, the same on every frame
        var d = Draws(params.calib_key, i, 0u, STAGE_CALIBRATION, 0u);
        calib = factor(params.calibration, gauss(&d));
    }
    if calibrate && !after {
        mean = df_mul(mean, calib);
    }
    var p = Draws(params.key, i, params.frame, STAGE_POISSON, 0u);
    var count = poisson(mean.x, &p);
    if calibrate && after {
        count = df_times(calib, count).x;
    }
    counts[i] = count;
}

@compute @workgroup_size(64)
fn noise_readout(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = pixel_index(id, groups);
    if i >= params.pixels {
        return;
    }
    if !in_roi(i) {
        counts[i] = 0.0f;
        pixels_out[i] = vec2<u32>(0u, 0u);
        return;
    }
    let signal = counts[i];
    // CPU: f64(signal) * gain + adc (+ readout * f64(g))
    var adu = df_add(df_times(params.gain, signal), params.adc);
    if (params.flags & FLAG_READOUT) != 0u {
        var d = Draws(params.key, i, params.frame, STAGE_READOUT, 0u);
        adu = df_add(adu, df_times(params.readout, gauss(&d)));
    }
    let limit32 = vec2<f32>(2147483648.0f, -1.0f);
    var value32: u32;
    var over32 = 0u;
    var value16: u32;
    var over16 = 0u;
    if df_gt(adu, limit32) {
        over32 = 1u;
        value32 = 2147483647u;
        over16 = 1u;
        value16 = 65535u;
    } else {
        let t = df_trunc(adu);
        value32 = bitcast<u32>(t);
        if df_gt(adu, vec2<f32>(65535.0f, 0.0f)) {
            over16 = 1u;
            value16 = 65535u;
        } else {
            value16 = bitcast<u32>(t) & 0xffffu;
        }
    }
    pixels_out[i] = vec2<u32>(value32, value16 | (over16 << 16u) | (over32 << 17u));
}
