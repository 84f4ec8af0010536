// The render kernel: one invocation sums one pixel over layers × sub-pixels × sources × φ ×
// mosaic domains in the same order and with the same caching rules as the CPU engine
// (src/engine/cpu/lanes.rs `sum_pixels`, nanoBragg.c's loop). What is the same: which terms
// are summed, in which order, which factors are cached and when they are recomputed. What is
// not: the arithmetic (W for geometry and the pixel sum, f32 per term, other formulas for some
// steps); each function below names its CPU twin and says how they differ (docs/gpu.md, "the
// twin pact"). Needs the generated prelude (the crystal-shape codes, src/shader.rs `prelude`),
// a wide-arithmetic file, physics.wgsl and subpixel.wgsl in front of it.
//
// One dispatch covers one tile: `job.count` consecutive pixels of the rectangle
// (job.x0, job.y0, job.width), numbered row by row from `job.start`. The image's rows are the
// detector's panels' stacked (`params.panel_rows` each): each invocation reads its pixel's
// panel from `panels`, so one dispatch renders pixels of every panel.

// ---- host-shared layouts: keep in sync with src/engine/gpu/layout.rs ----

// A uniform buffer (a driver reads one value for all invocations; llvmpipe loads a storage
// buffer's value lane by lane even at a constant offset). Uniform layout rules: a struct member
// starts on 16 bytes and what follows it 16-aligned too, hence the @align(16).
struct Params {
    @align(16) beam: W3,
    @align(16) polar_axis: W3,
    @align(16) a_star: W3,
    @align(16) b_star: W3,
    @align(16) c_star: W3,
    @align(16) subpixel_size: W,
    pixel_size: W,
    distance: W,
    thickstep: W,
    mu: W,
    dmin: W,
    scale: W,
    i_bg: W,
    kahn: f32,
    fudge: f32,
    default_f: f32,
    fpixels: u32,
    // rows of each panel
    panel_rows: u32,
    oversample: u32,
    thicksteps: u32,
    source_count: u32,
    phisteps: u32,
    domains: u32,
    grid_min_h: i32,
    grid_min_k: i32,
    grid_min_l: i32,
    grid_count_h: i32,
    grid_count_k: i32,
    grid_count_l: i32,
    grid_split: u32,
    first_pixel: u32,
    first_layer: u32,
    first_sub: u32,
    first_source: u32,
    /// 0, for w_init
    zero: u32,
    // With ONE_SOURCE the source, with ONE_TERM (and no FIRST_TERM) the lattice, read from
    // here rather than from the storage arrays (see above).
    @align(16) incident0: W3,
    @align(16) lambda0: W,
    weight0: f32,
    @align(16) lattice0_a: W3,
    @align(16) lattice0_b: W3,
    @align(16) lattice0_c: W3,
}

struct Dispatch {
    x0: u32,
    y0: u32,
    width: u32,
    start: u32,
    count: u32,
    first_index: u32,
    trace_pixel: u32,
    bits: u32,
}


// One panel: the pixel grid it lies on (corner, axes) and its first pixel there, and the
// distance of its plane from the sample (nanobragg_core::engine::plan::PlanPanel).
struct Panel {
    pix0: W3,
    fdet: W3,
    sdet: W3,
    odet: W3,
    close_distance: W,
    first_fast: i32,
    first_slow: i32,
}

struct Source {
    incident: W3,
    lambda: W,
    weight: f32,
    pad: u32,
}

struct PixelOut {
    value: f32,
    omega_sum: f32,
    left_grid: u32,
}

struct TraceSlot {
    hi: f32,
    lo: f32,
    written: u32,
}

