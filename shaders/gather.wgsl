// The gather stage of a GPU render (host side and Rust mirror: src/engine/gpu/gather.rs): what
// keeps a render's image on the device, from the spots to the finished images.
//
// `gather_tile` runs after each tile's render dispatch, in the same submission. Each pixel's
// value goes into the whole image (f32, fast-major) at its image index; pixels below
// `first_index` are left as they are (c-parity's re-render after the interpolation switch
// keeps them). With FLAG_TOTALS it also adds the tile's solid angles into per-block
// double-float sums — a block is 256 consecutive pixels of the rendered rectangle, the same
// blocks however the rectangle is tiled — and lowers `first_off_grid` to the rectangle index of
// any pixel that left the structure-factor grid (atomicMin: the first one in pixel order).
//
// `sum_blocks` gives the same per-block double-float sums of an f32 image (the noise stage's
// photons before the PSF).
//
// The host adds the blocks' sums in f64, in block order. Within a block the sum is a pairwise
// tree of exact TwoSums (about 2⁻⁴⁴ relative), so the total is the host's f64 sum of the same
// f32 values to far below the printed digits, and exactly it for whole numbers below 2⁴⁴.

// keep in sync: `GpuGatherParams` in src/engine/gpu/gather.rs (layout test there)
struct GatherParams {
    // the rendered rectangle: its corner and width, and the detector's width
    x0: u32,
    y0: u32,
    width: u32,
    fpixels: u32,
    // the tile: its first rectangle index and pixel count (sum_blocks: 0 and the value count)
    start: u32,
    count: u32,
    // image indices below this one are not written
    first_index: u32,
    // FLAG_* below
    flags: u32,
    // always 0: hides the TwoSums from algebraic simplification (see `opaque`)
    zero: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// keep in sync: GATHER_FLAG_TOTALS of src/engine/gpu/gather.rs
const FLAG_TOTALS: u32 = 1u;
// keep in sync: BLOCK of src/engine/gpu/gather.rs
const BLOCK: u32 = 256u;
const NONE: u32 = 0xffffffffu;

// keep in sync: `PixelOut` in shaders/render.wgsl and `GpuPixelOut` in src/engine/gpu/layout.rs
// (layout test in gather.rs)
struct PixelOut {
    value: f32,
    omega_sum: f32,
    left_grid: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;
// the tile's pixels as the render kernel wrote them
@group(0) @binding(1) var<storage, read> tile: array<PixelOut>;
// the whole image, width × height
@group(0) @binding(2) var<storage, read_write> image: array<f32>;
// one double-float (hi, lo) sum per block
@group(0) @binding(3) var<storage, read_write> partials: array<vec2<f32>>;
// the first rectangle index whose pixel left the grid, NONE while there is none
@group(0) @binding(4) var<storage, read_write> first_off_grid: atomic<u32>;
// sum_blocks: the values summed
@group(0) @binding(5) var<storage, read> values: array<f32>;

var<workgroup> block_values: array<vec2<f32>, 256>;

fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ params.zero);
}

fn add(a: f32, b: f32) -> f32 {
    return opaque(a + b);
}

/// s + e == a + b exactly (Knuth).
fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    let v = opaque(s - a);
    let e = opaque(a - opaque(s - v)) + opaque(b - v);
    return vec2<f32>(s, e);
}

/// s + e == a + b exactly, provided |a| ≥ |b| or a == 0 (Dekker).
fn fast_two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    return vec2<f32>(s, opaque(b - opaque(s - a)));
}

fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = two_sum(a.x, b.x);
    let t = two_sum(a.y, b.y);
    let u = fast_two_sum(s.x, add(s.y, t.x));
    return fast_two_sum(u.x, add(u.y, t.y));
}

/// The double-float sum of the workgroup's 256 values `v` (invocation `l` holds the l-th): a
/// pairwise tree, value l + half added into value l. Every invocation gets the sum.
fn block_sum(l: u32, v: f32) -> vec2<f32> {
    block_values[l] = vec2<f32>(v, 0.0f);
    workgroupBarrier();
    for (var half = BLOCK / 2u; half > 0u; half = half / 2u) {
        if l < half {
            block_values[l] = df_add(block_values[l], block_values[l + half]);
        }
        workgroupBarrier();
    }
    return block_values[0];
}

@compute @workgroup_size(256)
fn gather_tile(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let block = params.start / BLOCK + group.x + group.y * groups.x;
    let i = block * BLOCK + l;
    let end = params.start + params.count;
    let inside = i >= params.start && i < end;
    var omega = 0.0f;
    if inside {
        let p = tile[i - params.start];
        let index = (params.y0 + i / params.width) * params.fpixels + params.x0 + i % params.width;
        if index >= params.first_index {
            image[index] = p.value;
        }
        if (params.flags & FLAG_TOTALS) != 0u {
            omega = p.omega_sum;
            if p.left_grid != 0u {
                atomicMin(&first_off_grid, i);
            }
        }
    }
    let sum = block_sum(l, omega);
    // a block split between two tiles gets its two parts added, one tile after the other
    if l == 0u && (params.flags & FLAG_TOTALS) != 0u && block * BLOCK < end && block < arrayLength(&partials) {
        partials[block] = df_add(partials[block], sum);
    }
}

@compute @workgroup_size(256)
fn sum_blocks(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let block = group.x + group.y * groups.x;
    let i = block * BLOCK + l;
    var v = 0.0f;
    if i < params.count {
        v = values[i];
    }
    let sum = block_sum(l, v);
    if l == 0u && block * BLOCK < params.count && block < arrayLength(&partials) {
        partials[block] = sum;
    }
}
