//! Derivatives of the image with respect to the parameters people refine (issue 25), on the
//! f64 CPU side, apart from the fast engine so that a render without derivatives is untouched.
//!
//! How: the image is a sum of per-term arithmetic over pixels × sub-pixels × sources × φ ×
//! mosaic domains (nanoBragg.c's loops). That arithmetic is carried here in forward-mode dual
//! numbers ([`Dual`]): exact derivatives of sub-pixel position, scattering vector, h,k,l, the
//! lattice factor (square with N continuous, round, Gaussian, top-hat), the structure factor
//! (nearest or tricubic), polarization, solid angle, water, oversampling and the scale, in one
//! pass for all chosen parameters. What enters that arithmetic from the plan (the detector's
//! origin and axes, each source's direction and λ, the lattice vectors of every φ step ×
//! mosaic domain, N, the reciprocal vectors, the scale) is seeded with its derivative per
//! parameter: analytic where the parameter sits in the plan as it is (N, fluence, rotX/Y/Z),
//! else by a 4-point central difference of `model::resolve` + `Plan::new` (misset, cell,
//! mosaic, distance, beam centre, λ): those few plan numbers are smooth, cheap functions of
//! the parameters (rotation matrices, the cell's metric, the detector's pivot rules), and
//! the stencil's error (h⁴, h = 1e-3 of the flag's unit, see [`Param::step`]) is far below the
//! 1e-6 the finite-difference tests of the image demand — while redoing resolve's rules in
//! dual numbers would duplicate every convention and pivot of nanoBragg.c.
//!
//! Default mode only: `-c_parity` images follow C's order and defects (compounded factors,
//! the φ carry-over), which have no derivative worth giving; asked, [`render`] refuses.

mod dual;
pub mod loss;
mod pixel;

pub use dual::{DV, Dual};

use crate::budget::Budget;
use crate::engine::plan::Plan;
use crate::model::{Experiment, Inputs, resolve};
use crate::params::{ExperimentParams, Misset, Mode};
use crate::physics::constants::RTD;
use crate::physics::rotate_axis;

/// A parameter the image can be differentiated by; the derivative is per unit of the flag as
/// typed (degrees for angles, Å, mm), except rotX/Y/Z, which are radians about the lab axes
/// applied after the misset (diffBragg's convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    MissetX,
    MissetY,
    MissetZ,
    RotX,
    RotY,
    RotZ,
    Na,
    Nb,
    Nc,
    CellA,
    CellB,
    CellC,
    CellAlpha,
    CellBeta,
    CellGamma,
    Mosaic,
    Fluence,
    Distance,
    Xbeam,
    Ybeam,
    Lambda,
}

impl Param {
    pub const ALL: [Param; 21] = [
        Param::MissetX,
        Param::MissetY,
        Param::MissetZ,
        Param::RotX,
        Param::RotY,
        Param::RotZ,
        Param::Na,
        Param::Nb,
        Param::Nc,
        Param::CellA,
        Param::CellB,
        Param::CellC,
        Param::CellAlpha,
        Param::CellBeta,
        Param::CellGamma,
        Param::Mosaic,
        Param::Fluence,
        Param::Distance,
        Param::Xbeam,
        Param::Ybeam,
        Param::Lambda,
    ];

