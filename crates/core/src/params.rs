//! The experiment's parameters as nanoBragg.c holds them after its argument loop: the units it
//! stores (metres, radians, Å for the cell) and its "not given" markers (`f64::NAN` exactly
//! where C uses NAN, -1 where C uses -1). Every derivation from them lives in `model::resolve`,
//! in one place; the builder methods (`ExperimentParams::cell`, ...) take the units people
//! type (Å, mm, degrees), validate and convert them, and are what the command line's flags
//! call, so that an experiment built in code renders bit for bit as the same command line and
//! a bad value is refused with the same words.
//!
//! What is not part of the experiment stays with whoever reads it: input files (loaded into
//! `model::Inputs` at the edge), output files and formats, engines and reports.

use crate::response::detector::NoiseOrder;
use crate::response::psf::PsfShape;

pub use crate::physics::constants::RTD;

/// nanoBragg.c's (and nonBragg.c's) default fluence, photons/m²: the beam of a run that gives
/// neither `-fluence` nor `-flux`.
pub const C_FLUENCE: f64 = 125932015286227086360700780544.0;

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
    /// the integer image's scale (`-scale`); 0 or less: 55000 / the brightest pixel, as C
    pub intfile_scale: f64,
    /// whether the detector response makes a noise image (C's `calculate_noise`: on by
    /// default and with `-noisefile`, off with `-nonoise`)
    pub calculate_noise: bool,
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
            intfile_scale: 0.0,
            calculate_noise: true,
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
            fluence: C_FLUENCE,
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

/// A value a parameter cannot take, from a builder method: `reason` says why without naming
/// the parameter ("value -5 must be greater than zero"), so that each face names it its own
/// way (the command line `-distance: value -5 must be greater than zero`, a keyword argument
/// `distance=`); `param` is the builder method's name, which `Display` and the conversion to
/// `Error` put in front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub param: &'static str,
    pub reason: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.param, self.reason)
    }
}

impl std::error::Error for ParamError {}

