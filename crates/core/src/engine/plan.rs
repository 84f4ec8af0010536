//! The flat plan both engines consume: everything constant across pixels, precomputed once in
//! f64 (lattice vectors per φ step × mosaic domain, sources, structure-factor grid, scale).
//! The CPU engine reads it directly; the GPU engine packs it into buffers. They differ only
//! in arithmetic.

use crate::params::{Mode, XtalShape};
use crate::model::Experiment;
use crate::physics::constants::{AVOGADRO, R_E_SQR, WATER_F, WATER_MW};
use crate::engine::subpixel::{SubpixelGrid, subpixel_coordinate};
use crate::physics::{V3, magnitude, rotate_axis, rotate_umat, unitize};

/// Water molecules in a cube of `-water` edge `size` (m): density 1 g/cm³ (1e6 g/m³).
pub fn water_molecules(size: f64) -> f64 {
    size * size * size * 1e6 * AVOGADRO / WATER_MW
}

/// `Plan::i_bg` for a mode: see there. `rotations` is phisteps × mosaic domains.
fn water_background(mode: Mode, size: f64, fluence: f64, rotations: usize) -> f64 {
    match mode {
        Mode::CParity => WATER_F * WATER_F * R_E_SQR * fluence * size * size * size * 1e6 * AVOGADRO / WATER_MW,
        Mode::Default => WATER_F * WATER_F * water_molecules(size) * rotations as f64,
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PlanSource {
    /// unit vector along the incident beam (towards the sample)
    pub incident: V3,
    pub lambda: f64,
    pub weight: f64,
}

/// How structure factors between grid points are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// nearest grid point (or default_F outside the grid)
    Nearest,
    /// tricubic; a term whose 4×4×4 neighbourhood leaves the grid falls back to nearest
    PerTerm,
    /// tricubic until the first term (in single-thread visiting order) leaves the grid, then
    /// nearest for the rest of the run: nanoBragg.c's shared `interpolate` switch
    OneShotSwitch,
}

/// The one (pixel, layer, sub-pixel, source) that reaches the φ loop first in C's visiting
/// order: only it sees the lattice of `lattice_first` (c-parity φ carry-over, REFERENCE §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstTerm {
    pub pixel: usize,
    pub layer: usize,
    pub sub: usize,
    pub source: usize,
}

/// The structure factors on the (h, k, l) grid. `values` is reachable only through `new` and
/// `values()`, so that every grid with new values gets a new `generation`: the GPU engine keeps
/// the last grid it uploaded on the device and knows it again by that number (a clone, e.g. a
/// series' plan, is the same grid), never by comparing tens of millions of values.
#[derive(Clone, Debug)]
pub struct StructureGrid {
    pub min: [i32; 3],
    pub max: [i32; 3],
    pub count: [usize; 3],
    values: Vec<f64>,
    generation: u64,
}

/// The next grid's `generation` (0 is never drawn).
static NEXT_GRID_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl StructureGrid {
    pub fn new(min: [i32; 3], max: [i32; 3], count: [usize; 3], values: Vec<f64>) -> StructureGrid {
        let generation = NEXT_GRID_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StructureGrid { min, max, count, values, generation }
    }
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// Which grid this is: the same number for a grid and its clones, a different one for every
    /// grid `new` made.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    pub fn at(&self, h: i32, k: i32, l: i32) -> f64 {
        let [h0, k0, l0] = self.min;
        self.values[((h - h0) as usize * self.count[1] + (k - k0) as usize) * self.count[2] + (l - l0) as usize]
    }
    pub fn contains(&self, h: i32, k: i32, l: i32) -> bool {
        h >= self.min[0] && h <= self.max[0] && k >= self.min[1] && k <= self.max[1] && l >= self.min[2] && l <= self.max[2]
    }
}