    /// The name `-gradfile NAME=FILE` and the library use (issue 25's list).
    pub fn name(self) -> &'static str {
        match self {
            Param::MissetX => "misset_x",
            Param::MissetY => "misset_y",
            Param::MissetZ => "misset_z",
            Param::RotX => "rotX",
            Param::RotY => "rotY",
            Param::RotZ => "rotZ",
            Param::Na => "Na",
            Param::Nb => "Nb",
            Param::Nc => "Nc",
            Param::CellA => "cell_a",
            Param::CellB => "cell_b",
            Param::CellC => "cell_c",
            Param::CellAlpha => "cell_alpha",
            Param::CellBeta => "cell_beta",
            Param::CellGamma => "cell_gamma",
            Param::Mosaic => "mosaic",
            Param::Fluence => "fluence",
            Param::Distance => "distance",
            Param::Xbeam => "Xbeam",
            Param::Ybeam => "Ybeam",
            Param::Lambda => "lambda",
        }
    }

    pub fn from_name(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The step (flag units) of the central difference of the plan for the parameters that
    /// take one; also a sensible finite-difference step of the whole image for tests.
    pub fn step(self) -> f64 {
        match self {
            Param::MissetX | Param::MissetY | Param::MissetZ | Param::CellAlpha | Param::CellBeta | Param::CellGamma | Param::Mosaic => 1e-3,
            Param::RotX | Param::RotY | Param::RotZ => 1e-5,
            Param::Na | Param::Nb | Param::Nc => 1e-3,
            Param::CellA | Param::CellB | Param::CellC => 1e-3,
            Param::Distance | Param::Xbeam | Param::Ybeam => 1e-3,
            Param::Lambda => 1e-6,
            Param::Fluence => 0.0,
        }
    }
}

