//! The amorphous background stage: photons per pixel scattered by the amorphous sample
//! (`model::amorphous`), summed over the same sub-pixels, sensor layers and sources as the
//! spots, in f64. nonBragg.c's pixel loop (github bl831/nanoBragg), per sub-pixel and layer:
//!
//!   Ω = pixel²/R²·(close_distance/R)   (or 1/R² with `-point_pixel`),
//!   per source: s = (d̂ − î)/λ, stol = |s|/2, F = F(stol) from the table,
//!   I += sign(F)·F²·P(î, d̂)·Ω·weight·capture,
//!
//! and the pixel is I·r_e²·fluence·molecules/steps with steps = sources·oversample² (the
//! amorphous sample does not rotate, so φ steps and mosaic domains do not enter). Negative F
//! gives negative intensity, as nonBragg.c allows. The solid angle Ω and the polarisation P
//! are worked out for every sub-pixel and source (nonBragg.c's rule; nanoBragg.c's first
//! sub-pixel caching is for the spots only).
//!
//! `c_parity` reproduces nonBragg.c's serial state: the table search starts where the previous
//! pixel left it, and its polarisation call normalises the diffracted direction and the
//! polarisation axis in place, so later sources of a sub-pixel (and later pixels) see the
//! re-normalised vectors. The default mode renders rows in parallel, each pixel a pure
//! function of its coordinates, and looks F up with `StolTable::interpolate`.

use crate::model::amorphous::{AmorphousSample, StolTable};
use crate::engine::subpixel::SubpixelGrid;
use crate::physics::{V3, dot, magnitude, polarization_factor, unitize};
use crate::par::*;

/// One source as nonBragg.c keeps it: its position relative to the sample (any length; the
/// incident direction is minus its unit vector), wavelength (m) and weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundSource {
    pub position: V3,
    pub lambda: f64,
    pub weight: f64,
}

/// Everything the stage needs about the detector, beam and sampling (SI units).
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundGeometry {
    pub fpixels: usize,
    pub spixels: usize,
    /// inclusive [x_min, x_max, y_min, y_max]
    pub roi: [usize; 4],
    /// pixels whose mask value is 0 are skipped (main command `-mask`)
    pub mask: Option<Vec<u16>>,
    pub pix0: V3,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub beam: V3,
    pub pixel_size: f64,
    pub oversample: usize,
    pub distance: f64,
    pub close_distance: f64,
    pub curved: bool,
    pub point_pixel: bool,
    /// sensor layers: count, step (m) and attenuation (1/m); `thick` 0 means no capture
    /// fraction (every layer counts fully, as with one layer)
    pub thicksteps: usize,
    pub thickstep: f64,
    pub thick: f64,
    pub mu: f64,
    pub sources: Vec<BackgroundSource>,
    pub kahn: f64,
    pub nopolar: bool,
    pub polar_axis: V3,
    /// a detector of several panels (`model::Panel`): each panel's grid, plane and normal, in
    /// place of `pix0`, `fdet`, `sdet`, `odet` and `close_distance`, the image's `spixels`
    /// rows the panels' stacked; empty for the one panel those fields describe
    pub panels: Vec<crate::engine::plan::PlanPanel>,
}

/// The scale applied to every pixel's sum: r_e²·fluence·molecules/steps, kept as factors so
/// that c-parity multiplies in nonBragg.c's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundScale {
    pub r_e_sqr: f64,
    pub fluence: f64,
    pub molecules: f64,
    pub steps: f64,
}

impl BackgroundScale {
    fn apply(&self, sum: f64) -> f64 {
        sum * self.r_e_sqr * self.fluence * self.molecules / self.steps
    }
}

/// The stage's result: photons per pixel (0 outside the ROI and mask), the solid angle summed
/// over every sub-pixel and layer (nonBragg.c's "solid angle subtended by detector"), and the
/// last F looked up in each pixel (nonBragg's `-Fmap`).
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundImage {
    pub image: Vec<f64>,
    pub omega_sum: f64,
    pub last_f: Vec<f64>,
}

impl BackgroundGeometry {
    fn renders(&self, fast: usize, slow: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1 && self.mask.as_ref().is_none_or(|m| m[slow * self.fpixels + fast] != 0)
    }

