//! The sub-pixel position formula, once for the CPU engine: where the centre of sub-pixel
//! (sub_s, sub_f) of pixel (fast, slow) in sensor layer `layer` lies relative to the sample,
//! in nanoBragg.c's (and nonBragg.c's) order of operations:
//!
//!   Fdet = size·(fast·oversample + sub_f) + size/2,   Sdet likewise,   Odet = layer·thickstep,
//!   pos  = Fdet·fdet + Sdet·sdet + Odet·odet + pix0,
//!
//! and on a curved detector every pixel at `distance`: the beam vector of that length swung
//! by Sdet/distance about sdet, then by Fdet/distance about fdet. The spots (`Plan`, the lanes
//! of `cpu::lanes`) and the amorphous background (`background`, nonBragg) all place their
//! sub-pixels here.
//!
//! A detector of several panels places each panel on a pixel grid of its own, or on one it
//! shares with panels that tile the same plane (`model::Panel`): `pix0` is the grid's corner
//! and `first` the panel's first pixel on it, so `fast`, `slow` above are the panel's pixel
//! plus `first`. A panel split into tiles on one grid gives the same positions bit for bit
//! (the indices are integers, exact in f64).
//!
//! Twin: shaders/subpixel.wgsl of nanobragg-gpu (same formula and order in W, shared by the
//! render kernel and the background stage). There the curve's sin/cos come from `w_sin_cos`,
//! a Taylor series in W, here from libm, so curved positions agree to W precision, not bit
//! for bit.

use crate::physics::{V3, rotate_axis};

/// What the formula reads about a detector: its origin and axes, the sub-pixel size, the
/// sensor layer step and, for the curved detector, the beam and the distance. The vectors are
/// borrowed from the detector's owner (`Plan`, `BackgroundGeometry`) so that, inlined into the
/// lanes, each is read where the formula uses it (the beam only on a curved detector): a grid
/// of copies, all read up front, changed the register allocation of the whole term loop
/// (W2: 0.5% more instructions, measured with cachegrind).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubpixelGrid<'a> {
    pub pix0: &'a V3,
    pub fdet: &'a V3,
    pub sdet: &'a V3,
    pub odet: &'a V3,
    pub beam: &'a V3,
    /// pixel size / oversample (m)
    pub subpixel_size: f64,
    pub oversample: usize,
    pub thickstep: f64,
    pub distance: f64,
    pub curved: bool,
    /// the panel's first pixel on the grid whose corner is `pix0` (fast, slow); 0, 0 for a
    /// panel that is its own grid
    pub first: [i64; 2],
}

/// Detector coordinate (m) of the centre of sub-pixel `sub` of pixel `pixel` along one axis:
/// size·(pixel·oversample + sub) + size/2.
#[inline(always)]
pub fn subpixel_coordinate(subpixel_size: f64, oversample: usize, pixel: usize, sub: usize) -> f64 {
    subpixel_size * (pixel * oversample + sub) as f64 + subpixel_size / 2.0
}

/// `subpixel_coordinate` of a pixel `first` pixels along the grid from the panel's own
/// (`first` may be negative: a panel left of or above the grid's corner).
#[inline(always)]
fn grid_coordinate(subpixel_size: f64, oversample: usize, first: i64, pixel: usize, sub: usize) -> f64 {
    subpixel_size * ((first + pixel as i64) * oversample as i64 + sub as i64) as f64 + subpixel_size / 2.0
}

