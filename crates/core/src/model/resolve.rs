//! From what was typed to the resolved experiment: nanoBragg.c's set-up sequence, every
//! default and precedence rule in one place, in the C order.

use super::cell::build_lattice;
use super::detector::{Basis, PlaceInput, convention_basis, place, straighten};
use super::sampling::{mosaic_domains, phi_steps, range_steps, thickness_steps};
use super::panels::{Panel, PanelLayout, Sensor, resolve_panels, stacked_mask};
use super::sources::{self, Divergence};
use super::{Beam, Crystal, Detector, Experiment, Inputs, Response, Sampling, Source, SourceRow, Warning};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::params::{ExperimentParams, InterpolateRequest, Mode, RTD};
use crate::physics::{V3, cross, magnitude, unitize};
use crate::rng::{Ran1, mosaic_rotation_umat};

/// Distance of generated sources from the sample (m).
const SOURCE_DISTANCE: f64 = 10.0;

/// Largest detector we agree to allocate (pixels), whatever the memory; bigger requests are
/// refused up front. Below it, the memory actually available decides (`limits`).
pub const MAX_PIXELS: usize = 1 << 30;

/// Peak bytes a run holds per detector pixel, with some margin: measured peak RSS of CPU-engine
/// runs, 2048² to 4096² pixels, is 15.0 B/pixel with the default outputs (float, SMV, PGM,
/// noise) and 16.5 with a PNG too (docs/robustness.md: the float image and every encoded output
/// staged at once). The former 48 refused jobs three times smaller than the machine could run.
pub const BYTES_PER_PIXEL: u64 = 20;

/// The same for `-engine gpu`: the GPU engine's host-side tiles, staging and read-back buffers
/// come on top (measured on lavapipe: 152 MiB peak RSS at 1024², 304 MiB at 2048², i.e. about
/// 48 B per added pixel above the driver's own ~100 MiB). `-engine auto` keeps the CPU figure:
/// it renders on the CPU wherever the GPU would share host memory (software adapters).
pub const BYTES_PER_PIXEL_GPU: u64 = 56;

/// Largest source list (generated divergence × dispersion grid) and largest table of
/// lattice orientations (φ steps × mosaic domains), in entries.
pub const MAX_TABLE: u64 = 1 << 24;

/// Bytes per structure-factor grid cell while a run holds it: the grid, the engine's copy and
/// the encoded Fdump.bin.
const BYTES_PER_GRID_CELL: u64 = 24;
/// Bytes per lattice-table entry (three vectors of three f64), counted twice for c-parity's
/// second table; and per source.
const BYTES_PER_LATTICE: u64 = 2 * 72;
const BYTES_PER_SOURCE: u64 = 64;

/// The resolved experiment, step by step in nanoBragg.c's order: the detector, the sampling
/// counts, the beam's intensity, the crystal, its structure factors, the sources, the memory
/// check. Pure: `inputs` hold what files gave (`Inputs`), `budget` what the caller's machine
/// and engine allow; nothing is read or printed here. What the set-up has to say (nanoBragg.c's
/// warnings, the notes of values it chose) is pushed onto `warnings` as it arises, so that a
/// caller has the ones given before a refusal too (the command line prints them above the
/// error, where nanoBragg.c printed them).
pub fn resolve(r: &ExperimentParams, inputs: &Inputs, budget: &Budget, warnings: &mut Vec<Warning>) -> Result<Experiment> {
    let (detector, basis) = detector(r, inputs, budget, warnings)?;
    let counts = sampling_counts(r, inputs.sources.is_some(), warnings)?;
    let (fluence, flux, sample_size) = beam_intensity(r, warnings)?;
    let file_cell = file_cell(r, inputs);
    let (lattice, n, oversample) = crystal_size(r, inputs, sample_size, oversample_distance(&detector, inputs), file_cell, warnings)?;
    let interpolate = interpolates(r, n, inputs.reflections);
    let grid_cells = inputs.structure_factors.as_ref().map_or(0, |sf| sf.values.len() as u64);
    let beam = beam(r, inputs, &basis, &counts, fluence, flux)?;
    let crystal = Crystal {
        a0: lattice.a,
        b0: lattice.b,
        c0: lattice.c,
        a_star: lattice.a_star,
        b_star: lattice.b_star,
        c_star: lattice.c_star,
        cell: lattice.cell,
        volume_a3: lattice.volume_a3,
        n,
        shape: r.xtal_shape,
        fudge: r.fudge,
        spindle: basis.spindle,
        mosaic_spread: counts.mosaic_spread,
        mosaic_umats: mosaic_orientations(r.mosaic_seed, counts.mosaic_spread, counts.domains),
        structure_factors: inputs.structure_factors.clone(),
        default_f: r.default_f,
        interpolate,
        dmin: r.dmin,
        water_size: r.water_size,
        misset: lattice.misset,
    };
    let sampling = Sampling {
        phi0: r.phi0,
        phistep: counts.phistep,
        phisteps: counts.phisteps as usize,
        osc: counts.osc,
        oversample,
        oversample_thick: r.oversample_thick,
        oversample_polar: r.oversample_polar,
        oversample_omega: r.oversample_omega,
    };
    check_memory(r, budget, &detector, &beam, &crystal, &sampling, grid_cells)?;
    let response = Response { seed: r.seed, adc_offset: r.adc_offset, intfile_scale: r.intfile_scale, calculate_noise: r.calculate_noise, noise: r.noise.clone() };
    let amorphous = amorphous_sample(r, inputs, warnings)?;
    Ok(Experiment { mode: r.mode, detector, beam, crystal, sampling, response, amorphous })
}

