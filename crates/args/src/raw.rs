//! What was typed: the command line (and any `-img`/`-mask` header) turned into the values
//! nanoBragg.c holds after its argument loop, with the same units and "not given" sentinels.
//! Every derivation from these values lives in `model::resolve`, not here.

use crate::io::colormap::Colormap;
use std::path::PathBuf;

/// The cache nanoBragg.c writes after every `-hkl` run, relative to the working directory.
pub const DEFAULT_FDUMP: &str = "Fdump.bin";

pub use nanobragg_core::params::{Convention, ExperimentParams, InterpolateRequest, Misset, Mode, Pivot, XtalShape};
pub use nanobragg_gpu::EngineChoice;

/// What was typed: the experiment's parameters (`params`, in the units nanoBragg.c stores
/// them, with its "not given" markers) and everything a command-line run adds around them —
/// input files, outputs, engine, reports, datasets. Reads as its `params` (`raw.distance`).
#[derive(Clone, Debug)]
pub struct RawArgs {
    pub params: ExperimentParams,
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
    /// `-detector FILE`: the detector's panels (and its beam and sensor, where no flag gives
    /// them) from a DIALS experiment list
    pub detector_file: Option<PathBuf>,
    pub stolfile: Option<PathBuf>,
    /// first-column unit of the `-stol`/`-4stol`/`-Q` table
    pub stol_unit: crate::model::amorphous::StolUnit,
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
    pub pgm_scale: f64,

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
    /// the flags applied, in order (which values a `-detector` file may give: those no flag gave)
    pub typed: Vec<&'static str>,
}

impl std::ops::Deref for RawArgs {
    type Target = ExperimentParams;
    fn deref(&self) -> &ExperimentParams {
        &self.params
    }
}

impl std::ops::DerefMut for RawArgs {
    fn deref_mut(&mut self) -> &mut ExperimentParams {
        &mut self.params
    }
}

/// The flags that place nanoBragg.c's single panel: refused with `-detector`, whose file places
/// the panels (docs/detectors.md).
const PLACEMENT_FLAGS: [&str; 26] = [
    "-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX", "-ORGY", "-pivot", "-fdet_vector", "-sdet_vector", "-odet_vector", "-pix0_vector", "-pix0_vector_mm", "-distance",
    "-close_distance", "-twotheta", "-twotheta_axis", "-detector_rotx", "-detector_roty", "-detector_rotz", "-detsize", "-detsize_f", "-detsize_s", "-detpixels", "-detpixels_f",
    "-detpixels_s", "-pixel",
];

/// nanoBragg.c's (and nonBragg.c's) default fluence, photons/m².
pub use nanobragg_core::params::C_FLUENCE;

impl RawArgs {
    /// What the GPU engine is asked for (`-backend`, `-gpu_precision`, `-gpu_index`, and what
    /// the environment says: `gpu_env`).
    pub fn gpu_options(&self) -> crate::engine::gpu::GpuOptions {
        crate::engine::gpu::GpuOptions { precision: self.gpu_precision, adapter: self.gpu_index, ..crate::gpu_env::for_backend(self.backend.as_deref()) }
    }

