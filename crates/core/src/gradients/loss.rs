//! Negative log-likelihoods of measured pixels given the model image plus a background, with
//! their gradient with respect to the rendered parameters (chain rule over the derivative
//! images: ∂L/∂θ = Σ_pixels ∂L/∂model · ∂model/∂θ).

use super::Gradients;

/// Which likelihood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Likelihood {
    /// Σ (data − μ)² / 2σ² with σ² = max(μ, 1) + readout², μ = model + background (σ² moves
    /// with μ, and the gradient includes that)
    Gaussian { readout: u32 },
    /// Σ μ − data·ln μ (the Poisson NLL without the data-only ln data! term)
    Poisson,
}

/// The loss and its gradient, one number per parameter of `g`.
#[derive(Clone, Debug)]
pub struct Loss {
    pub value: f64,
    pub gradient: Vec<f64>,
    /// ∂L/∂model per pixel: the residual image (for a reverse pass over F)
    pub residual: Vec<f64>,
}

/// The loss of `data` given `g.image + background` over the pixels where `use_pixel` (or
/// all), and its gradient. μ ≤ 0 pixels count as μ = 1e-30 in the Poisson case.
pub fn loss(g: &Gradients, data: &[f64], background: &[f64], use_pixel: Option<&[bool]>, kind: Likelihood) -> Loss {
    let mut value = 0.0;
    let mut residual = vec![0.0; g.image.len()];
    for i in 0..g.image.len() {
        if use_pixel.is_some_and(|u| !u[i]) {
            continue;
        }
        let mu = g.image[i] + background[i];
        match kind {
            Likelihood::Poisson => {
                let m = mu.max(1e-30);
                value += m - data[i] * m.ln();
                residual[i] = 1.0 - data[i] / m;
            }
            Likelihood::Gaussian { readout } => {
                let var = mu.max(1.0) + (readout as f64) * (readout as f64);
                let r = mu - data[i];
                value += r * r / (2.0 * var);
                let dvar = if mu > 1.0 { 1.0 } else { 0.0 };
                residual[i] = r / var - r * r / (2.0 * var * var) * dvar;
            }
        }
    }
    let gradient = g.derivatives.iter().map(|d| d.iter().zip(&residual).map(|(a, b)| a * b).sum()).collect();
    Loss { value, gradient, residual }
}

#[cfg(test)]
mod tests {
    use super::super::{Param, render};
    use super::*;
    use crate::model::Inputs;
    use crate::testing::params;

    #[test]
    fn loss_gradient_matches_finite_differences() {
        let base = params("-cell 60 70 80 90 95 90 -N 6 -default_F 100 -detpixels 16 -pixel 1 -distance 70 -misset 1 2 3 -fluence 1e26");
        let which = [Param::MissetX, Param::Nb, Param::CellA, Param::Fluence];
        let truth = render(&base, &Inputs::default(), &[]).unwrap();
        // "data": the truth with a deterministic wobble, a flat background
        let data: Vec<f64> = truth.image.iter().enumerate().map(|(i, v)| (v + 3.0 + (i % 7) as f64).round()).collect();
        let bg = vec![3.0; data.len()];
        let mut moved = base.clone();
        moved.misset([1.01 , 2.0, 3.0]).unwrap();
        moved.cell([60.1, 70.0, 80.0, 90.0, 95.0, 90.0]).unwrap();
        for kind in [Likelihood::Poisson, Likelihood::Gaussian { readout: 3 }] {
            let g = render(&moved, &Inputs::default(), &which).unwrap();
            let l = loss(&g, &data, &bg, None, kind);
            for (j, &p) in which.iter().enumerate() {
                // the loss as a function of the parameter through the derivative image's own
                // forward model (the gradient tests check that image against the model)
                let at = |t: f64| {
                    let mut q = moved.clone();
                    match p {
                        Param::MissetX => { q.misset([1.01 + t, 2.0, 3.0]).unwrap(); }
                        Param::CellA => { q.cell([60.1 + t, 70.0, 80.0, 90.0, 95.0, 90.0]).unwrap(); }
                        Param::Fluence => { q.fluence(moved.fluence + t).unwrap(); }
                        _ => { q.nb((6.0 + t) as i64).unwrap(); }
                    }
                    loss(&render(&q, &Inputs::default(), &[]).unwrap(), &data, &bg, None, kind).value
                };
                if p == Param::Nb {
                    // N is whole on the command line: check against the summed image derivative
                    let fd: f64 = g.derivatives[j].iter().zip(&l.residual).map(|(a, b)| a * b).sum();
                    assert_eq!(fd, l.gradient[j]);
                    continue;
                }
                let h = if p == Param::Fluence { moved.fluence * 1e-4 } else { 1e-4 };
                let fd = (at(h) - at(-h)) / (2.0 * h);
                assert!((fd - l.gradient[j]).abs() <= 1e-5 * fd.abs().max(1e-12), "{kind:?} {}: {fd} vs {}", p.name(), l.gradient[j]);
            }
        }
    }
}