/// Which inputs the caller is about to load (not what they hold): `preflight` checks the
/// parameters whose checks depend on that alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct InputsToLoad {
    /// a source list (`-sourcefile`): the divergence × dispersion grid is not generated then
    pub sources: bool,
    /// a scattering table (`-stol`): the amorphous sample must then make sense
    pub stol: bool,
    /// a detector of panels (`-detector`): the flags' detector size and region are then not
    /// the detector's (the panels are checked by `resolve`)
    pub panels: bool,
}

/// The checks of `resolve` that need no input's contents, in its order, at a fraction of its
/// cost: the detector's size and memory, the region of interest, the detector axes, the
/// sampling tables, the beam's intensity, a typed cell's volume and, with `-stol`, the
/// amorphous sample. A caller runs it before reading large input files, so that a bad command
/// line is refused before a structure-factor file of gigabytes is read; `resolve` makes the
/// same checks again (and gives the same warnings, so a caller that goes on to `resolve`
/// reports the warnings of one of the two).
pub fn preflight(r: &ExperimentParams, to_load: InputsToLoad, budget: &Budget, warnings: &mut Vec<Warning>) -> Result<()> {
    if to_load.panels {
        detector_basis(r, 0.0, 0.0, warnings)?;
    } else {
        let (fpixels, spixels, detsize_f, detsize_s) = detector_size(r, budget)?;
        region_of_interest(r, fpixels, spixels)?;
        detector_basis(r, detsize_f, detsize_s, warnings)?;
    }
    thickness_steps(r.detector_thick, r.detector_thicksteps, r.detector_mu, warnings);
    sampling_counts(r, to_load.sources, warnings)?;
    beam_intensity(r, warnings)?;
    if r.user_cell && r.cell[0] != 0.0 {
        // a typed cell is used whatever the files hold (a matrix only orients it); without a
        // length a, whether there is a cell at all depends on -mat
        super::cell::check_cell(r)?;
    }
    if to_load.stol {
        amorphous_spec(r, warnings)?;
    }
    Ok(())
}

/// Step 1, the detector: size, mask, region, the convention's basis and its placement; or the
/// panels of a geometry file (`panel_detector`).
fn detector(r: &ExperimentParams, inputs: &Inputs, budget: &Budget, warnings: &mut Vec<Warning>) -> Result<(Detector, Basis)> {
    if let Some(layout) = &inputs.panels {
        return panel_detector(r, inputs, layout, budget, warnings);
    }
    let (fpixels, spixels, detsize_f, detsize_s) = detector_size(r, budget)?;
    check_mask(inputs, fpixels, spixels)?;
    let roi = region_of_interest(r, fpixels, spixels)?;
    let basis = detector_basis(r, detsize_f, detsize_s, warnings)?;
    let (thick, thickstep, thicksteps, mu) = thickness_steps(r.detector_thick, r.detector_thicksteps, r.detector_mu, warnings);
    let user_pix0 = if r.mode == Mode::Default { r.pix0 } else { None };
    let placed = place(&PlaceInput {
        basis: &basis,
        rot: r.detector_rot,
        twotheta: r.twotheta,
        distance: r.distance,
        close_distance: r.close_distance,
        pixel: r.pixel_size,
        pix0: user_pix0,
    });
    // nanoBragg.c's detector: one panel, its own pixel grid
    let panel = Panel {
        name: "detector".into(),
        fpixels,
        spixels,
        pixel_size: r.pixel_size,
        pix0: placed.pix0,
        first: [0, 0],
        fdet: placed.fdet,
        sdet: placed.sdet,
        odet: placed.odet,
        close_distance: placed.close_distance,
        thick,
        mu,
        roi,
    };
    let detector = Detector {
        panels: vec![panel],
        convention: basis.convention,
        pivot: basis.pivot,
        fpixels,
        spixels,
        pixel_size: r.pixel_size,
        detsize_f,
        detsize_s,
        fdet: placed.fdet,
        sdet: placed.sdet,
        odet: placed.odet,
        pix0: placed.pix0,
        distance: placed.distance,
        close_distance: placed.close_distance,
        xbeam: basis.xbeam,
        ybeam: basis.ybeam,
        fbeam: placed.fbeam,
        sbeam: placed.sbeam,
        xclose: basis.xclose,
        yclose: basis.yclose,
        fclose: placed.fclose,
        sclose: placed.sclose,
        orgx: placed.orgx,
        orgy: placed.orgy,
        dials_origin: placed.dials_origin,
        twotheta: r.twotheta,
        curved: r.curved_det,
        point_pixel: r.point_pixel,
        thick,
        thickstep,
        thicksteps: thicksteps as usize,
        mu,
        roi,
        mask: inputs.mask.as_ref().map(|m| m.pixels.clone()),
    };
    Ok((detector, basis))
}

