//! The experiment's parameters as nanoBragg.c holds them after its argument loop: the units it
//! stores (metres, radians, Å for the cell) and its "not given" markers (`f64::NAN` exactly
//! where C uses NAN, -1 where C uses -1). Every derivation from them lives in `model::resolve`,
//! in one place; the builder methods (`ExperimentParams::cell`, ...) take the units people
//! type (Å, mm, degrees) and convert exactly as the flags do, so that an experiment built in
//! code renders bit for bit as the same command line.
//!
//! What is not part of the experiment stays with whoever reads it: input files (loaded into
//! `model::Inputs` at the edge), output files and formats, engines and reports.

pub use crate::physics::constants::RTD;

/// Behaviour switch: the default fixes the verified C defects; `CParity` reproduces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Default,
    CParity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    Custom,
    Adxv,
    Mosflm,
    Xds,
    Dials,
    Denzo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pivot {
    Sample,
    Beam,
}

/// The crystal's shape transform (`-square_xtal`, `-round_xtal`, `-gauss_xtal`,
/// `-tophat_spots`). Each has a number, its `code`, where an engine takes the shape as a number
/// (the GPU kernel's `SHAPE` constant): the WGSL side's `SHAPE_*` constants are generated from
/// `ALL` and `code`, and the kernel refuses a code it has no case for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XtalShape {
    Square = 0,
    Round = 1,
    Gauss = 2,
    Tophat = 3,
}

impl XtalShape {
    /// Every shape, by code.
    pub const ALL: [XtalShape; 4] = [XtalShape::Square, XtalShape::Round, XtalShape::Gauss, XtalShape::Tophat];

    /// The shape's number for engines that take it as one.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The shape's name in capitals (`SQUARE`, ...), as generated constants spell it.
    pub fn upper_name(self) -> &'static str {
        match self {
            XtalShape::Square => "SQUARE",
            XtalShape::Round => "ROUND",
            XtalShape::Gauss => "GAUSS",
            XtalShape::Tophat => "TOPHAT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Misset {
    None,
    Random,
    /// rotations about x, y, z in radians
    Angles([f64; 3]),
}

/// Interpolation request: C's `interpolate` variable (2 = decide from N later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpolateRequest {
    Auto,
    On,
    Off,
}

/// The experiment as typed: crystal, beam, detector, sampling, seeds and the detector
/// response, in nanoBragg.c's storage units and "not given" markers (module docs). Start from
/// `ExperimentParams::c_initial` (nanoBragg.c's values before its argument loop) and change
/// what you need, through the builder methods in the units people type or, knowing C's units,
/// through the fields.
#[derive(Clone, Debug)]
pub struct ExperimentParams {
    pub mode: Mode,

    /// the amorphous sample of `-stol` (`-bg_*`, `-density`, `-MW`)
    pub amorphous: crate::model::amorphous::SampleSpec,
    /// offset added to every SMV pixel (`-adc`)
    pub adc_offset: f64,
    /// the noise image's detector model (`-psf`, `-readout_noise`, `-gain`, ...)
    pub noise: crate::response::detector::DetectorNoise,

    // crystal
    pub na: f64,
    pub nb: f64,
    pub nc: f64,
    pub user_cell: bool,
    /// a, b, c (Å) and alpha, beta, gamma (radians)
    pub cell: [f64; 6],
    pub misset: Misset,
    pub sample_size: [f64; 3],
    pub xtal_shape: XtalShape,
    pub fudge: f64,
    pub default_f: f64,
    pub interpolate: InterpolateRequest,
    pub dmin: f64,
    pub water_size: f64,

    // detector
    pub convention: Convention,
    pub pivot: Pivot,
    /// the last `-pivot` value, which the default mode honours over the convention's pivot
    pub explicit_pivot: Option<Pivot>,
    pub fdet: [f64; 3],
    pub sdet: [f64; 3],
    pub odet: [f64; 3],
    pub beam: [f64; 3],
    pub polar_vector: [f64; 3],
    pub spindle: [f64; 3],
    pub twotheta_axis: [f64; 3],
    /// user detector origin in metres (ignored in c-parity mode, as C does)
    pub pix0: Option<[f64; 3]>,
    pub xbeam: f64,
    pub ybeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub orgx: f64,
    pub orgy: f64,
    pub distance: f64,
    pub close_distance: f64,
    /// the header preset close_distance; the default mode drops it when -distance is typed
    pub close_distance_from_header: bool,
    pub detector_mu: f64,
    pub detector_thick: f64,
    pub detector_thicksteps: i64,
    pub twotheta: f64,
    pub detector_rot: [f64; 3],
    pub detsize_f: f64,
    pub detsize_s: f64,
    pub fpixels: i64,
    pub spixels: i64,
    pub pixel_size: f64,
    pub curved_det: bool,
    pub point_pixel: bool,
    pub roi: [i64; 4],
    pub oversample: i64,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,

