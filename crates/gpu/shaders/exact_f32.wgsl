// Exact f32 steps shared by the stages that need them (gather.wgsl, noise.wgsl): appended to
// each of those files when its module is built (`GATHER_SHADER`, `NOISE_SHADER`), since WGSL has
// no includes. The including shader declares a uniform `params` whose u32 field `zero` holds 0:
// XOR-ing every intermediate with it keeps the compiler from fusing or reassociating the steps
// (an FMA or a reordered sum would break the error-free transformations below).

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

/// The sum of two double-float (hi, lo) values.
fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = two_sum(a.x, b.x);
    let t = two_sum(a.y, b.y);
    let u = fast_two_sum(s.x, add(s.y, t.x));
    return fast_two_sum(u.x, add(u.y, t.y));
}
