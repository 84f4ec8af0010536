//! The beam's sources as nanoBragg.c and nonBragg.c make them: a source list's rows, or the
//! grid of divergence angles × wavelengths they generate. Each program keeps the sources its
//! own way (nanoBragg.c as directions, `Source`; nonBragg.c as positions,
//! `engine::background::BackgroundSource`), from the same positions and wavelengths here.

use super::SourceRow;
use crate::physics::{V3, rotate_axis};

/// The divergence grid: ranges and steps (radians) and step counts as `sampling::range_steps`
/// settles them, trimmed to an ellipse with `-round_div`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Divergence {
    pub hdivrange: f64,
    pub hdivstep: f64,
    pub hdivsteps: i64,
    pub vdivrange: f64,
    pub vdivstep: f64,
    pub vdivsteps: i64,
    pub round: bool,
}

impl Divergence {
    /// The grid's (horizontal, vertical) divergence angles in the C programs' order, the
    /// corners outside the ellipse left out with `-round_div`.
    pub fn angles(&self) -> Vec<(f64, f64)> {
        let mut angles = Vec::new();
        for h in 0..self.hdivsteps {
            for v in 0..self.vdivsteps {
                let hdiv = self.hdivstep * h as f64 - self.hdivrange / 2.0;
                let vdiv = self.vdivstep * v as f64 - self.vdivrange / 2.0;
                let mut test = (hdiv * hdiv - self.hdivstep * self.hdivstep / 4.0 * (1 - self.hdivsteps % 2) as f64) / self.hdivrange / self.hdivrange;
                test += (vdiv * vdiv - self.vdivstep * self.vdivstep / 4.0 * (1 - self.vdivsteps % 2) as f64) / self.vdivrange / self.vdivrange;
                if self.round && test * 4.0 > 1.1 {
                    continue;
                }
                angles.push((hdiv, vdiv));
            }
        }
        angles
    }
}

/// Where the source of divergence angles (hdiv, vdiv) lies: `distance` up-beam (unit `beam`),
/// swung by vdiv about the polarisation axis, then by hdiv about the vertical (beam × polar).
pub fn position(hdiv: f64, vdiv: f64, distance: f64, beam: V3, polar: V3, vert: V3) -> V3 {
    let toward_source = [-distance * beam[0], -distance * beam[1], -distance * beam[2]];
    rotate_axis(rotate_axis(toward_source, polar, vdiv), vert, hdiv)
}

/// The dispersion's wavelengths, λ0·(1 + step·t − dispersion/2) for t = 0 … steps − 1, from
/// (dispersion, step, steps) as `sampling::range_steps` settles them.
pub fn wavelengths(lambda0: f64, (dispersion, dispstep, dispsteps): (f64, f64, i64)) -> Vec<f64> {
    (0..dispsteps).map(|t| lambda0 * (1.0 + dispstep * t as f64 - dispersion / 2.0)).collect()
}

/// Where a source list's row puts its source: its X Y Z, each missing one `distance` up-beam
/// (unit `beam`), as both programs default it.
pub fn listed_position(row: &SourceRow, beam: V3, distance: f64) -> V3 {
    std::array::from_fn(|i| row.position[i].unwrap_or(-distance * beam[i]))
}