/// One panel as the engines read it: the pixel grid it lies on (corner `pix0`, axes) and its
/// first pixel there, and its plane's distance from the sample (the solid angle's
/// `close_distance`). Panels tiling one grid share `pix0` and `close_distance` (model::panels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanPanel {
    pub pix0: V3,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub close_distance: f64,
    /// the panel's first pixel on the grid (fast, slow)
    pub first: [i64; 2],
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: Mode,
    /// the image: `fpixels` wide, `spixels` rows, the panels' rows stacked (`panel_rows` each;
    /// one panel: its rows)
    pub fpixels: usize,
    pub spixels: usize,
    pub panel_rows: usize,
    /// every panel of the detector, in the image's order
    pub panels: Vec<PlanPanel>,
    /// inclusive fast min, fast max, slow min, slow max, on the image
    pub roi: [usize; 4],
    pub mask: Option<Vec<u16>>,
    pub beam: V3,
    pub pixel_size: f64,
    pub subpixel_size: f64,
    pub oversample: usize,
    /// nanoBragg.c's distance along the beam (the curved detector's radius)
    pub distance: f64,
    pub curved: bool,
    pub point_pixel: bool,
    pub thick: f64,
    pub thickstep: f64,
    pub thicksteps: usize,
    pub mu: f64,
    pub oversample_thick: bool,
    /// The polarization factor is worked out again at every sub-pixel (× source) and multiplied
    /// into the running sum after each term. Resolved here once for both engines: the flag
    /// `-oversample_polar`, except that in the default mode `-nopolar` wins (the factor stays
    /// 1). nanoBragg.c tests only `polar == 0 || oversample_polar`, so with both flags it
    /// recomputes the factor anyway; `-c_parity` keeps that (docs/behaviours.md).
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    /// `-c_parity`: the -oversample_* factors multiply the running sum after every term, as
    /// nanoBragg.c does, so earlier terms (and C's water start value) are multiplied again and
    /// again. The default mode weights each term once by its own sub-pixel's factors
    /// (docs/behaviours.md).
    pub compound_factors: bool,
    pub sources: Vec<PlanSource>,
    pub kahn: f64,
    /// `-nopolar`: the polarization factor starts at 1 instead of "not yet worked out", so it is
    /// only recomputed where `oversample_polar` says so.
    pub nopolar: bool,
    pub polar_axis: V3,
    pub dmin: f64,
    pub phisteps: usize,
    pub domains: usize,
    /// φ of each step in degrees (for traces)
    pub phi_deg: Vec<f64>,
    /// real-space a, b, c (m) for each φ step × mosaic domain, index φ·domains + domain
    pub lattice: Vec<[V3; 3]>,
    /// c-parity only: the lattice seen by `first_term` (otherwise empty)
    pub lattice_first: Vec<[V3; 3]>,
    pub first_term: Option<FirstTerm>,
    pub shape: XtalShape,
    pub n: [f64; 3],
    pub fudge: f64,
    /// reciprocal vectors (Å⁻¹) for the Gaussian and top-hat shapes
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
    pub grid: Option<StructureGrid>,
    pub default_f: f64,
    pub interpolation: Interpolation,
    /// The `-water` background, in the form the mode uses it (`water_background`):
    /// `-c_parity`, nanoBragg.c's I_bg = F_water²·molecules·r_e²·fluence, the value each
    /// pixel's sum starts from (and is then scaled by r_e²·fluence/steps again); the default
    /// mode, F_water²·molecules·phisteps·domains, added once per (layer, sub-pixel, source)
    /// times that source's weight and the term factors, so that after `scale` the pixel holds
    /// F_water²·molecules·r_e²·fluence·Ω·polar·capture photons, averaged over its sub-pixels and
    /// sources like the spots.
    pub i_bg: f64,
    pub has_water: bool,
    /// r_e² · fluence / steps
    pub scale: f64,
    pub steps: usize,
    /// the amorphous background of `-stol` (engine::background), added after the spots
    pub background: Option<super::background::Background>,
}