/// Why no derivatives were rendered.
#[derive(Debug, thiserror::Error)]
pub enum GradientError {
    #[error("derivatives are computed in the default mode only: -c_parity with derivatives is refused (its compounded factors and φ carry-over are C's defects, not a model to refine)")]
    CParity,
    #[error("derivative of {0}: {1}")]
    Unsupported(&'static str, String),
    #[error(transparent)]
    Resolve(#[from] crate::error::Error),
}

/// The image (f64 photons per pixel, before any noise) and one derivative image per parameter,
/// each row-major fast-fastest like the engines' images.
#[derive(Clone, Debug)]
pub struct Gradients {
    pub fpixels: usize,
    pub spixels: usize,
    pub image: Vec<f64>,
    pub params: Vec<Param>,
    /// `derivatives[j]` = ∂image/∂`params[j]`
    pub derivatives: Vec<Vec<f64>>,
}

impl Gradients {
    pub fn derivative(&self, p: Param) -> Option<&[f64]> {
        self.params.iter().position(|&q| q == p).map(|j| self.derivatives[j].as_slice())
    }
}

/// Render the spots of `params` with `inputs` and their derivatives with respect to `which`.
/// The `-stol` background, thick sensors and curved detectors are refused (not yet carried).
pub fn render(params: &ExperimentParams, inputs: &Inputs, which: &[Param]) -> Result<Gradients, GradientError> {
    if params.mode == Mode::CParity {
        return Err(GradientError::CParity);
    }
    let budget = Budget::default();
    let e = resolve(params, inputs, &budget, &mut Vec::new())?;
    let plan = Plan::new(&e);
    pixel::supported(&plan)?;
    let base = pixel::flatten(&plan);
    let mut tangents = Vec::with_capacity(which.len());
    for &p in which {
        tangents.push(tangent(params, inputs, &e, &plan, &base, p)?);
    }
    let (image, derivatives) = pixel::render(&plan, &base, &tangents);
    Ok(Gradients { fpixels: plan.fpixels, spixels: plan.spixels, image, params: which.to_vec(), derivatives })
}

/// ∂(plan numbers)/∂p, in the order of `pixel::flatten`.
fn tangent(params: &ExperimentParams, inputs: &Inputs, e: &Experiment, plan: &Plan, base: &[f64], p: Param) -> Result<Vec<f64>, GradientError> {
    let flat_at = |f: &dyn Fn(f64) -> Result<Plan, GradientError>, h: f64| -> Result<Vec<f64>, GradientError> {
        // 4-point central difference: (−f(2h) + 8f(h) − 8f(−h) + f(−2h)) / 12h
        let mut at = Vec::with_capacity(4);
        for k in [2.0, 1.0, -1.0, -2.0] {
            let v = pixel::flatten(&f(k * h)?);
            if v.len() != base.len() {
                return Err(GradientError::Unsupported(p.name(), "a small change of it changes the sampling (number of sources, domains or pixels)".into()));
            }
            at.push(v);
        }
        Ok((0..base.len()).map(|i| (-at[0][i] + 8.0 * at[1][i] - 8.0 * at[2][i] + at[3][i]) / (12.0 * h)).collect())
    };
    let analytic = |f: &dyn Fn(&mut Plan)| {
        let mut q = plan.clone();
        f(&mut q);
        pixel::flatten(&q)
    };
    let resolved = |edit: &dyn Fn(&mut ExperimentParams, f64), h: f64| -> Result<Plan, GradientError> {
        let mut q = params.clone();
        edit(&mut q, h);
        Ok(Plan::new(&resolve(&q, inputs, &Budget::default(), &mut Vec::new())?))
    };
    let h = p.step();
    Ok(match p {
        Param::Fluence => {
            // the scale is r_e²·fluence/steps: linear in the fluence
            let mut t = vec![0.0; base.len()];
            t[pixel::scale_index(plan)] = plan.scale / e.beam.fluence;
            t
        }
        Param::Na | Param::Nb | Param::Nc => {
            let axis = [Param::Na, Param::Nb, Param::Nc].iter().position(|&q| q == p).unwrap();
            let one = analytic(&|q| q.n[axis] += 1.0);
            one.iter().zip(base).map(|(a, b)| a - b).collect()
        }
        Param::RotX | Param::RotY | Param::RotZ => {
            let axis = [Param::RotX, Param::RotY, Param::RotZ].iter().position(|&q| q == p).unwrap();
            let mut unit = [0.0; 3];
            unit[axis] = 1.0;
            flat_at(
                &|t| {
                    let mut q = e.clone();
                    let c = &mut q.crystal;
                    for v in [&mut c.a0, &mut c.b0, &mut c.c0, &mut c.a_star, &mut c.b_star, &mut c.c_star] {
                        *v = rotate_axis(*v, unit, t);
                    }
                    Ok(Plan::new(&q))
                },
                h,
            )?
        }
        Param::MissetX | Param::MissetY | Param::MissetZ => {
            let axis = [Param::MissetX, Param::MissetY, Param::MissetZ].iter().position(|&q| q == p).unwrap();
            let angles = match params.misset {
                Misset::Angles(a) => a,
                Misset::None => [0.0; 3],
                Misset::Random => return Err(GradientError::Unsupported(p.name(), "-misset random has no angles to vary; give -misset x y z".into())),
            };
            flat_at(&|t| resolved(&move |q, t| {
                let mut a = angles;
                a[axis] += t / RTD;
                q.misset = Misset::Angles(a);
            }, t), h)?
        }
        Param::CellA | Param::CellB | Param::CellC | Param::CellAlpha | Param::CellBeta | Param::CellGamma => {
            let i = [Param::CellA, Param::CellB, Param::CellC, Param::CellAlpha, Param::CellBeta, Param::CellGamma].iter().position(|&q| q == p).unwrap();
            if !params.user_cell {
                return Err(GradientError::Unsupported(p.name(), "the cell comes from a matrix or file; give -cell".into()));
            }
            let unit = if i < 3 { 1.0 } else { 1.0 / RTD };
            flat_at(&|t| resolved(&move |q, t| q.cell[i] += t * unit, t), h)?
        }
        Param::Mosaic => flat_at(&|t| resolved(&|q, t| q.mosaic_spread += t / RTD, t), h)?,
        Param::Distance => flat_at(&|t| resolved(&|q, t| q.distance += t / 1000.0, t), h)?,
        Param::Xbeam | Param::Ybeam => {
            let x = p == Param::Xbeam;
            let (xb, yb) = (e.detector.xbeam, e.detector.ybeam);
            flat_at(
                &|t| resolved(&move |q, t| {
                    // the centre resolve used, moved: pivot BEAM as -Xbeam/-Ybeam set it
                    q.xbeam = if x { xb + t / 1000.0 } else { xb };
                    q.ybeam = if x { yb } else { yb + t / 1000.0 };
                    q.pivot = crate::params::Pivot::Beam;
                }, t),
                h,
            )?
        }
        Param::Lambda => flat_at(&|t| resolved(&|q, t| q.lambda0 += t / 1e10, t), h)?,
    })
}

#[cfg(test)]
mod tests;