// What the experiment uses, fixed per render as pipeline-overridable constants (values from
// `layout::overrides`), so unused features are compiled out. Left as runtime flags they cost
// every pixel on llvmpipe even when off (measured: the untaken curved-detector branch alone
// doubled the time of a flat-detector render), as a SIMD driver that runs both sides of a
// branch under a mask would.
override CURVED: bool = false;
override POINT_PIXEL: bool = false;
override OVERSAMPLE_THICK: bool = false;
override OVERSAMPLE_POLAR: bool = false;
override OVERSAMPLE_OMEGA: bool = false;
override NOPOLAR: bool = false;
override WATER: bool = false;
/// c-parity: the -oversample_* factors multiply the running sum after every term, and the sum
/// starts from the water value (`Plan::compound_factors`); otherwise each term (and the water,
/// once per sub-pixel and source) is weighted once by its own factors
override COMPOUND: bool = false;
/// tricubic interpolation may be on at all (it is switched per pass by JOB_INTERPOLATE)
override INTERPOLATE: bool = false;
/// c-parity: C's interpolation switch is one-shot
override ONE_SHOT: bool = false;
override GRID: bool = false;
override THICK: bool = false;
/// c-parity: one term sees the φ carry-over lattice set
override FIRST_TERM: bool = false;
/// the crystal shape: one of the SHAPE_* codes of the prelude, generated from the host's
/// `XtalShape::code`
override SHAPE: u32 = 0u;
/// unit cells along a, b, c (whole numbers for the square shape)
override N_A: f32 = 1.0;
override N_B: f32 = 1.0;
override N_C: f32 = 1.0;
/// -dmin is set (otherwise its test is compiled out)
override DMIN: bool = false;
/// this pipeline records the trace of job.trace_pixel; every other one has no trace code at all
override TRACE: bool = false;
/// a -mask image is given (not in the trace pipeline: a trace ignores it, as on the CPU)
override MASK: bool = false;
/// one source; one φ × mosaic term and no c-parity first-term set: read them from `params`
/// (llvmpipe loads from a storage buffer lane by lane even at a constant index)
override ONE_SOURCE: bool = false;
override ONE_TERM: bool = false;

// Dispatch.bits
const JOB_INTERPOLATE: u32 = 1u;

// trace slots (one value each; vectors take three)
const T_PIXEL_POS: u32 = 0u;
const T_R_DISTANCE: u32 = 3u;
const T_OMEGA_FIRST: u32 = 4u;
const T_DIFFRACTED: u32 = 5u;
const T_SCATTERING: u32 = 8u;
const T_ROT_A: u32 = 11u;
const T_ROT_B: u32 = 14u;
const T_ROT_C: u32 = 17u;
const T_HKL_FRAC: u32 = 20u;
const T_HKL_ROUNDED: u32 = 23u;
const T_F_LATT_AXES: u32 = 26u;
const T_F_LATT: u32 = 29u;
const T_F_CELL: u32 = 30u;
const T_I_BEFORE_SCALING: u32 = 31u;
const T_POLAR: u32 = 32u;
const T_CAPTURE: u32 = 33u;
const T_OMEGA: u32 = 34u;
const T_I_FINAL: u32 = 35u;
const T_PHI_STEPS: u32 = 36u;

@group(0) @binding(0) var<uniform> params_in: Params;
@group(0) @binding(1) var<uniform> job_in: Dispatch;
// Private copies, filled once per invocation: llvmpipe gathers a buffer value lane by lane at
// every read (it cannot tell a descriptor's offset is uniform), and cannot keep it out of loops.
var<private> params: Params;
var<private> job: Dispatch;
@group(0) @binding(2) var<storage, read> lattices: array<LatticeWords>;
@group(0) @binding(3) var<storage, read> sources: array<Source>;
// the structure-factor grid, split across two bindings at index params.grid_split
@group(0) @binding(4) var<storage, read> grid_lo: array<f32>;
@group(0) @binding(5) var<storage, read> grid_hi: array<f32>;
@group(0) @binding(6) var<storage, read> mask_bits: array<u32>;
@group(0) @binding(7) var<storage, read_write> pixels_out: array<PixelOut>;
@group(0) @binding(8) var<storage, read_write> trace: array<TraceSlot>;
@group(0) @binding(9) var<storage, read> panels: array<Panel>;
// the invocation's pixel's panel, read once
var<private> panel: Panel;

// ---- trace ----

// The trace buffer holds one block of T_* slots per (layer, sub-pixel), in visiting order, as
// the CPU trace repeats its per-sub-pixel lines; the per-pixel closing values go to block 0.
var<private> trace_block: u32;

/// Slots per block (trace.rs `block_slots`).
fn trace_block_slots() -> u32 {
    return T_PHI_STEPS + 3u * params.phisteps;
}

fn trace_put(slot: u32, v: vec2<f32>) {
    trace[trace_block * trace_block_slots() + slot] = TraceSlot(v.x, v.y, 1u);
}

