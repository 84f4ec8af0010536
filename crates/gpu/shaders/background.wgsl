// The amorphous background of `-stol` on the device: the WGSL twin of the default mode of
// `src/engine/background.rs` (its mirror, f64), added in place to the spots image. Per pixel,
// over its sub-pixels, sensor layers and sources:
//
//   Ω = (pixel/R)²·(close_distance/R)   (1/R² with -point_pixel),
//   stol = |d̂ − î|/(2λ), F = F(stol) from the table (4-point Lagrange, held beyond its ends),
//   sum += sign(F)·F²·P(î, d̂)·Ω·weight·capture,
//
// and the pixel gains sum·scale (scale = r_e²·fluence·molecules/steps, worked out on the host in
// f64). The sub-pixel positions come from the formula the render kernel uses (subpixel.wgsl, in
// W: this file is assembled behind a wide-arithmetic file, physics.wgsl and subpixel.wgsl, see
// src/shader.rs `background_source`); the rest of the arithmetic is f32, and two steps are
// arranged so that f32 does not lose what f64 keeps:
// |d̂ − î|² is 2|d̂ × î|²/(1 + d̂·î) in the forward half (2 − 2·d̂·î cancels near the beam), and
// the capture fraction's 1 − e^(−depth) is a series for thin layers. The host works out what is
// constant per source in f64 (the unit incident direction, 1/λ, the Kahn frame's B and E), so
// cos 2ψ is (e² − b²)/(e² + b²) without trigonometry. Agreement with the f64 stage: docs/realism.md.

// keep in sync: `GpuBackgroundParams` in src/engine/gpu/background.rs (layout test there)
struct BackgroundParams {
    width: u32,
    pixels: u32,
    // the ROI, inclusive
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
    oversample: u32,
    thicksteps: u32,
    // FLAG_* below
    flags: u32,
    sources: u32,
    // table points (the file's, without nonBragg's guards)
    points: u32,
    // 0, for w_init
    zero: u32,
    // the detector as the sub-pixel position formula reads it (`SubpixelGrid`), in W; the
    // uniform layout starts each W3 on 16 bytes and pads it to 32
    @align(16) pix0: W3,
    @align(16) fdet: W3,
    @align(16) sdet: W3,
    @align(16) odet: W3,
    @align(16) beam: W3,
    @align(16) subpixel_size: W,
    thickstep: W,
    distance: W,
    // pixel size (m), close distance (m), the sensor's attenuation (1/m)
    pixel_size: f32,
    close_distance: f32,
    mu: f32,
    // r_e²·fluence·molecules/steps
    scale: f32,
    kahn: f32,
    // F below and above the table
    f_below: f32,
    f_above: f32,
}

// keep in sync: `GpuBackgroundSource` in src/engine/gpu/background.rs
struct BackgroundSource {
    // xyz: unit incident direction; w: 1/λ (Å⁻¹)
    incident: vec4<f32>,
    // xyz: the Kahn frame's B = axis × î (unit); w: weight
    b_in: vec4<f32>,
    // xyz: E = î × B (unit); w: unused
    e_in: vec4<f32>,
}

// keep in sync: the BG_FLAG_* constants of src/engine/gpu/background.rs
const FLAG_CURVED: u32 = 1u;
const FLAG_POINT_PIXEL: u32 = 2u;
const FLAG_NOPOLAR: u32 = 4u;
const FLAG_MASK: u32 = 8u;
const FLAG_CAPTURE: u32 = 16u;

@group(0) @binding(0) var<uniform> bg: BackgroundParams;
@group(0) @binding(1) var<storage, read> sources: array<BackgroundSource>;
// per point: stol (Å⁻¹), F
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;
// one bit per pixel, 1 = render (read only with FLAG_MASK)
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> image: array<f32>;

/// Lagrange interpolation through the four table points from `start`.
fn table_lagrange4(start: u32, x: f32) -> f32 {
    let p0 = table[start];
    let p1 = table[start + 1u];
    let p2 = table[start + 2u];
    let p3 = table[start + 3u];
    let t0 = (x - p1.x) * (x - p2.x) * (x - p3.x) * p0.y / ((p0.x - p1.x) * (p0.x - p2.x) * (p0.x - p3.x));
    let t1 = (x - p0.x) * (x - p2.x) * (x - p3.x) * p1.y / ((p1.x - p0.x) * (p1.x - p2.x) * (p1.x - p3.x));
    let t2 = (x - p0.x) * (x - p1.x) * (x - p3.x) * p2.y / ((p2.x - p0.x) * (p2.x - p1.x) * (p2.x - p3.x));
    let t3 = (x - p0.x) * (x - p1.x) * (x - p2.x) * p3.y / ((p3.x - p0.x) * (p3.x - p1.x) * (p3.x - p2.x));
    return t0 + t1 + t2 + t3;
}

