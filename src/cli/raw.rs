//! What was typed: the command line (and any `-img`/`-mask` header) turned into the values
//! nanoBragg.c holds after its argument loop, with the same units and "not given" sentinels.
//! Every derivation from these values lives in `model::resolve`, not here.

use crate::io::colormap::Colormap;
use std::path::PathBuf;

/// The cache nanoBragg.c writes after every `-hkl` run, relative to the working directory.
pub const DEFAULT_FDUMP: &str = "Fdump.bin";

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XtalShape {
    Square,
    Round,
    Gauss,
    Tophat,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Misset {
    None,
    Random,
    /// rotations about x, y, z in radians
    Angles([f64; 3]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    Cpu,
    Gpu,
    Auto,
}

/// Interpolation request: C's `interpolate` variable (2 = decide from N later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpolateRequest {
    Auto,
    On,
    Off,
}

/// Values after parsing, in the units nanoBragg.c stores them (metres, radians, Å for the cell).
/// `f64::NAN` marks "not given" exactly where C uses NAN; -1 where C uses -1.
#[derive(Clone, Debug)]
pub struct RawArgs {
    pub mode: Mode,
    pub engine: EngineChoice,
    pub backend: Option<String>,
    /// `-gpu_precision f64|df`: the GPU kernel variant, instead of the one measured fastest
    pub gpu_precision: Option<crate::engine::gpu::Precision>,
    pub quiet: bool,

    // input files
    pub hkl: Option<PathBuf>,
    /// the MTZ column `-hkl` reads amplitudes from (default: the first of type F)
    pub mtz_column: Option<String>,
    pub mat: Option<PathBuf>,
    pub img: Option<PathBuf>,
    pub mask: Option<PathBuf>,
    /// mask pixels (fast-major), read with the mask header before the flags
    pub mask_pixels: Option<Vec<u16>>,
    /// the mask's own width × height, for the message when it does not fit the detector
    pub mask_size: (usize, usize),
    pub sourcefile: Option<PathBuf>,
    pub stolfile: Option<PathBuf>,
    /// first-column unit of the `-stol`/`-4stol`/`-Q` table
    pub stol_unit: crate::model::amorphous::StolUnit,
    /// the amorphous sample of `-stol` (`-bg_*`, `-density`, `-MW`)
    pub amorphous: crate::model::amorphous::SampleSpec,
    /// where the structure-factor cache lives (C: always ./Fdump.bin); a field, not a
    /// constant, so that callers and tests choose the directory instead of the process's cwd
    pub fdump: PathBuf,
    /// write the cache after an `-hkl` run (C always does; `-nofdump` turns it off)
    pub write_fdump: bool,

    // output files
    pub floatfile: PathBuf,
    pub intfile: PathBuf,
    pub pgmfile: PathBuf,
    pub noisefile: PathBuf,
    pub pngfile: Option<PathBuf>,
    /// miniCBF photon-count image (`-cbffile`)
    pub cbffile: Option<PathBuf>,
    /// NeXus/NXmx file of the whole run (`-nexusfile`), float photons with `-nexus_float`
    pub nexusfile: Option<PathBuf>,
    pub nexus_float: bool,
    pub pngscale: f64,
    pub png_log: bool,
    pub png_colormap: Colormap,
    /// write `<floatfile stem>_preview.png` and print image statistics
    pub preview: bool,
    pub write_pgm: bool,
    pub calculate_noise: bool,
    pub intfile_scale: f64,
    pub pgm_scale: f64,
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
    /// from these, as a run typed with that start would (`dataset::series`)
    pub phi_deg: f64,
    pub osc_deg: Option<f64>,
    pub osc: f64,
    pub phistep: f64,
    pub phisteps: i64,

    // seeds (values of the C variables, i.e. already negated)
    pub seed: i64,
    pub mosaic_seed: i64,
    pub misset_seed: i64,

    // diagnostics
    pub printout: bool,
    pub printout_pixel: Option<(i64, i64)>,
    /// (slow, fast) as typed after -trace_pixel
    pub trace_pixel: Option<(i64, i64)>,
    /// pixels to recompute on the f64 engine after a GPU render
    pub validate: Option<usize>,
    pub progress: bool,

    // datasets (nanobragg's own): `-frames N` and `-first_frame K`; None when not typed, so a
    // run without them writes its outputs under the literal names, as nanoBragg.c does
    pub frames: Option<u64>,
    pub first_frame: Option<u64>,
    /// `-shard I/N` or `auto` (dataset::shard); `-manifest NAME`, `-resume` (io::manifest)
    pub shard: Option<crate::dataset::shard::ShardSpec>,
    pub manifest: Option<PathBuf>,
    pub resume: bool,
    /// `-gpu_index N|auto`
    pub gpu_index: Option<crate::engine::gpu::AdapterChoice>,
    // shot lists (nanobragg's own, docs/datasets.md): `-shots FILE` or `-shots N`, and
    // `-random_orientation`
    pub shots_file: Option<PathBuf>,
    pub shots_count: Option<u64>,
    pub random_orientation: bool,
}

/// nanoBragg.c's (and nonBragg.c's) default fluence, photons/m²: the beam of a run that gives
/// neither `-fluence` nor `-flux`.
pub const C_FLUENCE: f64 = 125932015286227086360700780544.0;

impl RawArgs {
    /// What the GPU engine is asked for (`-backend`, `-gpu_precision`).
    pub fn gpu_options(&self) -> crate::engine::gpu::GpuOptions {
        crate::engine::gpu::GpuOptions { precision: self.gpu_precision, adapter: self.gpu_index, ..crate::engine::gpu::GpuOptions::for_backend(self.backend.as_deref()) }
    }

    /// The values nanoBragg.c starts from before reading headers and flags.
    pub fn c_initial(mode: Mode, time_seed: i64) -> RawArgs {
        RawArgs {
            mode,
            engine: EngineChoice::Auto,
            backend: None,
            gpu_precision: None,
            quiet: false,
            hkl: None,
            mtz_column: None,
            mat: None,
            img: None,
            mask: None,
            mask_pixels: None,
            mask_size: (0, 0),
            sourcefile: None,
            stolfile: None,
            stol_unit: crate::model::amorphous::StolUnit::Stol,
            amorphous: crate::model::amorphous::SampleSpec::default(),
            fdump: DEFAULT_FDUMP.into(),
            write_fdump: true,
            floatfile: "floatimage.bin".into(),
            intfile: "intimage.img".into(),
            pgmfile: "image.pgm".into(),
            noisefile: "noiseimage.img".into(),
            pngfile: None,
            cbffile: None,
            nexusfile: None,
            nexus_float: false,
            pngscale: 0.0,
            png_log: false,
            png_colormap: Colormap::Gray,
            preview: false,
            write_pgm: true,
            calculate_noise: true,
            intfile_scale: 0.0,
            pgm_scale: 0.0,
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
            printout: false,
            printout_pixel: None,
            trace_pixel: None,
            validate: None,
            progress: true,
            frames: None,
            first_frame: None,
            shard: None,
            manifest: None,
            resume: false,
            gpu_index: None,
            shots_file: None,
            shots_count: None,
            random_orientation: false,
        }
    }
}