/// The detector of a geometry file's panels (`-detector`): each panel checked and placed
/// (`model::panels`), the sensor and `-roi` of the flags applied to every panel, and the
/// nanoBragg.c description fields taken from panel 0. The convention's basis still gives the
/// beam, polarization and spindle (the file's, set as CUSTOM vectors, or the flags').
fn panel_detector(r: &ExperimentParams, inputs: &Inputs, layout: &PanelLayout, budget: &Budget, warnings: &mut Vec<Warning>) -> Result<(Detector, Basis)> {
    let source = crate::error::shown(&layout.source);
    if r.mode == Mode::CParity {
        return Err(Error::Usage(format!("-detector {source}: -c_parity renders nanoBragg.c's single panel; give the detector with its flags")));
    }
    if r.curved_det {
        return Err(Error::Usage(format!("-curved_det: the detector of -detector {source} is flat panels")));
    }
    if let Some(mask) = &inputs.mask {
        return Err(Error::Usage(format!(
            "-mask {}: a detector of panels (-detector {source}) takes its masked pixels from the geometry file's bad regions",
            crate::error::shown(&mask.name)
        )));
    }
    let basis = detector_basis(r, 0.0, 0.0, warnings)?;
    let (thick, thickstep, thicksteps, mu) = thickness_steps(r.detector_thick, r.detector_thicksteps, r.detector_mu, warnings);
    let roi = (r.roi[0] >= 0).then_some(r.roi);
    let panels = resolve_panels(layout, basis.beam, Sensor { thick, mu }, roi)?;
    let p0 = panels[0].clone();
    let (fpixels, spixels, count) = (p0.fpixels, p0.spixels, panels.len());
    let what = format!("the {count} panels of {fpixels} × {spixels} pixels of -detector {source}");
    let pixels = (fpixels * spixels) as f64 * count as f64;
    budget.check_fits(&what, pixels * BYTES_PER_PIXEL as f64)?;
    if pixels > MAX_PIXELS as f64 {
        return Err(Error::Resource(format!("{what} are {pixels} pixels; the limit is {MAX_PIXELS}")));
    }
    let mask = stacked_mask(layout, &panels);
    let mut detector = Detector {
        panels,
        convention: basis.convention,
        pivot: basis.pivot,
        fpixels,
        spixels,
        pixel_size: p0.pixel_size,
        detsize_f: fpixels as f64 * p0.pixel_size,
        detsize_s: spixels as f64 * p0.pixel_size,
        fdet: p0.fdet,
        sdet: p0.sdet,
        odet: p0.odet,
        pix0: p0.origin(),
        distance: 0.0,
        close_distance: 0.0,
        xbeam: 0.0,
        ybeam: 0.0,
        fbeam: 0.0,
        sbeam: 0.0,
        xclose: 0.0,
        yclose: 0.0,
        fclose: 0.0,
        sclose: 0.0,
        orgx: 0.0,
        orgy: 0.0,
        dials_origin: [0.0; 3],
        twotheta: 0.0,
        curved: false,
        point_pixel: r.point_pixel,
        thick,
        thickstep,
        thicksteps: thicksteps as usize,
        mu,
        roi: [0, fpixels - 1, 0, spixels * count - 1],
        mask,
    };
    detector.describe_panel(&p0, basis.beam);
    Ok((detector, basis))
}

