//! Every derivative against central finite differences of the f64 forward model (the value
//! part of the same arithmetic, re-rendered at the parameter ± steps), and that value against
//! the CPU engine's image.
//!
//! The difference quotient is the 4-point central one, (−I(h) + 8I(h/2) − 8I(−h/2) + I(−h))/6h,
//! with h = `Param::step` (1e-3 of the flag's unit; 1e-5 rad for rotX/Y/Z, 1e-6 Å for λ): its
//! truncation error (h⁴) and rounding error (1e-16·I/h) are both far below the tolerance. The
//! tolerance is max over pixels |analytic − FD| ≤ 1e-6 · max over pixels |FD| (a pixel-wise
//! relative error is meaningless where the derivative crosses zero).

use super::*;
use crate::engine::cpu::render_spots;
use crate::testing::params;

/// The forward model's f64 image for a plan (the value part of the dual arithmetic).
fn image_of(plan: &Plan) -> Vec<f64> {
    pixel::render(plan, &pixel::flatten(plan), &[]).0
}

fn plan_of(p: &ExperimentParams, inputs: &Inputs) -> Plan {
    Plan::new(&resolve(p, inputs, &Budget::default(), &mut Vec::new()).unwrap())
}

/// The image at parameter + t (flag units), perturbed independently of the tangent code
/// through the builder methods where the flag takes the value (misset, cell, ...), else on
/// the experiment or plan as the parameter is defined (N continuous, rotX/Y/Z, fluence).
fn image_at(base: &ExperimentParams, inputs: &Inputs, p: Param, t: f64) -> Vec<f64> {
    let mut q = base.clone();
    let cell = |q: &mut ExperimentParams, i: usize| {
        let c = q.cell;
        let mut typed = [c[0], c[1], c[2], c[3] * RTD, c[4] * RTD, c[5] * RTD];
        typed[i] += t;
        q.cell(typed).unwrap();
    };
    match p {
        Param::MissetX | Param::MissetY | Param::MissetZ => {
            let Misset::Angles(a) = base.misset else { panic!("tests give -misset") };
            let mut typed = a.map(|x| x * RTD);
            typed[p as usize - Param::MissetX as usize] += t;
            q.misset(typed).unwrap();
        }
        Param::CellA | Param::CellB | Param::CellC | Param::CellAlpha | Param::CellBeta | Param::CellGamma => cell(&mut q, p as usize - Param::CellA as usize),
        Param::Mosaic => {
            q.mosaic(base.mosaic_spread * RTD + t).unwrap();
        }
        Param::Distance => {
            q.distance(base.distance * 1000.0 + t).unwrap();
        }
        Param::Xbeam => {
            q.xbeam(base.xbeam * 1000.0 + t).unwrap();
        }
        Param::Ybeam => {
            q.ybeam(base.ybeam * 1000.0 + t).unwrap();
        }
        Param::Lambda => {
            q.lambda(base.lambda0 * 1e10 + t).unwrap();
        }
        Param::Fluence => {
            q.fluence(base.fluence + t).unwrap();
        }
        Param::Na | Param::Nb | Param::Nc => {
            let mut plan = plan_of(base, inputs);
            plan.n[p as usize - Param::Na as usize] += t;
            return image_of(&plan);
        }
        Param::RotX | Param::RotY | Param::RotZ => {
            let mut e = resolve(base, inputs, &Budget::default(), &mut Vec::new()).unwrap();
            let mut axis = [0.0; 3];
            axis[p as usize - Param::RotX as usize] = 1.0;
            let c = &mut e.crystal;
            for v in [&mut c.a0, &mut c.b0, &mut c.c0, &mut c.a_star, &mut c.b_star, &mut c.c_star] {
                *v = rotate_axis(*v, axis, t);
            }
            return image_of(&Plan::new(&e));
        }
    }
    image_of(&plan_of(&q, inputs))
}

