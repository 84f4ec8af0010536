// Geometry and lattice physics shared by the render kernel and the GPU self-tests. Needs one
// of the wide-arithmetic files (W) in front of it; has no bindings of its own.
//
// Precision rules (docs/gpu.md): every quantity on the way from the detector position to the
// fractional Miller index h is carried in W; h is then split into its nearest integer h0 and
// δ = h − h0 (exact), and only δ-sized f32 values ever reach a sine.

const PI_F: f32 = 3.14159265358979;

/// A 3-vector of wide values (host side: three `Wide`s).
struct W3 {
    x: W,
    y: W,
    z: W,
}

fn w3_dot(a: W3, b: W3) -> W {
    return w_add(w_add(w_mul(a.x, b.x), w_mul(a.y, b.y)), w_mul(a.z, b.z));
}

fn w3_scale(a: W3, s: W) -> W3 {
    return W3(w_mul(a.x, s), w_mul(a.y, s), w_mul(a.z, s));
}

fn w3_f32(a: W3) -> vec3<f32> {
    return vec3<f32>(w_f32(a.x), w_f32(a.y), w_f32(a.z));
}

/// Real-space a, b, c of one φ step × mosaic domain (host side: `GpuLattice`, stored as the
/// wide file's `LatticeWords`).
struct Lattice {
    a: W3,
    b: W3,
    c: W3,
}

struct Unit {
    dir: W3,
    len: W,
}

/// Unit vector and length; a zero vector stays zero (C `unitize`). Multiplies by the reciprocal
/// length (one W division); the CPU twin (cpu/lanes.rs `sum_pixels`, `physics::unitize`)
/// divides each component as C does, so components can differ in the last bit of W.
fn unitize(v: W3) -> Unit {
    let len = w_sqrt(w3_dot(v, v));
    if w_is_zero(len) {
        return Unit(W3(w(0.0), w(0.0), w(0.0)), len);
    }
    let inv = w_div(w(1.0), len);
    return Unit(W3(w_mul(v.x, inv), w_mul(v.y, inv), w_mul(v.z, inv)), len);
}

struct SinCos {
    s: W,
    c: W,
}

/// sin and cos in W by Taylor series after reduction to |r| ≤ π/4 (W has no transcendental
/// functions; only the curved detector needs this, once per sub-pixel). The CPU twin
/// (`physics::rotate_axis` via `Plan::curve`) uses libm sin/cos in f64.
fn w_sin_cos(x: W) -> SinCos {
    let quarter = w_floor(w_add(w_div(x, w_half_pi()), w(0.5)));
    let r = w_sub(x, w_mul(quarter, w_half_pi()));
    let r2 = w_mul(r, r);
    var s = r;
    var c = w(1.0);
    var s_term = r;
    var c_term = w(1.0);
    for (var n = 1; n <= 11; n++) {
        // next terms: −t·r²/((2n)(2n+1)) for sine, −t·r²/((2n−1)(2n)) for cosine
        s_term = w_div(w_mul(w_neg(s_term), r2), w_int(2 * n * (2 * n + 1)));
        c_term = w_div(w_mul(w_neg(c_term), r2), w_int((2 * n - 1) * (2 * n)));
        s = w_add(s, s_term);
        c = w_add(c, c_term);
    }
    switch ((w_i32(quarter) % 4 + 4) % 4) {
        case 0: { return SinCos(s, c); }
        case 1: { return SinCos(c, w_neg(s)); }
        case 2: { return SinCos(w_neg(s), w_neg(c)); }
        default: { return SinCos(w_neg(c), s); }
    }
}

/// Right-handed rotation of v about the unit vector `axis` (Rodrigues, in the CPU's order).
fn rotate_axis(v: W3, axis: W3, phi: W) -> W3 {
    let sc = w_sin_cos(phi);
    let d = w_mul(w3_dot(axis, v), w_sub(w(1.0), sc.c));
    let x = w_add(w_add(w_mul(axis.x, d), w_mul(v.x, sc.c)), w_mul(w_add(w_mul(w_neg(axis.z), v.y), w_mul(axis.y, v.z)), sc.s));
    let y = w_add(w_add(w_mul(axis.y, d), w_mul(v.y, sc.c)), w_mul(w_sub(w_mul(axis.z, v.x), w_mul(axis.x, v.z)), sc.s));
    let z = w_add(w_add(w_mul(axis.z, d), w_mul(v.z, sc.c)), w_mul(w_add(w_mul(w_neg(axis.y), v.x), w_mul(axis.x, v.y)), sc.s));
    return W3(x, y, z);
}