/// The distance the automatic oversampling is worked out for: nanoBragg.c's distance, or with
/// panels the nearest panel's plane (where a pixel subtends the most).
fn oversample_distance(detector: &Detector, inputs: &Inputs) -> f64 {
    if inputs.panels.is_none() {
        return detector.distance;
    }
    detector.panels.iter().map(|p| p.close_distance).fold(f64::INFINITY, f64::min)
}

/// The convention's unit basis, its typed axes checked.
fn detector_basis(r: &ExperimentParams, detsize_f: f64, detsize_s: f64, warnings: &mut Vec<Warning>) -> Result<Basis> {
    let mut basis = convention_basis(r, detsize_f, detsize_s, r.pixel_size);
    check_axes(r, &basis, warnings)?;
    straighten(&mut basis, warnings);
    Ok(basis)
}

/// The step counts of every sampled dimension, as C derives them from ranges and steps.
struct SamplingCounts {
    osc: f64,
    phistep: f64,
    phisteps: i64,
    divergence: Divergence,
    dispersion: (f64, f64, i64),
    mosaic_spread: f64,
    domains: i64,
}

/// Step 2, sampling: φ, divergence, dispersion and mosaic counts, and the size of the tables
/// they make (`file_sources`: the sources come from a list, not the divergence grid).
fn sampling_counts(r: &ExperimentParams, file_sources: bool, warnings: &mut Vec<Warning>) -> Result<SamplingCounts> {
    let (osc, phistep, mut phisteps) = phi_steps(r.osc, r.phistep, r.phisteps);
    if r.mode == Mode::Default && osc == 0.0 && r.phisteps < 0 && r.phistep <= 0.0 {
        // nanoBragg.c gives `-osc 0` (with no step count or size) two φ steps of 0: the same
        // orientation rendered twice, twice the work for the same image. Rendered once here
        // (docs/behaviours.md); -c_parity keeps the two.
        phisteps = 1;
    }
    let (hdivrange, hdivstep, hdivsteps) = range_steps(r.hdivrange, r.hdivstep, r.hdivsteps);
    let (vdivrange, vdivstep, vdivsteps) = range_steps(r.vdivrange, r.vdivstep, r.vdivsteps);
    let dispersion = range_steps(r.dispersion, -1.0, r.dispsteps);
    let (mosaic_spread, domains) = mosaic_domains(r.mosaic_spread, r.mosaic_domains, warnings);
    if !file_sources {
        check_table("sources (-hdivsteps × -vdivsteps × -dispsteps)", &[hdivsteps, vdivsteps, dispersion.2])?;
    }
    check_table("-mosaic_domains", &[domains])?;
    check_table("orientations (-phisteps × -mosaic_domains)", &[phisteps, domains])?;
    let divergence = Divergence { hdivrange, hdivstep, hdivsteps, vdivrange, vdivstep, vdivsteps, round: r.round_div };
    Ok(SamplingCounts { osc, phistep, phisteps, divergence, dispersion, mosaic_spread, domains })
}

/// Step 3, the crystal: lattice vectors, unit cells per edge, and the oversampling the
/// crystal's size calls for at this detector distance.
fn crystal_size(r: &ExperimentParams, inputs: &Inputs, sample_size: V3, distance: f64, file_cell: Option<[f64; 6]>, warnings: &mut Vec<Warning>) -> Result<(super::cell::Lattice, [f64; 3], usize)> {
    let lattice = build_lattice(r, inputs.matrix, r.lambda0, file_cell, warnings)?;
    let n = crystal_cells(r, sample_size, &lattice);
    let oversample = oversampling(r, n, &lattice, distance, warnings)?;
    Ok((lattice, n, oversample))
}

/// Step 4 (after the structure factors are read): whether they are interpolated.
fn interpolates(r: &ExperimentParams, n: [f64; 3], hkls: usize) -> bool {
    hkls > 0
        && match r.interpolate {
            InterpolateRequest::On => true,
            InterpolateRequest::Off => false,
            InterpolateRequest::Auto => n.iter().any(|&x| x <= 2.0),
        }
}