    /// The detector as the sub-pixel position formula reads it (`engine::subpixel`, shared
    /// with the spots): nonBragg.c's sub-pixels are the pixel size over the oversampling, as
    /// nanoBragg.c's.
    pub fn subpixel_grid(&self) -> SubpixelGrid<'_> {
        SubpixelGrid {
            pix0: &self.pix0,
            fdet: &self.fdet,
            sdet: &self.sdet,
            odet: &self.odet,
            beam: &self.beam,
            subpixel_size: self.pixel_size / self.oversample as f64,
            oversample: self.oversample,
            thickstep: self.thickstep,
            distance: self.distance,
            curved: self.curved,
            first: [0, 0],
        }
    }

    /// The panel holding image row `row`: its sub-pixel grid, plane distance and normal, and
    /// the row on the panel.
    pub fn panel_at(&self, row: usize) -> (SubpixelGrid<'_>, f64, V3, usize) {
        if self.panels.is_empty() {
            return (self.subpixel_grid(), self.close_distance, self.odet, row);
        }
        let rows = self.spixels / self.panels.len();
        let p = &self.panels[row / rows];
        let grid = SubpixelGrid { pix0: &p.pix0, fdet: &p.fdet, sdet: &p.sdet, odet: &p.odet, first: p.first, ..self.subpixel_grid() };
        (grid, p.close_distance, p.odet, row % rows)
    }
}

/// What carries from pixel to pixel in nonBragg.c (c-parity only).
struct SerialState {
    nearest: usize,
    polar_axis: V3,
}

/// What the default mode's pixels reuse: the sources' incident unit vectors, and where the
/// previous look-up found its point in the table (`None`: the table does not ascend).
struct Reuse {
    incident: Vec<V3>,
    table_hint: Option<usize>,
}

impl Reuse {
    fn new(g: &BackgroundGeometry, table: &StolTable) -> Reuse {
        Reuse {
            incident: g.sources.iter().map(|s| unitize([-s.position[0], -s.position[1], -s.position[2]]).0).collect(),
            table_hint: table.ascends().then_some(0),
        }
    }
}

/// One pixel's sum (before the scale), its solid angle total and its last F. `reuse` is for
/// the default mode (c-parity has its serial state instead): the same values, computed once.
fn pixel(g: &BackgroundGeometry, table: &StolTable, fast: usize, slow: usize, mut serial: Option<&mut SerialState>, reuse: &mut Reuse) -> (f64, f64, f64) {
    let mut sum = 0.0;
    let mut omega_sum = 0.0;
    let mut last_f = 0.0;
    let (grid, close_distance, odet, row) = g.panel_at(slow);
    for sub_s in 0..g.oversample {
        for sub_f in 0..g.oversample {
            for layer in 0..g.thicksteps {
                let pos = grid.position(fast, row, sub_s, sub_f, layer);
                let (mut diffracted, airpath) = unitize(pos);
                let omega = if g.point_pixel { 1.0 / airpath / airpath } else { g.pixel_size * g.pixel_size / airpath / airpath * close_distance / airpath };
                omega_sum += omega;
                let capture = if g.thick > 0.0 {
                    // the spots' capture fraction (engine::cpu::lanes `update_capture`)
                    let depth = g.thickstep * g.mu / dot(diffracted, odet);
                    (-(layer as f64) * depth).exp() - (-((layer + 1) as f64) * depth).exp()
                } else {
                    1.0
                };
                for (src, &incident) in g.sources.iter().zip(&reuse.incident) {
                    let scattering: V3 = std::array::from_fn(|i| (diffracted[i] - incident[i]) / src.lambda);
                    let stol = 0.5 * magnitude(scattering);
                    let f = match serial.as_deref_mut() {
                        Some(state) => table.interpolate_c(stol, &mut state.nearest),
                        None => match reuse.table_hint.as_mut() {
                            Some(hint) => table.interpolate_near(stol, hint),
                            None => table.interpolate(stol),
                        },
                    };
                    last_f = f;
                    let sign = if f < 0.0 { -1.0 } else { 1.0 };
                    let polar = if g.nopolar {
                        1.0
                    } else {
                        match serial.as_deref_mut() {
                            Some(state) => {
                                // nonBragg.c normalises its arguments in place: the next source
                                // of this sub-pixel and every later pixel see the results
                                let p = polarization_factor(g.kahn, incident, diffracted, state.polar_axis);
                                diffracted = unitize(diffracted).0;
                                state.polar_axis = unitize(state.polar_axis).0;
                                p
                            }
                            None => polarization_factor(g.kahn, incident, diffracted, g.polar_axis),
                        }
                    };
                    sum += sign * f * f * polar * omega * src.weight * capture;
                }
            }
        }
    }
    (sum, omega_sum, last_f)
}

/// The main command's background (`-stol`): the plan's detector, sensor layers, sources,
/// polarisation, ROI and mask, with the sample's table and scale.
#[derive(Clone, Debug)]
pub struct Background {
    pub geometry: BackgroundGeometry,
    pub table: StolTable,
    pub scale: BackgroundScale,
}

