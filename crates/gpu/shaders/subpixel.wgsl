// The sub-pixel position formula, once for every kernel that places sub-pixels: the render
// kernel's spots (render.wgsl) and the amorphous background (background.wgsl). Appended after
// a wide-arithmetic file and physics.wgsl when those modules are assembled (src/shader.rs).
//
// Rust mirror: nanobragg_core::engine::subpixel (`SubpixelGrid::positions`, used by the plan,
// the CPU engine's lanes, the CPU background and nonBragg). Same formula and order, in W here
// and f64 there:
//
//   Fdet = size·((first.x + fast)·oversample + sub_f) + size/2,   Sdet likewise,
//   Odet = layer·thickstep,
//   pos  = Fdet·fdet + Sdet·sdet + Odet·odet + pix0,
//
// (`first`: the panel's first pixel on the grid whose corner is pix0; 0, 0 for a panel that
// is its own grid) and on a curved detector the beam vector `distance` long swung by Sdet/distance about sdet,
// then by Fdet/distance about fdet. The curve's sin/cos come from `w_sin_cos` (physics.wgsl),
// libm's on the CPU, so curved positions agree to W precision, not bit for bit.

/// What the formula reads about a detector (the mirror's `SubpixelGrid`).
struct SubpixelGrid {
    pix0: W3,
    fdet: W3,
    sdet: W3,
    odet: W3,
    beam: W3,
    /// pixel size / oversample (m)
    subpixel_size: W,
    thickstep: W,
    distance: W,
    oversample: u32,
    curved: bool,
    first: vec2<i32>,
}

/// Detector coordinate (m) of the centre of sub-pixel `index` (pixel·oversample + sub, the
/// pixel counted on the grid) along one axis: size·index + size/2 (the mirror's
/// `subpixel_coordinate`).
fn subpixel_coordinate(size: W, index: i32) -> W {
    return w_add(w_mul(size, w_int(index)), w_mul(size, w(0.5)));
}

/// f·fdet + s·sdet + o·odet + pix0 for one component, in the mirror's order.
fn place(f: W, s: W, o: W, fdet: W, sdet: W, odet: W, pix0: W) -> W {
    return w_add(w_add(w_add(w_mul(f, fdet), w_mul(s, sdet)), w_mul(o, odet)), pix0);
}

/// Sub-pixel position relative to the sample (m), curved detectors included (the mirror's
/// `SubpixelGrid::position`).
fn subpixel_position(g: SubpixelGrid, fast: u32, slow: u32, sub_s: u32, sub_f: u32, layer: u32) -> W3 {
    let os = g.oversample;
    let f = subpixel_coordinate(g.subpixel_size, (g.first.x + i32(fast)) * i32(os) + i32(sub_f));
    let s = subpixel_coordinate(g.subpixel_size, (g.first.y + i32(slow)) * i32(os) + i32(sub_s));
    let o = w_mul(w_int(i32(layer)), g.thickstep);
    let pos = W3(
        place(f, s, o, g.fdet.x, g.sdet.x, g.odet.x, g.pix0.x),
        place(f, s, o, g.fdet.y, g.sdet.y, g.odet.y, g.pix0.y),
        place(f, s, o, g.fdet.z, g.sdet.z, g.odet.z, g.pix0.z),
    );
    if !g.curved {
        return pos;
    }
    let toward = w3_scale(g.beam, g.distance);
    let swung = rotate_axis(toward, g.sdet, w_div(pos.y, g.distance));
    return rotate_axis(swung, g.fdet, w_div(pos.z, g.distance));
}
