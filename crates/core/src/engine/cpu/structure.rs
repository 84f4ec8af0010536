//! The structure factor of one term: nearest grid point, or tricubic interpolation with
//! nanoBragg.c's fall-back rules (per term, or its one-shot switch in c-parity mode).

use super::lanes::{Lv, PixelState, lane};
use crate::engine::plan::{Interpolation, Plan};
use crate::physics::V3;

/// F_cell of one term for the lanes that `keep` it (the others get 0 and no side effects).
#[inline(always)]
pub(super) fn structure_factors<const L: usize>(plan: &Plan, st: &mut PixelState<L>, keep: &[bool; L], hkl: &Lv<L>, hkl0: &Lv<L>) -> [f64; L] {
    if plan.grid.is_none() {
        return [plan.default_f; L];
    }
    let mut f = [0.0; L];
    for l in 0..L {
        if keep[l] {
            f[l] = structure_factor(plan, &mut st.interpolate[l], &mut st.left_grid[l], lane(hkl, l), lane(hkl0, l));
        }
    }
    f
}

/// F for one term under the plan's interpolation rule; flips the pixel's switch as C does.
#[inline(always)]
fn structure_factor(plan: &Plan, interpolate: &mut bool, left_grid: &mut bool, hkl: V3, hkl0: V3) -> f64 {
    if *interpolate {
        if let Some(f) = tricubic_f(plan, hkl) {
            return f;
        }
        *left_grid = true;
        if plan.interpolation == Interpolation::OneShotSwitch {
            *interpolate = false;
        }
    }
    nearest_f(plan, hkl0)
}

/// Structure factor by nearest grid point; default_F off the grid. Twin: render.wgsl
/// `nearest_f` (the same lookup of the grid rounded to f32).
#[inline(always)]
pub(super) fn nearest_f(plan: &Plan, hkl0: V3) -> f64 {
    match &plan.grid {
        Some(g) => {
            let [h, k, l] = hkl0.map(|x| x as i32);
            if g.contains(h, k, l) { g.at(h, k, l) } else { plan.default_f }
        }
        None => plan.default_f,
    }
}

/// Tricubic structure factor, or None when the 4×4×4 neighbourhood leaves the grid (the C
/// range test uses the fractional index).
///
/// The same arithmetic as `physics::polin3` on the 64 neighbours, organised so each product
/// is formed once: the grid nodes of an axis are consecutive integers, so every 4-point
/// Lagrange step along that axis shares one set of numerator products and the denominators
/// are −6, 2, −2, 6 exactly.
///
/// Twin: render.wgsl `tricubic_f` with physics.wgsl `lagrange4`. Same range test (in W) and
/// the same 4×4×4 neighbourhood; there the weights are formed in local coordinates
/// t = h − floor(h) in f32 (so |h| ~ 60 costs no precision) and the 64 weighted f32 grid values
/// are summed directly, instead of the nested f64 Lagrange steps in C's order used here.
#[inline(always)]
pub(super) fn tricubic_f(plan: &Plan, hkl: V3) -> Option<f64> {
    let g = plan.grid.as_ref()?;
    for ((&x, &min), &max) in hkl.iter().zip(&g.min).zip(&g.max) {
        let (lo, range) = (min as f64, (max - min + 1) as f64);
        if x - lo + 3.0 > range || x - 2.0 < lo {
            return None;
        }
    }
    let mut first = [0i32; 3];
    let mut weights = [[0.0; 4]; 3];
    for i in 0..3 {
        let node = hkl[i].floor() - 1.0;
        first[i] = node as i32;
        weights[i] = lagrange_numerators(hkl[i], node);
    }
    // the l-neighbours of a (h, k) pair are adjacent in the grid
    let l_offset = (first[2] - g.min[2]) as usize;
    let mut along_h = [0.0; 4];
    for (i, h_value) in along_h.iter_mut().enumerate() {
        let mut along_k = [0.0; 4];
        for (j, k_value) in along_k.iter_mut().enumerate() {
            let row = ((first[0] + i as i32 - g.min[0]) as usize * g.count[1] + (first[1] + j as i32 - g.min[1]) as usize) * g.count[2];
            let ya: &[f64; 4] = g.values()[row + l_offset..row + l_offset + 4].try_into().expect("four l-neighbours");
            *k_value = lagrange_step(&weights[2], ya);
        }
        *h_value = lagrange_step(&weights[1], &along_k);
    }
    Some(lagrange_step(&weights[0], &along_h))
}

/// The numerators (x−x_j)(x−x_k)(x−x_l) of the 4-point Lagrange basis on the nodes
/// `node`, `node`+1, `node`+2, `node`+3, multiplied in C's order.
#[inline(always)]
fn lagrange_numerators(x: f64, node: f64) -> [f64; 4] {
    let d = [x - node, x - (node + 1.0), x - (node + 2.0), x - (node + 3.0)];
    [d[1] * d[2] * d[3], d[0] * d[2] * d[3], d[0] * d[1] * d[3], d[0] * d[1] * d[2]]
}

/// One Lagrange interpolation from its numerators: Σ numerator·y / denominator, in C's order.
#[inline(always)]
fn lagrange_step(numerators: &[f64; 4], y: &[f64; 4]) -> f64 {
    numerators[0] * y[0] / -6.0 + numerators[1] * y[1] / 2.0 + numerators[2] * y[2] / -2.0 + numerators[3] * y[3] / 6.0
}

#[cfg(test)]
mod tests {
    use super::super::test_plan as plan;
    use super::*;

    #[test]
    fn tricubic_is_the_c_polin3_bit_for_bit() {
        use crate::engine::plan::StructureGrid;
        use crate::physics::polin3;
        let mut p = plan("-cell 100 100 100 90 90 90 -default_F 10 -detpixels 4");
        let (min, count) = ([-4, -3, -5], [9usize, 8, 11]);
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let values = (0..count.iter().product::<usize>()).map(|_| 50.0 + 100.0 * next()).collect();
        let max = std::array::from_fn(|i| min[i] + count[i] as i32 - 1);
        p.grid = Some(StructureGrid::new(min, max, count, values));
        let g = p.grid.clone().unwrap();
        let mut checked = 0;
        for _ in 0..2000 {
            let hkl: V3 = std::array::from_fn(|i| min[i] as f64 + 1.0 + (count[i] as f64 - 3.0) * next());
            let Some(got) = tricubic_f(&p, hkl) else { continue };
            let flr = hkl.map(|x| x.floor() as i32);
            let axis = |i: usize| -> [f64; 4] { std::array::from_fn(|j| (flr[i] - 1 + j as i32) as f64) };
            let (ha, ka, la) = (axis(0), axis(1), axis(2));
            let ya = std::array::from_fn(|i| std::array::from_fn(|j| std::array::from_fn(|k| g.at(ha[i] as i32, ka[j] as i32, la[k] as i32))));
            assert_eq!(got.to_bits(), polin3(&ha, &ka, &la, &ya, hkl[0], hkl[1], hkl[2]).to_bits(), "{hkl:?}");
            checked += 1;
        }
        assert!(checked > 500, "only {checked} points inside the grid");
    }
}