impl Background {
    /// The sources' count (not their weights) divides, as for the spots; φ steps and mosaic
    /// domains do not, the amorphous sample having neither.
    pub fn for_plan(plan: &crate::engine::plan::Plan, sample: &AmorphousSample, fluence: f64) -> Background {
        let p0 = plan.panels[0];
        let geometry = BackgroundGeometry {
            fpixels: plan.fpixels,
            spixels: plan.spixels,
            roi: plan.roi,
            mask: plan.mask.clone(),
            pix0: p0.pix0,
            fdet: p0.fdet,
            sdet: p0.sdet,
            odet: p0.odet,
            beam: plan.beam,
            pixel_size: plan.pixel_size,
            oversample: plan.oversample,
            distance: plan.distance,
            close_distance: p0.close_distance,
            curved: plan.curved,
            point_pixel: plan.point_pixel,
            thicksteps: plan.thicksteps,
            thickstep: plan.thickstep,
            thick: plan.thick,
            mu: plan.mu,
            sources: plan.sources.iter().map(|s| BackgroundSource { position: s.incident.map(|x| -x), lambda: s.lambda, weight: s.weight }).collect(),
            kahn: plan.kahn,
            nopolar: plan.nopolar,
            polar_axis: plan.polar_axis,
            panels: if plan.panels.len() > 1 { plan.panels.clone() } else { Vec::new() },
        };
        let steps = (plan.sources.len() * plan.oversample * plan.oversample) as f64;
        let scale = BackgroundScale { r_e_sqr: crate::physics::constants::R_E_SQR, fluence, molecules: sample.molecules, steps };
        Background { geometry, table: sample.table.clone(), scale }
    }

    /// One pixel's background photons (what `add_to` adds there), for checks that recompute
    /// pixels (`-validate`).
    pub fn pixel_value(&self, fast: usize, slow: usize) -> f64 {
        if !self.geometry.renders(fast, slow) {
            return 0.0;
        }
        self.scale.apply(pixel(&self.geometry, &self.table, fast, slow, None, &mut Reuse::new(&self.geometry, &self.table)).0)
    }
}

/// Adds `bg` (the plan's amorphous background) to a rendered spot image on the host (f64 sum,
/// stored as f32), then works out the statistics again (the solid angle total stays the
/// spots'): the CPU engine's half of `engine::render_finished_async`.
pub fn add_to(plan: &crate::engine::plan::Plan, bg: &Background, rendered: &mut crate::engine::Rendered) {
    let out = render(&bg.geometry, &bg.table, &bg.scale, false);
    for (v, b) in rendered.image.iter_mut().zip(&out.image) {
        *v = (f64::from(*v) + b) as f32;
    }
    let omega_sum = rendered.stats.omega_sum;
    rendered.stats = crate::engine::cpu::statistics(plan, &rendered.image);
    rendered.stats.omega_sum = omega_sum;
}

/// Renders the background of `table`'s sample over the detector. `c_parity`: serially, with
/// nonBragg.c's carried state; otherwise rows in parallel.
pub fn render(g: &BackgroundGeometry, table: &StolTable, scale: &BackgroundScale, c_parity: bool) -> BackgroundImage {
    let width = g.fpixels;
    let mut image = vec![0.0; g.fpixels * g.spixels];
    let mut last_f = vec![0.0; image.len()];
    let mut omega_sum = 0.0;
    if c_parity {
        let mut state = SerialState { nearest: 0, polar_axis: g.polar_axis };
        let mut reuse = Reuse::new(g, table);
        for (idx, (v, lf)) in image.iter_mut().zip(last_f.iter_mut()).enumerate() {
            let (fast, slow) = (idx % width, idx / width);
            if !g.renders(fast, slow) {
                continue;
            }
            let (sum, omega, f) = pixel(g, table, fast, slow, Some(&mut state), &mut reuse);
            *v = scale.apply(sum);
            *lf = f;
            omega_sum += omega;
        }
    } else if width > 0 {
        // rows' totals added in row order, so the total does not depend on the thread count
        let rows: Vec<f64> = image
            .par_chunks_mut(width)
            .zip(last_f.par_chunks_mut(width))
            .enumerate()
            .map_init(
                || Reuse::new(g, table),
                |reuse, (slow, (row, frow))| {
                    let mut omega_row = 0.0;
                    for (fast, (v, lf)) in row.iter_mut().zip(frow.iter_mut()).enumerate() {
                        if !g.renders(fast, slow) {
                            continue;
                        }
                        let (sum, omega, f) = pixel(g, table, fast, slow, None, reuse);
                        *v = scale.apply(sum);
                        *lf = f;
                        omega_row += omega;
                    }
                    omega_row
                },
            )
            .collect();
        omega_sum = rows.iter().sum();
    }
    BackgroundImage { image, omega_sum, last_f }
}