/// Step 5, the beam: its sources, from `-sourcefile` or the divergence × dispersion grid.
fn beam(r: &ExperimentParams, inputs: &Inputs, basis: &Basis, counts: &SamplingCounts, fluence: f64, flux: f64) -> Result<Beam> {
    let (dispersion, _, dispsteps) = counts.dispersion;
    let vert = unitize(cross(basis.beam, basis.polar_vector)).0;
    let sources = match &inputs.sources {
        Some(rows) => file_sources(r, rows, basis.beam),
        None => generated_sources(&counts.divergence, counts.dispersion, r.lambda0, basis.beam, basis.polar_vector, vert),
    };
    let divsteps = if inputs.sources.is_some() { 0 } else { sources.len() / dispsteps as usize };
    Ok(Beam {
        direction: basis.beam,
        polar_vector: basis.polar_vector,
        polarization: r.polarization,
        nopolar: r.nopolar,
        lambda0: r.lambda0,
        sources,
        fluence,
        flux,
        exposure: r.exposure,
        beamsize: r.beamsize,
        dispersion,
        dispsteps: dispsteps as usize,
        hdivrange: counts.divergence.hdivrange,
        vdivrange: counts.divergence.vdivrange,
        divsteps,
    })
}

/// One rotation per mosaic domain from the mosaic seed; domain 0 is forced to the unrotated
/// crystal (as C).
fn mosaic_orientations(seed: i64, spread: f64, domains: i64) -> Vec<[f64; 9]> {
    let mut mosaic_rng = Ran1::new(seed);
    (0..domains)
        .map(|d| {
            let u = mosaic_rotation_umat(spread as f32, &mut mosaic_rng);
            if d == 0 { [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0] } else { u }
        })
        .collect()
}

/// Step 6: the terms per pixel must be countable and the run must fit in memory.
fn check_memory(r: &ExperimentParams, budget: &Budget, detector: &Detector, beam: &Beam, crystal: &Crystal, sampling: &Sampling, grid_cells: u64) -> Result<()> {
    let (fpixels, spixels) = (detector.fpixels, detector.image_rows());
    let (phisteps, domains, oversample) = (sampling.phisteps, crystal.mosaic_umats.len(), sampling.oversample);
    let sources = &beam.sources;
    let counts = [sources.len() as u64, domains as u64, phisteps as u64, oversample as u64, oversample as u64, detector.thicksteps as u64];
    check_steps(&counts, r.oversample <= 0)?;
    let per_pixel = budget.bytes_per_pixel;
    let needed = (fpixels * spixels) as f64 * per_pixel as f64
        + (grid_cells * BYTES_PER_GRID_CELL) as f64
        + (phisteps as u64 * domains as u64 * BYTES_PER_LATTICE) as f64
        + (sources.len() as u64 * BYTES_PER_SOURCE) as f64;
    budget.check_fits(
        &format!("this run ({fpixels} × {spixels} pixels, {grid_cells} structure factors, {phisteps} φ steps × {domains} mosaic domains)"),
        needed,
    )
}

/// Pixel counts win over sizes; then sizes are recomputed from the counts (C "fill in blanks").
fn detector_size(r: &ExperimentParams, budget: &Budget) -> Result<(usize, usize, f64, f64)> {
    let detsize_f = if r.fpixels != 0 { r.pixel_size * r.fpixels as f64 } else { r.detsize_f };
    let detsize_s = if r.spixels != 0 { r.pixel_size * r.spixels as f64 } else { r.detsize_s };
    let fpixels = (detsize_f / r.pixel_size - 0.5).ceil();
    let spixels = (detsize_s / r.pixel_size - 0.5).ceil();
    if !(fpixels >= 1.0 && spixels >= 1.0) {
        return Err(Error::Usage(format!(
            "the detector has no pixels ({fpixels} × {spixels}): check -detpixels, -detsize and -pixel"
        )));
    }
    let what = format!("a {fpixels} × {spixels} detector (-detpixels, -detsize, -pixel)");
    let needed = fpixels * spixels * BYTES_PER_PIXEL as f64;
    budget.check_fits(&what, needed)?;
    if fpixels * spixels > MAX_PIXELS as f64 {
        return Err(Error::Resource(format!(
            "{what} needs about {} of memory ({BYTES_PER_PIXEL} bytes per pixel); the limit is {MAX_PIXELS} pixels",
            crate::budget::human_bytes(needed),
        )));
    }
    Ok((fpixels as usize, spixels as usize, detsize_f, detsize_s))
}

/// A mask read from an SMV file must cover the detector that the later flags define.
fn check_mask(inputs: &Inputs, fpixels: usize, spixels: usize) -> Result<()> {
    match &inputs.mask {
        Some(mask) if mask.pixels.len() != fpixels * spixels => Err(Error::Usage(format!(
            "-mask {}: the mask is {}×{} pixels but the detector is {fpixels}×{spixels}",
            crate::error::shown(&mask.name),
            mask.width,
            mask.height
        ))),
        _ => Ok(()),
    }
}