fn trace_w(slot: u32, v: W) {
    trace_put(slot, w_parts(v));
}

fn trace_f(slot: u32, v: f32) {
    trace_put(slot, vec2<f32>(v, 0.0));
}

fn trace_w3(slot: u32, v: W3) {
    trace_w(slot, v.x);
    trace_w(slot + 1u, v.y);
    trace_w(slot + 2u, v.z);
}

// ---- geometry ----

/// The pixel's panel as the sub-pixel position formula reads it (subpixel.wgsl, shared with the
/// background stage). CPU twin: `Plan::subpixel_grid`, whose positions the lanes take
/// (cpu/lanes.rs `subpixel_rays`).
fn detector_grid() -> SubpixelGrid {
    return SubpixelGrid(panel.pix0, panel.fdet, panel.sdet, panel.odet, params.beam, params.subpixel_size, params.thickstep, params.distance, params.oversample, CURVED, vec2<i32>(panel.first_fast, panel.first_slow));
}

/// Solid angle of the pixel seen from the sample (the panel's plane distance). CPU twin:
/// cpu/lanes.rs `update_omega`, in C's order pixel²/R/R·close/R; here one division in W,
/// rounded to f32.
fn solid_angle(airpath: W) -> f32 {
    let airpath_sqr = w_mul(airpath, airpath);
    if POINT_PIXEL {
        return w_f32(w_div(w(1.0), airpath_sqr));
    }
    // pixel² · close_distance / airpath³, with one division
    let area = w_mul(params.pixel_size, params.pixel_size);
    return w_f32(w_div(w_mul(area, panel.close_distance), w_mul(airpath_sqr, airpath)));
}

/// Fraction of the photons along `diffracted` absorbed in detector layer `layer`. CPU twin:
/// cpu/lanes.rs `update_capture` (same formula in f64).
fn capture_fraction(diffracted: vec3<f32>, layer: u32) -> f32 {
    let parallax = dot(diffracted, w3_f32(panel.odet));
    let depth = w_f32(w_mul(params.thickstep, params.mu)) / parallax;
    return exp(-f32(layer) * depth) - exp(-f32(layer + 1u) * depth);
}

/// Scattering vector (m⁻¹) for a diffracted unit vector and a source, (d − i)·(1/λ): one
/// division instead of three (the CPU twin, in cpu/lanes.rs `sum_pixels`, divides by λ as C
/// does; the results differ in the last bit of W).
fn scattering(diffracted: W3, src: Source) -> W3 {
    let inv_lambda = w_div(w(1.0), src.lambda);
    return W3(
        w_mul(w_sub(diffracted.x, src.incident.x), inv_lambda),
        w_mul(w_sub(diffracted.y, src.incident.y), inv_lambda),
        w_mul(w_sub(diffracted.z, src.incident.z), inv_lambda),
    );
}

/// Whether `-dmin` drops this scattering vector (same test as `Plan::beyond_dmin`).
fn beyond_dmin(s: W3) -> bool {
    if !DMIN {
        return false;
    }
    let stol = w_mul(w(0.5), w_sqrt(w3_dot(s, s)));
    let zero = w(0.0);
    return w_lt(zero, params.dmin) && w_lt(zero, stol) && w_lt(w_div(w(0.5), stol), params.dmin);
}

// ---- one term ----

struct Miller {
    h: W3,
    h0: vec3<i32>,
    delta: vec3<f32>,
}

fn miller(lat: Lattice, s: W3) -> Miller {
    let h = W3(w3_dot(lat.a, s), w3_dot(lat.b, s), w3_dot(lat.c, s));
    let sh = split_index(h.x);
    let sk = split_index(h.y);
    let sl = split_index(h.z);
    return Miller(h, vec3<i32>(sh.h0, sk.h0, sl.h0), vec3<f32>(sh.delta, sk.delta, sl.delta));
}

struct LatticeFactor {
    per_axis: vec3<f32>,
    f: f32,
}

/// One axis's grating factor; 1 for a single cell.
fn grating(h0: i32, delta: f32, n: f32) -> f32 {
    return select(1.0, grating_factor(Split(h0, delta), n), n > 1.0);
}

