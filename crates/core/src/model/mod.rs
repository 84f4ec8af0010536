//! The resolved experiment: every quantity a render needs, in SI units (metres, radians,
//! photons/m²), after all of nanoBragg.c's defaults and precedence rules have been applied
//! (those rules live in `resolve.rs`, in one place).

pub mod amorphous;
mod cell;
pub mod detector;
mod inputs;
pub mod panels;
mod resolve;
pub mod sampling;
pub mod sources;

pub use inputs::{Inputs, Mask, SourceRow};
pub use panels::{Panel, PanelLayout, PanelSpec};
pub use resolve::{BYTES_PER_PIXEL, BYTES_PER_PIXEL_GPU, InputsToLoad, MAX_PIXELS, MAX_TABLE, axes_problem, check_table, preflight, resolve};

use crate::params::{Convention, Mode, Pivot, XtalShape};
use crate::structure::StructureFactors;
use crate::physics::V3;
use std::sync::Arc;

/// What the set-up says besides its result: a value it changed, ignored or finds suspect (a
/// `Warning`), or one it chose for the user (a `Note`: the angles of a random misset).
/// `resolve` hands them to its caller instead of printing them; each face reports them its
/// way (the command line as `nanobragg: warning: ...` on stderr, silenced by `-quiet`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub severity: Severity,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Note,
}

impl Warning {
    pub(crate) fn warn(message: impl Into<String>) -> Warning {
        Warning { severity: Severity::Warning, message: message.into() }
    }
    pub(crate) fn note(message: impl Into<String>) -> Warning {
        Warning { severity: Severity::Note, message: message.into() }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Debug)]
pub struct Experiment {
    pub mode: Mode,
    pub detector: Detector,
    pub beam: Beam,
    pub crystal: Crystal,
    pub sampling: Sampling,
    pub response: Response,
    /// the amorphous sample of `-stol` (default mode only; nanoBragg.c ignores `-stol`)
    pub amorphous: Option<amorphous::AmorphousSample>,
}

/// The detector: its panels (`panels`, what the engines render, stacked as `[panel, slow,
/// fast]` in the image) and the nanoBragg.c description of a single flat panel: convention,
/// pivot, beam centre and distances (headers and reports). A detector built from the flags
/// (nanoBragg.c's conventions and pivots: the one-panel constructor in `resolve`) has one
/// panel, which these fields describe whole; one read from a geometry file (`-detector`) has
/// its file's panels, and these fields describe panel 0 (`Detector::of_panel` any other).
/// `fpixels`, `spixels`, `pixel_size` and the sensor are every panel's; `roi` and `mask` are
/// the stacked image's (rows `0..image_rows()`).
#[derive(Clone, Debug)]
pub struct Detector {
    pub panels: Vec<Panel>,
    pub convention: Convention,
    pub pivot: Pivot,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size: f64,
    pub detsize_f: f64,
    pub detsize_s: f64,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    /// position of the first pixel's corner relative to the sample
    pub pix0: V3,
    pub distance: f64,
    pub close_distance: f64,
    pub xbeam: f64,
    pub ybeam: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub fclose: f64,
    pub sclose: f64,
    pub orgx: f64,
    pub orgy: f64,
    /// detector origin in the DIALS frame, mm (for the SMV header)
    pub dials_origin: V3,
    pub twotheta: f64,
    pub curved: bool,
    pub point_pixel: bool,
    pub thick: f64,
    pub thickstep: f64,
    pub thicksteps: usize,
    pub mu: f64,
    /// inclusive pixel limits: fast min, fast max, slow min, slow max
    pub roi: [usize; 4],
    pub mask: Option<Vec<u16>>,
}

impl Detector {
    /// Pixels of the image: every panel's.
    pub fn pixels(&self) -> usize {
        self.fpixels * self.image_rows()
    }
    /// Rows of the image: the panels' rows stacked.
    pub fn image_rows(&self) -> usize {
        self.spixels * self.panels.len()
    }
    /// Whether the pixel at (fast, slow) is rendered: inside the ROI and not masked.
    pub fn renders(&self, fast: usize, slow: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        let in_roi = fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1;
        in_roi && self.mask.as_ref().is_none_or(|m| m[slow * self.fpixels + fast] != 0)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// unit vector from the sample towards the source
    pub direction: V3,
    pub lambda: f64,
    pub weight: f64,
}

#[derive(Clone, Debug)]
pub struct Beam {
    pub direction: V3,
    pub polar_vector: V3,
    pub polarization: f64,
    pub nopolar: bool,
    pub lambda0: f64,
    pub sources: Vec<Source>,
    pub fluence: f64,
    pub flux: f64,
    pub exposure: f64,
    pub beamsize: f64,
    pub dispersion: f64,
    pub dispsteps: usize,
    pub hdivrange: f64,
    pub vdivrange: f64,
    pub divsteps: usize,
}

#[derive(Clone, Debug)]
pub struct Crystal {
    /// real-space cell vectors at φ = 0 (metres)
    pub a0: V3,
    pub b0: V3,
    pub c0: V3,
    /// reciprocal cell vectors (Å⁻¹), used by the Gaussian and top-hat spot shapes
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
    /// a, b, c (Å), alpha, beta, gamma (degrees), for reports
    pub cell: [f64; 6],
    pub volume_a3: f64,
    pub n: [f64; 3],
    pub shape: XtalShape,
    pub fudge: f64,
    pub spindle: V3,
    pub mosaic_spread: f64,
    /// one row-major rotation per mosaic domain (domain 0 is the identity)
    pub mosaic_umats: Vec<[f64; 9]>,
    /// shared with the `Inputs` they came from and every experiment resolved from them
    pub structure_factors: Option<Arc<StructureFactors>>,
    pub default_f: f64,
    pub interpolate: bool,
    pub dmin: f64,
    pub water_size: f64,
    /// misset actually applied (radians), reported for `-misset random`
    pub misset: Option<V3>,
}

#[derive(Clone, Debug)]
pub struct Sampling {
    pub phi0: f64,
    pub phistep: f64,
    pub phisteps: usize,
    pub osc: f64,
    pub oversample: usize,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
}

impl Sampling {
    pub fn phi(&self, tic: usize) -> f64 {
        self.phi0 + self.phistep * tic as f64
    }
}

/// How the detector turns photons into counts (`response`): the noise seed, the ADC offset, the
/// integer image's scale, whether a noise image is made and its detector model.
#[derive(Clone, Debug)]
pub struct Response {
    /// noise seed: the C `seed` variable (`-seed N` sets −N)
    pub seed: i64,
    /// offset added to every SMV pixel (`-adc`)
    pub adc_offset: f64,
    /// the integer image's scale (`-scale`); 0 or less: 55000 / the brightest pixel
    pub intfile_scale: f64,
    /// whether a noise image is made (`-nonoise` turns it off)
    pub calculate_noise: bool,
    /// the noise image's detector model (docs/realism.md)
    pub noise: crate::response::detector::DetectorNoise,
}

impl Experiment {
    /// Terms summed per pixel before normalisation: sources × mosaic × φ × oversample².
    pub fn steps(&self) -> usize {
        let s = &self.sampling;
        self.beam.sources.len() * self.crystal.mosaic_umats.len() * s.phisteps * s.oversample * s.oversample
    }
}