/// A flat `w` × `h` detector of `pixel` m pixels `distance` m from the sample, the beam at its
/// centre, one source of 1 Å, unpolarised: the fixture of this stage's tests and of its GPU
/// twin's (`nanobragg-gpu`'s `background`). Test support, not part of the API.
#[doc(hidden)]
pub fn test_detector(w: usize, h: usize, pixel: f64, distance: f64, oversample: usize) -> BackgroundGeometry {
    BackgroundGeometry {
        fpixels: w,
        spixels: h,
        roi: [0, w - 1, 0, h - 1],
        mask: None,
        pix0: [distance, h as f64 * pixel / 2.0, -(w as f64) * pixel / 2.0],
        fdet: [0.0, 0.0, 1.0],
        sdet: [0.0, -1.0, 0.0],
        odet: [1.0, 0.0, 0.0],
        beam: [1.0, 0.0, 0.0],
        pixel_size: pixel,
        oversample,
        distance,
        close_distance: distance,
        curved: false,
        point_pixel: false,
        thicksteps: 1,
        thickstep: 0.0,
        thick: 0.0,
        mu: 0.0,
        sources: vec![BackgroundSource { position: [-10.0, 0.0, 0.0], lambda: 1e-10, weight: 1.0 }],
        kahn: 0.0,
        nopolar: false,
        polar_axis: [0.0, 0.0, 1.0],
        panels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::amorphous::StolUnit;
    use std::path::Path;

    fn geometry() -> BackgroundGeometry {
        test_detector(24, 24, 2e-4, 0.05, 2)
    }

    /// A flat F = 1 table: the image is then r_e²·fluence·molecules·Ω·P per pixel, which
    /// peaks at the beam and falls with the obliquity and polarisation.
    #[test]
    fn flat_table_gives_solid_angle_times_polarisation() {
        let table = StolTable::parse(Path::new("flat"), b"0 1\n1 1\n2 1\n3 1\n", StolUnit::Stol, false).unwrap();
        let g = geometry();
        let scale = BackgroundScale { r_e_sqr: 1.0, fluence: 1.0, molecules: 1.0, steps: 4.0 };
        for c_parity in [false, true] {
            let out = render(&g, &table, &scale, c_parity);
            // pixel (3, 5): check against Ω·P worked out by hand at its four sub-pixels
            let mut want = 0.0;
            for (sf, ss) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let pos = [0.05, g.pix0[1] - (5.0 + ss) * 2e-4, g.pix0[2] + (3.0 + sf) * 2e-4];
                let r = magnitude(pos);
                let cos2t = pos[0] / r;
                want += 4e-8 / (r * r) * (0.05 / r) * 0.5 * (1.0 + cos2t * cos2t) / 4.0;
            }
            let got = out.image[5 * 24 + 3];
            assert!((got / want - 1.0).abs() < 1e-12, "{c_parity}: {got} {want}");
            assert!(out.last_f.iter().all(|&f| (f - 1.0).abs() < 1e-9));
        }
    }

    #[test]
    fn parallel_default_matches_serial_and_roi_is_respected() {
        let text: String = (0..60).map(|i| format!("{} {}\n", i as f64 * 0.01, 2.5 + (i as f64 * 0.2).cos())).collect();
        let table = StolTable::parse(Path::new("t"), text.as_bytes(), StolUnit::Stol, false).unwrap();
        let mut g = geometry();
        g.roi = [2, 20, 3, 17];
        g.kahn = 0.9;
        g.sources.push(BackgroundSource { position: [-10.0, 0.01, 0.0], lambda: 1.01e-10, weight: 0.5 });
        let scale = BackgroundScale { r_e_sqr: 7.94e-30, fluence: 1e24, molecules: 1e16, steps: 8.0 };
        let a = render(&g, &table, &scale, false);
        let b = render(&g, &table, &scale, true);
        for (i, (x, y)) in a.image.iter().zip(&b.image).enumerate() {
            let (fast, slow) = (i % 24, i / 24);
            if fast < 2 || fast > 20 || slow < 3 || slow > 17 {
                assert_eq!((*x, *y), (0.0, 0.0));
            } else {
                // the two look-ups differ only in the table's first interval (stencil), near
                // the beam
                assert!(*x > 0.0 && (x / y - 1.0).abs() < 1e-4, "{i}: {x} {y}");
            }
        }
        assert!((a.omega_sum / b.omega_sum - 1.0).abs() < 1e-12);
    }
}