/// CPU twin: cpu/lattice.rs `lattice_factors` (f64; Chebyshev recurrence up to N = 16 where
/// this uses the f32 product form up to N = 8; C's own `sincg` in c-parity mode) and
/// `shaped_factor` (the same C formulas, in f64, with `physics::sinc3` for `sinc3_pi`).
///
/// One case per shape code (SHAPE is constant per pipeline, so only its case is compiled in);
/// a code without a case gives no factor at all but marks the pixel (`unknown_shape`), which is
/// then written as NaN, never another shape's spots.
fn lattice_factor(m: Miller) -> LatticeFactor {
    let d = m.delta;
    let cells = N_A * N_B * N_C;
    switch SHAPE {
        case SHAPE_SQUARE: {
            // written out per axis: a loop over vector components becomes indexed scratch memory
            let per_axis = vec3<f32>(grating(m.h0.x, d.x, N_A), grating(m.h0.y, d.y, N_B), grating(m.h0.z, d.z, N_C));
            return LatticeFactor(per_axis, per_axis.x * per_axis.y * per_axis.z);
        }
        case SHAPE_ROUND: {
            let hrad_sqr = d.x * d.x * N_A * N_A + d.y * d.y * N_B * N_B + d.z * d.z * N_C * N_C;
            // 0.7236: sqrt of the cube-to-sphere volume ratio, as C
            return LatticeFactor(vec3<f32>(1.0), cells * 0.723601254558268 * sinc3_pi(sqrt(hrad_sqr * params.fudge)));
        }
        case SHAPE_GAUSS: {
            return LatticeFactor(vec3<f32>(1.0), cells * exp(-(rad_star_sqr(d, cells) / 0.63 * params.fudge)));
        }
        case SHAPE_TOPHAT: {
            return LatticeFactor(vec3<f32>(1.0), select(0.0, cells, rad_star_sqr(d, cells) * params.fudge < 0.3969));
        }
        default: {
            unknown_shape = true;
            return LatticeFactor(vec3<f32>(0.0), 0.0);
        }
    }
}

/// Set by `lattice_factor` when SHAPE is a code it has no case for: the pixel is written as NaN.
/// (A NaN factor would not do: WGSL lets compilers assume there are none, and lavapipe's drops
/// the terms it would be in, measured.)
var<private> unknown_shape: bool;

/// A quiet NaN, from bits the compiler cannot know (params.zero is 0).
fn quiet_nan() -> f32 {
    return bitcast<f32>(0x7fc00000u | params.zero);
}

/// |Δh·a* + Δk·b* + Δl·c*|²·cells², the reciprocal-space distance of the Gaussian and
/// top-hat shapes.
fn rad_star_sqr(d: vec3<f32>, cells: f32) -> f32 {
    let dist = d.x * w3_f32(params.a_star) + d.y * w3_f32(params.b_star) + d.z * w3_f32(params.c_star);
    return dot(dist, dist) * cells * cells;
}

fn grid_at(index: u32) -> f32 {
    if index < params.grid_split {
        return grid_lo[index];
    }
    return grid_hi[index - params.grid_split];
}

fn in_grid(hkl: vec3<i32>) -> bool {
    let lo = vec3<i32>(params.grid_min_h, params.grid_min_k, params.grid_min_l);
    let count = vec3<i32>(params.grid_count_h, params.grid_count_k, params.grid_count_l);
    return all(hkl >= lo) && all(hkl < lo + count);
}

fn grid_value(hkl: vec3<i32>) -> f32 {
    let d = hkl - vec3<i32>(params.grid_min_h, params.grid_min_k, params.grid_min_l);
    return grid_at(u32((d.x * params.grid_count_k + d.y) * params.grid_count_l + d.z));
}

/// Structure factor by nearest grid point; default_F off the grid. CPU twin: cpu/structure.rs
/// `nearest_f` (the grid in f64 there, f32 here).
fn nearest_f(h0: vec3<i32>) -> f32 {
    if GRID && in_grid(h0) {
        return grid_value(h0);
    }
    return params.default_f;
}

/// Whether the 4×4×4 neighbourhood of one fractional index stays inside the grid (C tests
/// the fractional index: h − lo + 3 > range or h − 2 < lo is out).
fn axis_in_range(h: W, lo: i32, count: i32) -> bool {
    let past_top = w_lt(w_int(count), w_add(w_sub(h, w_int(lo)), w(3.0)));
    let below = w_lt(w_sub(h, w(2.0)), w_int(lo));
    return !past_top && !below;
}