/// Refuses a table (sources, mosaic domains, orientations) whose entry count, the product of
/// `counts`, exceeds MAX_TABLE; checked before the table is built.
pub fn check_table(what: &str, counts: &[i64]) -> Result<()> {
    let entries = counts.iter().try_fold(1u64, |acc, &n| acc.checked_mul(u64::try_from(n.max(0)).ok()?));
    match entries {
        Some(n) if n <= MAX_TABLE => Ok(()),
        _ => {
            let shown: Vec<String> = counts.iter().map(|n| n.to_string()).collect();
            Err(Error::Resource(format!("{what}: {} entries are more than the limit of {MAX_TABLE}", shown.join(" × "))))
        }
    }
}

/// The terms summed per pixel (sources × domains × φ steps × sub-pixels² × layers) must be
/// countable: beyond 2^64 the normalisation would wrap around. `automatic`: the oversampling
/// was derived from the crystal size, not typed.
fn check_steps(counts: &[u64; 6], automatic: bool) -> Result<()> {
    if counts.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n)).is_some() {
        return Ok(());
    }
    let [sources, domains, phisteps, os, _, layers] = counts;
    let origin = if automatic { " (automatic, from the crystal size)" } else { "" };
    Err(Error::Resource(format!(
        "-oversample {os}{origin}: {sources} sources × {domains} mosaic domains × {phisteps} φ steps × {os}² sub-pixels × \
         {layers} layers per pixel is too many terms to count (give a smaller -oversample, or fewer steps)"
    )))
}

/// Fluence from flux, and the crystal clipped by a smaller beam. A fluence that is negative,
/// or infinite because `-flux` is spread over a zero `-beamsize`, renders a negative or NaN
/// image: the default mode refuses it, c-parity computes it as C does (with a warning; the
/// finished image is checked for non-finite pixels in both modes).
fn beam_intensity(r: &ExperimentParams, warnings: &mut Vec<Warning>) -> Result<(f64, f64, V3)> {
    let mut fluence = r.fluence;
    let mut flux = r.flux;
    let mut sample = r.sample_size;
    let from_flux = flux != 0.0 && r.exposure > 0.0 && r.beamsize >= 0.0;
    if from_flux {
        fluence = flux * r.exposure / r.beamsize / r.beamsize;
    }
    let problem = if from_flux && !fluence.is_finite() {
        Some(format!(
            "-beamsize {} with -flux {}: the fluence flux·exposure/beamsize² is not finite; give a -beamsize greater than zero (mm)",
            r.beamsize * 1e3,
            r.flux
        ))
    } else if from_flux && fluence < 0.0 {
        Some(format!("-flux {}: the flux must not be negative", r.flux))
    } else if !from_flux && fluence < 0.0 {
        Some(format!("-fluence {}: the fluence must not be negative", r.fluence))
    } else {
        None
    };
    if let Some(why) = problem {
        match r.mode {
            Mode::Default => return Err(Error::Usage(why)),
            Mode::CParity => warnings.push(Warning::warn(format!("{why} (kept as nanoBragg.c does with -c_parity)"))),
        }
    }
    if r.beamsize >= 0.0 {
        for (axis, what) in [(1, "high"), (2, "wide")] {
            if r.beamsize < sample[axis] {
                warnings.push(Warning::warn(format!("clipping sample ({} m {what}) with beam ({} m)", sample[axis], r.beamsize)));
                sample[axis] = r.beamsize;
            }
        }
    }
    if r.exposure > 0.0 {
        flux = fluence / r.exposure * r.beamsize * r.beamsize;
    }
    Ok((fluence, flux, sample))
}

/// Axes that define no direction render NaN or a meaningless image: a zero beam, detector,
/// spindle, 2θ or polarization vector, or fast and slow detector axes that are parallel. Only
/// the CUSTOM convention keeps typed vectors (REFERENCE §2), so a bad one names its flag.
/// The default mode refuses; c-parity warns and renders what C renders.
fn check_axes(r: &ExperimentParams, b: &Basis, warnings: &mut Vec<Warning>) -> Result<()> {
    let named = [
        ("-beam_vector", b.beam),
        ("-fdet_vector", b.fdet),
        ("-sdet_vector", b.sdet),
        ("-spindle_axis", b.spindle),
        ("-twotheta_axis", b.twotheta_axis),
        ("-polar_vector", b.polar_vector),
    ];
    let problem = axes_problem(&named, b.fdet, b.sdet);
    match (problem, r.mode) {
        (None, _) => Ok(()),
        (Some(why), Mode::Default) => Err(Error::Usage(why)),
        (Some(why), Mode::CParity) => {
            warnings.push(Warning::warn(format!("{why} (rendered as nanoBragg.c does with -c_parity)")));
            Ok(())
        }
    }
}

