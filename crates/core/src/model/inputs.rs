//! What an experiment reads besides its parameters: structure factors, an orientation matrix,
//! a source list, a scattering table, a mask. `resolve` takes them as values, so that it reads
//! no file: the command line loads them from files (`nanobragg-io`), a library caller builds
//! them from arrays, and a shot list loads them once for every shot.

use super::amorphous::StolTable;
use crate::structure::StructureFactors;
use std::sync::Arc;

/// The inputs of one experiment, already read. Every field is optional: what an experiment
/// lacks is refused by `resolve` where it is needed (no unit cell, ...).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// the structure factors (`-hkl`: HKL text, an MTZ file or an Fdump.bin cache), shared by
    /// every experiment resolved from these inputs, never copied
    pub structure_factors: Option<Arc<StructureFactors>>,
    /// reflections the structure factors list (every cell of a cache): tricubic interpolation
    /// needs some
    pub reflections: usize,
    /// the unit cell the structure-factor file carries (an MTZ file's: a, b, c in Å, angles in
    /// degrees), used as if typed with `-cell` when neither `-cell` nor `-mat` gives one
    pub file_cell: Option<[f64; 6]>,
    /// a MOSFLM orientation matrix (`-mat`): the reciprocal cell vectors × λ, one per row
    pub matrix: Option<[[f64; 3]; 3]>,
    /// the sources of a `-sourcefile`, in its order
    pub sources: Option<Vec<SourceRow>>,
    /// the F(sin θ/λ) table of the amorphous sample (`-stol`, `-4stol`, `-Q`)
    pub stol: Option<StolTable>,
    /// the pixels rendered (`-mask`)
    pub mask: Option<Mask>,
    /// the detector's panels (`-detector`: a DIALS or CrystFEL geometry file), in place of the
    /// one panel the flags place
    pub panels: Option<Arc<super::PanelLayout>>,
}

/// One line of a source list: any column may be missing (nanoBragg.c's defaults apply).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceRow {
    /// position of the source relative to the sample (m)
    pub position: [Option<f64>; 3],
    pub weight: Option<f64>,
    /// wavelength (m)
    pub lambda_m: Option<f64>,
}

/// A mask image: pixels that are 0 are not rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// where it came from, for messages (`-mask FILE`)
    pub name: String,
    pub width: usize,
    pub height: usize,
    /// fast-major, `width × height`
    pub pixels: Vec<u16>,
}