struct Interpolated {
    inside: bool,
    f: f32,
}

/// Tricubic F over the 4×4×4 neighbourhood, or `inside` false when it leaves the grid. CPU
/// twin: cpu/structure.rs `tricubic_f`: the same range test; there nested f64 Lagrange steps on
/// absolute indices in C's order, here `lagrange4` weights in local coordinates and one f32
/// sum of the 64 weighted values.
fn tricubic_f(h: W3) -> Interpolated {
    if !GRID || !axis_in_range(h.x, params.grid_min_h, params.grid_count_h)
        || !axis_in_range(h.y, params.grid_min_k, params.grid_count_k)
        || !axis_in_range(h.z, params.grid_min_l, params.grid_count_l) {
        return Interpolated(false, 0.0);
    }
    let fh = w_floor(h.x);
    let fk = w_floor(h.y);
    let fl = w_floor(h.z);
    let corner = vec3<i32>(w_i32(fh), w_i32(fk), w_i32(fl)) - vec3<i32>(1);
    let wh = lagrange4(w_f32(w_sub(h.x, fh)));
    let wk = lagrange4(w_f32(w_sub(h.y, fk)));
    let wl = lagrange4(w_f32(w_sub(h.z, fl)));
    var f = 0.0;
    for (var i = 0; i < 4; i++) {
        for (var j = 0; j < 4; j++) {
            for (var k = 0; k < 4; k++) {
                f += wh[i] * wk[j] * wl[k] * grid_value(corner + vec3<i32>(i, j, k));
            }
        }
    }
    return Interpolated(true, f);
}

// ---- one pixel ----

/// Running state of one pixel: the C variables that persist across its loops.
struct PixelState {
    intensity: W,
    polar: f32,
    omega: f32,
    capture: f32,
    omega_sum: f32,
    interpolate: bool,
    left_grid: bool,
}

fn trace_term(phi: u32, lat: Lattice, s: W3, m: Miller, lf: LatticeFactor) {
    let slot = T_PHI_STEPS + 3u * phi;
    trace_w(slot, m.h.y);
    trace_f(slot + 1u, lf.per_axis.y);
    trace_f(slot + 2u, lf.f);
    if phi != 0u {
        return;
    }
    let angstrom = w(1e10);
    trace_w3(T_SCATTERING, s);
    trace_w3(T_ROT_A, w3_scale(lat.a, angstrom));
    trace_w3(T_ROT_B, w3_scale(lat.b, angstrom));
    trace_w3(T_ROT_C, w3_scale(lat.c, angstrom));
    trace_w3(T_HKL_FRAC, m.h);
    trace_w3(T_HKL_ROUNDED, W3(w_int(m.h0.x), w_int(m.h0.y), w_int(m.h0.z)));
    trace_f(T_F_LATT_AXES, lf.per_axis.x);
    trace_f(T_F_LATT_AXES + 1u, lf.per_axis.y);
    trace_f(T_F_LATT_AXES + 2u, lf.per_axis.z);
    trace_f(T_F_LATT, lf.f);
}

/// What the terms of one (sub-pixel, source) have summed so far: since the last fold into
/// the pixel's wide sum, `sum` (f32) and `factor`, the product of the -oversample_* factor k
/// over the kept terms; and the pixel's interpolation switch and grid-exit flag.
struct TermSum {
    sum: f32,
    factor: f32,
    interpolate: bool,
    left_grid: bool,
}

/// One term's Miller indices and lattice factor, and whether it adds anything: `live` is false
/// past the last term or for a source dropped by -dmin, and a zero lattice factor adds nothing
/// (C skips the term unless there is water, whose sum its factors then multiply: COMPOUND).
struct Term {
    m: Miller,
    lf: LatticeFactor,
    kept: bool,
}

fn evaluate_term(lat: Lattice, s: W3, live: bool) -> Term {
    let m = miller(lat, s);
    let lf = lattice_factor(m);
    return Term(m, lf, live && (lf.f != 0.0 || (WATER && COMPOUND)));
}