/// What is wrong with a detector's axes, if anything: the first of the `named` vectors (each
/// with its flag) that has no length or is not finite, else fast and slow axes that are
/// parallel. Both programs with a detector check theirs so.
pub fn axes_problem(named: &[(&str, V3)], fdet: V3, sdet: V3) -> Option<String> {
    let no_direction = named.iter().find(|(_, v)| !(magnitude(*v) > 0.0) || v.iter().any(|x| !x.is_finite()));
    if let Some((flag, v)) = no_direction {
        return Some(format!("{flag} {} {} {}: the vector has no length, so it defines no direction", v[0], v[1], v[2]));
    }
    let sine = magnitude(cross(fdet, sdet)) / (magnitude(fdet) * magnitude(sdet));
    (!(sine > 1e-9)).then(|| {
        format!(
            "-fdet_vector {} {} {} and -sdet_vector {} {} {} are parallel: the detector axes span no plane",
            fdet[0], fdet[1], fdet[2], sdet[0], sdet[1], sdet[2]
        )
    })
}

/// Unit cells along a, b, c: from the crystal size when given, never below one.
fn crystal_cells(r: &ExperimentParams, sample: V3, l: &super::cell::Lattice) -> [f64; 3] {
    let mut n = [r.na, r.nb, r.nc];
    let lengths = [crate::physics::magnitude(l.a), crate::physics::magnitude(l.b), crate::physics::magnitude(l.c)];
    for i in 0..3 {
        if sample[i] > 0.0 {
            n[i] = (sample[i] / lengths[i]).ceil();
        }
        if n[i] <= 1.0 {
            n[i] = 1.0;
        }
    }
    n
}

/// Largest sub-pixel count per pixel edge chosen automatically; a typed -oversample is taken
/// as typed.
pub const MAX_AUTO_OVERSAMPLE: i64 = 1000;

/// Sub-pixels per pixel edge: as typed, or enough that the crystal's finest fringe spans three.
/// An automatic choice beyond MAX_AUTO_OVERSAMPLE (a crystal far larger than the pixel
/// resolves) is refused rather than started: it would take years.
fn oversampling(r: &ExperimentParams, n: [f64; 3], l: &super::cell::Lattice, distance: f64, warnings: &mut Vec<Warning>) -> Result<usize> {
    let sizes = [
        crate::physics::magnitude(l.a) * n[0],
        crate::physics::magnitude(l.b) * n[1],
        crate::physics::magnitude(l.c) * n[2],
    ];
    let xtalsize_max = sizes.iter().cloned().fold(sizes[0], f64::max);
    let reciprocal_pixel_size = r.lambda0 * distance / r.pixel_size;
    let recommended = ((3.0 * xtalsize_max / reciprocal_pixel_size).ceil() as i64).max(1);
    if r.oversample <= 0 && recommended > MAX_AUTO_OVERSAMPLE {
        return Err(Error::Resource(format!(
            "the crystal ({} m across) would need an automatic -oversample of {recommended} ({recommended}² sub-pixels per pixel; \
             the automatic limit is {MAX_AUTO_OVERSAMPLE}): check -N/-xtalsize, or give -oversample",
            crate::cfmt::fmt_g(xtalsize_max)
        )));
    }
    let chosen = if r.oversample <= 0 { recommended } else { r.oversample };
    if chosen < recommended {
        warnings.push(Warning::warn(format!("intensity may vary significantly across a pixel: recommend -oversample {recommended}")));
    }
    Ok(chosen.max(1) as usize)
}

/// The cell a structure-factor file carries (MTZ), when neither `-cell` nor `-mat` gives one:
/// angles converted as `-cell` converts its own, so that the file's cell renders bit for bit as
/// the same cell typed.
fn file_cell(r: &ExperimentParams, inputs: &Inputs) -> Option<[f64; 6]> {
    if r.user_cell || inputs.matrix.is_some() {
        return None;
    }
    let [a, b, c, alpha, beta, gamma] = inputs.file_cell?;
    Some([a, b, c, alpha / RTD, beta / RTD, gamma / RTD])
}

