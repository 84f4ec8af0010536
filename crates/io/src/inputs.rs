//! The edge where files become the core's `model::Inputs`: which input files an experiment
//! reads (nanoBragg.c's rules for `-hkl`, the MTZ cell and the c-parity cache) and reading
//! them. The core's `resolve` then works on the values alone.

use crate::error::{Error, Result};
use crate::{fdump, hkl, mat, mtz, sourcefile, stol};
use nanobragg_core::cfmt::fmt_g;
use nanobragg_core::model::Inputs;
use nanobragg_core::model::amorphous::StolUnit;
use nanobragg_core::params::{ExperimentParams, Mode};
use std::path::PathBuf;
use std::sync::Arc;

/// The input files of an experiment, as named (`-hkl`, `-mtz_column`, `-mat`, `-sourcefile`,
/// `-stol`/`-4stol`/`-Q`), and where c-parity looks for a structure-factor cache when `-hkl` is
/// absent (nanoBragg.c: `./Fdump.bin`). The mask is read with the command line's headers.
#[derive(Clone, Debug, Default)]
pub struct InputFiles {
    pub hkl: Option<PathBuf>,
    pub mtz_column: Option<String>,
    pub mat: Option<PathBuf>,
    pub sourcefile: Option<PathBuf>,
    pub stol: Option<(PathBuf, StolUnit)>,
    pub fdump: PathBuf,
}

/// What loading said on the way (`reading Fs from ...`), for the face to print or not.
pub type Notes = Vec<String>;

/// Reads every input `files` name for the experiment `r`: the structure factors, the MTZ
/// file's cell (when neither `-cell` nor `-mat` gives one), the matrix, the sources and the
/// `-stol` table (not in c-parity, where nanoBragg.c never uses it).
pub fn load(files: &InputFiles, r: &ExperimentParams) -> Result<(Inputs, Notes)> {
    load_given(files, r, None)
}

/// Structure factors a caller holds as values instead of an `-hkl` file (the Python package's
/// arrays and tables): the grid, the reflections listed, and the cell that came with them (used
/// as an MTZ file's: when neither `-cell` nor `-mat` gives one).
#[derive(Clone, Debug)]
pub struct GivenStructureFactors {
    pub grid: Arc<hkl::StructureFactors>,
    pub reflections: usize,
    pub cell: Option<[f64; 6]>,
}

/// `load`, the structure factors `given` (then `files.hkl` and `mtz_column` must be None) rather
/// than read; every other input read as `load` reads it.
pub fn load_given(files: &InputFiles, r: &ExperimentParams, given: Option<GivenStructureFactors>) -> Result<(Inputs, Notes)> {
    let mut notes = Notes::new();
    let file_cell = match &given {
        Some(g) => g.cell,
        None => mtz_cell(files, r, &mut notes)?,
    };
    let matrix = read_matrix(files)?;
    let (structure_factors, reflections) = match given {
        Some(g) => (Some(g.grid), g.reflections),
        None => {
            let (grid, reflections) = structure_factors(files, r, &mut notes)?;
            (grid.map(Arc::new), reflections)
        }
    };
    let sources = read_sources(files, r)?;
    let stol = match &files.stol {
        Some((path, unit)) if r.mode == Mode::Default => Some(stol::read_stol(path, *unit, false)?),
        Some((path, _)) => {
            // nanoBragg.c reads the table and never uses it
            log::warn!("-stol {}: ignored with -c_parity, as nanoBragg.c ignores it (nanobragg nonBragg renders the background alone)", path.display());
            None
        }
        None => None,
    };
    let inputs = Inputs { structure_factors, reflections, file_cell, matrix, sources, stol, mask: None, panels: None };
    Ok((inputs, notes))
}

/// `load` for a variant of an experiment whose structure factors, cell file, `-stol` table and
/// mask are `shared`'s (a shot of a shot list): only the matrix and the sources, which a shot
/// may change, are read again.
pub fn load_reusing(files: &InputFiles, r: &ExperimentParams, shared: &Inputs) -> Result<Inputs> {
    Ok(Inputs { matrix: read_matrix(files)?, sources: read_sources(files, r)?, ..shared.clone() })
}