/// Adds a term with structure factor `f_cell`: with COMPOUND a kept term turns the sum I into
/// (I + term)·k, otherwise it adds term·k, the CPU engine's rules (cpu/lanes.rs
/// `sum_rotations`). Exact: which terms are kept and the form of the update. Not exact: here
/// the chunk sum starts at 0 in f32 and the product of the k's is kept beside it (1 without
/// COMPOUND), so `sum_rotations` below folds I·Πk + chunk into W, where the CPU updates one f64
/// sum term by term.
fn accumulate(acc_in: TermSum, term: Term, f_cell: f32, k: f32, weight: f32) -> TermSum {
    var acc = acc_in;
    let value = f_cell * f_cell * term.lf.f * term.lf.f * weight;
    if COMPOUND {
        acc.sum = select(acc.sum, (acc.sum + value) * k, term.kept);
        acc.factor = select(acc.factor, acc.factor * k, term.kept);
    } else {
        acc.sum = select(acc.sum, acc.sum + value * k, term.kept);
    }
    return acc;
}

/// The φ × mosaic terms of one (sub-pixel, source), TERM_CHUNK at a time (`sum_chunk`, in the
/// lattice-fetch file); after each chunk its f32 sum is folded into the wide pixel sum. CPU
/// twin: cpu/lanes.rs `sum_rotations` (see `accumulate` for how the folding differs).
/// `first` selects the c-parity lattice set stored after the regular one.
fn sum_rotations(st: ptr<function, PixelState>, s: W3, weight: f32, first: bool, live: bool, tracing: bool) {
    let k = term_factor(*st);
    var acc = TermSum(0.0, 1.0, (*st).interpolate, (*st).left_grid);
    let terms = params.phisteps * params.domains;
    for (var t0 = 0u; t0 < terms; t0 += TERM_CHUNK) {
        acc = sum_chunk(acc, t0, terms, first, live, s, k, weight, tracing);
        (*st).intensity = w_add(w_mul((*st).intensity, w(acc.factor)), w(acc.sum));
        acc.sum = 0.0;
        acc.factor = 1.0;
    }
    (*st).interpolate = acc.interpolate;
    (*st).left_grid = acc.left_grid;
}

/// k, the product of the factors a term is weighted by where it is summed: the sub-pixel's
/// capture fraction, polarization and solid angle for those the -oversample_* flags ask per
/// sub-pixel (the others multiply the whole sum in `render_pixel`). CPU twin: cpu/lanes.rs
/// `term_factors` (there the three factors one at a time, in f64).
fn term_factor(st: PixelState) -> f32 {
    var k = 1.0;
    if OVERSAMPLE_THICK {
        k *= st.capture;
    }
    if OVERSAMPLE_POLAR {
        k *= st.polar;
    }
    if OVERSAMPLE_OMEGA {
        k *= st.omega;
    }
    return k;
}

/// Source `source` of one sub-pixel.
fn add_source(st: ptr<function, PixelState>, diffracted: ptr<function, W3>, source: u32, pixel: u32, layer: u32, sub: u32, tracing: bool) {
    var src = Source(params.incident0, params.lambda0, params.weight0, 0u);
    if !ONE_SOURCE {
        src = sources[source];
    }
    let s = scattering(*diffracted, src);
    // a dropped source still runs its terms (adding nothing): every invocation of a
    // subgroup must reach the lattice fetch together
    let live = !beyond_dmin(s);
    // the CPU's test (cpu update_polar): with NOPOLAR the factor starts at 1, so only a plan
    // whose OVERSAMPLE_POLAR survived -nopolar (c-parity) recomputes it; the first clause
    // only compiles the call out when it can never run
    if (!NOPOLAR || OVERSAMPLE_POLAR) && live && ((*st).polar == 0.0 || OVERSAMPLE_POLAR) {
        (*st).polar = polarization_factor(params.kahn, w3_f32(src.incident), w3_f32(*diffracted), w3_f32(params.polar_axis));
        // C normalises `diffracted` in place here, which later sources then see
        *diffracted = unitize(*diffracted).dir;
    }
    if WATER && !COMPOUND && live {
        // the water, once per (layer, sub-pixel, source) like this source's terms
        // (Plan::i_bg); CPU twin: cpu/lanes.rs `sum_pixels`
        (*st).intensity = w_add((*st).intensity, w_mul(params.i_bg, w(src.weight * term_factor(*st))));
    }
    let first = FIRST_TERM && pixel == params.first_pixel && layer == params.first_layer
        && sub == params.first_sub && source == params.first_source;
    sum_rotations(st, s, src.weight, first, live, tracing && source == 0u);
}

