//! What a command-line run writes and reports besides the images' pixels: output file names,
//! their formats' settings (PNG scaling, the PGM scale) and the on-request reports. The
//! experiment (`model::Experiment`) knows none of them; what the detector records (the integer
//! image's scale, whether there is a noise image) is the experiment's (`response`).

use crate::cli::raw::RawArgs;
use crate::error::{Error, Result};
use crate::io::colormap::Colormap;
use std::path::PathBuf;

/// The output files and reports of one frame (a series names each frame's files from the
/// templates typed).
#[derive(Clone, Debug)]
pub struct Output {
    pub floatfile: PathBuf,
    pub intfile: PathBuf,
    pub pgmfile: Option<PathBuf>,
    pub noisefile: Option<PathBuf>,
    pub pngfile: Option<PathBuf>,
    pub cbffile: Option<PathBuf>,
    pub pngscale: f64,
    pub png_log: bool,
    pub png_colormap: Colormap,
    pub preview: bool,
    pub pgm_scale: f64,
    pub printout: bool,
    pub printout_pixel: Option<(i64, i64)>,
    /// (slow, fast)
    pub trace_pixel: Option<(usize, usize)>,
    /// pixels the f64 engine recomputes after a GPU render (`-validate`)
    pub validate: Option<usize>,
    pub progress: bool,
    pub quiet: bool,
}

impl Output {
    /// The outputs `r` asks for (`-trace_pixel` checked for sign here; its range on the
    /// detector with the plan, before rendering).
    pub fn of(r: &RawArgs) -> Result<Output> {
        let trace_pixel = match r.trace_pixel {
            None => None,
            Some((s, f)) if s >= 0 && f >= 0 => Some((s as usize, f as usize)),
            Some((s, f)) => return Err(Error::Usage(format!("-trace_pixel: pixel ({s}, {f}) is outside the detector"))),
        };
        Ok(Output {
            floatfile: r.floatfile.clone(),
            intfile: r.intfile.clone(),
            pgmfile: r.write_pgm.then(|| r.pgmfile.clone()),
            noisefile: r.calculate_noise.then(|| r.noisefile.clone()),
            pngfile: r.pngfile.clone(),
            cbffile: r.cbffile.clone(),
            pngscale: r.pngscale,
            png_log: r.png_log,
            png_colormap: r.png_colormap,
            preview: r.preview,
            pgm_scale: r.pgm_scale,
            printout: r.printout,
            printout_pixel: r.printout_pixel,
            trace_pixel,
            validate: r.validate,
            progress: r.progress,
            quiet: r.quiet,
        })
    }
}