impl From<ParamError> for crate::error::Error {
    fn from(e: ParamError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// What a fallible builder method returns: the parameters, for the next call, or why the value
/// was refused (nothing is changed then).
pub type Set<'a> = Result<&'a mut ExperimentParams, ParamError>;

fn refuse(param: &'static str, reason: String) -> ParamError {
    ParamError { param, reason }
}

/// A number the experiment can use: finite (a face parsing text refuses `nan` and `inf`
/// before; this is for values from code).
fn finite(param: &'static str, x: f64) -> Result<f64, ParamError> {
    if x.is_finite() { Ok(x) } else { Err(refuse(param, format!("value {x} is not a finite number"))) }
}

/// A length, size or rate that must be greater than zero.
fn positive(param: &'static str, x: f64) -> Result<f64, ParamError> {
    match finite(param, x)? {
        x if x <= 0.0 => Err(refuse(param, format!("value {x} must be greater than zero"))),
        x => Ok(x),
    }
}

/// A spread, thickness or noise width that may be zero.
fn not_negative(param: &'static str, x: f64) -> Result<f64, ParamError> {
    match finite(param, x)? {
        x if x < 0.0 => Err(refuse(param, format!("value {x} must not be negative"))),
        x => Ok(x),
    }
}

/// A count of cells, steps or domains (0 is nanoBragg.c's "choose for me" or "at least one").
fn count(param: &'static str, n: i64) -> Result<i64, ParamError> {
    if n < 0 { Err(refuse(param, format!("value {n} must not be negative"))) } else { Ok(n) }
}

/// A pixel count: at least one.
fn pixels(param: &'static str, n: i64) -> Result<i64, ParamError> {
    if n <= 0 { Err(refuse(param, format!("value {n} must be greater than zero"))) } else { Ok(n) }
}

fn vector(param: &'static str, v: [f64; 3]) -> Result<[f64; 3], ParamError> {
    for x in v {
        finite(param, x)?;
    }
    Ok(v)
}

/// The builder: one method per parameter flag of nanoBragg.c (and of nanobragg's own detector
/// model), named after the flag and taking the units its help documents; each converts to the
/// stored units and validates exactly as the command line does, because the command line's
/// flag table parses the text and calls these methods: `p.cell([...])?.n_cells(5)?
/// .default_f(100.0)?` is `-cell ... -N 5 -default_F 100`. A refused value changes nothing
/// (`ParamError`); methods that cannot refuse return the parameters directly. Flags that are
/// synonyms of one another (`-xtalsize` of `-samplesize`, `-wavelength` of `-lambda`) share
/// the method.

/// Builder methods of what the detector response makes besides the photons (`response::record`).
impl ExperimentParams {
    /// `-scale factor`: the integer image's photons-to-counts scale (0: 55000 / the brightest
    /// pixel, as nanoBragg.c chooses it).
    pub fn scale(&mut self, factor: f64) -> &mut Self {
        self.intfile_scale = factor;
        self
    }
    /// `-nonoise` (false) or `-noisefile` (true, nanoBragg.c's default): whether a noise image
    /// is made.
    pub fn calculate_noise(&mut self, on: bool) -> &mut Self {
        self.calculate_noise = on;
        self
    }
}

/// Builder methods in the units the flags document, each converting exactly as its flag does
/// (the flag table calls the same methods, and a test renders both ways): `p.cell([...])
/// .n_cells(5).default_f(100.0)` is `-cell ... -N 5 -default_F 100`.
impl ExperimentParams {
    /// `-c_parity`: nanoBragg.c's behaviour, defects included, instead of the default mode.
    /// Set it first: some methods depend on it (`distance`, the detector model's).
    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.mode = mode;
        self
    }

    // ---- crystal

    /// `-cell a b c alpha beta gamma`: lengths in Å, angles in degrees; none negative, angles
    /// below 180.
    pub fn cell(&mut self, cell: [f64; 6]) -> Set<'_> {
        self.cell_leading(&cell)
    }
    /// nanoBragg.c's short `-cell`: the values given replace a, b, c, alpha, beta, gamma in that
    /// order (Å, degrees) and the others are kept, as C reads them; a length or angle still 0
    /// then is taken as a (for b and c) or 90 degrees (the command line allows this only with
    /// `-c_parity`). Validated as `cell`.
    pub fn cell_leading(&mut self, values: &[f64]) -> Set<'_> {
        if values.len() > 6 {
            return Err(refuse("cell", format!("expects at most 6 values (a b c alpha beta gamma), got {}", values.len())));
        }
        for (i, &x) in values.iter().enumerate() {
            not_negative("cell", x)?;
            if i >= 3 && x >= 180.0 {
                return Err(refuse("cell", format!("angle {x} must be below 180 degrees")));
            }
        }
        self.user_cell = true;
        for (i, &x) in values.iter().enumerate() {
            self.cell[i] = if i < 3 { x } else { x / RTD };
        }
        Ok(self)
    }
    /// `-N n`: unit cells along a, b and c (0 is taken as 1).
    pub fn n_cells(&mut self, n: i64) -> Set<'_> {
        let n = count("n_cells", n)? as f64;
        (self.na, self.nb, self.nc) = (n, n, n);
        Ok(self)
    }
    /// `-Na n`: unit cells along a.
    pub fn na(&mut self, n: i64) -> Set<'_> {
        self.na = count("na", n)? as f64;
        Ok(self)
    }
    /// `-Nb n`: unit cells along b.
    pub fn nb(&mut self, n: i64) -> Set<'_> {
        self.nb = count("nb", n)? as f64;
        Ok(self)
    }
    /// `-Nc n`: unit cells along c.
    pub fn nc(&mut self, n: i64) -> Set<'_> {
        self.nc = count("nc", n)? as f64;
        Ok(self)
    }
    /// `-misset rotx roty rotz`: the crystal's misorientation, degrees about x, y, z.
    pub fn misset(&mut self, degrees: [f64; 3]) -> Set<'_> {
        self.misset = Misset::Angles(vector("misset", degrees)?.map(|a| a / RTD));
        Ok(self)
    }
    /// `-misset random`: an orientation drawn from `misset_seed`.
    pub fn misset_random(&mut self) -> &mut Self {
        self.misset = Misset::Random;
        self
    }
    fn sample(&mut self, param: &'static str, axes: &[usize], mm: f64) -> Set<'_> {
        let size = finite(param, mm)? / 1000.0;
        for &i in axes {
            self.sample_size[i] = size;
        }
        Ok(self)
    }
    /// `-samplesize mm` (also `-xtalsize`): the crystal's size along x, y and z, which sets N
    /// from the cell.
    pub fn samplesize(&mut self, mm: f64) -> Set<'_> {
        self.sample("samplesize", &[0, 1, 2], mm)
    }
    /// `-sample_thick mm` (also `-xtal_thick`): the crystal's size along x (the beam).
    pub fn sample_thick(&mut self, mm: f64) -> Set<'_> {
        self.sample("sample_thick", &[0], mm)
    }
    /// `-sample_width mm` (also `-xtal_width`): the crystal's size along y.
    pub fn sample_width(&mut self, mm: f64) -> Set<'_> {
        self.sample("sample_width", &[1], mm)
    }
    /// `-sample_height mm` (also `-xtal_height`): the crystal's size along z.
    pub fn sample_height(&mut self, mm: f64) -> Set<'_> {
        self.sample("sample_height", &[2], mm)
    }
    /// `-default_F F`: the structure factor of reflections no table lists.
    pub fn default_f(&mut self, f: f64) -> Set<'_> {
        self.default_f = finite("default_f", f)?;
        Ok(self)
    }
    /// `-interpolate` (true), `-nointerpolate` (false): tricubic interpolation of F, instead of
    /// nanoBragg.c's choice (on when any N is 2 or less).
    pub fn interpolate(&mut self, on: bool) -> &mut Self {
        self.interpolate = if on { InterpolateRequest::On } else { InterpolateRequest::Off };
        self
    }
    /// `-round_xtal`, `-square_xtal`, `-gauss_xtal`, `-tophat_spots`: the spot shape.
    pub fn xtal_shape(&mut self, shape: XtalShape) -> &mut Self {
        self.xtal_shape = shape;
        self
    }
    /// `-fudge factor`: the spot-shape radius factor.
    pub fn fudge(&mut self, factor: f64) -> Set<'_> {
        self.fudge = finite("fudge", factor)?;
        Ok(self)
    }
    /// `-dmin Å`: no scattering beyond this resolution.
    pub fn dmin(&mut self, angstrom: f64) -> Set<'_> {
        self.dmin = finite("dmin", angstrom)? * 1e-10;
        Ok(self)
    }
    /// `-water µm`: the edge of a cube of water in the beam (a diffuse background).
    pub fn water(&mut self, micrometres: f64) -> Set<'_> {
        self.water_size = finite("water", micrometres)? / 1e6;
        Ok(self)
    }
    /// `-mosaic deg`: the isotropic mosaic spread, not negative.
    pub fn mosaic(&mut self, degrees: f64) -> Set<'_> {
        self.mosaic_spread = not_negative("mosaic", degrees)? / RTD;
        Ok(self)
    }
    /// `-mosaic_domains n`.
    pub fn mosaic_domains(&mut self, n: i64) -> Set<'_> {
        self.mosaic_domains = count("mosaic_domains", n)?;
        Ok(self)
    }

    // ---- the amorphous sample of -stol

    /// `-density g/cm³`: the amorphous sample's density.
    pub fn density(&mut self, g_per_cm3: f64) -> Set<'_> {
        self.amorphous.density = finite("density", g_per_cm3)? * 1e6;
        Ok(self)
    }
    /// `-MW g/mol` (also `-molecular_weight`): the amorphous sample's molecular weight.
    pub fn molecular_weight(&mut self, g_per_mol: f64) -> Set<'_> {
        self.amorphous.molecular_weight = finite("molecular_weight", g_per_mol)?;
        Ok(self)
    }
    fn bg_size_along(&mut self, param: &'static str, axes: &[usize], mm: f64) -> Set<'_> {
        let size = finite(param, mm)? / 1000.0;
        for &i in axes {
            self.amorphous.size[i] = size;
        }
        Ok(self)
    }
    /// `-bg_thick mm`: the amorphous sample's thickness along the beam.
    pub fn bg_thick(&mut self, mm: f64) -> Set<'_> {
        self.bg_size_along("bg_thick", &[0], mm)
    }
    /// `-bg_width mm`: the amorphous sample's size along y.
    pub fn bg_width(&mut self, mm: f64) -> Set<'_> {
        self.bg_size_along("bg_width", &[1], mm)
    }
    /// `-bg_height mm`: the amorphous sample's size along z.
    pub fn bg_height(&mut self, mm: f64) -> Set<'_> {
        self.bg_size_along("bg_height", &[2], mm)
    }
    /// `-bg_size mm`: the amorphous sample's edge along all three axes.
    pub fn bg_size(&mut self, mm: f64) -> Set<'_> {
        self.bg_size_along("bg_size", &[0, 1, 2], mm)
    }
    /// `-bg_molecules n`: molecules of the amorphous sample in the beam (0: from its size,
    /// density and molecular weight).
    pub fn bg_molecules(&mut self, n: f64) -> Set<'_> {
        self.amorphous.molecules = finite("bg_molecules", n)?;
        Ok(self)
    }

    // ---- beam centre, pivot and conventions

    /// `-Xbeam mm`: the direct beam's position along the image's first axis; pivot BEAM.
    pub fn xbeam(&mut self, mm: f64) -> Set<'_> {
        self.xbeam = finite("xbeam", mm)? / 1000.0;
        self.pivot = Pivot::Beam;
        Ok(self)
    }
    /// `-Ybeam mm`: the direct beam's position along the image's second axis; pivot BEAM.
    pub fn ybeam(&mut self, mm: f64) -> Set<'_> {
        self.ybeam = finite("ybeam", mm)? / 1000.0;
        self.pivot = Pivot::Beam;
        Ok(self)
    }
    /// `-Xclose mm`: the detector's near point (CUSTOM convention); pivot SAMPLE.
    pub fn xclose(&mut self, mm: f64) -> Set<'_> {
        self.xclose = finite("xclose", mm)? / 1000.0;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    /// `-Yclose mm`: the detector's near point (CUSTOM convention); pivot SAMPLE.
    pub fn yclose(&mut self, mm: f64) -> Set<'_> {
        self.yclose = finite("yclose", mm)? / 1000.0;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    /// `-ORGX pixels`: the XDS origin along the fast axis; pivot SAMPLE.
    pub fn orgx(&mut self, pixels: f64) -> Set<'_> {
        self.orgx = finite("orgx", pixels)?;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    /// `-ORGY pixels`: the XDS origin along the slow axis; pivot SAMPLE.
    pub fn orgy(&mut self, pixels: f64) -> Set<'_> {
        self.orgy = finite("orgy", pixels)?;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    /// `-pivot beam|sample`: the detector's rotation pivot, which the default mode keeps over
    /// the convention's (nanoBragg.c lets the convention win).
    pub fn pivot(&mut self, pivot: Pivot) -> &mut Self {
        self.pivot = pivot;
        self.explicit_pivot = Some(pivot);
        self
    }
    /// `-mosflm`, `-xds`, `-adxv`, `-denzo`, `-dials`: the detector conventions (`Custom` is
    /// what a custom vector selects).
    pub fn convention(&mut self, convention: Convention) -> &mut Self {
        self.convention = convention;
        // C sets a pivot here, but the convention blocks after parsing overwrite it (REFERENCE §2)
        self.pivot = match convention {
            Convention::Xds => Pivot::Sample,
            _ => Pivot::Beam,
        };
        self
    }
    fn custom_vector(&mut self, param: &'static str, v: [f64; 3], which: fn(&mut Self) -> &mut [f64; 3]) -> Set<'_> {
        let v = vector(param, v)?;
        self.convention = Convention::Custom;
        *which(self) = v;
        Ok(self)
    }
    /// `-fdet_vector x y z`: the fast detector axis; CUSTOM convention.
    pub fn fdet_vector(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("fdet_vector", v, |p| &mut p.fdet)
    }
    /// `-sdet_vector x y z`: the slow detector axis; CUSTOM convention.
    pub fn sdet_vector(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("sdet_vector", v, |p| &mut p.sdet)
    }
    /// `-odet_vector x y z`: the detector normal; CUSTOM convention.
    pub fn odet_vector(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("odet_vector", v, |p| &mut p.odet)
    }
    /// `-beam_vector x y z`: the X-ray beam's direction; CUSTOM convention.
    pub fn beam_vector(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("beam_vector", v, |p| &mut p.beam)
    }
    /// `-polar_vector x y z`: the E-vector polarization axis; CUSTOM convention.
    pub fn polar_vector(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("polar_vector", v, |p| &mut p.polar_vector)
    }
    /// `-spindle_axis x y z`: the right-handed φ rotation axis; CUSTOM convention.
    pub fn spindle_axis(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("spindle_axis", v, |p| &mut p.spindle)
    }
    /// `-twotheta_axis x y z`: the detector's 2θ rotation axis; CUSTOM convention.
    pub fn twotheta_axis(&mut self, v: [f64; 3]) -> Set<'_> {
        self.custom_vector("twotheta_axis", v, |p| &mut p.twotheta_axis)
    }
    /// `-pix0_vector x y z`: the first pixel's corner before rotations, in metres; CUSTOM
    /// convention (`-c_parity` ignores it, as nanoBragg.c does).
    pub fn pix0_vector(&mut self, metres: [f64; 3]) -> Set<'_> {
        let p = vector("pix0_vector", metres)?;
        self.convention = Convention::Custom;
        self.pix0 = Some(p);
        Ok(self)
    }
    /// `-pix0_vector_mm x y z`: as `pix0_vector`, in millimetres.
    pub fn pix0_vector_mm(&mut self, mm: [f64; 3]) -> Set<'_> {
        let p = vector("pix0_vector_mm", mm)?;
        self.convention = Convention::Custom;
        self.pix0 = Some(p.map(|x| x / 1000.0));
        Ok(self)
    }

    // ---- detector

    /// `-distance mm`: sample to detector along the beam, greater than zero; pivot BEAM. In the
    /// default mode a distance given here beats a header's close distance (REFERENCE §5: C
    /// lets the header win).
    pub fn distance(&mut self, mm: f64) -> Set<'_> {
        self.distance = positive("distance", mm)? / 1000.0;
        self.pivot = Pivot::Beam;
        if self.mode == Mode::Default && self.close_distance_from_header {
            self.close_distance = f64::NAN;
            self.close_distance_from_header = false;
        }
        Ok(self)
    }
    /// `-close_distance mm`: sample to detector plane along its normal, greater than zero;
    /// pivot SAMPLE.
    pub fn close_distance(&mut self, mm: f64) -> Set<'_> {
        self.close_distance = positive("close_distance", mm)? / 1000.0;
        self.close_distance_from_header = false;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    /// `-detector_abs µm`: the sensor's attenuation length; infinite or 0 for no absorption
    /// model (the thickness is then dropped too), else greater than zero.
    pub fn detector_abs(&mut self, micrometres: f64) -> Set<'_> {
        if micrometres.is_infinite() || micrometres == 0.0 {
            self.detector_thick = 0.0;
            self.detector_mu = 0.0;
            return Ok(self);
        }
        let x = finite("detector_abs", micrometres)?;
        if x < 0.0 {
            return Err(refuse("detector_abs", format!("value {x} must be positive")));
        }
        self.detector_mu = 1.0 / (x * 1e-6);
        Ok(self)
    }
    /// `-detector_thick µm`: the sensor's thickness, not negative.
    pub fn detector_thick(&mut self, micrometres: f64) -> Set<'_> {
        self.detector_thick = not_negative("detector_thick", micrometres)? * 1e-6;
        Ok(self)
    }
    /// `-detector_thicksteps n`: sensor layers.
    pub fn detector_thicksteps(&mut self, n: i64) -> Set<'_> {
        self.detector_thicksteps = count("detector_thicksteps", n)?;
        Ok(self)
    }
    /// `-twotheta deg`: the detector's swing about the 2θ axis; pivot SAMPLE.
    pub fn twotheta(&mut self, degrees: f64) -> Set<'_> {
        self.twotheta = finite("twotheta", degrees)? / RTD;
        self.pivot = Pivot::Sample;
        Ok(self)
    }
    fn detector_rot_about(&mut self, param: &'static str, axis: usize, degrees: f64) -> Set<'_> {
        self.detector_rot[axis] = finite(param, degrees)? / RTD;
        Ok(self)
    }
    /// `-detector_rotx deg`: the detector's rotation about x.
    pub fn detector_rotx(&mut self, degrees: f64) -> Set<'_> {
        self.detector_rot_about("detector_rotx", 0, degrees)
    }
    /// `-detector_roty deg`: the detector's rotation about y.
    pub fn detector_roty(&mut self, degrees: f64) -> Set<'_> {
        self.detector_rot_about("detector_roty", 1, degrees)
    }
    /// `-detector_rotz deg`: the detector's rotation about z.
    pub fn detector_rotz(&mut self, degrees: f64) -> Set<'_> {
        self.detector_rot_about("detector_rotz", 2, degrees)
    }
    /// `-detsize mm`: the detector's edge along both axes, greater than zero.
    pub fn detsize(&mut self, mm: f64) -> Set<'_> {
        let x = positive("detsize", mm)? / 1000.0;
        (self.detsize_f, self.detsize_s) = (x, x);
        Ok(self)
    }
    /// `-detsize_f mm`: the detector's size along the fast axis.
    pub fn detsize_f(&mut self, mm: f64) -> Set<'_> {
        self.detsize_f = positive("detsize_f", mm)? / 1000.0;
        Ok(self)
    }
    /// `-detsize_s mm`: the detector's size along the slow axis.
    pub fn detsize_s(&mut self, mm: f64) -> Set<'_> {
        self.detsize_s = positive("detsize_s", mm)? / 1000.0;
        Ok(self)
    }
    /// `-detpixels n`: pixels along both axes (they win over `detsize`).
    pub fn detpixels(&mut self, n: i64) -> Set<'_> {
        let n = pixels("detpixels", n)?;
        (self.fpixels, self.spixels) = (n, n);
        Ok(self)
    }
    /// `-detpixels_f n`: pixels along the fast axis.
    pub fn detpixels_f(&mut self, n: i64) -> Set<'_> {
        self.fpixels = pixels("detpixels_f", n)?;
        Ok(self)
    }
    /// `-detpixels_s n`: pixels along the slow axis.
    pub fn detpixels_s(&mut self, n: i64) -> Set<'_> {
        self.spixels = pixels("detpixels_s", n)?;
        Ok(self)
    }
    /// `-pixel mm`: the pixel size, greater than zero.
    pub fn pixel(&mut self, mm: f64) -> Set<'_> {
        self.pixel_size = positive("pixel", mm)? / 1000.0;
        Ok(self)
    }
    /// `-curved_det`: a spherical detector, every pixel at the same distance.
    pub fn curved_det(&mut self, on: bool) -> &mut Self {
        self.curved_det = on;
        self
    }
    /// `-point_pixel`: solid angle 1/R² (no pixel obliquity).
    pub fn point_pixel(&mut self, on: bool) -> &mut Self {
        self.point_pixel = on;
        self
    }
    /// `-roi xmin xmax ymin ymax`: render only these pixels, inclusive, fast then slow (none
    /// negative; `resolve` checks them against the detector).
    pub fn roi(&mut self, roi: [i64; 4]) -> Set<'_> {
        for n in roi {
            count("roi", n)?;
        }
        self.roi = roi;
        Ok(self)
    }
    /// `-oversample n`: sub-pixels per pixel edge (0 or less: chosen from the crystal size).
    pub fn oversample(&mut self, n: i64) -> &mut Self {
        self.oversample = n;
        self
    }
    /// `-oversample_thick`: the sensor's capture fraction of every sub-pixel instead of once
    /// per pixel.
    pub fn oversample_thick(&mut self, on: bool) -> &mut Self {
        self.oversample_thick = on;
        self
    }
    /// `-oversample_polar`: the polarization factor of every sub-pixel.
    pub fn oversample_polar(&mut self, on: bool) -> &mut Self {
        self.oversample_polar = on;
        self
    }
    /// `-oversample_omega`: the solid angle of every sub-pixel.
    pub fn oversample_omega(&mut self, on: bool) -> &mut Self {
        self.oversample_omega = on;
        self
    }

    // ---- beam

    /// `-lambda Å` (also `-wavelength`): the wavelength, greater than zero.
    pub fn lambda(&mut self, angstrom: f64) -> Set<'_> {
        self.lambda0 = positive("lambda", angstrom)? / 1.0e10;
        Ok(self)
    }
    /// `-energy eV`: the photon energy, instead of `lambda`.
    pub fn energy(&mut self, ev: f64) -> Set<'_> {
        self.lambda0 = (12398.42 / positive("energy", ev)?) / 1.0e10;
        Ok(self)
    }
    /// `-fluence photons/m²`: the integrated incident fluence.
    pub fn fluence(&mut self, photons_per_m2: f64) -> Set<'_> {
        self.fluence = finite("fluence", photons_per_m2)?;
        Ok(self)
    }
    /// `-flux photons/s`: the incident flux (with `exposure` and `beamsize`).
    pub fn flux(&mut self, photons_per_s: f64) -> Set<'_> {
        self.flux = finite("flux", photons_per_s)?;
        Ok(self)
    }
    /// `-exposure s`: the exposure time.
    pub fn exposure(&mut self, seconds: f64) -> Set<'_> {
        self.exposure = finite("exposure", seconds)?;
        Ok(self)
    }
    /// `-beamsize mm`: the beam's edge; it clips the crystal.
    pub fn beamsize(&mut self, mm: f64) -> Set<'_> {
        self.beamsize = finite("beamsize", mm)? / 1000.0;
        Ok(self)
    }
    /// `-polar k`: the Kahn polarization factor (and polarization on again after `nopolar`).
    pub fn polar(&mut self, k: f64) -> Set<'_> {
        self.polarization = finite("polar", k)?;
        self.nopolar = false;
        Ok(self)
    }
    /// `-nopolar`: no polarization correction.
    pub fn nopolar(&mut self, on: bool) -> &mut Self {
        self.nopolar = on;
        self
    }
    /// `-dispersion percent`: the spectral width Δλ/λ.
    pub fn dispersion(&mut self, percent: f64) -> Set<'_> {
        self.dispersion = finite("dispersion", percent)? / 100.0;
        Ok(self)
    }
    /// `-dispsteps n`: wavelengths across the dispersion.
    pub fn dispsteps(&mut self, n: i64) -> Set<'_> {
        self.dispsteps = count("dispsteps", n)?;
        Ok(self)
    }
    /// `-divergence mrad`: the beam's divergence in both directions.
    pub fn divergence(&mut self, mrad: f64) -> Set<'_> {
        let x = finite("divergence", mrad)? / 1000.0;
        (self.hdivrange, self.vdivrange) = (x, x);
        Ok(self)
    }
    /// `-hdivrange mrad`: the horizontal divergence.
    pub fn hdivrange(&mut self, mrad: f64) -> Set<'_> {
        self.hdivrange = finite("hdivrange", mrad)? / 1000.0;
        Ok(self)
    }
    /// `-vdivrange mrad`: the vertical divergence.
    pub fn vdivrange(&mut self, mrad: f64) -> Set<'_> {
        self.vdivrange = finite("vdivrange", mrad)? / 1000.0;
        Ok(self)
    }
    /// `-hdivstep mrad`: the horizontal divergence step.
    pub fn hdivstep(&mut self, mrad: f64) -> Set<'_> {
        self.hdivstep = finite("hdivstep", mrad)? / 1000.0;
        Ok(self)
    }
    /// `-vdivstep mrad`: the vertical divergence step.
    pub fn vdivstep(&mut self, mrad: f64) -> Set<'_> {
        self.vdivstep = finite("vdivstep", mrad)? / 1000.0;
        Ok(self)
    }
    /// `-hdivsteps n`: horizontal divergence points.
    pub fn hdivsteps(&mut self, n: i64) -> Set<'_> {
        self.hdivsteps = count("hdivsteps", n)?;
        Ok(self)
    }
    /// `-vdivsteps n`: vertical divergence points.
    pub fn vdivsteps(&mut self, n: i64) -> Set<'_> {
        self.vdivsteps = count("vdivsteps", n)?;
        Ok(self)
    }
    /// `-divsteps n`: divergence points in both directions.
    pub fn divsteps(&mut self, n: i64) -> Set<'_> {
        let n = count("divsteps", n)?;
        (self.hdivsteps, self.vdivsteps) = (n, n);
        Ok(self)
    }
    /// `-round_div` (true, the default) or `-square_div` (false): the divergence grid trimmed
    /// to an ellipse, or whole.
    pub fn round_div(&mut self, on: bool) -> &mut Self {
        self.round_div = on;
        self
    }

    // ---- rotation

    /// `-phi deg`: the starting spindle angle.
    pub fn phi(&mut self, degrees: f64) -> Set<'_> {
        self.phi_deg = finite("phi", degrees)?;
        self.phi0 = degrees / RTD;
        Ok(self)
    }
    /// `-osc deg`: the oscillation range.
    pub fn osc(&mut self, degrees: f64) -> Set<'_> {
        self.osc_deg = Some(finite("osc", degrees)?);
        self.osc = degrees / RTD;
        Ok(self)
    }
    /// `-phistep deg`: the spindle step.
    pub fn phistep(&mut self, degrees: f64) -> Set<'_> {
        self.phistep = finite("phistep", degrees)? / RTD;
        Ok(self)
    }
    /// `-phisteps n`: spindle steps.
    pub fn phisteps(&mut self, n: i64) -> Set<'_> {
        self.phisteps = count("phisteps", n)?;
        Ok(self)
    }

    // ---- seeds (nanoBragg.c stores them negated)

    /// `-seed n`: the noise seed.
    pub fn seed(&mut self, seed: i64) -> &mut Self {
        // C negates the typed value; wrapping as the release build always did for i64::MIN
        self.seed = seed.wrapping_neg();
        self
    }
    /// `-mosaic_seed n`: the seed of the mosaic domains.
    pub fn mosaic_seed(&mut self, seed: i64) -> &mut Self {
        self.mosaic_seed = seed.wrapping_neg();
        self
    }
    /// `-misset_seed n`: the seed of `misset_random`.
    pub fn misset_seed(&mut self, seed: i64) -> &mut Self {
        self.misset_seed = seed.wrapping_neg();
        self
    }

    // ---- the detector model: what the SMV images record

    /// `-adc counts`: the offset added to every SMV pixel.
    pub fn adc(&mut self, counts: f64) -> Set<'_> {
        self.adc_offset = finite("adc", counts)?;
        Ok(self)
    }
    /// The detector-model methods below change the noise image, which `-c_parity` promises is
    /// nanoBragg.c's: refused in that mode.
    fn noise_model(&mut self, param: &'static str) -> Result<&mut crate::response::detector::DetectorNoise, ParamError> {
        if self.mode == Mode::CParity {
            return Err(refuse(
                param,
                "nanoBragg.c has no detector model, so -c_parity keeps its photon noise only; \
                 drop -c_parity, or run `nanobragg noisify -c_parity` on the float image"
                    .into(),
            ));
        }
        Ok(&mut self.noise)
    }
    /// `-psf gauss|fiber`: the point-spread function applied to the noise image's photons.
    pub fn psf(&mut self, shape: PsfShape) -> Set<'_> {
        self.noise_model("psf")?.psf = Some(shape);
        Ok(self)
    }
    /// `-psf_fwhm µm`: the PSF's full width at half maximum, greater than zero.
    pub fn psf_fwhm(&mut self, micrometres: f64) -> Set<'_> {
        self.noise_model("psf_fwhm")?;
        self.noise.psf_fwhm = positive("psf_fwhm", micrometres)? / 1e6;
        Ok(self)
    }
    /// `-psf_radius pixels`: the radius the PSF is rendered to (0: chosen as noisify does).
    pub fn psf_radius(&mut self, pixels: i64) -> Set<'_> {
        self.noise_model("psf_radius")?;
        let n = count("psf_radius", pixels)?;
        self.noise.psf_radius = i32::try_from(n).map_err(|_| refuse("psf_radius", format!("value {n} is too large")))?;
        Ok(self)
    }
    /// `-readout_noise ADU`: the Gaussian readout noise of every noise-image pixel.
    pub fn readout_noise(&mut self, adu: f64) -> Set<'_> {
        self.noise_model("readout_noise")?;
        self.noise.readout = not_negative("readout_noise", adu)?;
        Ok(self)
    }
    /// `-flicker fraction`: the relative source (1/f) noise of each pixel's mean.
    pub fn flicker(&mut self, fraction: f64) -> Set<'_> {
        self.noise_model("flicker")?;
        self.noise.flicker = not_negative("flicker", fraction)?;
        Ok(self)
    }
    /// `-calibration fraction`: the relative per-pixel calibration error, the same on every
    /// frame.
    pub fn calibration(&mut self, fraction: f64) -> Set<'_> {
        self.noise_model("calibration")?;
        self.noise.calibration = not_negative("calibration", fraction)?;
        Ok(self)
    }
    /// `-calib_seed n`: the seed of the calibration errors, a C int (noisify stores it negated).
    pub fn calib_seed(&mut self, seed: i64) -> Set<'_> {
        self.noise_model("calib_seed")?;
        let n = i32::try_from(seed).map_err(|_| refuse("calib_seed", format!("value {seed} is outside the C int range")))?;
        self.noise.calib_seed = -i64::from(n);
        Ok(self)
    }
    /// `-gain ADU/photon`: noise-image pixel units per photon, greater than zero.
    pub fn gain(&mut self, adu_per_photon: f64) -> Set<'_> {
        self.noise_model("gain")?;
        self.noise.gain = positive("gain", adu_per_photon)?;
        Ok(self)
    }
    /// `-bits 16|32`: the integer width of the noise image.
    pub fn bits(&mut self, bits: u32) -> Set<'_> {
        self.noise_model("bits")?;
        self.noise.bits32 = match bits {
            16 => false,
            32 => true,
            other => return Err(refuse("bits", format!("value {other} must be 16 or 32"))),
        };
        Ok(self)
    }
    /// `-noise_order noisify|simtbx`: the calibration error on each pixel's mean before the
    /// Poisson count, or on the count.
    pub fn noise_order(&mut self, order: NoiseOrder) -> Set<'_> {
        self.noise_model("noise_order")?.order = order;
        Ok(self)
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