/// The sources of one sub-pixel.
fn sum_sources(st: ptr<function, PixelState>, diffracted_in: W3, pixel: u32, layer: u32, sub: u32, tracing: bool) {
    var diffracted = diffracted_in;
    for (var source = 0u; source < params.source_count; source++) {
        add_source(st, &diffracted, source, pixel, layer, sub, tracing);
    }
}

/// Pixel (fast, slow) of `panel` (`slow` on the panel; `pixel` its image index).
fn render_pixel(fast: u32, slow: u32, pixel: u32, wanted: bool) -> PixelOut {
    let tracing = TRACE && wanted && pixel == job.trace_pixel;
    var st = PixelState(select(w(0.0), params.i_bg, COMPOUND), select(0.0, 1.0, NOPOLAR), 0.0, 0.0, 0.0, INTERPOLATE && (job.bits & JOB_INTERPOLATE) != 0u, false);
    let os = params.oversample;
    for (var layer = 0u; layer < params.thicksteps; layer++) {
        st.capture = select(1.0, 0.0, THICK);
        for (var sub = 0u; sub < os * os; sub++) {
            let pos = subpixel_position(detector_grid(), fast, slow, sub / os, sub % os, layer);
            let unit = unitize(pos);
            if st.omega == 0.0 || OVERSAMPLE_OMEGA {
                st.omega = solid_angle(unit.len);
            }
            st.omega_sum += st.omega;
            if (THICK || OVERSAMPLE_THICK) && (st.capture == 0.0 || OVERSAMPLE_THICK) {
                st.capture = capture_fraction(w3_f32(unit.dir), layer);
            }
            if tracing {
                trace_block = layer * os * os + sub;
                trace_w3(T_PIXEL_POS, pos);
                trace_w(T_R_DISTANCE, unit.len);
                trace_f(T_OMEGA_FIRST, st.omega);
                trace_w3(T_DIFFRACTED, unit.dir);
            }
            sum_sources(&st, unit.dir, pixel, layer, sub, tracing);
        }
    }
    var value = w_mul(params.scale, st.intensity);
    if !OVERSAMPLE_THICK {
        value = w_mul(value, w(st.capture));
    }
    if !OVERSAMPLE_POLAR {
        value = w_mul(value, w(st.polar));
    }
    if !OVERSAMPLE_OMEGA {
        value = w_mul(value, w(st.omega));
    }
    if tracing {
        trace_block = 0u;
        trace_w(T_I_BEFORE_SCALING, st.intensity);
        trace_f(T_POLAR, st.polar);
        trace_f(T_CAPTURE, st.capture);
        trace_f(T_OMEGA, st.omega);
        trace_f(T_I_FINAL, w_f32(value));
    }
    if unknown_shape {
        return PixelOut(quiet_nan(), st.omega_sum, select(0u, 1u, st.left_grid));
    }
    return PixelOut(w_f32(value), st.omega_sum, select(0u, 1u, st.left_grid));
}

fn masked(pixel: u32) -> bool {
    return MASK && ((mask_bits[pixel / 32u] >> (pixel % 32u)) & 1u) == 0u;
}

/// One invocation: pixel `gid` of the dispatch. Invocations past the end, masked pixels and
/// pixels before `job.first_index` still run (on a clamped pixel, result discarded), so that
/// control flow stays uniform for the lattice fetch.
fn render_invocation(gid: u32) {
    params = params_in;
    job = job_in;
    w_init(params.zero);
    let valid = gid < job.count;
    let index = job.start + min(gid, job.count - 1u);
    let fast = job.x0 + index % job.width;
    let row = job.y0 + index / job.width;
    let pixel = row * params.fpixels + fast;
    let wanted = valid && pixel >= job.first_index && !masked(pixel);
    panel = panels[row / params.panel_rows];
    var out = render_pixel(fast, row % params.panel_rows, pixel, wanted);
    if !wanted {
        out = PixelOut(0.0, 0.0, 0u);
    }
    if valid {
        pixels_out[gid] = out;
    }
}