/// A fractional Miller index split as h = h0 + delta: h0 = ceil(h − ½) (C's rounding, also
/// used for the structure-factor lookup) and delta ∈ (−½, ½] exact to f32 precision.
struct Split {
    h0: i32,
    delta: f32,
}

fn split_index(h: W) -> Split {
    let h0 = w_ceil(w_sub(h, w(0.5)));
    return Split(w_i32(h0), w_f32(w_sub(h, h0)));
}

/// sin(πr) for |r| ≤ ½ as r·P(r²): a degree-5 Chebyshev fit of sin(π√s)/√s on s ∈ [0, ¼]
/// (error 2e-7 absolute in f32, relative near 0 where P(0) = π). Cheaper than the driver's
/// general-range sin, which on llvmpipe costs a range reduction per call.
fn sinpi_reduced(r: f32) -> f32 {
    let s = r * r;
    return r * (3.1415927 + s * (-5.1677127 + s * (2.5501633 + s * (-0.5992517 + s * (0.08204942 + s * -0.0070283418)))));
}

/// sin(π·y) for any f32 y, reduced first: sin(π(m + r)) = (−1)^m sin(π r), |r| ≤ ½.
/// Returns the reduced sine and the parity of m.
struct HalfTurns {
    sin_r: f32,
    odd: bool,
}

fn sin_pi(y: f32) -> HalfTurns {
    let m = round(y);
    return HalfTurns(sinpi_reduced(y - m), (i32(m) & 1) != 0);
}

/// The grating factor sincg(π h, N) = sin(πNh)/sin(πh) for an integer N > 1, from h's split.
/// With h = h0 + δ: sin(πN h) = (−1)^(N·h0) sin(πNδ) and sin(π h) = (−1)^h0 sin(πδ), so the
/// ratio is (−1)^((N−1)·h0) sin(πNδ)/sin(πδ); at δ = 0 it is that sign times N (the limit,
/// which is also what C's sin/sin gives at integer h to within rounding). Branch-free: a SIMD
/// driver would run both sides of a branch anyway.
fn sincg_split(hs: Split, n: f32) -> f32 {
    let odd_h0 = (((i32(n) - 1) * hs.h0) & 1) != 0;
    let den = sinpi_reduced(hs.delta);
    let num = sin_pi(n * hs.delta);
    let ratio = select(num.sin_r / den, n, den == 0.0);
    return select(ratio, -ratio, odd_h0 != (num.odd && den != 0.0));
}

/// Up to this N the grating factor comes from the product form (`sincg_product`), above it
/// from the sine quotient (`sincg_split`).
const PRODUCT_MAX_N: f32 = 8.0;

/// cos(πr) − 1 for |r| ≤ ½ as s·Q(s), s = r²: a degree-4 Chebyshev fit of (cos(π√s) − 1)/s
/// on [0, ¼] (relative error 2e-7 in f32), free of the cancellation in cos − 1 near r = 0.
fn cospi_minus_one(r: f32) -> f32 {
    let s = r * r;
    return s * (-4.934802 + s * (4.058711 + s * (-1.3352385 + s * (0.23507044 + s * -0.02462729))));
}

/// One factor sin²(kπ/N) − sin²θ of `sincg_product`, or 1 past the last pair (2k ≥ N);
/// `minus_sin_sqr` = −sin²θ.
fn product_pair(k: f32, n: f32, minus_sin_sqr: f32) -> f32 {
    let e = cospi_minus_one(k / n);
    return select(1.0, -e * (2.0 + e) + minus_sin_sqr, 2.0 * k < n);
}

/// sin(Nθ)/sin θ at θ = πδ for N ≤ PRODUCT_MAX_N, with the sign (−1)^((N−1)·h0), as the
/// product of its zeros: U_{N−1}(c) = 2^{N−1} Π_{k=1}^{N−1} (c − cos(kπ/N)). Pairing k with N − k
/// gives (c − c_k)(c + c_k) = sin²(kπ/N) − sin²θ, and for even N the unpaired k = N/2 leaves c.
/// With sin²θ = −e(2 + e), e = cos θ − 1, every factor keeps its relative accuracy at the peak
/// (measured 3.8e-7·N at worst in f32 up to N = 8); with N a pipeline constant the sin²(kπ/N)
/// fold to constants and a factor costs one add and one multiply.
fn sincg_product(hs: Split, n: f32) -> f32 {
    let e = cospi_minus_one(hs.delta);
    let minus_sin_sqr = e * (2.0 + e);
    var u = select(1.0, 1.0 + e, (i32(n) & 1) == 0);
    u *= product_pair(1.0, n, minus_sin_sqr);
    u *= product_pair(2.0, n, minus_sin_sqr);
    u *= product_pair(3.0, n, minus_sin_sqr);
    u *= exp2(n - 1.0);
    let odd = (((i32(n) - 1) * hs.h0) & 1) != 0;
    return select(u, -u, odd);
}

