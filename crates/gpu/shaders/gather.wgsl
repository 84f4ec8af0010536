// The gather stage of a GPU render (host side and Rust mirror: src/engine/gpu/gather.rs): what
// keeps a render's image on the device, from the spots to the finished images.
//
// `gather_tile` runs after each tile's render dispatch, in the same submission. Each pixel's
// value goes into the whole image (f32, fast-major) at its image index; pixels below
// `first_index` are left as they are (c-parity's re-render after the interpolation switch
// keeps them). With FLAG_TOTALS it also adds the tile's solid angles into per-block
// double-float sums — a block is 256 consecutive pixels of the rendered rectangle, the same
// blocks however the rectangle is tiled; one invocation per block, which writes its pixels and
// sums them in pixel order (no workgroup barriers: cheap on software adapters too) — and lowers
// `first_off_grid` to the rectangle index of any pixel that left the structure-factor grid
// (atomicMin: the first one in pixel order).
//
// `sum_blocks` gives the same per-block double-float sums of an f32 image (the noise stage's
// photons before the PSF).
//
// The host adds the blocks' sums in f64, in block order. Within a block the sum is a
// compensated double-float sum in pixel order (exact TwoSums; about 2⁻⁴⁰ relative), so the total
// is the host's f64 sum of the same f32 values to far below the printed digits, and exactly it
// for whole numbers (photon counts) whose block sums stay below 2⁴⁰.

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

// opaque, add, two_sum, fast_two_sum, df_add: exact_f32.wgsl, appended to this file

/// a + b for a double-float a and an f32 b.
fn df_add_f(a: vec2<f32>, b: f32) -> vec2<f32> {
    let s = two_sum(a.x, b);
    return fast_two_sum(s.x, add(s.y, a.y));
}

/// The invocation's block (one per invocation, counted from `first`).
fn block_of(id: vec3<u32>, groups: vec3<u32>, first: u32) -> u32 {
    return first + id.x + id.y * groups.x * 64u;
}

@compute @workgroup_size(64)
fn gather_tile(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let block = block_of(id, groups, params.start / BLOCK);
    // the block's pixels within this tile
    let first = max(block * BLOCK, params.start);
    let last = min(block * BLOCK + BLOCK, params.start + params.count);
    if first >= last {
        return;
    }
    var sum = vec2<f32>(0.0f, 0.0f);
    var off_grid = NONE;
    for (var i = first; i < last; i++) {
        let p = tile[i - params.start];
        let index = (params.y0 + i / params.width) * params.fpixels + params.x0 + i % params.width;
        if index >= params.first_index {
            image[index] = p.value;
        }
        sum = df_add_f(sum, p.omega_sum);
        if p.left_grid != 0u && off_grid == NONE {
            off_grid = i;
        }
    }
    if (params.flags & FLAG_TOTALS) != 0u {
        if off_grid != NONE {
            atomicMin(&first_off_grid, off_grid);
        }
        // a block split between two tiles gets its two parts added, one tile after the other
        if block < arrayLength(&partials) {
            partials[block] = df_add(partials[block], sum);
        }
    }
}

@compute @workgroup_size(64)
fn sum_blocks(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let block = block_of(id, groups, 0u);
    let first = block * BLOCK;
    let last = min(first + BLOCK, params.count);
    if first >= last || block >= arrayLength(&partials) {
        return;
    }
    var sum = vec2<f32>(0.0f, 0.0f);
    for (var i = first; i < last; i++) {
        sum = df_add_f(sum, values[i]);
    }
    partials[block] = sum;
}
