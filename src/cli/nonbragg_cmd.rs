//! `nanobragg nonBragg ARGS`: a drop-in for James Holton and Ken Frankel's nonBragg.c (github
//! bl831/nanoBragg), which renders the diffuse scattering of an amorphous sample (water, air,
//! ice…) from a table of its structure factor against sin(θ)/λ. Same flags, synonyms (matched
//! as the C matches them: any argument containing the flag's text, some guarded by length),
//! units, defaults and outputs (`floatimage.bin`, `intimage.img`, `image.pgm`,
//! `noiseimage.img`).
//!
//! What is nonBragg.c's own is here: its flag table (read by the main command's walk,
//! `parse::walk`), its detector defaults, its report. The rest is the main command's: the sample
//! is `crate::model::amorphous`, the pixel sum `crate::engine::background`, the detector placed
//! by `model::detector::place`, the sources made by `model::sources`, the statistics
//! `engine::cpu::image_statistics`, the integer, PGM and noise images `response::record`'s
//! `Recorder`, the SMV header `io::smv`'s writer with nonBragg.c's keys. With `-c_parity` the
//! table search and polarisation carry nonBragg.c's serial state, the noise comes from its
//! `ran1`/`poidev`, and its slips are kept, so the images equal the C program's;
//! docs/realism.md lists the differences of the default mode.

use super::defs::{Arity::Fixed, CPattern::{Exact as E, Sub as S}, Ctx, Flag, Help, Program, RTD, flag, number, whole};
use super::raw::Mode;
use crate::engine::background::{BackgroundGeometry, BackgroundScale, BackgroundSource, render};
use crate::engine::cpu::{DeviationRead, StatsRegion, image_statistics};
use crate::engine::{EngineUsed, Rendered};
use crate::error::{Error, Result};
use crate::io::OutputsToWrite;
use crate::io::cfmt::{fmt_g, fmt_g_precision};
use crate::io::pgm::encode_pgm;
use crate::io::rawfloat::encode_float_image;
use crate::io::smv::{SmvHeader, SmvKeys, encode_smv, encode_smv_u32};
use crate::model::amorphous::{AmorphousSample, SampleSpec, StolUnit};
use crate::model::detector::{Basis, PlaceInput, Placement, beam_ratio, place};
use crate::model::sampling::range_steps;
use crate::model::sources::{self, Divergence};
use crate::outln;
use crate::params::{Convention, Pivot};
use crate::physics::constants::R_E_SQR;
use crate::physics::{V3, cross, unitize};
use crate::response::detector::DetectorNoise;
use crate::response::record::{NoisePixels, Recorder};
use std::path::{Path, PathBuf};

/// Everything the command line sets, as nonBragg.c stores it after its argument loop (SI
/// units; `None`/negative values are its "not given" markers).
#[derive(Clone, Debug)]
struct Options {
    stol: Option<(PathBuf, StolUnit)>,
    sample: SampleSpec,
    xbeam: Option<f64>,
    ybeam: Option<f64>,
    xclose: Option<f64>,
    yclose: Option<f64>,
    orgx: Option<f64>,
    orgy: Option<f64>,
    pivot: Pivot,
    fdet: V3,
    sdet: V3,
    beam: V3,
    polar_vector: V3,
    twotheta_axis: V3,
    distance: f64,
    close_distance: Option<f64>,
    source_distance: f64,
    twotheta: f64,
    rot: V3,
    detsize: [f64; 2],
    detpixels: [i64; 2],
    curved: bool,
    pixel: f64,
    point_pixel: bool,
    fmap: bool,
    polarization: f64,
    nopolar: bool,
    oversample: i64,
    roi: [i64; 4],
    lambda0: f64,
    fluence: f64,
    flux: f64,
    exposure: f64,
    beamsize: f64,
    dispersion: f64,
    dispsteps: i64,
    hdivrange: f64,
    vdivrange: f64,
    hdivstep: f64,
    vdivstep: f64,
    hdivsteps: i64,
    vdivsteps: i64,
    round_div: bool,
    adc: f64,
    phi0: f64,
    osc: f64,
    phistep: f64,
    phisteps: i64,
    sourcefile: Option<PathBuf>,
    floatfile: PathBuf,
    intfile: PathBuf,
    pgmfile: PathBuf,
    noisefile: PathBuf,
    calculate_noise: bool,
    write_pgm: bool,
    intfile_scale: f64,
    pgm_scale: f64,
    progress: bool,
    seed: Option<i64>,
    c_parity: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stol: None,
            sample: SampleSpec::default(),
            xbeam: None,
            ybeam: None,
            xclose: None,
            yclose: None,
            orgx: None,
            orgy: None,
            pivot: Pivot::Beam,
            fdet: [0.0, 0.0, 1.0],
            sdet: [0.0, -1.0, 0.0],
            beam: [1.0, 0.0, 0.0],
            polar_vector: [0.0, 0.0, 1.0],
            twotheta_axis: [0.0, 1.0, 0.0],
            distance: 0.1,
            close_distance: None,
            source_distance: 10.0,
            twotheta: 0.0,
            rot: [0.0; 3],
            detsize: [0.1024, 0.1024],
            detpixels: [0, 0],
            curved: false,
            pixel: 1e-4,
            point_pixel: false,
            fmap: false,
            polarization: 0.0,
            nopolar: false,
            oversample: -1,
            roi: [-1; 4],
            lambda0: 1e-10,
            fluence: crate::cli::raw::C_FLUENCE,
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
            adc: 40.0,
            phi0: 0.0,
            osc: -1.0,
            phistep: -1.0,
            phisteps: -1,
            sourcefile: None,
            floatfile: "floatimage.bin".into(),
            intfile: "intimage.img".into(),
            pgmfile: "image.pgm".into(),
            noisefile: "noiseimage.img".into(),
            calculate_noise: true,
            write_pgm: true,
            intfile_scale: 0.0,
            pgm_scale: 0.0,
            progress: true,
            seed: None,
            c_parity: false,
        }
    }
}

fn num(c: &Ctx, v: &[&str]) -> Result<f64> {
    number(c.typed, v[0])
}

fn mm(c: &Ctx, v: &[&str]) -> Result<f64> {
    Ok(number(c.typed, v[0])? / 1000.0)
}

/// A distance, refused unless greater than zero in both modes, as the main command refuses
/// its `-distance` and `-close_distance`.
fn positive_mm(c: &Ctx, v: &[&str]) -> Result<f64> {
    let x = number(c.typed, v[0])?;
    if x <= 0.0 {
        return Err(Error::Usage(format!("{}: value {x} must be greater than zero", c.typed)));
    }
    Ok(x / 1000.0)
}

/// A whole number as nonBragg.c's `atoi` reads it (`-detpixels 64.0` is 64; see `defs::whole`).
fn int(c: &Ctx, v: &str) -> Result<i64> {
    let n = whole(c.mode, c.typed, v)?;
    i32::try_from(n).map(i64::from).map_err(|_| Error::Usage(format!("{}: value '{v}' is outside the C int range", c.typed)))
}