    // beam
    pub lambda0: f64,
    pub polarization: f64,
    pub nopolar: bool,
    pub fluence: f64,
    pub flux: f64,
    pub exposure: f64,
    pub beamsize: f64,
    pub dispersion: f64,
    pub dispsteps: i64,
    pub hdivrange: f64,
    pub vdivrange: f64,
    pub hdivstep: f64,
    pub vdivstep: f64,
    pub hdivsteps: i64,
    pub vdivsteps: i64,
    pub round_div: bool,

    // sampling
    pub mosaic_spread: f64,
    pub mosaic_domains: i64,
    pub phi0: f64,
    /// `-phi` and `-osc` exactly as typed (degrees): a series computes each frame's start
    /// from these, as a run typed with that start would
    pub phi_deg: f64,
    pub osc_deg: Option<f64>,
    pub osc: f64,
    pub phistep: f64,
    pub phisteps: i64,

    // seeds (values of the C variables, i.e. already negated)
    pub seed: i64,
    pub mosaic_seed: i64,
    pub misset_seed: i64,
}

impl ExperimentParams {
    /// The values nanoBragg.c starts from before reading headers and flags; `time_seed` is the
    /// noise and misset seed C takes from the clock (the caller reads the clock).
    pub fn c_initial(mode: Mode, time_seed: i64) -> ExperimentParams {
        ExperimentParams {
            mode,
            amorphous: crate::model::amorphous::SampleSpec::default(),
            adc_offset: 40.0,
            noise: Default::default(),
            na: 1.0,
            nb: 1.0,
            nc: 1.0,
            user_cell: false,
            cell: [0.0; 6],
            misset: Misset::None,
            sample_size: [0.0; 3],
            xtal_shape: XtalShape::Square,
            fudge: 1.0,
            default_f: 0.0,
            interpolate: InterpolateRequest::Auto,
            dmin: 0.0,
            water_size: 0.0,
            convention: Convention::Mosflm,
            pivot: Pivot::Beam,
            explicit_pivot: None,
            // C's initial arrays; they are what CUSTOM keeps (REFERENCE §2)
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            odet: [1.0, 0.0, 0.0],
            beam: [1.0, 0.0, 0.0],
            polar_vector: [0.0, 0.0, 1.0],
            spindle: [0.0, 0.0, 1.0],
            twotheta_axis: [0.0, 1.0, 0.0],
            pix0: None,
            xbeam: f64::NAN,
            ybeam: f64::NAN,
            xclose: f64::NAN,
            yclose: f64::NAN,
            orgx: f64::NAN,
            orgy: f64::NAN,
            distance: 100.0e-3,
            close_distance: f64::NAN,
            close_distance_from_header: false,
            detector_mu: -1.0,
            detector_thick: 0.0,
            detector_thicksteps: -1,
            twotheta: 0.0,
            detector_rot: [0.0; 3],
            detsize_f: 102.4e-3,
            detsize_s: 102.4e-3,
            fpixels: 0,
            spixels: 0,
            pixel_size: 0.1e-3,
            curved_det: false,
            point_pixel: false,
            roi: [-1; 4],
            oversample: -1,
            oversample_thick: false,
            oversample_polar: false,
            oversample_omega: false,
            lambda0: 1.0e-10,
            polarization: 0.0,
            nopolar: false,
            fluence: 125932015286227086360700780544.0,
            flux: 0.0,
            exposure: 1.0,
            beamsize: 1e-4,
            dispersion: 0.0,
            dispsteps: -1,
            hdivrange: -1.0,
            vdivrange: -1.0,
            hdivstep: -1.0,
            vdivstep: -1.0,
            hdivsteps: -1,
            vdivsteps: -1,
            round_div: true,
            mosaic_spread: -1.0,
            mosaic_domains: -1,
            phi0: 0.0,
            phi_deg: 0.0,
            osc_deg: None,
            osc: -1.0,
            phistep: -1.0,
            phisteps: -1,
            seed: time_seed,
            mosaic_seed: -12345678,
            misset_seed: time_seed,
        }
    }
}

impl Default for ExperimentParams {
    /// nanoBragg.c's initial values in the default mode, with the fixed seeds of `-seed 1
    /// -misset_seed 1` instead of the clock's (a library render is reproducible unless asked
    /// otherwise).
    fn default() -> Self {
        ExperimentParams::c_initial(Mode::Default, -1)
    }
}

