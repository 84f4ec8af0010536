// The point-spread function on the device: the WGSL twin of `apply_psf` in
// `src/response/psf.rs` (default mode: no C bounds slips), which is its mirror. Run between
// the two noise stages of noise.wgsl, on the counts. Passes, in order:
//   psf_max     the brightest pixel (atomic max of the bits of non-negative floats, whose
//               order is the order of their values), one global atomic per workgroup
//   psf_setup   one invocation: the kernel radius, given or chosen as noisify chooses it
//               (the host reads it back and sizes the kernel and the passes below by it)
//   psf_kernel  the kernel, one weight per invocation: the Gaussian integrated over the pixel
//               with erf, or the fiber PSF's analytic rectangle integral
//   psf_lost    per pixel: its own radius and the photons beyond it
//   psf_sum     one workgroup: the lost photons of the whole image
//   psf_spread  per output pixel: a gather over the kernel window (the CPU scatters; the sums
//               agree to f32 rounding), plus the lost photons spread evenly. The window is
//               clipped to the image and to the kernel's disc before the loops, so that no
//               term pays a bounds test, and each source is one 8-byte read (its value and
//               squared radius together).
// Each source pixel spreads only within its own radius (noisify's per-pixel rule), so the
// sum is not a convolution with one kernel and the Gaussian's separability cannot be used.
// A tiled gather (16 × 16 tiles, sources and weights staged in workgroup memory) was measured
// on lavapipe at 1.5× the time of the plain per-pixel gather this one improves on, and a
// workgroup reduction of the lost photons in psf_lost at 4× the plain pass: llvmpipe pays
// heavily for barriers, and it is the only device the project's tests and timings run on.
// The arithmetic is f32 where the CPU's is f64 (erf, atan, ln and sqrt are the device's), so
// the image agrees with the CPU's to f32 tolerance rather than bit for bit (docs/realism.md).

// keep in sync: `GpuPsfParams` in src/engine/gpu/response.rs (layout test there)
struct PsfParams {
    width: u32,
    height: u32,
    pixels: u32,
    // 0 Gaussian, 1 fiber (keep in sync: PSF_GAUSS, PSF_FIBER in response.rs)
    shape: u32,
    // pixels
    fwhm: f32,
    // the fiber PSF's g, pixels
    g: f32,
    // 0: automatic
    user_radius: i32,
    // max(width, height)
    max_width: i32,
    // the kernel's side capacity (2·max_width + 1, or less when one binding holds less)
    capacity: u32,
    // the kernel radius psf_setup found (set by the host for the passes after it; −1: none)
    kernel_radius: i32,
    pad1: u32,
    pad2: u32,
}

// keep in sync: `GpuPsfState` in src/engine/gpu/response.rs
struct PsfState {
    max_bits: atomic<u32>,
    // the kernel radius; −1: no photons, the output is 0
    radius: i32,
    // the photons beyond each pixel's radius, summed
    lost: f32,
    // the automatic radius as noisify reports it (before the limits), for the report
    auto_radius: i32,
}

const PSF_GAUSS: u32 = 0u;
const PSF_FIBER: u32 = 1u;
const PHOTON_LOSS_FACTOR: f32 = 10.0f;
const LN16: f32 = 2.7725887f;
const LN4: f32 = 1.3862944f;
const TWO_PI: f32 = 6.2831855f;

@group(0) @binding(0) var<uniform> psf: PsfParams;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: PsfState;
@group(0) @binding(3) var<storage, read_write> kernel: array<f32>;
// per source pixel: what it spreads and its squared radius (0 and −1: it spreads nothing)
struct Spread {
    value: f32,
    reach2: i32,
}
@group(0) @binding(4) var<storage, read_write> sources: array<Spread>;
@group(0) @binding(5) var<storage, read_write> blurred: array<f32>;
// per pixel: the photons lost beyond its radius
@group(0) @binding(6) var<storage, read_write> lost_each: array<f32>;

fn index_of(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * 64u;
}

/// erfc for x ≥ 0 (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7), so that
/// the kernel's far weights keep their relative accuracy.
fn erfc_pos(x: f32) -> f32 {
    let t = 1.0f / (1.0f + 0.5f * x);
    let poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
        + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    return t * exp(-x * x + poly);
}

fn erf(x: f32) -> f32 {
    let e = 1.0f - erfc_pos(abs(x));
    return select(e, -e, x < 0.0f);
}

/// `gauss_corner`: the unit-FWHM Gaussian's integral from −∞ to (x, y), less ¼ per axis.
fn gauss_corner(x: f32, y: f32) -> f32 {
    let s = sqrt(LN16);
    return 0.25f * erf(x * s) * erf(y * s);
}

fn gauss_pixel(dx: f32, dy: f32, fwhm: f32) -> f32 {
    let x = dx / fwhm;
    let y = dy / fwhm;
    let h = 0.5f / fwhm;
    return gauss_corner(x + h, y + h) - gauss_corner(x + h, y - h) - gauss_corner(x - h, y + h) + gauss_corner(x - h, y - h);
}

fn fiber_corner(x: f32, y: f32, g: f32) -> f32 {
    return atan(x * y / (g * sqrt(g * g + x * x + y * y))) / TWO_PI;
}

fn fiber_pixel(dx: f32, dy: f32, g: f32) -> f32 {
    return fiber_corner(dx + 0.5f, dy + 0.5f, g) - fiber_corner(dx + 0.5f, dy - 0.5f, g) - fiber_corner(dx - 0.5f, dy + 0.5f, g)
        + fiber_corner(dx - 0.5f, dy - 0.5f, g);
}