impl Plan {
    pub fn new(e: &Experiment) -> Plan {
        let d = &e.detector;
        let c = &e.crystal;
        let s = &e.sampling;
        let steps = e.steps();
        let grid = c.structure_factors.as_ref().map(|sf| {
            let (h, k, l) = sf.counts();
            StructureGrid::new([sf.h_min, sf.k_min, sf.l_min], [sf.h_max, sf.k_max, sf.l_max], [h, k, l], sf.values.clone())
        });
        let interpolation = match (c.interpolate, e.mode) {
            (false, _) => Interpolation::Nearest,
            (true, Mode::Default) => Interpolation::PerTerm,
            (true, Mode::CParity) => Interpolation::OneShotSwitch,
        };
        let water = c.water_size;
        let i_bg = water_background(e.mode, water, e.beam.fluence, s.phisteps * c.mosaic_umats.len());
        let mut plan = Plan {
            mode: e.mode,
            fpixels: d.fpixels,
            spixels: d.image_rows(),
            panel_rows: d.spixels,
            panels: d
                .panels
                .iter()
                .map(|p| PlanPanel { pix0: p.pix0, fdet: p.fdet, sdet: p.sdet, odet: p.odet, close_distance: p.close_distance, first: p.first })
                .collect(),
            roi: d.roi,
            mask: d.mask.clone(),
            beam: e.beam.direction,
            pixel_size: d.pixel_size,
            subpixel_size: d.pixel_size / s.oversample as f64,
            oversample: s.oversample,
            distance: d.distance,
            curved: d.curved,
            point_pixel: d.point_pixel,
            thick: d.thick,
            thickstep: d.thickstep,
            thicksteps: d.thicksteps,
            mu: d.mu,
            oversample_thick: s.oversample_thick,
            oversample_polar: s.oversample_polar && !(e.beam.nopolar && e.mode == Mode::Default),
            oversample_omega: s.oversample_omega,
            compound_factors: e.mode == Mode::CParity,
            sources: e
                .beam
                .sources
                .iter()
                .map(|src| PlanSource { incident: src.direction.map(|x| -x), lambda: src.lambda, weight: src.weight })
                .collect(),
            kahn: e.beam.polarization,
            nopolar: e.beam.nopolar,
            polar_axis: e.beam.polar_vector,
            dmin: c.dmin,
            phisteps: s.phisteps,
            domains: c.mosaic_umats.len(),
            phi_deg: Vec::new(),
            lattice: Vec::new(),
            lattice_first: Vec::new(),
            first_term: None,
            shape: c.shape,
            n: c.n,
            fudge: c.fudge,
            a_star: c.a_star,
            b_star: c.b_star,
            c_star: c.c_star,
            grid,
            default_f: c.default_f,
            interpolation,
            i_bg,
            has_water: water != 0.0,
            scale: R_E_SQR * e.beam.fluence / steps as f64,
            steps,
            background: None,
        };
        plan.background = e.amorphous.as_ref().map(|sample| super::background::Background::for_plan(&plan, sample, e.beam.fluence));
        plan.set_rotation(e);
        plan
    }

    /// Works out the orientation tables again for `e`'s φ sampling (a new frame of a series):
    /// the φ of each step, the lattice per φ step × mosaic domain and, in c-parity, the
    /// carry-over table as a fresh nanoBragg.c process would start it. Everything else in the
    /// plan is independent of φ.
    pub fn set_rotation(&mut self, e: &Experiment) {
        let s = &e.sampling;
        self.phi_deg = (0..s.phisteps).map(|t| s.phi(t).to_degrees()).collect();
        self.lattice = lattices(e, &spindle_orientations(e, e.mode == Mode::CParity, false));
        self.lattice_first = Vec::new();
        self.first_term = None;
        if e.mode == Mode::CParity {
            self.lattice_first = lattices(e, &spindle_orientations(e, true, true));
            if self.lattice_first != self.lattice {
                self.first_term = first_term(self);
            }
        }
    }

    pub fn pixels(&self) -> usize {
        self.fpixels * self.spixels
    }

    pub fn renders(&self, fast: usize, slow: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1 && self.mask.as_ref().is_none_or(|m| m[slow * self.fpixels + fast] != 0)
    }

    /// The panel holding image row `row`, and the row on that panel.
    #[inline(always)]
    pub fn panel_of(&self, row: usize) -> (usize, usize) {
        (row / self.panel_rows, row % self.panel_rows)
    }