/// The grating factor of one axis for N > 1; with N a pipeline constant only one method is
/// compiled. CPU twin: cpu/lattice.rs `grating` / `lattice_factors`, in f64: the Chebyshev
/// recurrence U_{N−1}(cos πδ) up to N = 16 (here the product form, up to N = 8, because the
/// recurrence loses ~N³ ulps in f32) and the same sine quotient above, with degree-8 instead
/// of degree-5 polynomials. In c-parity mode the CPU uses C's `sincg` instead.
fn grating_factor(hs: Split, n: f32) -> f32 {
    if n <= PRODUCT_MAX_N {
        return sincg_product(hs, n);
    }
    return sincg_split(hs, n);
}

/// The sphere transform 3(sin x − x cos x)/x³ at x = π·s (s ≥ 0). Below x = 1 the closed form
/// cancels badly in f32, so its Taylor series (terms to x⁸, next term < 6e-9) is used there.
/// CPU twin: `physics::sinc3` (cpu/lattice.rs `shaped_factor`), C's closed form at every x in
/// f64, 1 at x = 0.
fn sinc3_pi(s: f32) -> f32 {
    let x = PI_F * s;
    if x < 1.0 {
        let x2 = x * x;
        return 1.0 + x2 * (-1.0 / 10.0 + x2 * (1.0 / 280.0 + x2 * (-1.0 / 15120.0 + x2 * (1.0 / 1330560.0))));
    }
    let m = round(s);
    let r = PI_F * (s - m);
    let sign = select(1.0, -1.0, (i32(m) & 1) != 0);
    let sin_x = sign * sin(r);
    let cos_x = sign * cos(r);
    return 3.0 * (sin_x / x - cos_x) / (x * x);
}

/// Unit vector in f32 (zero stays zero).
fn unit_f32(v: vec3<f32>) -> vec3<f32> {
    let len = length(v);
    if len == 0.0 {
        return v;
    }
    return v / len;
}

/// Kahn polarization factor ½(1 + cos²2θ − K·cos 2ψ·sin²2θ) for unit vectors `incident` and
/// `diffracted`. C takes ψ = −atan2(y, x) and then cos 2ψ; cos 2ψ = (x² − y²)/(x² + y²) is
/// the same number without any trigonometry. (C also normalises the two unit vectors again,
/// which changes them by rounding only.) CPU twin: cpu/lanes.rs `update_polar` (C's atan2
/// form in f64, B/E frame prepared per source), bit-identical to `physics::polarization_factor`.
fn polarization_factor(kahn: f32, incident: vec3<f32>, diffracted: vec3<f32>, axis: vec3<f32>) -> f32 {
    let cos2theta = dot(incident, diffracted);
    let cos2theta_sqr = cos2theta * cos2theta;
    let sin2theta_sqr = 1.0 - cos2theta_sqr;
    var cos_2psi = 1.0;
    if kahn != 0.0 {
        // the E-vector lies closest to `axis`: B = axis × incident, E = incident × B (a unit
        // vector already: incident ⟂ B)
        let b_in = unit_f32(cross(unit_f32(axis), incident));
        let e_in = cross(incident, b_in);
        let y = dot(diffracted, b_in);
        let x = dot(diffracted, e_in);
        let r2 = x * x + y * y;
        if r2 > 0.0 {
            cos_2psi = (x * x - y * y) / r2;
        }
    }
    return 0.5 * (1.0 + cos2theta_sqr - kahn * cos_2psi * sin2theta_sqr);
}

/// Lagrange weights of the four grid points at offsets −1, 0, 1, 2 for a point t ∈ [0, 1)
/// past the second one: the CPU's Lagrange step (cpu/structure.rs `lagrange_numerators`, C's
/// polint on absolute indices) rewritten in local coordinates so that |h| ~ 60 costs no f32
/// precision.
fn lagrange4(t: f32) -> vec4<f32> {
    let a = t + 1.0;
    let b = t;
    let c = t - 1.0;
    let d = t - 2.0;
    return vec4<f32>(-b * c * d / 6.0, a * c * d / 2.0, -a * b * d / 2.0, a * b * c / 6.0);
}