/// The grid of divergence angles × wavelengths nanoBragg.c generates (elliptically trimmed
/// with `-round_div`), each source a direction.
fn generated_sources(d: &Divergence, disp: (f64, f64, i64), lambda0: f64, beam: V3, polar: V3, vert: V3) -> Vec<Source> {
    let lambdas = sources::wavelengths(lambda0, disp);
    // C stores 1/n here but never uses it; every generated source counts once
    let weight = 1.0;
    let angles = d.angles();
    let mut out = Vec::with_capacity(angles.len() * lambdas.len());
    for (hdiv, vdiv) in angles {
        let direction = unitize(sources::position(hdiv, vdiv, SOURCE_DISTANCE, beam, polar, vert)).0;
        out.extend(lambdas.iter().map(|&lambda| Source { direction, lambda, weight }));
    }
    out
}

/// Sources from `-sourcefile`: missing columns default to a source 10 m up-beam, weight 1
/// and the central wavelength. C ignores the weight column; the default mode applies it.
fn file_sources(r: &ExperimentParams, rows: &[SourceRow], beam: V3) -> Vec<Source> {
    rows
        .iter()
        .map(|row| {
            let weight = match r.mode {
                Mode::CParity => 1.0,
                Mode::Default => row.weight.unwrap_or(1.0),
            };
            Source { direction: unitize(sources::listed_position(row, beam, SOURCE_DISTANCE)).0, lambda: row.lambda_m.unwrap_or(r.lambda0), weight }
        })
        .collect()
}

/// Inclusive pixel limits; C's defaults reach one pixel past the edge, which renders nothing.
/// A typed region must lie on the detector, lower limits first (C silently renders nothing).
fn region_of_interest(r: &ExperimentParams, fpixels: usize, spixels: usize) -> Result<[usize; 4]> {
    if r.roi[0] < 0 {
        return Ok([0, fpixels, 0, spixels]);
    }
    let [x0, x1, y0, y1] = r.roi.map(|v| v.max(0) as u64);
    let (fmax, smax) = (fpixels as u64 - 1, spixels as u64 - 1);
    let problem = if x0 > x1 || y0 > y1 {
        Some("the lower limit of a range is above its upper limit")
    } else if x1 > fmax || y1 > smax {
        Some("the region leaves the detector")
    } else {
        None
    };
    match problem {
        None => Ok([x0, x1, y0, y1].map(|v| v as usize)),
        Some(why) => Err(Error::Usage(format!(
            "-roi {x0} {x1} {y0} {y1}: {why} (fast 0..{fmax}, slow 0..{smax} on this {fpixels}×{spixels} detector)"
        ))),
    }
}

/// `-stol`: the amorphous sample whose scattering is added to the image (engine::background).
/// nanoBragg.c reads the table and never uses it, so `-c_parity` says so and renders without.
fn amorphous_sample(r: &ExperimentParams, inputs: &Inputs, warnings: &mut Vec<Warning>) -> Result<Option<super::amorphous::AmorphousSample>> {
    let Some(table) = &inputs.stol else { return Ok(None) };
    let Some(spec) = amorphous_spec(r, warnings)? else { return Ok(None) };
    let (sample, notes) = super::amorphous::AmorphousSample::resolve(table.clone(), spec, r.beamsize);
    warnings.extend(notes.into_iter().map(|w| Warning::warn(format!("-stol: {w}"))));
    Ok(Some(sample))
}

/// The amorphous sample of a `-stol` run, checked; `None` with `-c_parity`, which ignores it.
fn amorphous_spec<'a>(r: &'a ExperimentParams, warnings: &mut Vec<Warning>) -> Result<Option<&'a super::amorphous::SampleSpec>> {
    if r.mode == Mode::CParity {
        // nanoBragg.c reads the table and never uses it (the loader does not read it at all)
        warnings.push(Warning::warn("-stol: ignored with -c_parity, as nanoBragg.c ignores it (nanobragg nonBragg renders the background alone)"));
        return Ok(None);
    }
    let spec = &r.amorphous;
    if spec.size.iter().any(|&s| !(s > 0.0)) || !(spec.density >= 0.0) || spec.molecular_weight <= 0.0 || spec.molecules < 0.0 {
        return Err(Error::Usage(format!(
            "-stol: the amorphous sample needs sizes (-bg_thick/-bg_width/-bg_height, mm) and -MW greater than 0 and a -density / -bg_molecules not negative (got {:?} m, {} g/cm^3, {} g/mol, {} molecules)",
            spec.size,
            spec.density / 1e6,
            spec.molecular_weight,
            spec.molecules
        )));
    }
    Ok(Some(spec))
}