/// Builder methods in the units the flags document, each converting exactly as its flag does
/// (the flag table calls the same methods, and a test renders both ways): `p.cell([...])
/// .n_cells(5).default_f(100.0)` is `-cell ... -N 5 -default_F 100`.
impl ExperimentParams {
    /// `-c_parity`: nanoBragg.c's behaviour, defects included, instead of the default mode.
    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.mode = mode;
        self
    }
    /// `-cell a b c alpha beta gamma`: Å and degrees.
    pub fn cell(&mut self, cell: [f64; 6]) -> &mut Self {
        self.user_cell = true;
        for (i, x) in cell.into_iter().enumerate() {
            self.cell[i] = if i < 3 { x } else { x / RTD };
        }
        self
    }
    /// `-N n`: unit cells along a, b and c.
    pub fn n_cells(&mut self, n: u32) -> &mut Self {
        let n = f64::from(n);
        (self.na, self.nb, self.nc) = (n, n, n);
        self
    }
    /// `-Na -Nb -Nc`: unit cells along a, b and c separately.
    pub fn n_cells_abc(&mut self, na: u32, nb: u32, nc: u32) -> &mut Self {
        (self.na, self.nb, self.nc) = (f64::from(na), f64::from(nb), f64::from(nc));
        self
    }
    /// `-misset rotx roty rotz`: degrees about x, y, z.
    pub fn misset(&mut self, degrees: [f64; 3]) -> &mut Self {
        self.misset = Misset::Angles(degrees.map(|a| a / RTD));
        self
    }
    /// `-default_F F`: the structure factor of reflections no table lists.
    pub fn default_f(&mut self, f: f64) -> &mut Self {
        self.default_f = f;
        self
    }
    /// `-round_xtal`, `-gauss_xtal`, `-tophat_spots`, `-square_xtal`.
    pub fn xtal_shape(&mut self, shape: XtalShape) -> &mut Self {
        self.xtal_shape = shape;
        self
    }
    /// `-mosaic deg`: isotropic mosaic spread.
    pub fn mosaic(&mut self, degrees: f64) -> &mut Self {
        self.mosaic_spread = degrees / RTD;
        self
    }
    /// `-mosaic_domains n`.
    pub fn mosaic_domains(&mut self, n: u32) -> &mut Self {
        self.mosaic_domains = i64::from(n);
        self
    }
    /// `-water um`: the edge of a cube of water in the beam.
    pub fn water(&mut self, micrometres: f64) -> &mut Self {
        self.water_size = micrometres / 1e6;
        self
    }
    /// `-lambda Å`: the wavelength.
    pub fn lambda(&mut self, angstrom: f64) -> &mut Self {
        self.lambda0 = angstrom / 1.0e10;
        self
    }
    /// `-fluence photons/m²`.
    pub fn fluence(&mut self, fluence: f64) -> &mut Self {
        self.fluence = fluence;
        self
    }
    /// `-polar k`: the Kahn polarization factor.
    pub fn polar(&mut self, k: f64) -> &mut Self {
        self.polarization = k;
        self.nopolar = false;
        self
    }
    /// `-divergence mrad`: both directions.
    pub fn divergence(&mut self, mrad: f64) -> &mut Self {
        let x = mrad / 1000.0;
        (self.hdivrange, self.vdivrange) = (x, x);
        self
    }
    /// `-divsteps n`: divergence points in both directions.
    pub fn divsteps(&mut self, n: u32) -> &mut Self {
        (self.hdivsteps, self.vdivsteps) = (i64::from(n), i64::from(n));
        self
    }
    /// `-dispersion percent`.
    pub fn dispersion(&mut self, percent: f64) -> &mut Self {
        self.dispersion = percent / 100.0;
        self
    }
    /// `-dispsteps n`.
    pub fn dispsteps(&mut self, n: u32) -> &mut Self {
        self.dispsteps = i64::from(n);
        self
    }
    /// `-distance mm` (pivot BEAM; in the default mode a typed distance beats a header's).
    pub fn distance(&mut self, mm: f64) -> &mut Self {
        self.distance = mm / 1000.0;
        self.pivot = Pivot::Beam;
        if self.mode == Mode::Default && self.close_distance_from_header {
            // REFERENCE §5: C lets the header win
            self.close_distance = f64::NAN;
            self.close_distance_from_header = false;
        }
        self
    }
    /// `-detpixels n`: pixels along both axes.
    pub fn detpixels(&mut self, n: u32) -> &mut Self {
        (self.fpixels, self.spixels) = (i64::from(n), i64::from(n));
        self
    }
    /// `-detpixels_f n -detpixels_s n`.
    pub fn detpixels_fs(&mut self, fast: u32, slow: u32) -> &mut Self {
        (self.fpixels, self.spixels) = (i64::from(fast), i64::from(slow));
        self
    }
    /// `-pixel mm`: the pixel size.
    pub fn pixel(&mut self, mm: f64) -> &mut Self {
        self.pixel_size = mm / 1000.0;
        self
    }
    /// `-twotheta deg` (pivot SAMPLE).
    pub fn twotheta(&mut self, degrees: f64) -> &mut Self {
        self.twotheta = degrees / RTD;
        self.pivot = Pivot::Sample;
        self
    }
    /// `-detector_rotx/_roty/_rotz deg`.
    pub fn detector_rot(&mut self, degrees: [f64; 3]) -> &mut Self {
        self.detector_rot = degrees.map(|a| a / RTD);
        self
    }
    /// `-detector_thick um`: the sensor thickness.
    pub fn detector_thick(&mut self, micrometres: f64) -> &mut Self {
        self.detector_thick = micrometres * 1e-6;
        self
    }
    /// `-detector_thicksteps n`: sensor layers.
    pub fn detector_thicksteps(&mut self, n: u32) -> &mut Self {
        self.detector_thicksteps = i64::from(n);
        self
    }
    /// `-curved_det`: every pixel at the same distance.
    pub fn curved_det(&mut self, on: bool) -> &mut Self {
        self.curved_det = on;
        self
    }
    /// `-roi xmin xmax ymin ymax`: inclusive pixel limits, fast then slow.
    pub fn roi(&mut self, roi: [u32; 4]) -> &mut Self {
        self.roi = roi.map(i64::from);
        self
    }
    /// `-oversample n`: sub-pixels per pixel edge.
    pub fn oversample(&mut self, n: u32) -> &mut Self {
        self.oversample = i64::from(n);
        self
    }
    /// `-phi deg`: the starting spindle angle.
    pub fn phi(&mut self, degrees: f64) -> &mut Self {
        self.phi_deg = degrees;
        self.phi0 = degrees / RTD;
        self
    }
    /// `-osc deg`: the oscillation range.
    pub fn osc(&mut self, degrees: f64) -> &mut Self {
        self.osc_deg = Some(degrees);
        self.osc = degrees / RTD;
        self
    }
    /// `-phisteps n`.
    pub fn phisteps(&mut self, n: u32) -> &mut Self {
        self.phisteps = i64::from(n);
        self
    }
    /// `-seed n`: the noise seed (C stores it negated).
    pub fn seed(&mut self, seed: i64) -> &mut Self {
        self.seed = -seed;
        self
    }
    /// `-Na n`, `-Nb n`, `-Nc n`: unit cells along one axis.
    pub fn na(&mut self, n: u32) -> &mut Self {
        self.na = f64::from(n);
        self
    }
    pub fn nb(&mut self, n: u32) -> &mut Self {
        self.nb = f64::from(n);
        self
    }
    pub fn nc(&mut self, n: u32) -> &mut Self {
        self.nc = f64::from(n);
        self
    }
    /// `-dmin Å`: no scattering beyond this resolution.
    pub fn dmin(&mut self, angstrom: f64) -> &mut Self {
        self.dmin = angstrom * 1e-10;
        self
    }
    /// `-detector_abs um`: the sensor's attenuation length (infinite or 0: no absorption).
    pub fn detector_abs(&mut self, micrometres: f64) -> &mut Self {
        if micrometres.is_infinite() || micrometres == 0.0 {
            self.detector_thick = 0.0;
            self.detector_mu = 0.0;
        } else {
            self.detector_mu = 1.0 / (micrometres * 1e-6);
        }
        self
    }
    /// `-oversample_thick`, `-oversample_polar`, `-oversample_omega`: the capture fraction,
    /// polarization and solid angle of every sub-pixel instead of once per pixel.
    pub fn oversample_thick(&mut self, on: bool) -> &mut Self {
        self.oversample_thick = on;
        self
    }
    pub fn oversample_polar(&mut self, on: bool) -> &mut Self {
        self.oversample_polar = on;
        self
    }
    pub fn oversample_omega(&mut self, on: bool) -> &mut Self {
        self.oversample_omega = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::XtalShape;

    /// `ALL` holds every shape once, in code order, so generated tables indexed by code (the
    /// WGSL `SHAPE_*` constants) cover every shape.
    #[test]
    fn every_shape_is_listed_by_its_code() {
        for (i, s) in XtalShape::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i, "{s:?}");
        }
        // a new shape does not compile here until it is in the list above the match
        let listed = |s: XtalShape| match s {
            XtalShape::Square | XtalShape::Round | XtalShape::Gauss | XtalShape::Tophat => XtalShape::ALL.contains(&s),
        };
        assert!(XtalShape::ALL.iter().all(|&s| listed(s)));
        let names: std::collections::BTreeSet<_> = XtalShape::ALL.iter().map(|s| s.upper_name()).collect();
        assert_eq!(names.len(), XtalShape::ALL.len());
    }
}