/// `auto_radius`: beyond it fewer than √I/10 of a pixel's I photons land.
fn auto_radius(intensity: f32, image_wide: bool) -> i32 {
    let lost = sqrt(intensity) / PHOTON_LOSS_FACTOR;
    if psf.shape == PSF_GAUSS {
        var spread: f32;
        if image_wide {
            spread = -log(lost / intensity) / LN4 / 2.0f;
        } else {
            spread = -log(lost / intensity) / LN16;
        }
        return 1 + i32(ceil(sqrt(spread) * psf.fwhm));
    }
    return 1 + i32(min(ceil(psf.g * (intensity / lost)), 2147483520.0f));
}

var<workgroup> group_max: atomic<u32>;

@compute @workgroup_size(64)
fn psf_max(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = index_of(id, groups);
    if i < psf.pixels {
        let v = image[i];
        if v > 0.0f {
            atomicMax(&group_max, bitcast<u32>(v));
        }
    }
    // one global atomic per workgroup instead of one per pixel: they all hit one word
    workgroupBarrier();
    if lane == 0u {
        let m = atomicLoad(&group_max);
        if m != 0u {
            atomicMax(&state.max_bits, m);
        }
    }
}

@compute @workgroup_size(1)
fn psf_setup() {
    var radius = psf.user_radius;
    if radius <= 0 {
        let max_input = bitcast<f32>(atomicLoad(&state.max_bits));
        if max_input <= 0.0f {
            state.radius = -1;
            return;
        }
        radius = auto_radius(max_input, true);
        state.auto_radius = radius;
        if radius == 0 {
            radius = 1;
        }
    }
    state.radius = min(min(radius, psf.max_width), i32(psf.capacity / 2u));
}

@compute @workgroup_size(64)
fn psf_kernel(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = psf.kernel_radius;
    if r < 0 {
        return;
    }
    let side = u32(2 * r + 1);
    let k = index_of(id, groups);
    if k >= side * side {
        return;
    }
    let dx = i32(k % side) - r;
    let dy = i32(k / side) - r;
    var weight = 0.0f;
    if dx * dx + dy * dy <= r * r {
        if psf.shape == PSF_GAUSS {
            weight = gauss_pixel(f32(dx), f32(dy), psf.fwhm);
        } else {
            weight = fiber_pixel(f32(dx), f32(dy), psf.g);
        }
    }
    kernel[k] = weight;
}

@compute @workgroup_size(64)
fn psf_lost(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index_of(id, groups);
    if i >= psf.pixels {
        return;
    }
    let value = image[i];
    let kernel_radius = psf.kernel_radius;
    if value <= 0.0f || kernel_radius < 0 {
        sources[i] = Spread(0.0f, -1);
        lost_each[i] = 0.0f;
        return;
    }
    var r = psf.user_radius;
    if r == 0 {
        r = auto_radius(value, false);
    }
    if r == 0 {
        r = 1;
    }
    r = min(min(r, psf.max_width), kernel_radius);
    var lost: f32;
    if psf.shape == PSF_GAUSS {
        let q = f32(r) / psf.fwhm;
        lost = value * exp(-LN16 * (q * q));
    } else {
        lost = value * psf.g / sqrt(psf.g * psf.g + f32(r * r));
    }
    sources[i] = Spread(value, select(r * r, -1, r < 0));
    lost_each[i] = lost;
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn psf_sum(@builtin(local_invocation_index) lane: u32) {
    var sum = 0.0f;
    for (var i = lane; i < psf.pixels; i += 256u) {
        sum += lost_each[i];
    }
    partial[lane] = sum;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half /= 2u) {
        if lane < half {
            partial[lane] += partial[lane + half];
        }
        workgroupBarrier();
    }
    if lane == 0u {
        state.lost = partial[0];
    }
}

/// ⌊√n⌋ for 0 ≤ n < 2³¹, exact (the f32 root corrected by whole steps).
fn floor_sqrt(n: i32) -> i32 {
    var h = i32(sqrt(f32(n)));
    while h > 0 && h * h > n {
        h--;
    }
    while (h + 1) * (h + 1) <= n {
        h++;
    }
    return h;
}

@compute @workgroup_size(64)
fn psf_spread(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = index_of(id, groups);
    if j >= psf.pixels {
        return;
    }
    let kr = psf.kernel_radius;
    if kr < 0 {
        blurred[j] = 0.0f;
        return;
    }
    let side = 2 * kr + 1;
    let w = i32(psf.width);
    let h = i32(psf.height);
    let x = i32(j % psf.width);
    let y = i32(j / psf.width);
    var sum = 0.0f;
    // the source (x − dx, y − dy) lies in the image for dy in [y − h + 1, y], dx in [x − w + 1, x]
    for (var dy = max(-kr, y - h + 1); dy <= min(kr, y); dy++) {
        // beyond the kernel's disc the weights are 0 and every source's radius is smaller
        let half = floor_sqrt(kr * kr - dy * dy);
        let row = (y - dy) * w + x;
        let weights = side * (kr + dy) + kr;
        for (var dx = max(-half, x - w + 1); dx <= min(half, x); dx++) {
            let source = sources[u32(row - dx)];
            // a source spreads within its own radius only
            if dx * dx + dy * dy <= source.reach2 {
                sum += source.value * kernel[u32(weights + dx)];
            }
        }
    }
    blurred[j] = sum + state.lost / f32(psf.pixels);
}