fn vec3(c: &Ctx, v: &[&str]) -> Result<V3> {
    Ok([number(c.typed, v[0])?, number(c.typed, v[1])?, number(c.typed, v[2])?])
}

fn unsupported(c: &Ctx) -> Result<()> {
    Err(Error::Usage(format!(
        "nonBragg: {} is not supported here (nonBragg.c uses it to extract F(stol) from a measured image with -img, or to print pixels); nanobragg nonBragg renders images only",
        c.typed
    )))
}

/// The table, in nonBragg.c's order (an argument matching several entries applies each, as the
/// C tests every pattern in turn); nonBragg.c's length guards (`strstr(argv[i], "-detsize") &&
/// strlen(argv[i]) == 8`: `-detsize`, `-detpixels`, `-polar`, `-hdivstep`, `-vdivstep`, `-phi`,
/// `-phistep`, `-stol`, `-4stol`, `-Q`) are exact matches. Messages name a flag as typed.
static FLAGS: &[Flag<Options>] = &[
    flag!("-samplesize", ["-sample_size"], [S("-samplesize"), S("-sample_size")], Fixed(1), "<mm>", "edge of the (cube) sample", |o, v, c| { o.sample.size = [mm(c, v)?; 3]; Ok(()) }),
    flag!("-thick", ["-sample_thick", "-sample_x", "-thickness"], [S("-sample_thick"), S("-sample_x"), S("-thick")], Fixed(1), "<mm>", "sample thickness along the beam (default 0.1)", |o, v, c| { o.sample.size[0] = mm(c, v)?; Ok(()) }),
    flag!("-width", ["-sample_width", "-sample_y"], [S("-sample_width"), S("-sample_y"), S("-width")], Fixed(1), "<mm>", "sample size along y (default 0.1; clipped by -beamsize)", |o, v, c| { o.sample.size[1] = mm(c, v)?; Ok(()) }),
    flag!("-height", ["-sample_height", "-sample_z"], [S("-sample_heigh"), S("-sample_z"), S("-heigh")], Fixed(1), "<mm>", "sample size along z (default 0.1; clipped by -beamsize)", |o, v, c| { o.sample.size[2] = mm(c, v)?; Ok(()) }),
    flag!("-density", ["-sample_density"], [S("-density"), S("-sample_den")], Fixed(1), "<g/cm³>", "sample density (default 1)", |o, v, c| { o.sample.density = num(c, v)? * 1e6; Ok(()) }),
    flag!("-molecules", [], [S("-molecules"), S("-sample_molecules")], Fixed(1), "<n>", "molecules in the beam (default: from size, density and -MW)", |o, v, c| { o.sample.molecules = num(c, v)?; Ok(()) }),
    flag!("-MW", ["-molecular_weight"], [E("-MW"), S("-molecular")], Fixed(1), "<g/mol>", "molecular weight (default 18)", |o, v, c| {
        let mw = num(c, v)?;
        if mw == 0.0 {
            return Err(Error::Usage(format!("{}: the molecular weight must not be 0", c.typed)));
        }
        o.sample.molecular_weight = mw;
        Ok(())
    }),
    flag!("-Xbeam", [], [S("-Xbeam")], Fixed(1), "<mm>", "direct-beam position along the fast axis (pivots about the beam spot)", |o, v, c| { o.xbeam = Some(mm(c, v)?); o.pivot = Pivot::Beam; Ok(()) }),
    flag!("-Ybeam", [], [S("-Ybeam")], Fixed(1), "<mm>", "direct-beam position along the slow axis (pivots about the beam spot)", |o, v, c| { o.ybeam = Some(mm(c, v)?); o.pivot = Pivot::Beam; Ok(()) }),
    flag!("-Xclose", [], [S("-Xclose")], Fixed(1), "<mm>", "point of closest approach, fast axis (pivots about the sample)", |o, v, c| { o.xclose = Some(mm(c, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-Yclose", [], [S("-Yclose")], Fixed(1), "<mm>", "point of closest approach, slow axis (pivots about the sample)", |o, v, c| { o.yclose = Some(mm(c, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-ORGX", [], [S("-ORGX")], Fixed(1), "<pixels>", "XDS ORGX (pivots about the sample)", |o, v, c| { o.orgx = Some(num(c, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-ORGY", [], [S("-ORGY")], Fixed(1), "<pixels>", "XDS ORGY (pivots about the sample)", |o, v, c| { o.orgy = Some(num(c, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-pivot", [], [S("-pivot")], Fixed(1), "sample|beam", "what the detector rotations keep fixed", |o, v, _| {
        if v[0].contains("sample") {
            o.pivot = Pivot::Sample;
        }
        if v[0].contains("beam") {
            o.pivot = Pivot::Beam;
        }
        Ok(())
    }),
    flag!("-fdet_vector", [], [S("-fdet_vector")], Fixed(3), "<x y z>", "fast detector axis (default 0 0 1)", |o, v, c| { o.fdet = vec3(c, v)?; Ok(()) }),
    flag!("-sdet_vector", [], [S("-sdet_vector")], Fixed(3), "<x y z>", "slow detector axis (default 0 -1 0)", |o, v, c| { o.sdet = vec3(c, v)?; Ok(()) }),
    flag!("-odet_vector", [], [S("-odet_vector")], Fixed(3), "<x y z>", "accepted; nonBragg.c always uses fast × slow", |_, v, c| vec3(c, v).map(drop)),
    flag!("-beam_vector", [], [S("-beam_vector")], Fixed(3), "<x y z>", "incident beam direction (default 1 0 0)", |o, v, c| { o.beam = vec3(c, v)?; Ok(()) }),
    flag!("-polar_vector", [], [S("-polar_vector")], Fixed(3), "<x y z>", "E-vector reference axis (default 0 0 1)", |o, v, c| { o.polar_vector = vec3(c, v)?; Ok(()) }),
    flag!("-spindle_axis", [], [S("-spindle_axis")], Fixed(3), "<x y z>", "accepted; nothing rotates in nonBragg", |_, v, c| vec3(c, v).map(drop)),
    flag!("-twotheta_axis", [], [S("-twotheta_axis")], Fixed(3), "<x y z>", "detector 2θ axis (default 0 1 0); the argument also sets -twotheta to its first value, as in nonBragg.c", |o, v, c| { o.twotheta_axis = vec3(c, v)?; Ok(()) }),
    flag!("-pix0_vector", [], [S("-pix0_vector")], Fixed(3), "<x y z>", "accepted and ignored, as in nonBragg.c (the origin comes from the beam centre)", |_, v, c| vec3(c, v).map(drop)),
    flag!("-distance", [], [S("-distance")], Fixed(1), "<mm>", "sample to detector along the beam (default 100; pivots about the beam spot)", |o, v, c| { o.distance = positive_mm(c, v)?; o.pivot = Pivot::Beam; Ok(()) }),
    flag!("-close_distance", [], [S("-close_distance")], Fixed(1), "<mm>", "sample to detector plane (pivots about the sample)", |o, v, c| { o.close_distance = Some(positive_mm(c, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-source_distance", [], [S("-source_distance")], Fixed(1), "<mm>", "distance of the generated sources (default 10 m)", |o, v, c| { o.source_distance = mm(c, v)?; Ok(()) }),
    flag!("-twotheta", [], [S("-twotheta")], Fixed(1), "<deg>", "detector 2θ swing (pivots about the sample)", |o, v, c| { o.twotheta = num(c, v)? / RTD; o.pivot = Pivot::Sample; Ok(()) }),
    flag!("-detector_rotx", [], [S("-detector_rotx")], Fixed(1), "<deg>", "detector rotation about x", |o, v, c| { o.rot[0] = num(c, v)? / RTD; Ok(()) }),
    flag!("-detector_roty", [], [S("-detector_roty")], Fixed(1), "<deg>", "detector rotation about y", |o, v, c| { o.rot[1] = num(c, v)? / RTD; Ok(()) }),
    flag!("-detector_rotz", [], [S("-detector_rotz")], Fixed(1), "<deg>", "detector rotation about z", |o, v, c| { o.rot[2] = num(c, v)? / RTD; Ok(()) }),
    flag!("-detsize", [], [E("-detsize")], Fixed(1), "<mm>", "detector size, both axes (default 102.4)", |o, v, c| { let s = mm(c, v)?; o.detsize = [s, s]; Ok(()) }),
    flag!("-detsize_x", [], [S("-detsize_x")], Fixed(1), "<mm>", "detector size along the fast axis", |o, v, c| { o.detsize[0] = mm(c, v)?; Ok(()) }),
    flag!("-detsize_y", [], [S("-detsize_y")], Fixed(1), "<mm>", "detector size along the slow axis", |o, v, c| { o.detsize[1] = mm(c, v)?; Ok(()) }),
    flag!("-detpixels", [], [E("-detpixels")], Fixed(1), "<n>", "pixels along both axes", |o, v, c| { let n = int(c, v[0])?; o.detpixels = [n, n]; Ok(()) }),
    flag!("-detpixels_x", ["-detpixels_f"], [S("-detpixels_f"), S("-detpixels_x")], Fixed(1), "<n>", "pixels along the fast axis", |o, v, c| { o.detpixels[0] = int(c, v[0])?; Ok(()) }),
    flag!("-detpixels_y", ["-detpixels_s"], [S("-detpixels_s"), S("-detpixels_y")], Fixed(1), "<n>", "pixels along the slow axis", |o, v, c| { o.detpixels[1] = int(c, v[0])?; Ok(()) }),
    flag!("-curved_det", [], [S("-curved_det")], Fixed(0), "", "every pixel at the same distance from the sample (nonBragg.c ignores it as the last argument; -c_parity too)", |o, _, c| {
        if !(c.is_last && c.mode == Mode::CParity) {
            o.curved = true;
        }
        Ok(())
    }),
    flag!("-pixel", [], [S("-pixel")], Fixed(1), "<mm>", "pixel size (default 0.1)", |o, v, c| { o.pixel = mm(c, v)?; Ok(()) }),
    flag!("-point_pixel", [], [S("-point_pixel")], Fixed(0), "", "solid angle 1/R² (no obliquity)", |o, _, _| { o.point_pixel = true; Ok(()) }),
    flag!("-Fmap", [], [S("-Fmap")], Fixed(0), "", "write the structure factor F(stol) at each pixel instead of photons", |o, _, _| { o.fmap = true; Ok(()) }),
    flag!("-polar", [], [E("-polar")], Fixed(1), "<factor>", "Kahn polarisation factor (default 0: unpolarised)", |o, v, c| { o.polarization = num(c, v)?; o.nopolar = false; Ok(()) }),
    flag!("-nopolar", [], [S("-nopolar")], Fixed(0), "", "no polarisation factor", |o, _, _| { o.nopolar = true; Ok(()) }),
    flag!("-oversample", [], [S("-oversample")], Fixed(1), "<n>", "sub-pixels per pixel edge (default 1)", |o, v, c| { o.oversample = int(c, v[0])?; Ok(()) }),
    flag!("-roi", [], [S("-roi")], Fixed(4), "<xmin xmax ymin ymax>", "render only these pixels (inclusive); the rest are 0", |o, v, c| {
        let limits = v.iter().map(|s| int(c, s)).collect::<Result<Vec<i64>>>()?;
        o.roi.iter_mut().zip(limits).for_each(|(slot, n)| *slot = n);
        Ok(())
    }),
    flag!("-lambda", ["-wavelength"], [S("-lambda"), S("-wave")], Fixed(1), "<Å>", "wavelength (default 1)", |o, v, c| { o.lambda0 = num(c, v)? / 1e10; Ok(()) }),
    flag!("-energy", [], [S("-energy")], Fixed(1), "<eV>", "photon energy (sets the wavelength)", |o, v, c| { o.lambda0 = 12398.42 / num(c, v)? / 1e10; Ok(()) }),
    flag!("-fluence", [], [S("-fluence")], Fixed(1), "<photons/m²>", "integrated incident fluence (default 1.26e29)", |o, v, c| { o.fluence = num(c, v)?; Ok(()) }),
    flag!("-flux", [], [S("-flux")], Fixed(1), "<photons/s>", "incident flux (with -exposure and -beamsize sets the fluence)", |o, v, c| { o.flux = num(c, v)?; Ok(()) }),
    flag!("-exposure", [], [S("-exposure")], Fixed(1), "<s>", "exposure time (default 1)", |o, v, c| { o.exposure = num(c, v)?; Ok(()) }),
    flag!("-beamsize", [], [S("-beamsize")], Fixed(1), "<mm>", "edge of the square beam (default 0.1); clips the sample", |o, v, c| { o.beamsize = mm(c, v)?; Ok(()) }),
    flag!("-dispersion", [], [S("-dispersion")], Fixed(1), "<percent>", "spectral width Δλ/λ (default 0)", |o, v, c| { o.dispersion = num(c, v)? / 100.0; Ok(()) }),
    flag!("-dispsteps", [], [S("-dispsteps")], Fixed(1), "<n>", "wavelengths across the width", |o, v, c| { o.dispsteps = int(c, v[0])?; Ok(()) }),
    flag!("-divergence", [], [S("-divergence")], Fixed(1), "<mrad>", "beam divergence, both directions", |o, v, c| { let d = mm(c, v)?; o.hdivrange = d; o.vdivrange = d; Ok(()) }),
    flag!("-hdivrange", [], [S("-hdivrange")], Fixed(1), "<mrad>", "horizontal divergence", |o, v, c| { o.hdivrange = mm(c, v)?; Ok(()) }),
    flag!("-vdivrange", [], [S("-vdivrange")], Fixed(1), "<mrad>", "vertical divergence", |o, v, c| { o.vdivrange = mm(c, v)?; Ok(()) }),
    flag!("-hdivstep", [], [E("-hdivstep")], Fixed(1), "<mrad>", "horizontal divergence step", |o, v, c| { o.hdivstep = mm(c, v)?; Ok(()) }),
    flag!("-hdivsteps", [], [S("-hdivsteps")], Fixed(1), "<n>", "horizontal divergence steps", |o, v, c| { o.hdivsteps = int(c, v[0])?; Ok(()) }),
    flag!("-vdivstep", [], [E("-vdivstep")], Fixed(1), "<mrad>", "vertical divergence step", |o, v, c| { o.vdivstep = mm(c, v)?; Ok(()) }),
    flag!("-vdivsteps", [], [S("-vdivsteps")], Fixed(1), "<n>", "vertical divergence steps", |o, v, c| { o.vdivsteps = int(c, v[0])?; Ok(()) }),
    flag!("-divsteps", [], [S("-divsteps")], Fixed(1), "<n>", "divergence steps, both directions", |o, v, c| { let n = int(c, v[0])?; o.hdivsteps = n; o.vdivsteps = n; Ok(()) }),
    flag!("-round_div", [], [S("-round_div")], Fixed(0), "", "trim the divergence grid to an ellipse (default)", |o, _, _| { o.round_div = true; Ok(()) }),
    flag!("-square_div", [], [S("-square_div")], Fixed(0), "", "keep the whole divergence grid", |o, _, _| { o.round_div = false; Ok(()) }),
    flag!("-adc", [], [S("-adc")], Fixed(1), "<ADU>", "offset added to the integer images (default 40)", |o, v, c| { o.adc = num(c, v)?; Ok(()) }),
    flag!("-gain", [], [S("-gain")], Fixed(1), "<ADU/photon>", "accepted; nonBragg.c uses it only with -img", |_, v, c| num(c, v).map(drop)),
    flag!("-phi", [], [E("-phi")], Fixed(1), "<deg>", "PHI and OSC_START of the SMV header (default 0)", |o, v, c| { o.phi0 = num(c, v)? / RTD; Ok(()) }),
    flag!("-osc", [], [S("-osc")], Fixed(1), "<deg>", "OSC_RANGE of the SMV header", |o, v, c| { o.osc = num(c, v)? / RTD; Ok(()) }),
    flag!("-phistep", [], [E("-phistep")], Fixed(1), "<deg>", "for the header's OSC_RANGE, as nonBragg.c resolves it", |o, v, c| { o.phistep = num(c, v)? / RTD; Ok(()) }),
    flag!("-phisteps", [], [S("-phisteps")], Fixed(1), "<n>", "for the header's OSC_RANGE, as nonBragg.c resolves it", |o, v, c| { o.phisteps = int(c, v[0])?; Ok(()) }),
    flag!("-img", [], [S("-img")], Fixed(1), "<file>", "not supported (nonBragg.c's F(stol) extraction from an image)", |_, _, c| unsupported(c)),
    flag!("-ignore", [], [S("-ignore")], Fixed(1), "<value>", "not supported (only for -img)", |_, _, c| unsupported(c)),
    flag!("-stolout", [], [S("-stolout")], Fixed(1), "<file>", "not supported (only for -img)", |_, _, c| unsupported(c)),
    flag!("-stol", [], [E("-stol")], Fixed(1), "<file>", "the amorphous material's table: lines of sin(θ)/λ (Å⁻¹) and F (electrons)", |o, v, _| { o.stol = Some((v[0].into(), StolUnit::Stol)); Ok(()) }),
    flag!("-4stol", [], [E("-4stol")], Fixed(1), "<file>", "as -stol with 4·sin(θ)/λ in the first column", |o, v, _| { o.stol = Some((v[0].into(), StolUnit::FourStol)); Ok(()) }),
    flag!("-Q", [], [E("-Q")], Fixed(1), "<file>", "as -stol with Q = 4π·sin(θ)/λ in the first column", |o, v, _| { o.stol = Some((v[0].into(), StolUnit::Q)); Ok(()) }),
    flag!("-sourcefile", [], [S("-sourcefile")], Fixed(1), "<file>", "sources: lines of X Y Z (position) weight λ(m)", |o, v, _| { o.sourcefile = Some(v[0].into()); Ok(()) }),
    flag!("-floatfile", ["-floatimage"], [S("-floatfile"), S("-floatimage")], Fixed(1), "<file>", "photons/pixel as 4-byte floats (default floatimage.bin)", |o, v, _| { o.floatfile = v[0].into(); Ok(()) }),
    flag!("-intfile", ["-intimage"], [S("-intfile"), S("-intimage")], Fixed(1), "<file>", "scaled SMV image (default intimage.img)", |o, v, _| { o.intfile = v[0].into(); Ok(()) }),
    flag!("-pgmfile", ["-pgmimage"], [S("-pgmfile"), S("-pgmimage")], Fixed(1), "<file>", "PGM image (default image.pgm)", |o, v, _| { o.pgmfile = v[0].into(); Ok(()) }),
    flag!("-noisefile", ["-noiseimage"], [S("-noisefile"), S("-noiseimage")], Fixed(1), "<file>", "SMV image with Poisson noise (default noiseimage.img)", |o, v, _| { o.noisefile = v[0].into(); o.calculate_noise = true; Ok(()) }),
    flag!("-nonoise", [], [S("-nonoise")], Fixed(0), "", "no noise image", |o, _, _| { o.calculate_noise = false; Ok(()) }),
    flag!("-nopgm", [], [S("-nopgm")], Fixed(0), "", "no PGM image (nonBragg.c writes it anyway; -c_parity too)", |o, _, _| { o.write_pgm = false; Ok(()) }),
    flag!("-noreject", [], [S("-noreject")], Fixed(0), "", "accepted (outlier rejection is off; only for -img)", |_, _, _| Ok(())),
    flag!("-scale", [], [S("-scale")], Fixed(1), "<factor>", "scale of the SMV image (default 55000/max)", |o, v, c| { o.intfile_scale = num(c, v)?; Ok(()) }),
    flag!("-pgmscale", [], [S("-pgmscale")], Fixed(1), "<factor>", "scale of the PGM image (default 250/(5·rmsd))", |o, v, c| { o.pgm_scale = num(c, v)?; Ok(()) }),
    flag!("-coherent", [], [S("-coherent")], Fixed(0), "", "accepted and unused, as in nonBragg.c", |_, _, _| Ok(())),
    flag!("-printout", [], [S("-printout")], Fixed(0), "", "not supported (per-pixel printing)", |_, _, c| unsupported(c)),
    flag!("-noprogress", [], [S("-noprogress")], Fixed(0), "", "no progress lines", |o, _, _| { o.progress = false; Ok(()) }),
    flag!("-progress", [], [S("-progress")], Fixed(0), "", "progress lines (default)", |o, _, _| { o.progress = true; Ok(()) }),
    flag!("-seed", [], [S("-seed")], Fixed(1), "<n>", "seed of the noise image (default: the time)", |o, v, c| { o.seed = Some(-int(c, v[0])?); Ok(()) }),
    // decided before the walk (`Program::c_parity`)
    flag!("-c_parity", [], [E("-c_parity")], Fixed(0), "", "+ nonBragg.c's serial state, generator and slips: images equal the C program's", |_, _, _| Ok(())),
];

/// nonBragg.c's command line: its flags matched as nonBragg.c matches them in both modes,
/// anything else refused; the help in the table's order.
static NONBRAGG: Program<Options> = Program {
    invocation: "nanobragg nonBragg",
    flags: FLAGS,
    c_parity: &["-c_parity"],
    exact_by_default: false,
    c_parity_skips_unknown: false,
    operand: None,
    help: Help {
        intro: || {
            "usage: nanobragg nonBragg -stol FILE [flags]\n\
             Renders the diffuse scattering of an amorphous sample, like nonBragg.c.\n\
             Flags match as in nonBragg.c (any argument containing the text); + marks ours.\n\n"
                .into()
        },
        sections: &[],
        column: 34,
        width: usize::MAX,
    },
};

/// The options nonBragg.c starts from, in `mode`.
fn initial(mode: Mode) -> Options {
    Options { c_parity: mode == Mode::CParity, ..Options::default() }
}

/// Entry point: the exit status.
pub fn main(args: &[String]) -> i32 {
    super::companion_main(&NONBRAGG, args, initial, run)
}

/// Every file the run reads and writes, in the registry the main command uses
/// (`dataset::files`): no output may be an input (`-floatfile w.stol` would replace the
/// table) or another output, and each must be a file that can be written, in a folder where
/// files can be created; checked before anything is read.
fn check_files(o: &Options, stol: &Path, unit: crate::model::amorphous::StolUnit) -> Result<()> {
    use crate::model::amorphous::StolUnit;
    let mut files = crate::dataset::files::Registry::new();
    let flag = match unit {
        StolUnit::Stol => "-stol",
        StolUnit::FourStol => "-4stol",
        StolUnit::Q => "-Q",
    };
    files.read_flag(flag, stol);
    if let Some(path) = &o.sourcefile {
        files.read_flag("-sourcefile", path);
    }
    files.write("-floatfile", &o.floatfile);
    files.write("-intfile", &o.intfile);
    // nonBragg.c parses -nopgm and writes the PGM regardless
    if o.write_pgm || o.c_parity {
        files.write("-pgmfile", &o.pgmfile);
    }
    if o.calculate_noise {
        files.write("-noisefile", &o.noisefile);
    }
    files.check()
}

/// Bytes held per detector pixel: the f64 image and structure factors, the float image and
/// its bytes, the integer, PGM and noise images and their bytes.
const BYTES_PER_PIXEL: u64 = 40;

/// Counts bounded as the main command bounds them, before anything is built: the generated
/// sources (divergence × dispersion steps) at its table limit, the terms per pixel countable,
/// the detector within the memory available.
fn check_counts(o: &Options, div: &Divergence, dispsteps: i64, pixels: usize) -> Result<()> {
    if o.sourcefile.is_none() {
        crate::model::check_table("sources (-hdivsteps × -vdivsteps × -dispsteps)", &[div.hdivsteps, div.vdivsteps, dispsteps])?;
    }
    let oversample = o.oversample.max(1) as u64;
    if oversample.checked_mul(oversample).and_then(|os2| os2.checked_mul(crate::model::MAX_TABLE)).is_none() {
        return Err(Error::Resource(format!("-oversample {oversample}: too many sub-pixels per pixel to count")));
    }
    crate::limits::check_fits(&format!("a {pixels}-pixel detector (-detpixels, -detsize, -pixel)"), pixels as f64 * BYTES_PER_PIXEL as f64)
}

/// A value that makes no sensible image: the default mode refuses it, as the main command
/// does; `-c_parity` renders what nonBragg.c renders, with a warning.
fn refuse_or_warn(o: &Options, why: String) -> Result<()> {
    if o.c_parity {
        log::warn!("{why} (rendered as nonBragg.c does with -c_parity)");
        return Ok(());
    }
    Err(Error::Usage(why))
}

/// The detector as nonBragg.c places it: nanoBragg.c's placement (`model::detector::place`,
/// CUSTOM convention: the beam centre and near point are the detector coordinates typed) from
/// nonBragg.c's own basis and defaults, which differ from nanoBragg.c's:
/// - the normal is always fast × slow (`cross_product(fdet_vector,sdet_vector,odet_vector)`:
///   `-odet_vector` is read and overwritten);
/// - `-ORGX`/`-ORGY` are `Xclose = ORGX*pixel_size` (nanoBragg.c: (ORGX − ½)·pixel), and the
///   near point defaults to `Xclose = (detsize_x - pixel_size)/2.0`,
///   `Yclose = (detsize_y + pixel_size)/2.0`, the beam centre to the near point;
/// - the close distance defaults to `close_distance = ratio*distance`, signed (nanoBragg.c takes
///   its absolute value).
fn place_detector(o: &Options, detsize: [f64; 2]) -> (Basis, Placement) {
    let beam = unitize(o.beam).0;
    let fdet = unitize(o.fdet).0;
    let sdet = unitize(o.sdet).0;
    let odet = unitize(cross(fdet, sdet)).0;
    let xclose = o.orgx.map(|x| x * o.pixel).or(o.xclose).unwrap_or((detsize[0] - o.pixel) / 2.0);
    let yclose = o.orgy.map(|y| y * o.pixel).or(o.yclose).unwrap_or((detsize[1] + o.pixel) / 2.0);
    let xbeam = o.xbeam.unwrap_or(xclose);
    let ybeam = o.ybeam.unwrap_or(yclose);
    let basis = Basis {
        convention: Convention::Custom,
        pivot: o.pivot,
        beam,
        fdet,
        sdet,
        odet,
        twotheta_axis: o.twotheta_axis,
        polar_vector: unitize(o.polar_vector).0,
        spindle: [0.0, 0.0, 1.0],
        xbeam,
        ybeam,
        fbeam: xbeam,
        sbeam: ybeam,
        xclose,
        yclose,
        fclose: xclose,
        sclose: yclose,
    };
    let close_distance = o.close_distance.unwrap_or_else(|| beam_ratio(beam, odet, o.rot) * o.distance);
    let placed = place(&PlaceInput { basis: &basis, rot: o.rot, twotheta: o.twotheta, distance: o.distance, close_distance, pixel: o.pixel, pix0: None });
    (basis, placed)
}

/// nonBragg.c's sources (`model::sources`, as nanoBragg.c makes them): the `-sourcefile` rows,
/// their weights used (nanoBragg.c ignores them) and missing positions `-source_distance`
/// up-beam, or the divergence grid (trimmed to an ellipse with `-round_div`) × the dispersion
/// wavelengths. Returns the sources, the number of divergence directions (−1 with a source
/// file, as C prints it) and the report lines.
fn make_sources(o: &Options, b: &Basis, div: &Divergence, disp: (f64, f64, i64), lines: &mut Vec<String>) -> Result<(Vec<BackgroundSource>, i64)> {
    if let Some(path) = &o.sourcefile {
        let rows = crate::io::sourcefile::read_sourcefile(path, o.c_parity).map_err(|e| e.from_flag("-sourcefile"))?;
        let sources = rows
            .iter()
            .map(|r| BackgroundSource { position: sources::listed_position(r, b.beam, o.source_distance), weight: r.weight.unwrap_or(1.0), lambda: r.lambda_m.unwrap_or(o.lambda0) })
            .collect();
        return Ok((sources, -1));
    }
    let vert = unitize(cross(b.beam, b.polar_vector)).0;
    let mut positions = Vec::new();
    for (hdiv, vdiv) in div.angles() {
        lines.push(format!("divergence deviation: {} {}", fmt_g(hdiv), fmt_g(vdiv)));
        positions.push(sources::position(hdiv, vdiv, o.source_distance, b.beam, b.polar_vector, vert));
    }
    let lambdas = sources::wavelengths(o.lambda0, disp);
    for (t, l) in lambdas.iter().enumerate() {
        lines.push(format!("lambda{t} = {}", fmt_g_precision(*l, 15)));
    }
    let sources = positions.iter().flat_map(|&position| lambdas.iter().map(move |&lambda| BackgroundSource { position, lambda, weight: 1.0 })).collect();
    Ok((sources, positions.len() as i64))
}

/// The header's OSC_RANGE as nonBragg.c's φ logic leaves `osc` (it renders no rotation).
fn osc_range(o: &Options) -> f64 {
    match (o.phisteps < 0, o.osc < 0.0, o.phistep <= 0.0) {
        (true, true, true) => 0.0,
        (true, true, false) | (false, true, false) => o.phistep,
        (false, true, true) => 1.0 / RTD,
        (_, false, _) => o.osc,
    }
}

/// nonBragg.c's progress lines for `total` progress units of which `rendered` are pixels.
fn progress_lines(rendered: u64, total: u64) -> Vec<String> {
    let mut out = Vec::new();
    if total / 100 == 0 {
        return out;
    }
    for pp in 0..rendered {
        if pp % (total / 20) == 0 || ((10 * pp < total || 10 * pp > 9 * total) && pp % (total / 100) == 0) {
            out.push(format!("{}% done", pp * 100 / total));
        }
    }
    out
}

/// Axes that define no direction (a zero vector) or detector axes that span no plane (fast ∥
/// slow) place a meaningless detector: refused as the main command refuses them.
fn check_axes(o: &Options) -> Result<()> {
    let named = [("-beam_vector", o.beam), ("-fdet_vector", o.fdet), ("-sdet_vector", o.sdet), ("-polar_vector", o.polar_vector), ("-twotheta_axis", o.twotheta_axis)];
    match crate::model::axes_problem(&named, o.fdet, o.sdet) {
        Some(why) => refuse_or_warn(o, why),
        None => Ok(()),
    }
}

fn run(o: &Options) -> Result<()> {
    outln!("nonBragg amorphous material diffraction simulator - James Holton and Ken Frankel 3-19-16");
    let Some((stol_path, unit)) = o.stol.clone() else {
        return Err(Error::Usage("nonBragg: no amorphous table: give -stol FILE (nanobragg nonBragg -h lists the flags)".into()));
    };
    check_files(o, &stol_path, unit)?;
    if !(o.pixel > 0.0) {
        return Err(Error::Usage(format!("-pixel: the pixel size must be greater than 0 (got {} mm)", o.pixel * 1e3)));
    }
    if !(o.lambda0 > 0.0) {
        return Err(Error::Usage("-lambda: the wavelength must be greater than 0".into()));
    }
    // pixel counts as nonBragg.c settles them: a given count sets the size, the size the count
    // (`fpixels = ceil(detsize_x/pixel_size)`; nanoBragg.c rounds ½ pixel down)
    let mut detsize = o.detsize;
    for axis in 0..2 {
        if o.detpixels[axis] < 0 {
            return Err(Error::Usage(format!("-detpixels: {} pixels is not a detector", o.detpixels[axis])));
        }
        if o.detpixels[axis] != 0 {
            detsize[axis] = o.pixel * o.detpixels[axis] as f64;
        }
    }
    let counts = detsize.map(|s| (s / o.pixel).ceil());
    if counts.iter().any(|&c| !(c >= 1.0) || c > 1e6) || counts[0] * counts[1] > crate::model::MAX_PIXELS as f64 {
        return Err(Error::Usage(format!("nonBragg: a {} × {} pixel detector is not possible", counts[0], counts[1])));
    }
    let (fpixels, spixels) = (counts[0] as usize, counts[1] as usize);
    let roi = [
        if o.roi[0] < 0 { 0 } else { o.roi[0] as usize },
        if o.roi[1] < 0 { fpixels } else { o.roi[1] as usize },
        if o.roi[2] < 0 { 0 } else { o.roi[2] as usize },
        if o.roi[3] < 0 { spixels } else { o.roi[3] as usize },
    ];
    let progress_total = (roi[1] as i64 - roi[0] as i64 + 1).max(0) as u64 * (roi[3] as i64 - roi[2] as i64 + 1).max(0) as u64;
    let mut fluence = o.fluence;
    if o.flux != 0.0 && o.exposure > 0.0 && o.beamsize >= 0.0 {
        fluence = o.flux * o.exposure / o.beamsize / o.beamsize;
    }
    if !fluence.is_finite() {
        return Err(Error::Usage(format!("-beamsize {} mm with -flux: the fluence flux·exposure/beamsize² is not finite", o.beamsize * 1e3)));
    }
    let [(hdivrange, hdivstep, hdivsteps), (vdivrange, vdivstep, vdivsteps)] = [range_steps(o.hdivrange, o.hdivstep, o.hdivsteps), range_steps(o.vdivrange, o.vdivstep, o.vdivsteps)];
    let div = Divergence { hdivrange, hdivstep, hdivsteps, vdivrange, vdivstep, vdivsteps, round: o.round_div };
    let disp = range_steps(o.dispersion, -1.0, o.dispsteps);
    check_counts(o, &div, disp.2, fpixels * spixels)?;
    if fluence < 0.0 {
        // a negative image: refused as the main command refuses it; -c_parity renders it
        let why = if o.flux != 0.0 { format!("-flux {}: the flux must not be negative", fmt_g(o.flux)) } else { format!("-fluence {}: the fluence must not be negative", fmt_g(o.fluence)) };
        refuse_or_warn(o, why)?;
    }
    check_axes(o)?;
    let table = crate::io::stol::read_stol(&stol_path, unit, o.c_parity).map_err(|e| e.from_flag("-stol"))?;
    let (sample, warnings) = AmorphousSample::resolve(table, &o.sample, o.beamsize);
    for w in &warnings {
        outln!("WARNING: {w}");
    }
    let (basis, p) = place_detector(o, detsize);
    outln!("pivoting detector around {}", if o.pivot == Pivot::Sample { "sample" } else { "direct beam spot" });
    outln!("reading {}", stol_path.display());
    let mut lines = Vec::new();
    let (sources, divsteps) = make_sources(o, &basis, &div, disp, &mut lines)?;
    for l in &lines {
        outln!("{l}");
    }
    if sources.is_empty() {
        return Err(Error::Usage("nonBragg: no sources (the divergence grid is empty)".into()));
    }
    outln!("  created a total of {} sources:", sources.len());
    for s in &sources {
        outln!("{} {} {}   {} {}", fmt_g(s.position[0]), fmt_g(s.position[1]), fmt_g(s.position[2]), fmt_g(s.weight), fmt_g(s.lambda));
    }
    let oversample = if o.oversample <= 0 { 1 } else { o.oversample as usize };
    let steps = sources.len() * oversample * oversample;
    outln!("  {} initialized F points (will cubic-spline interpolate between them)", sample.table.points());
    outln!("  wave={} meters +/- {}% in {} steps", fmt_g(o.lambda0), fmt_g(disp.0 * 100.0), disp.2);
    if o.nopolar {
        outln!("  polarization effect disabled");
    } else {
        outln!("  Kahn polarization factor: {:.6}", o.polarization);
    }
    if o.curved {
        outln!("  curved detector: all pixels same distance from origin");
    }
    if o.point_pixel {
        outln!("  pixel obliquity effect disabled");
    }
    if o.fmap {
        outln!("  Fmap mode: plotting structure factor at every pixel");
    }
    outln!("  incident fluence: {} photons/m^2", fmt_g(fluence));
    outln!(
        "  sample is {} m thick x {} m high x {} m wide, {} g/cm^3 and {} g/mol ({} molecules)",
        fmt_g(sample.size[0]),
        fmt_g(sample.size[1]),
        fmt_g(sample.size[2]),
        fmt_g(sample.density / 1e6),
        fmt_g(sample.molecular_weight),
        fmt_g(sample.molecules)
    );
    outln!("  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)", fmt_g(p.distance), fmt_g(detsize[0]), fmt_g(detsize[1]), fmt_g(o.pixel), fpixels, spixels);
    outln!("  Xbeam={} Ybeam={}", fmt_g(p.fbeam), fmt_g(p.sbeam));
    let v3 = |v: V3| format!("{} {} {}", fmt_g(v[0]), fmt_g(v[1]), fmt_g(v[2]));
    outln!("  detector origin: {}", v3(p.pix0));
    outln!("  DIRECTION_OF_DETECTOR_X-AXIS= {}", v3(p.fdet));
    outln!("  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v3(p.sdet));
    outln!("  INCIDENT_BEAM_DIRECTION= {}", v3(basis.beam));
    outln!("  POLARIZATION_PLANE_NORMAL= {}", v3(basis.polar_vector));
    outln!("  roi: {} < x < {} && {} < y < {}", roi[0], roi[1], roi[2], roi[3]);
    outln!("  hdivrange={} hdivstep={}  radians", fmt_g(div.hdivrange), fmt_g(div.hdivstep));
    outln!("  vdivrange={} vdivstep={}  radians", fmt_g(div.vdivrange), fmt_g(div.vdivstep));
    outln!("  {divsteps} divergence steps");
    outln!("  {} sources", sources.len());
    outln!("  {oversample} pixel oversample steps");
    let seed = o.seed.unwrap_or_else(super::time_seed);
    if o.calculate_noise {
        outln!();
        outln!("  noise image paramters:");
        outln!("  seed: {seed}");
        if !o.c_parity {
            outln!("  generator: Philox4x32-10 counters (seed, pixel); -c_parity for nonBragg.c's serial generator");
        }
    }

    let geometry = BackgroundGeometry {
        fpixels,
        spixels,
        roi,
        mask: None,
        pix0: p.pix0,
        fdet: p.fdet,
        sdet: p.sdet,
        odet: p.odet,
        beam: basis.beam,
        pixel_size: o.pixel,
        oversample,
        distance: p.distance,
        close_distance: p.close_distance,
        curved: o.curved,
        point_pixel: o.point_pixel,
        thicksteps: 1,
        thickstep: 0.0,
        thick: 0.0,
        mu: 0.0,
        sources,
        kahn: o.polarization,
        nopolar: o.nopolar,
        polar_axis: basis.polar_vector,
        panels: Vec::new(),
    };
    let scale = BackgroundScale { r_e_sqr: R_E_SQR, fluence, molecules: sample.molecules, steps: steps as f64 };
    let bg = render(&geometry, &sample.table, &scale, o.c_parity);
    let image: Vec<f32> = if o.fmap { bg.last_f.iter().map(|&f| f as f32).collect() } else { bg.image.iter().map(|&v| v as f32).collect() };
    let region = StatsRegion { fpixels, spixels, roi, mask: None };
    if o.progress {
        let [x0, x1, y0, y1] = roi;
        let rendered = (0..image.len()).filter(|&i| (x0..=x1).contains(&(i % fpixels)) && (y0..=y1).contains(&(i / fpixels))).count() as u64;
        for l in progress_lines(rendered, progress_total) {
            outln!("{l}");
        }
    }
    outln!();
    // nonBragg.c sums the full-pixel solid angle over every sub-pixel; the default mode reports
    // the detector's solid angle
    let omega = if o.c_parity { bg.omega_sum } else { bg.omega_sum / (oversample * oversample) as f64 };
    outln!("solid angle subtended by detector = {} steradian ( {}% sphere)", fmt_g(omega), fmt_g(100.0 * omega / 4.0 / std::f64::consts::PI));

    // the statistics over the rendered pixels, as the main command's; nonBragg.c's rmsd loop
    // reads each pixel's successor (`-c_parity`)
    let stats = image_statistics(&image, &region, if o.c_parity { DeviationRead::Successor } else { DeviationRead::Own });
    let (max_x, max_y) = stats.max_position(fpixels, &geometry.subpixel_grid(), stats.max_at / fpixels);
    if o.fluence == crate::cli::raw::C_FLUENCE && o.flux == 0.0 && !o.fmap && stats.max_i > 65535.0 {
        // the default fluence puts ~1e11 photons into every pixel (see app::hint_background_fluence)
        log::warn!(
            "rendered at the default fluence ({} photons/m^2): the brightest pixel holds {} photons, past a 16-bit detector's 65535; \
             give the beam's -fluence (photons/m^2), or -flux with -exposure and -beamsize",
            fmt_g(fluence),
            fmt_g(stats.max_i)
        );
    }
    // the integer, PGM and noise images as the main command's (`response::record`): photon
    // noise and the ADC offset, no detector model
    let recorder = Recorder {
        mode: if o.c_parity { Mode::CParity } else { Mode::Default },
        settings: crate::model::Response { seed, adc_offset: o.adc, intfile_scale: o.intfile_scale, calculate_noise: o.calculate_noise, noise: DetectorNoise::default() },
        fpixels,
        spixels,
        // nonBragg.c's one panel
        panel_rows: spixels,
        roi,
        pixel_size: o.pixel,
    };
    let photons = Rendered { image, stats, interpolation_switched_at: None, engine: EngineUsed::Cpu, kernel_seconds: None };
    let recorded = recorder.record_on_cpu(photons, seed, 0)?;
    let image = &recorded.photons.image;
    outln!("writing {} as {} 4-byte floats", o.floatfile.display(), image.len());
    outln!("max_I = {}  at {} {}", fmt_g(stats.max_i), fmt_g(max_x), fmt_g(max_y));
    outln!("mean= {} rms= {} rmsd= {}", fmt_g(stats.mean), fmt_g(stats.rms), fmt_g(stats.rmsd));
    outln!("intfile_scale = {}", fmt_g(recorded.int_scale));
    let header = SmvHeader {
        keys: SmvKeys::NonBragg,
        fpixels,
        spixels,
        pixel_size_mm: o.pixel * 1000.0,
        distance_mm: p.distance * 1000.0,
        wavelength_a: o.lambda0 * 1e10,
        beam_center_x_mm: p.fbeam * 1000.0,
        beam_center_y_mm: (detsize[1] - p.sbeam) * 1000.0,
        // nonBragg.c's ORGX is Xclose/pixel_size (nanoBragg.c's XDS_ORGX adds ½)
        xds_orgx: p.fclose / o.pixel,
        xds_orgy: p.sclose / o.pixel,
        close_distance_mm: p.close_distance * 1000.0,
        phi_deg: o.phi0 * RTD,
        osc_start_deg: o.phi0 * RTD,
        osc_range_deg: osc_range(o) * RTD,
        twotheta_deg: o.twotheta * RTD,
        ..SmvHeader::default()
    };
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = vec![(o.floatfile.clone(), encode_float_image(image))];
    outln!("writing {} as 2-byte integers", o.intfile.display());
    outputs.push((o.intfile.clone(), encode_smv(&header, &recorded.int_image)));
    let pgm_scale = Recorder::pgm_scale(o.pgm_scale, &stats, recorded.int_scale);
    outln!("pgm_scale = {}", fmt_g(pgm_scale));
    // nonBragg.c parses -nopgm and writes the PGM regardless; its (unsigned char) conversion
    // wraps a negative value, the default mode's clamps it at 0
    if o.write_pgm || o.c_parity {
        outln!("writing {} as 1-byte integers", o.pgmfile.display());
        let grey = recorder.pgm_image(image, pgm_scale, o.c_parity);
        outputs.push((o.pgmfile.clone(), encode_pgm(fpixels, spixels, &grey, pgm_scale)));
    }
    if let Some(noise) = &recorded.noise {
        noise.report().iter().for_each(|l| outln!("{l}"));
        outln!("writing {} as 2-byte integers", o.noisefile.display());
        let bytes = match &noise.pixels {
            NoisePixels::Bits16(pixels) => encode_smv(&header, pixels),
            NoisePixels::Bits32(pixels) => encode_smv_u32(&header, pixels),
        };
        outputs.push((o.noisefile.clone(), bytes));
    }
    let files: Vec<(&Path, &[u8])> = outputs.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
    OutputsToWrite::open(&files)?.write()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(args: &[String]) -> Result<Options> {
        crate::cli::parse::parse_program(&NONBRAGG, args, initial).map(|o| o.expect("no help asked for"))
    }

    #[test]
    fn flags_match_as_nonbragg_c_matches_them() {
        let o = parse(&args("-stol w.stol -thickness 0.004 -sample_den 0.9 -molecular_weight 20 -wavelength 1.5 -detpixels_f 30 -divsteps 3 -seed -7")).unwrap();
        assert_eq!(o.stol, Some((PathBuf::from("w.stol"), StolUnit::Stol)));
        assert_eq!(o.sample.size[0], 4e-6);
        assert_eq!(o.sample.density, 0.9e6);
        assert_eq!(o.sample.molecular_weight, 20.0);
        assert_eq!(o.lambda0, 1.5e-10);
        assert_eq!(o.detpixels, [30, 0]);
        assert_eq!((o.hdivsteps, o.vdivsteps), (3, 3));
        assert_eq!(o.seed, Some(7));
        // -twotheta_axis also sets -twotheta to its first value; length guards keep -polar_vector
        // and -detpixels_x away from -polar and -detpixels
        let o = parse(&args("-twotheta_axis 5 0 1 -polar_vector 0 1 0 -Q q.txt")).unwrap();
        assert_eq!(o.twotheta_axis, [5.0, 0.0, 1.0]);
        assert_eq!(o.twotheta, 5.0 / RTD);
        assert_eq!(o.pivot, Pivot::Sample);
        assert_eq!(o.polarization, 0.0);
        assert_eq!(o.stol.unwrap().1, StolUnit::Q);
        // -curved_det as the last argument: ignored under -c_parity only
        assert!(parse(&args("-curved_det")).unwrap().curved);
        assert!(!parse(&args("-c_parity -curved_det")).unwrap().curved);
    }

    #[test]
    fn bad_command_lines_name_the_flag() {
        for (line, want) in [
            ("-thick", "-thick: expects 1 value <mm>; the command line ends"),
            ("-roi 1 2 3", "-roi: expects 4 values <xmin xmax ymin ymax>; the command line ends"),
            ("-density abc", "-density: value 'abc' is not a number"),
            ("-frobnicate 1", "unknown flag '-frobnicate'"),
            ("-img x.img", "-img is not supported"),
            ("stray", "unexpected argument 'stray'"),
        ] {
            let e = parse(&args(line)).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn step_logic_follows_the_c() {
        assert_eq!(range_steps(-1.0, -1.0, -1), (0.0, 0.0, 1));
        assert_eq!(range_steps(0.0005, -1.0, 3), (0.0005, 0.00025, 3));
        assert_eq!(range_steps(0.002, -1.0, -1), (0.002, 0.002, 2));
        assert_eq!(range_steps(0.0, -1.0, 5), (0.0, 0.0, 1));
        assert_eq!(progress_lines(4, 99).len(), 0);
        assert_eq!(progress_lines(101, 100).first().map(String::as_str), Some("0% done"));
    }

    #[test]
    fn help_lists_every_flag() {
        let h = NONBRAGG.help_text();
        for f in FLAGS {
            assert!(h.contains(f.name), "{}", f.name);
        }
    }
}