/// `StolTable::interpolate`: F held outside the table, Lagrange inside through up to four of
/// its points, the stencil kept within the table.
fn structure_factor(stol: f32) -> f32 {
    let m = bg.points;
    if stol <= table[0].x {
        return bg.f_below;
    }
    if stol >= table[m - 1u].x {
        return bg.f_above;
    }
    // the last point at or below stol (the host checked that the points increase)
    var lo = 0u;
    var hi = m - 1u;
    while hi - lo > 1u {
        let mid = (lo + hi) / 2u;
        if table[mid].x <= stol {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if m < 4u {
        // two or three points: Lagrange through all of them
        var sum = 0.0f;
        for (var i = 0u; i < m; i++) {
            var term = table[i].y;
            for (var j = 0u; j < m; j++) {
                if i != j {
                    term *= (stol - table[j].x) / (table[i].x - table[j].x);
                }
            }
            sum += term;
        }
        return sum;
    }
    let start = min(max(lo, 1u) - 1u, m - 4u);
    return table_lagrange4(start, stol);
}

/// 1 − e^(−x) without f32's cancellation for small x.
fn one_minus_exp(x: f32) -> f32 {
    if abs(x) < 0.03f {
        return x * (1.0f - x * (0.5f - x * (1.0f / 6.0f - x * (1.0f / 24.0f - x / 120.0f))));
    }
    return 1.0f - exp(-x);
}

fn renders(fast: u32, slow: u32, index: u32) -> bool {
    if fast < bg.x0 || fast > bg.x1 || slow < bg.y0 || slow > bg.y1 {
        return false;
    }
    if (bg.flags & FLAG_MASK) != 0u {
        return ((mask[index / 32u] >> (index % 32u)) & 1u) != 0u;
    }
    return true;
}

@compute @workgroup_size(64)
fn background_add(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    w_init(bg.zero);
    let index = id.x + id.y * groups.x * 64u;
    if index >= bg.pixels {
        return;
    }
    let fast = index % bg.width;
    let slow = index / bg.width;
    if !renders(fast, slow, index) {
        return;
    }
    let os = bg.oversample;
    let pixel = bg.pixel_size;
    let close_distance = bg.close_distance;
    let thickstep = w_f32(bg.thickstep);
    let odet = w3_f32(bg.odet);
    let kahn = bg.kahn;
    let grid = SubpixelGrid(bg.pix0, bg.fdet, bg.sdet, bg.odet, bg.beam, bg.subpixel_size, bg.thickstep, bg.distance, os, (bg.flags & FLAG_CURVED) != 0u, vec2<i32>(0, 0));
    var sum = 0.0f;
    for (var sub_s = 0u; sub_s < os; sub_s++) {
        for (var sub_f = 0u; sub_f < os; sub_f++) {
            for (var layer = 0u; layer < bg.thicksteps; layer++) {
                let pos = w3_f32(subpixel_position(grid, fast, slow, sub_s, sub_f, layer));
                let airpath = length(pos);
                let diffracted = pos / airpath;
                var omega: f32;
                if (bg.flags & FLAG_POINT_PIXEL) != 0u {
                    omega = 1.0f / airpath / airpath;
                } else {
                    omega = (pixel / airpath) * (pixel / airpath) * (close_distance / airpath);
                }
                var capture = 1.0f;
                if (bg.flags & FLAG_CAPTURE) != 0u {
                    // e^(−layer·depth) − e^(−(layer+1)·depth)
                    let depth = thickstep * bg.mu / dot(diffracted, odet);
                    capture = exp(-f32(layer) * depth) * one_minus_exp(depth);
                }
                for (var k = 0u; k < bg.sources; k++) {
                    let src = sources[k];
                    let incident = src.incident.xyz;
                    let cos2theta = dot(diffracted, incident);
                    let across = cross(diffracted, incident);
                    let sin2theta_sqr = dot(across, across);
                    // |d̂ − î|²
                    var chord_sqr: f32;
                    if cos2theta > 0.0f {
                        chord_sqr = 2.0f * sin2theta_sqr / (1.0f + cos2theta);
                    } else {
                        chord_sqr = 2.0f - 2.0f * cos2theta;
                    }
                    let stol = 0.5f * sqrt(chord_sqr) * src.incident.w;
                    let f = structure_factor(stol);
                    var polar = 1.0f;
                    if (bg.flags & FLAG_NOPOLAR) == 0u {
                        var cos2psi = 1.0f;
                        if kahn != 0.0f {
                            // ψ = −atan2(d̂·B, d̂·E): cos 2ψ = (e² − b²)/(e² + b²)
                            let e = dot(diffracted, src.e_in.xyz);
                            let b = dot(diffracted, src.b_in.xyz);
                            let r2 = e * e + b * b;
                            if r2 > 0.0f {
                                cos2psi = (e * e - b * b) / r2;
                            }
                        }
                        polar = 0.5f * (1.0f + cos2theta * cos2theta - kahn * cos2psi * sin2theta_sqr);
                    }
                    sum += sign(f) * f * f * polar * omega * src.b_in.w * capture;
                }
            }
        }
    }
    image[index] += sum * bg.scale;
}