    /// The values nanoBragg.c starts from before reading headers and flags.
    pub fn c_initial(mode: Mode, time_seed: i64) -> RawArgs {
        RawArgs {
            params: ExperimentParams::c_initial(mode, time_seed),
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
            detector_file: None,
            typed: Vec::new(),
            stolfile: None,
            stol_unit: crate::model::amorphous::StolUnit::Stol,
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
            pgm_scale: 0.0,
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

impl RawArgs {
    /// The input files named on the command line, for `nanobragg_io::inputs::load`.
    pub fn input_files(&self) -> nanobragg_io::inputs::InputFiles {
        nanobragg_io::inputs::InputFiles {
            hkl: self.hkl.clone(),
            mtz_column: self.mtz_column.clone(),
            mat: self.mat.clone(),
            sourcefile: self.sourcefile.clone(),
            stol: self.stolfile.clone().map(|path| (path, self.stol_unit)),
            fdump: self.fdump.clone(),
        }
    }

    /// What this run may allocate: the memory available now (read once here) and the bytes per
    /// pixel of the engine chosen.
    pub fn budget(&self) -> nanobragg_core::budget::Budget {
        crate::limits::budget(self.engine)
    }

    /// The experiment this command line describes, and the inputs it read: the command line
    /// checked on its own, the input files, then `model::resolve`, within `budget`. What it
    /// has to say goes into `said`, also when it fails (for the face to say, in that order:
    /// nanoBragg.c printed it on its way): what reading the inputs says, and the set-up's
    /// warnings (those of the first checks only with their refusal, since resolve gives them
    /// again).
    pub fn load_and_resolve(&self, budget: &nanobragg_core::budget::Budget, said: &mut Said) -> crate::error::Result<(crate::model::Experiment, crate::model::Inputs)> {
        // a command line no input can mend is refused before any input file is read (a
        // structure-factor file can take minutes)
        let mut warnings = Vec::new();
        if let Err(e) = crate::model::preflight(&self.params, self.inputs_to_load(), budget, &mut warnings) {
            said.warnings.extend(warnings);
            return Err(e);
        }
        let (params, panels) = self.with_detector_file()?;
        let (mut inputs, notes) = nanobragg_io::inputs::load(&self.input_files(), &params)?;
        said.notes.extend(notes);
        inputs.panels = panels;
        inputs.mask = self.mask_input();
        let exp = crate::model::resolve(&params, &inputs, budget, &mut said.warnings);
        Ok((exp?, inputs))
    }

    /// `resolve` for a variant of the command line whose structure factors, `-stol` table and
    /// mask are `shared`'s (a shot of a shot list): only `-mat` and `-sourcefile` are read again.
    /// `budget`: the run's, read once for every shot. The set-up's warnings are not reported:
    /// the command line's own resolve said them (a list of 10⁴ shots would say them 10⁴ times).
    pub fn resolve_reusing(&self, shared: &crate::model::Inputs, budget: &nanobragg_core::budget::Budget) -> crate::error::Result<crate::model::Experiment> {
        let (params, _) = self.with_detector_file()?;
        let inputs = nanobragg_io::inputs::load_reusing(&self.input_files(), &params, shared)?;
        crate::model::resolve(&params, &inputs, budget, &mut Vec::new())
    }

    /// Which inputs this command line names that change what `preflight` may check.
    pub fn inputs_to_load(&self) -> crate::model::InputsToLoad {
        crate::model::InputsToLoad { sources: self.sourcefile.is_some(), stol: self.stolfile.is_some(), panels: self.detector_file.is_some() }
    }

    /// The parameters with what a `-detector` file gives and no flag typed (docs/detectors.md):
    /// the beam's direction (`-beam_vector`) and wavelength (`-lambda`, `-energy`), the sensor's
    /// thickness and attenuation (`-detector_thick`, `-detector_abs`); and the file's panels.
    /// Without `-detector`, the parameters as typed.
    pub fn with_detector_file(&self) -> crate::error::Result<(nanobragg_core::params::ExperimentParams, Option<std::sync::Arc<crate::model::PanelLayout>>)> {
        let mut params = self.params.clone();
        let Some(path) = &self.detector_file else {
            return Ok((params, None));
        };
        if let Some(flag) = self.typed.iter().find(|f| PLACEMENT_FLAGS.contains(f)) {
            return Err(crate::error::Error::Usage(format!(
                "{flag}: places nanoBragg.c's single panel; the panels of -detector {} are placed by the file (move them there)",
                path.display()
            )));
        }
        let g = nanobragg_io::dials::read_expt(path)?;
        let typed = |names: &[&str]| names.iter().any(|n| self.typed.contains(n));
        let from_file = |e: nanobragg_core::params::ParamError| crate::error::Error::Usage(format!("-detector {}: {e}", path.display()));
        if let Some(beam) = g.beam
            && !typed(&["-beam_vector"])
            && beam != params.beam
        {
            params.beam_vector(beam).map_err(from_file)?;
        }
        if let Some(w) = g.wavelength
            && !typed(&["-lambda", "-wavelength", "-energy"])
        {
            params.lambda(w).map_err(from_file)?;
        }
        if !typed(&["-detector_thick", "-detector_abs"]) {
            if let Some(t) = g.thickness {
                params.detector_thick = t;
            }
            if let Some(mu) = g.mu {
                params.detector_mu = mu;
            }
        }
        Ok((params, Some(std::sync::Arc::new(g.layout))))
    }

    /// The mask read with the command line's headers (`-mask`), as the core takes it.
    pub fn mask_input(&self) -> Option<crate::model::Mask> {
        let (path, pixels) = (self.mask.as_ref()?, self.mask_pixels.as_ref()?);
        Some(crate::model::Mask { name: path.display().to_string(), width: self.mask_size.0, height: self.mask_size.1, pixels: pixels.clone() })
    }
}

/// What loading and resolving a command line says besides its result (`load_and_resolve`):
/// what reading the inputs says (`reading Fs from ...`), and the set-up's warnings and notes.
#[derive(Clone, Debug, Default)]
pub struct Said {
    pub notes: Vec<String>,
    pub warnings: Vec<crate::model::Warning>,
}

/// The set-up's warnings and notes, said as nanobragg always has said them: through the logger
/// (`nanobragg: warning: ...`, `nanobragg: note: ...` on stderr), so `-quiet` silences them.
pub fn report(warnings: &[crate::model::Warning]) {
    use crate::model::Severity;
    for w in warnings {
        match w.severity {
            Severity::Warning => log::warn!("{}", w.message),
            Severity::Note => log::info!("{}", w.message),
        }
    }
}