/// Check `which` on the command line `words` (plus -Xbeam/-Ybeam in mm) with `inputs`.
fn check(words: &str, beam_mm: (f64, f64), inputs: &Inputs, which: &[Param]) {
    let mut base = params(words);
    base.xbeam(beam_mm.0).unwrap();
    base.ybeam(beam_mm.1).unwrap();
    let g = render(&base, inputs, which).unwrap();
    // the value is the CPU engine's image to f32 rounding
    let engine = render_spots(&plan_of(&base, inputs)).image;
    let peak = g.image.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 0.0, "{words}: an empty image checks nothing");
    for (i, (&a, &b)) in g.image.iter().zip(&engine).enumerate() {
        assert!((a - b as f64).abs() <= 1.2e-7 * (b as f64).abs() + 1e-12 * peak, "{words}: pixel {i}: {a} vs engine {b}");
    }
    for (j, &p) in which.iter().enumerate() {
        let h = if p == Param::Fluence { base.fluence * 1e-3 } else { p.step() };
        let at: Vec<Vec<f64>> = [2.0, 1.0, 0.5, -0.5, -1.0, -2.0].iter().map(|k| image_at(&base, inputs, p, k * h)).collect();
        let wide: Vec<f64> = (0..g.image.len()).map(|i| (-at[0][i] + 8.0 * at[1][i] - 8.0 * at[4][i] + at[5][i]) / (12.0 * h)).collect();
        let fd: Vec<f64> = (0..g.image.len()).map(|i| (-at[1][i] + 8.0 * at[2][i] - 8.0 * at[3][i] + at[4][i]) / (6.0 * h)).collect();
        let scale = fd.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.0, "{words}: {} does not change the image", p.name());
        // A pixel whose stencil straddles a step of the forward model (an index crossing a
        // half-integer where the round or Gaussian spot is cut off: nanoBragg's spot ends at
        // the cell's edge) has no derivative there: the quotients of steps h and h/2 then
        // disagree (for a smooth image they agree to 1e-5 of the largest derivative: the wide one is off by h⁴·I⁽⁵⁾/30); such pixels are left out,
        // and must be few.
        let (mut worst, mut at_px, mut skipped) = (0.0f64, 0, 0);
        for i in 0..fd.len() {
            if (wide[i] - fd[i]).abs() > 1e-5 * scale {
                skipped += 1;
                continue;
            }
            let err = (g.derivatives[j][i] - fd[i]).abs();
            if err > worst {
                (worst, at_px) = (err, i);
            }
        }
        assert!(skipped * 10 <= fd.len(), "{words}: {}: {skipped} of {} pixels not smooth", p.name(), fd.len());
        assert!(worst <= 1e-6 * scale, "{words}: {}: |analytic − FD| = {worst:e} at pixel {at_px} ({} vs {}), max |FD| {scale:e}", p.name(), g.derivatives[j][at_px], fd[at_px]);
    }
}

const SMOOTH: [Param; 21] = Param::ALL;

#[test]
fn triclinic_cell_every_parameter() {
    let which: Vec<Param> = SMOOTH.into_iter().filter(|&p| p != Param::Mosaic).collect();
    check("-cell 70 80 90 85 95 105 -N 5 -default_F 100 -detpixels 32 -pixel 1 -distance 80 -misset 3 -7 11 -lambda 1.2 -oversample 1 -fluence 1e24", (15.3, 17.1), &Inputs::default(), &which);
}

#[test]
fn rotated_two_theta_detector_oversampled() {
    check("-cell 60 70 80 90 100 90 -Na 4 -Nb 5 -Nc 6 -default_F 100 -detpixels 24 -pixel 1 -distance 70 -twotheta 8 -detector_rotx 3 -misset 5 2 -4 -oversample 2 -oversample_omega -oversample_polar -polar 0.9 -fluence 1e24", (11.0, 12.5), &Inputs::default(), &SMOOTH.into_iter().filter(|&p| p != Param::Mosaic).collect::<Vec<_>>());
}

#[test]
fn gaussian_crystal_every_parameter() {
    check("-cell 60 70 80 90 90 90 -N 10 -gauss_xtal -default_F 100 -detpixels 24 -pixel 1 -distance 70 -misset 1 2 3 -polar 0.9 -oversample 1 -fluence 1e24", (12.2, 11.7), &Inputs::default(), &SMOOTH.into_iter().filter(|&p| p != Param::Mosaic).collect::<Vec<_>>());
}

#[test]
fn tophat_value_and_scale() {
    // the top-hat is flat or zero: only the scale has a derivative away from its edges
    check("-cell 60 70 80 90 90 90 -N 5 -tophat_spots -default_F 100 -detpixels 24 -pixel 1 -distance 70 -misset 1 2 3 -fluence 1e24", (12.2, 11.7), &Inputs::default(), &[Param::Fluence]);
}

#[test]
fn c_parity_is_refused() {
    let p = params("-c_parity -cell 60 70 80 90 90 90 -N 5 -default_F 100 -detpixels 8");
    let e = render(&p, &Inputs::default(), &[Param::Na]).unwrap_err();
    assert!(e.to_string().contains("-c_parity"), "{e}");
}

#[test]
fn divergence_and_dispersion() {
    check("-cell 60 70 80 90 90 90 -N 5 -default_F 100 -detpixels 16 -pixel 1.5 -distance 70 -misset 1 2 3 -divergence 0.3 -divsteps 3 -dispersion 2 -dispsteps 3 -oversample 1 -fluence 1e24", (12.2, 11.7), &Inputs::default(), &SMOOTH.into_iter().filter(|&p| p != Param::Mosaic).collect::<Vec<_>>());
}

#[test]
fn water_background() {
    // a thin water layer: with a thick one the image is nearly all water, and the finite
    // differences' rounding (1e-16·I/h) exceeds 1e-6 of the spots' derivatives
    check("-cell 60 70 80 90 90 90 -N 5 -default_F 100 -detpixels 16 -pixel 1.5 -distance 70 -misset 1 2 3 -water 0.1 -fluence 1e24", (12.2, 11.7), &Inputs::default(), &[Param::MissetX, Param::Distance, Param::Xbeam, Param::Fluence, Param::Lambda]);
}