fn read_matrix(files: &InputFiles) -> Result<Option<[[f64; 3]; 3]>> {
    files.mat.as_deref().map(mat::read_mosflm_matrix).transpose()
}

fn read_sources(files: &InputFiles, r: &ExperimentParams) -> Result<Option<Vec<sourcefile::SourceRow>>> {
    files.sourcefile.as_deref().map(|path| sourcefile::read_sourcefile(path, r.mode == Mode::CParity)).transpose()
}

/// Structure factors from `-hkl` (HKL text, MTZ, or a cache recognised by its content) or, in
/// c-parity mode only, from a previous run's cache. C reads ./Fdump.bin whenever `-hkl` is
/// absent, even with `-default_F` (REFERENCE §5), so a stray cache silently changes a
/// "default_F only" run; the default mode reads a cache only when `-hkl` names it. The caller
/// writes the cache once the run has succeeded.
fn structure_factors(files: &InputFiles, r: &ExperimentParams, notes: &mut Notes) -> Result<(Option<hkl::StructureFactors>, usize)> {
    if let Some(path) = &files.hkl
        && mtz::is_mtz(path)?
    {
        let input = mtz::read_mtz(path, files.mtz_column.as_deref(), r.default_f)?;
        let group = input.header.space_group.as_deref().unwrap_or("(no space group)");
        let operators = input.header.rotations.len().max(1);
        notes.push(format!(
            "reading Fs from {}: MTZ column {}, {} reflections in {group} ({operators} operators) expanded to {} in P1",
            path.display(),
            input.column_names(),
            input.reflections,
            input.expanded
        ));
        return Ok((Some(input.grid), input.reflections));
    }
    if let Some(column) = &files.mtz_column {
        let why = match &files.hkl {
            Some(path) => format!("-hkl {} is not an MTZ file", path.display()),
            None => "there is no -hkl file".to_string(),
        };
        return Err(Error::Usage(format!("-mtz_column {column}: {why} (the column applies only to an MTZ file)")));
    }
    if let Some(path) = &files.hkl {
        let input = hkl::read_hkl_or_cache(path, r.default_f)?;
        if input.from_cache {
            notes.push(format!("reading Fs from {}", path.display()));
        }
        return Ok((Some(input.grid), input.reflections));
    }
    if r.mode == Mode::CParity && files.fdump.exists() {
        notes.push(format!("reading Fs from {}", files.fdump.display()));
        let sf = fdump::read_fdump(&files.fdump)?;
        let (h, k, l) = sf.counts();
        return Ok((Some(sf), h * k * l));
    }
    // a background-only render (`-stol` with `-default_F 0`) needs no structure factors
    let background_only = r.mode == Mode::Default && files.stol.is_some();
    if r.default_f == 0.0 && !background_only {
        let cache = files.fdump.display();
        let how = match r.mode {
            Mode::Default => format!("a cache from an earlier -hkl run is read only when named: -hkl {cache}"),
            Mode::CParity => format!("or keep {cache} from an earlier -hkl run"),
        };
        return Err(Error::Usage(format!("no structure factors: give -hkl <file> or -default_F <F> ({how})")));
    }
    Ok((None, 0))
}

/// The cell an MTZ `-hkl` file carries (Å and degrees), when neither `-cell` nor `-mat` gives
/// one. Only the header is read here; the reflections are read with the structure factors.
fn mtz_cell(files: &InputFiles, r: &ExperimentParams, notes: &mut Notes) -> Result<Option<[f64; 6]>> {
    let Some(path) = &files.hkl else { return Ok(None) };
    if r.user_cell || files.mat.is_some() {
        return Ok(None);
    }
    // the -hkl file is the only place a cell could come from: a file that cannot be read is
    // the problem to report (`-hkl x.hkl: no such file`), not the missing cell it would give
    std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !mtz::is_mtz(path)? {
        return Ok(None);
    }
    let header = mtz::read_header(path)?;
    let amplitudes = mtz::choose_amplitudes(path, &header, files.mtz_column.as_deref())?;
    let Some(cell) = mtz::file_cell(&header, amplitudes) else { return Ok(None) };
    let shown: Vec<String> = cell.iter().map(|x| fmt_g(*x)).collect();
    notes.push(format!("taking the unit cell from {}: {}", path.display(), shown.join(" ")));
    Ok(Some(cell))
}