    /// Panel `panel` as the sub-pixel position formula reads it (`engine::subpixel`).
    #[inline(always)]
    pub fn subpixel_grid(&self, panel: usize) -> SubpixelGrid<'_> {
        let p = &self.panels[panel];
        SubpixelGrid {
            pix0: &p.pix0,
            fdet: &p.fdet,
            sdet: &p.sdet,
            odet: &p.odet,
            beam: &self.beam,
            subpixel_size: self.subpixel_size,
            oversample: self.oversample,
            thickstep: self.thickstep,
            distance: self.distance,
            curved: self.curved,
            first: p.first,
        }
    }

    /// Sub-pixel position relative to the sample (m) of pixel (fast, slow) of the image
    /// (`slow` counts the stacked panels' rows), curved detectors included.
    pub fn subpixel_position(&self, fast: usize, slow: usize, sub_s: usize, sub_f: usize, layer: usize) -> V3 {
        let (panel, row) = self.panel_of(slow);
        self.subpixel_grid(panel).position(fast, row, sub_s, sub_f, layer)
    }

    /// Detector coordinate (m) of the centre of sub-pixel `sub` of pixel `pixel` along one
    /// axis of a panel that is its own grid (the Fdet or Sdet of the position formula).
    pub fn subpixel_coordinate(&self, pixel: usize, sub: usize) -> f64 {
        subpixel_coordinate(self.subpixel_size, self.oversample, pixel, sub)
    }

    /// Whether `-dmin` drops this scattering direction for this source (the length is only
    /// worked out when a limit is set).
    #[inline(always)]
    pub fn beyond_dmin(&self, scattering: V3) -> bool {
        if self.dmin <= 0.0 {
            return false;
        }
        let stol = 0.5 * magnitude(scattering);
        stol > 0.0 && self.dmin > 0.5 / stol
    }

    /// Scattering vector (m⁻¹) for a diffracted unit vector and a source.
    pub fn scattering(diffracted: V3, src: &PlanSource) -> V3 {
        std::array::from_fn(|i| (diffracted[i] - src.incident[i]) / src.lambda)
    }
}

/// The real-space vectors at each φ step, before mosaic. In c-parity mode a step with φ = 0
/// keeps whatever the previous rotation left (C rotates only `if (phi != 0.0)`): the first
/// φ loop of the run starts from the unrotated crystal, every later loop from the last
/// rotated step of the loop before.
fn spindle_orientations(e: &Experiment, carry_over: bool, first_loop: bool) -> Vec<[V3; 3]> {
    let c = &e.crystal;
    let s = &e.sampling;
    let fresh = |phi: f64| [c.a0, c.b0, c.c0].map(|v| rotate_axis(v, c.spindle, phi));
    let unrotated = [c.a0, c.b0, c.c0];
    if !carry_over {
        return (0..s.phisteps).map(|t| fresh(s.phi(t))).collect();
    }
    let last_rotated = (0..s.phisteps).rev().find(|&t| s.phi(t) != 0.0);
    let mut held = match (first_loop, last_rotated) {
        (false, Some(t)) => fresh(s.phi(t)),
        _ => unrotated,
    };
    (0..s.phisteps)
        .map(|t| {
            if s.phi(t) != 0.0 {
                held = fresh(s.phi(t));
            }
            held
        })
        .collect()
}

/// Apply each mosaic domain to each φ orientation (C skips the product when the spread is 0).
fn lattices(e: &Experiment, spindle: &[[V3; 3]]) -> Vec<[V3; 3]> {
    let c = &e.crystal;
    spindle
        .iter()
        .flat_map(|abc| {
            c.mosaic_umats.iter().map(move |u| if c.mosaic_spread > 0.0 { abc.map(|v| rotate_umat(v, u)) } else { *abc })
        })
        .collect()
}

/// Find the first term that enters the φ loop in single-thread visiting order: the first
/// rendered pixel, layer, sub-pixel and source that `-dmin` does not skip.
fn first_term(p: &Plan) -> Option<FirstTerm> {
    for slow in 0..p.spixels {
        for fast in 0..p.fpixels {
            if !p.renders(fast, slow) {
                continue;
            }
            for layer in 0..p.thicksteps {
                for sub in 0..p.oversample * p.oversample {
                    let pos = p.subpixel_position(fast, slow, sub / p.oversample, sub % p.oversample, layer);
                    let (diffracted, _) = unitize(pos);
                    for (source, src) in p.sources.iter().enumerate() {
                        if !p.beyond_dmin(Plan::scattering(diffracted, src)) {
                            return Some(FirstTerm { pixel: slow * p.fpixels + fast, layer, sub, source });
                        }
                    }
                }
            }
        }
    }
    None
}