impl SubpixelGrid<'_> {
    /// `subpixel_coordinate` on this detector, for a panel that is its own grid.
    #[inline(always)]
    pub fn subpixel_coordinate(&self, pixel: usize, sub: usize) -> f64 {
        subpixel_coordinate(self.subpixel_size, self.oversample, pixel, sub)
    }

    /// `subpixel_coordinate` on this detector along fast (`axis` 0) or slow (1) of the panel's
    /// pixel `pixel`, counted on the grid (`first`): the Fdet or Sdet of the formula.
    #[inline(always)]
    pub fn grid_coordinate(&self, axis: usize, pixel: usize, sub: usize) -> f64 {
        grid_coordinate(self.subpixel_size, self.oversample, self.first[axis], pixel, sub)
    }

    /// The positions of sub-pixel (sub_s, sub_f) in layer `layer` of the `L` pixels
    /// fast0 … fast0 + L − 1 of row `slow`, component-major (`pos[c][l]`), one operation at
    /// a time across the pixels so that the CPU engine's lanes vectorise it; `L` = 1 is one
    /// position (`position`). Inlined into its callers: a function of its own would not
    /// inherit the AVX2 target feature of the lane code.
    #[inline(always)]
    pub fn positions<const L: usize>(&self, fast0: usize, slow: usize, sub_s: usize, sub_f: usize, layer: usize) -> [[f64; L]; 3] {
        let os = self.oversample;
        let size = self.subpixel_size;
        // `subpixel_coordinate` per pixel: the sub-pixel indices are integers far below 2⁵³,
        // so adding the pixels' offsets in f64 is exact, and the offsets are constants of the
        // unrolled lane loop
        let first_index = ((self.first[0] + fast0 as i64) * os as i64 + sub_f as i64) as f64;
        let mut fdet = [0.0; L];
        for (l, f) in fdet.iter_mut().enumerate() {
            *f = size * (first_index + (l * os) as f64) + size / 2.0;
        }
        let sdet = grid_coordinate(size, os, self.first[1], slow, sub_s);
        let odet = layer as f64 * self.thickstep;
        // a loop, not a closure: closures do not inherit the caller's SIMD target features
        let mut pos = [[0.0; L]; 3];
        for c in 0..3 {
            let (along_s, along_o) = (sdet * self.sdet[c], odet * self.odet[c]);
            for l in 0..L {
                pos[c][l] = fdet[l] * self.fdet[c] + along_s + along_o + self.pix0[c];
            }
        }
        if self.curved {
            for l in 0..L {
                let p = self.curve([pos[0][l], pos[1][l], pos[2][l]]);
                for c in 0..3 {
                    pos[c][l] = p[c];
                }
            }
        }
        pos
    }

    /// One sub-pixel's position relative to the sample (m).
    #[inline(always)]
    pub fn position(&self, fast: usize, slow: usize, sub_s: usize, sub_f: usize, layer: usize) -> V3 {
        let [[x], [y], [z]] = self.positions::<1>(fast, slow, sub_s, sub_f, layer);
        [x, y, z]
    }

    /// Curved detector: the flat position's detector coordinates (its y and z, as nanoBragg.c
    /// takes them) become angles about sdet, then fdet, of the beam vector `distance` long.
    pub fn curve(&self, pos: V3) -> V3 {
        let toward = [self.distance * self.beam[0], self.distance * self.beam[1], self.distance * self.beam[2]];
        let swung = rotate_axis(toward, *self.sdet, pos[1] / self.distance);
        rotate_axis(swung, *self.fdet, pos[2] / self.distance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(curved: bool) -> SubpixelGrid<'static> {
        SubpixelGrid {
            pix0: &[0.1, 0.0512, -0.0498],
            fdet: &[0.0, 0.0, 1.0],
            sdet: &[0.0, -1.0, 0.0],
            odet: &[1.0, 0.0, 0.0],
            beam: &[1.0, 0.0, 0.0],
            subpixel_size: 1e-4 / 3.0,
            oversample: 3,
            thickstep: 2.5e-5,
            distance: 0.1,
            curved,
            first: [0, 0],
        }
    }

    /// The lanes' positions are the single positions bit for bit, and those are the formula
    /// written out as nanoBragg.c writes it.
    #[test]
    fn lanes_and_single_positions_are_the_formula() {
        for curved in [false, true] {
            let g = grid(curved);
            for (fast0, slow, sub_s, sub_f, layer) in [(0, 0, 0, 0, 0), (7, 13, 2, 1, 1), (1000, 3, 1, 2, 4)] {
                let lanes = g.positions::<16>(fast0, slow, sub_s, sub_f, layer);
                for l in 0..16 {
                    let one = g.position(fast0 + l, slow, sub_s, sub_f, layer);
                    assert_eq!([lanes[0][l], lanes[1][l], lanes[2][l]], one, "curved {curved}, lane {l}");
                    let fdet = g.subpixel_size * ((fast0 + l) * 3 + sub_f) as f64 + g.subpixel_size / 2.0;
                    let sdet = g.subpixel_size * (slow * 3 + sub_s) as f64 + g.subpixel_size / 2.0;
                    let odet = layer as f64 * g.thickstep;
                    let mut want: V3 = std::array::from_fn(|i| fdet * g.fdet[i] + sdet * g.sdet[i] + odet * g.odet[i] + g.pix0[i]);
                    if curved {
                        want = g.curve(want);
                    }
                    assert_eq!(one, want);
                }
            }
        }
    }

    /// A panel on a shared grid, `first` pixels from its corner, places its pixels where the
    /// grid's own pixels lie, bit for bit (the split-invariance of multi-panel detectors).
    #[test]
    fn a_panel_on_a_shared_grid_is_the_grid_shifted_exactly() {
        let whole = grid(false);
        for first in [[256i64, 0], [0, 256], [300, 17], [-5, 3]] {
            let tile = SubpixelGrid { first, ..whole };
            for (fast, slow, sub_s, sub_f, layer) in [(0usize, 0usize, 0, 0, 0), (7, 13, 2, 1, 1), (100, 3, 1, 2, 4)] {
                if fast as i64 + first[0] < 0 {
                    continue;
                }
                let (f, s) = ((fast as i64 + first[0]) as usize, (slow as i64 + first[1]) as usize);
                assert_eq!(tile.position(fast, slow, sub_s, sub_f, layer), whole.position(f, s, sub_s, sub_f, layer), "{first:?}");
                let lanes = tile.positions::<16>(fast, slow, sub_s, sub_f, layer);
                let want = whole.positions::<16>(f, s, sub_s, sub_f, layer);
                assert_eq!(lanes, want);
                assert_eq!(tile.grid_coordinate(1, slow, sub_s), whole.subpixel_coordinate(s, sub_s));
            }
        }
    }

    /// On a curved detector every sub-pixel of the front layer is `distance` from the sample.
    #[test]
    fn curved_positions_lie_on_the_sphere() {
        let g = grid(true);
        for (fast, slow) in [(0, 0), (500, 20), (1023, 1023)] {
            let p = g.position(fast, slow, 1, 1, 0);
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            assert!((r / g.distance - 1.0).abs() < 1e-14, "{r}");
        }
    }
}
