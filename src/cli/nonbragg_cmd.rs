//! `nanobragg nonBragg ARGS`: a drop-in for James Holton and Ken Frankel's nonBragg.c (github
//! bl831/nanoBragg), which renders the diffuse scattering of an amorphous sample (water, air,
//! ice…) from a table of its structure factor against sin(θ)/λ. Same flags, synonyms (matched
//! as the C matches them: any argument containing the flag's text, some guarded by length),
//! units, defaults and outputs (`floatimage.bin`, `intimage.img`, `image.pgm`,
//! `noiseimage.img`).
//!
//! The sample is `crate::model::amorphous`, the pixel sum `crate::engine::background` (which the
//! main command's `-stol` uses too). With `-c_parity` the table search and polarisation carry
//! nonBragg.c's serial state, the noise comes from its `ran1`/`poidev`, and its slips are kept,
//! so the images equal the C program's; docs/realism.md lists the differences of the default
//! mode.

use super::defs::{CPattern, RTD, number, whole};
use crate::engine::background::{BackgroundGeometry, BackgroundScale, BackgroundSource, render};
use crate::error::{Error, Result};
use crate::io::OutputsToWrite;
use crate::io::cfmt::{fmt_g, fmt_g_precision};
use crate::io::pgm::encode_pgm;
use crate::model::amorphous::{AmorphousSample, SampleSpec, StolUnit};
use crate::model::sampling::range_steps;
use crate::outln;
use crate::physics::constants::R_E_SQR;
use crate::physics::{V3, cross, dot, rotate_axis, rotate_xyz, unitize};
use crate::response::philox::{Draws, Stage};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pivot {
    Sample,
    Beam,
}

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

/// What an apply function learns besides the flag and its values.
struct Ctx {
    /// the flag is the last argument (nonBragg.c ignores `-curved_det` there)
    is_last: bool,
}

type Apply = fn(&mut Options, &str, &[&str], &Ctx) -> Result<()>;

/// One flag: canonical name, how nonBragg.c recognises it, how many values follow, the values'
/// names and the help line.
struct NonBraggFlag {
    name: &'static str,
    patterns: &'static [CPattern],
    values: usize,
    value_names: &'static str,
    help: &'static str,
    apply: Apply,
}

use CPattern::{Exact as E, Sub as S};

/// A flag matched as nonBragg.c's `strstr(argv[i], "-name") && strlen(argv[i]) == n` does.
#[derive(Clone, Copy)]
enum Guard {
    Len(&'static str, usize),
    LongerThan(&'static str, usize),
}

macro_rules! nb {
    ($name:literal, [$($pat:expr),*], $n:literal, $vn:literal, $help:literal, $apply:expr) => {
        NonBraggFlag { name: $name, patterns: &[$($pat),*], values: $n, value_names: $vn, help: $help, apply: $apply }
    };
}

fn num(flag: &str, v: &[&str]) -> Result<f64> {
    number(flag, v[0])
}

fn mm(flag: &str, v: &[&str]) -> Result<f64> {
    Ok(number(flag, v[0])? / 1000.0)
}

/// A distance, refused unless greater than zero in both modes, as the main command refuses
/// its `-distance` and `-close_distance`.
fn positive_mm(flag: &str, v: &[&str]) -> Result<f64> {
    let x = number(flag, v[0])?;
    if x <= 0.0 {
        return Err(Error::Usage(format!("{flag}: value {x} must be greater than zero")));
    }
    Ok(x / 1000.0)
}

/// A whole number as nonBragg.c's `atoi` reads it (`-detpixels 64.0` is 64; see `defs::whole`).
fn int(o: &Options, flag: &str, v: &[&str]) -> Result<i64> {
    let mode = if o.c_parity { crate::cli::raw::Mode::CParity } else { crate::cli::raw::Mode::Default };
    let n = whole(mode, flag, v[0])?;
    i32::try_from(n).map(i64::from).map_err(|_| Error::Usage(format!("{flag}: value '{}' is outside the C int range", v[0])))
}

fn vec3(flag: &str, v: &[&str]) -> Result<V3> {
    Ok([number(flag, v[0])?, number(flag, v[1])?, number(flag, v[2])?])
}

fn unsupported(flag: &str) -> Result<()> {
    Err(Error::Usage(format!(
        "nonBragg: {flag} is not supported here (nonBragg.c uses it to extract F(stol) from a measured image with -img, or to print pixels); nanobragg nonBragg renders images only"
    )))
}

/// Length-guarded matches (`-detsize` 8, `-detpixels` 10, `-polar` 6, `-hdivstep`/`-vdivstep`
/// 9, `-phi` 4, `-phistep` 8, `-stol` 5, `-4stol` 6, `-Q` 2, `-stolout` > 7).
fn guarded(arg: &str, g: Guard) -> bool {
    match g {
        Guard::Len(p, n) => arg.contains(p) && arg.len() == n,
        Guard::LongerThan(p, n) => arg.contains(p) && arg.len() > n,
    }
}

const GUARDED: &[(&str, Guard)] = &[
    ("-detsize", Guard::Len("-detsize", 8)),
    ("-detpixels", Guard::Len("-detpixels", 10)),
    ("-polar", Guard::Len("-polar", 6)),
    ("-hdivstep", Guard::Len("-hdivstep", 9)),
    ("-vdivstep", Guard::Len("-vdivstep", 9)),
    ("-phi", Guard::Len("-phi", 4)),
    ("-phistep", Guard::Len("-phistep", 8)),
    ("-stol", Guard::Len("-stol", 5)),
    ("-4stol", Guard::Len("-4stol", 6)),
    ("-Q", Guard::Len("-Q", 2)),
    ("-stolout", Guard::LongerThan("-stolout", 7)),
];

/// The table, in nonBragg.c's order (an argument matching several entries applies each, as the
/// C tests every pattern in turn). Entries named in `GUARDED` match by that rule instead.
const FLAGS: &[NonBraggFlag] = &[
    nb!("-samplesize", [S("-samplesize"), S("-sample_size")], 1, "<mm>", "edge of the (cube) sample; also -sample_size", |o, f, v, _| { o.sample.size = [mm(f, v)?; 3]; Ok(()) }),
    nb!("-thick", [S("-sample_thick"), S("-sample_x"), S("-thick")], 1, "<mm>", "sample thickness along the beam (default 0.1); also -sample_thick, -sample_x, -thickness", |o, f, v, _| { o.sample.size[0] = mm(f, v)?; Ok(()) }),
    nb!("-width", [S("-sample_width"), S("-sample_y"), S("-width")], 1, "<mm>", "sample size along y (default 0.1; clipped by -beamsize); also -sample_width, -sample_y", |o, f, v, _| { o.sample.size[1] = mm(f, v)?; Ok(()) }),
    nb!("-height", [S("-sample_heigh"), S("-sample_z"), S("-heigh")], 1, "<mm>", "sample size along z (default 0.1; clipped by -beamsize); also -sample_height, -sample_z", |o, f, v, _| { o.sample.size[2] = mm(f, v)?; Ok(()) }),
    nb!("-density", [S("-density"), S("-sample_den")], 1, "<g/cm³>", "sample density (default 1); also -sample_density", |o, f, v, _| { o.sample.density = num(f, v)? * 1e6; Ok(()) }),
    nb!("-molecules", [S("-molecules"), S("-sample_molecules")], 1, "<n>", "molecules in the beam (default: from size, density and -MW)", |o, f, v, _| { o.sample.molecules = num(f, v)?; Ok(()) }),
    nb!("-MW", [E("-MW"), S("-molecular")], 1, "<g/mol>", "molecular weight (default 18); also -molecular_weight", |o, f, v, _| {
        let mw = num(f, v)?;
        if mw == 0.0 {
            return Err(Error::Usage(format!("{f}: the molecular weight must not be 0")));
        }
        o.sample.molecular_weight = mw;
        Ok(())
    }),
    nb!("-Xbeam", [S("-Xbeam")], 1, "<mm>", "direct-beam position along the fast axis (pivots about the beam spot)", |o, f, v, _| { o.xbeam = Some(mm(f, v)?); o.pivot = Pivot::Beam; Ok(()) }),
    nb!("-Ybeam", [S("-Ybeam")], 1, "<mm>", "direct-beam position along the slow axis (pivots about the beam spot)", |o, f, v, _| { o.ybeam = Some(mm(f, v)?); o.pivot = Pivot::Beam; Ok(()) }),
    nb!("-Xclose", [S("-Xclose")], 1, "<mm>", "point of closest approach, fast axis (pivots about the sample)", |o, f, v, _| { o.xclose = Some(mm(f, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-Yclose", [S("-Yclose")], 1, "<mm>", "point of closest approach, slow axis (pivots about the sample)", |o, f, v, _| { o.yclose = Some(mm(f, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-ORGX", [S("-ORGX")], 1, "<pixels>", "XDS ORGX (pivots about the sample)", |o, f, v, _| { o.orgx = Some(num(f, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-ORGY", [S("-ORGY")], 1, "<pixels>", "XDS ORGY (pivots about the sample)", |o, f, v, _| { o.orgy = Some(num(f, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-pivot", [S("-pivot")], 1, "sample|beam", "what the detector rotations keep fixed", |o, _, v, _| {
        if v[0].contains("sample") {
            o.pivot = Pivot::Sample;
        }
        if v[0].contains("beam") {
            o.pivot = Pivot::Beam;
        }
        Ok(())
    }),
    nb!("-fdet_vector", [S("-fdet_vector")], 3, "<x y z>", "fast detector axis (default 0 0 1)", |o, f, v, _| { o.fdet = vec3(f, v)?; Ok(()) }),
    nb!("-sdet_vector", [S("-sdet_vector")], 3, "<x y z>", "slow detector axis (default 0 -1 0)", |o, f, v, _| { o.sdet = vec3(f, v)?; Ok(()) }),
    nb!("-odet_vector", [S("-odet_vector")], 3, "<x y z>", "accepted; nonBragg.c always uses fast × slow", |_, f, v, _| vec3(f, v).map(drop)),
    nb!("-beam_vector", [S("-beam_vector")], 3, "<x y z>", "incident beam direction (default 1 0 0)", |o, f, v, _| { o.beam = vec3(f, v)?; Ok(()) }),
    nb!("-polar_vector", [S("-polar_vector")], 3, "<x y z>", "E-vector reference axis (default 0 0 1)", |o, f, v, _| { o.polar_vector = vec3(f, v)?; Ok(()) }),
    nb!("-spindle_axis", [S("-spindle_axis")], 3, "<x y z>", "accepted; nothing rotates in nonBragg", |_, f, v, _| vec3(f, v).map(drop)),
    nb!("-twotheta_axis", [S("-twotheta_axis")], 3, "<x y z>", "detector 2θ axis (default 0 1 0); the argument also sets -twotheta to its first value, as in nonBragg.c", |o, f, v, _| { o.twotheta_axis = vec3(f, v)?; Ok(()) }),
    nb!("-pix0_vector", [S("-pix0_vector")], 3, "<x y z>", "accepted and ignored, as in nonBragg.c (the origin comes from the beam centre)", |_, f, v, _| vec3(f, v).map(drop)),
    nb!("-distance", [S("-distance")], 1, "<mm>", "sample to detector along the beam (default 100; pivots about the beam spot)", |o, f, v, _| { o.distance = positive_mm(f, v)?; o.pivot = Pivot::Beam; Ok(()) }),
    nb!("-close_distance", [S("-close_distance")], 1, "<mm>", "sample to detector plane (pivots about the sample)", |o, f, v, _| { o.close_distance = Some(positive_mm(f, v)?); o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-source_distance", [S("-source_distance")], 1, "<mm>", "distance of the generated sources (default 10 m)", |o, f, v, _| { o.source_distance = mm(f, v)?; Ok(()) }),
    nb!("-twotheta", [S("-twotheta")], 1, "<deg>", "detector 2θ swing (pivots about the sample)", |o, f, v, _| { o.twotheta = num(f, v)? / RTD; o.pivot = Pivot::Sample; Ok(()) }),
    nb!("-detector_rotx", [S("-detector_rotx")], 1, "<deg>", "detector rotation about x", |o, f, v, _| { o.rot[0] = num(f, v)? / RTD; Ok(()) }),
    nb!("-detector_roty", [S("-detector_roty")], 1, "<deg>", "detector rotation about y", |o, f, v, _| { o.rot[1] = num(f, v)? / RTD; Ok(()) }),
    nb!("-detector_rotz", [S("-detector_rotz")], 1, "<deg>", "detector rotation about z", |o, f, v, _| { o.rot[2] = num(f, v)? / RTD; Ok(()) }),
    nb!("-detsize", [], 1, "<mm>", "detector size, both axes (default 102.4)", |o, f, v, _| { let s = mm(f, v)?; o.detsize = [s, s]; Ok(()) }),
    nb!("-detsize_x", [S("-detsize_x")], 1, "<mm>", "detector size along the fast axis", |o, f, v, _| { o.detsize[0] = mm(f, v)?; Ok(()) }),
    nb!("-detsize_y", [S("-detsize_y")], 1, "<mm>", "detector size along the slow axis", |o, f, v, _| { o.detsize[1] = mm(f, v)?; Ok(()) }),
    nb!("-detpixels", [], 1, "<n>", "pixels along both axes", |o, f, v, _| { let n = int(o, f, v)?; o.detpixels = [n, n]; Ok(()) }),
    nb!("-detpixels_x", [S("-detpixels_f"), S("-detpixels_x")], 1, "<n>", "pixels along the fast axis; also -detpixels_f", |o, f, v, _| { o.detpixels[0] = int(o, f, v)?; Ok(()) }),
    nb!("-detpixels_y", [S("-detpixels_s"), S("-detpixels_y")], 1, "<n>", "pixels along the slow axis; also -detpixels_s", |o, f, v, _| { o.detpixels[1] = int(o, f, v)?; Ok(()) }),
    nb!("-curved_det", [S("-curved_det")], 0, "", "every pixel at the same distance from the sample (nonBragg.c ignores it as the last argument; -c_parity too)", |o, _, _, ctx| {
        if !(ctx.is_last && o.c_parity) {
            o.curved = true;
        }
        Ok(())
    }),
    nb!("-pixel", [S("-pixel")], 1, "<mm>", "pixel size (default 0.1)", |o, f, v, _| { o.pixel = mm(f, v)?; Ok(()) }),
    nb!("-point_pixel", [S("-point_pixel")], 0, "", "solid angle 1/R² (no obliquity)", |o, _, _, _| { o.point_pixel = true; Ok(()) }),
    nb!("-Fmap", [S("-Fmap")], 0, "", "write the structure factor F(stol) at each pixel instead of photons", |o, _, _, _| { o.fmap = true; Ok(()) }),
    nb!("-polar", [], 1, "<factor>", "Kahn polarisation factor (default 0: unpolarised)", |o, f, v, _| { o.polarization = num(f, v)?; o.nopolar = false; Ok(()) }),
    nb!("-nopolar", [S("-nopolar")], 0, "", "no polarisation factor", |o, _, _, _| { o.nopolar = true; Ok(()) }),
    nb!("-oversample", [S("-oversample")], 1, "<n>", "sub-pixels per pixel edge (default 1)", |o, f, v, _| { o.oversample = int(o, f, v)?; Ok(()) }),
    nb!("-roi", [S("-roi")], 4, "<xmin xmax ymin ymax>", "render only these pixels (inclusive); the rest are 0", |o, f, v, _| {
        let limits = v.iter().map(|s| int(o, f, &[s])).collect::<Result<Vec<i64>>>()?;
        o.roi.iter_mut().zip(limits).for_each(|(slot, n)| *slot = n);
        Ok(())
    }),
    nb!("-lambda", [S("-lambda"), S("-wave")], 1, "<Å>", "wavelength (default 1); also -wavelength", |o, f, v, _| { o.lambda0 = num(f, v)? / 1e10; Ok(()) }),
    nb!("-energy", [S("-energy")], 1, "<eV>", "photon energy (sets the wavelength)", |o, f, v, _| { o.lambda0 = 12398.42 / num(f, v)? / 1e10; Ok(()) }),
    nb!("-fluence", [S("-fluence")], 1, "<photons/m²>", "integrated incident fluence (default 1.26e29)", |o, f, v, _| { o.fluence = num(f, v)?; Ok(()) }),
    nb!("-flux", [S("-flux")], 1, "<photons/s>", "incident flux (with -exposure and -beamsize sets the fluence)", |o, f, v, _| { o.flux = num(f, v)?; Ok(()) }),
    nb!("-exposure", [S("-exposure")], 1, "<s>", "exposure time (default 1)", |o, f, v, _| { o.exposure = num(f, v)?; Ok(()) }),
    nb!("-beamsize", [S("-beamsize")], 1, "<mm>", "edge of the square beam (default 0.1); clips the sample", |o, f, v, _| { o.beamsize = mm(f, v)?; Ok(()) }),
    nb!("-dispersion", [S("-dispersion")], 1, "<percent>", "spectral width Δλ/λ (default 0)", |o, f, v, _| { o.dispersion = num(f, v)? / 100.0; Ok(()) }),
    nb!("-dispsteps", [S("-dispsteps")], 1, "<n>", "wavelengths across the width", |o, f, v, _| { o.dispsteps = int(o, f, v)?; Ok(()) }),
    nb!("-divergence", [S("-divergence")], 1, "<mrad>", "beam divergence, both directions", |o, f, v, _| { let d = mm(f, v)?; o.hdivrange = d; o.vdivrange = d; Ok(()) }),
    nb!("-hdivrange", [S("-hdivrange")], 1, "<mrad>", "horizontal divergence", |o, f, v, _| { o.hdivrange = mm(f, v)?; Ok(()) }),
    nb!("-vdivrange", [S("-vdivrange")], 1, "<mrad>", "vertical divergence", |o, f, v, _| { o.vdivrange = mm(f, v)?; Ok(()) }),
    nb!("-hdivstep", [], 1, "<mrad>", "horizontal divergence step", |o, f, v, _| { o.hdivstep = mm(f, v)?; Ok(()) }),
    nb!("-hdivsteps", [S("-hdivsteps")], 1, "<n>", "horizontal divergence steps", |o, f, v, _| { o.hdivsteps = int(o, f, v)?; Ok(()) }),
    nb!("-vdivstep", [], 1, "<mrad>", "vertical divergence step", |o, f, v, _| { o.vdivstep = mm(f, v)?; Ok(()) }),
    nb!("-vdivsteps", [S("-vdivsteps")], 1, "<n>", "vertical divergence steps", |o, f, v, _| { o.vdivsteps = int(o, f, v)?; Ok(()) }),
    nb!("-divsteps", [S("-divsteps")], 1, "<n>", "divergence steps, both directions", |o, f, v, _| { let n = int(o, f, v)?; o.hdivsteps = n; o.vdivsteps = n; Ok(()) }),
    nb!("-round_div", [S("-round_div")], 0, "", "trim the divergence grid to an ellipse (default)", |o, _, _, _| { o.round_div = true; Ok(()) }),
    nb!("-square_div", [S("-square_div")], 0, "", "keep the whole divergence grid", |o, _, _, _| { o.round_div = false; Ok(()) }),
    nb!("-adc", [S("-adc")], 1, "<ADU>", "offset added to the integer images (default 40)", |o, f, v, _| { o.adc = num(f, v)?; Ok(()) }),
    nb!("-gain", [S("-gain")], 1, "<ADU/photon>", "accepted; nonBragg.c uses it only with -img", |_, f, v, _| num(f, v).map(drop)),
    nb!("-phi", [], 1, "<deg>", "PHI and OSC_START of the SMV header (default 0)", |o, f, v, _| { o.phi0 = num(f, v)? / RTD; Ok(()) }),
    nb!("-osc", [S("-osc")], 1, "<deg>", "OSC_RANGE of the SMV header", |o, f, v, _| { o.osc = num(f, v)? / RTD; Ok(()) }),
    nb!("-phistep", [], 1, "<deg>", "for the header's OSC_RANGE, as nonBragg.c resolves it", |o, f, v, _| { o.phistep = num(f, v)? / RTD; Ok(()) }),
    nb!("-phisteps", [S("-phisteps")], 1, "<n>", "for the header's OSC_RANGE, as nonBragg.c resolves it", |o, f, v, _| { o.phisteps = int(o, f, v)?; Ok(()) }),
    nb!("-img", [S("-img")], 1, "<file>", "not supported (nonBragg.c's F(stol) extraction from an image)", |_, f, _, _| unsupported(f)),
    nb!("-ignore", [S("-ignore")], 1, "<value>", "not supported (only for -img)", |_, f, _, _| unsupported(f)),
    nb!("-stolout", [], 1, "<file>", "not supported (only for -img)", |_, f, _, _| unsupported(f)),
    nb!("-stol", [], 1, "<file>", "the amorphous material's table: lines of sin(θ)/λ (Å⁻¹) and F (electrons)", |o, _, v, _| { o.stol = Some((v[0].into(), StolUnit::Stol)); Ok(()) }),
    nb!("-4stol", [], 1, "<file>", "as -stol with 4·sin(θ)/λ in the first column", |o, _, v, _| { o.stol = Some((v[0].into(), StolUnit::FourStol)); Ok(()) }),
    nb!("-Q", [], 1, "<file>", "as -stol with Q = 4π·sin(θ)/λ in the first column", |o, _, v, _| { o.stol = Some((v[0].into(), StolUnit::Q)); Ok(()) }),
    nb!("-sourcefile", [S("-sourcefile")], 1, "<file>", "sources: lines of X Y Z (position) weight λ(m)", |o, _, v, _| { o.sourcefile = Some(v[0].into()); Ok(()) }),
    nb!("-floatfile", [S("-floatfile"), S("-floatimage")], 1, "<file>", "photons/pixel as 4-byte floats (default floatimage.bin); also -floatimage", |o, _, v, _| { o.floatfile = v[0].into(); Ok(()) }),
    nb!("-intfile", [S("-intfile"), S("-intimage")], 1, "<file>", "scaled SMV image (default intimage.img); also -intimage", |o, _, v, _| { o.intfile = v[0].into(); Ok(()) }),
    nb!("-pgmfile", [S("-pgmfile"), S("-pgmimage")], 1, "<file>", "PGM image (default image.pgm); also -pgmimage", |o, _, v, _| { o.pgmfile = v[0].into(); Ok(()) }),
    nb!("-noisefile", [S("-noisefile"), S("-noiseimage")], 1, "<file>", "SMV image with Poisson noise (default noiseimage.img); also -noiseimage", |o, _, v, _| { o.noisefile = v[0].into(); o.calculate_noise = true; Ok(()) }),
    nb!("-nonoise", [S("-nonoise")], 0, "", "no noise image", |o, _, _, _| { o.calculate_noise = false; Ok(()) }),
    nb!("-nopgm", [S("-nopgm")], 0, "", "no PGM image (nonBragg.c writes it anyway; -c_parity too)", |o, _, _, _| { o.write_pgm = false; Ok(()) }),
    nb!("-noreject", [S("-noreject")], 0, "", "accepted (outlier rejection is off; only for -img)", |_, _, _, _| Ok(())),
    nb!("-scale", [S("-scale")], 1, "<factor>", "scale of the SMV image (default 55000/max)", |o, f, v, _| { o.intfile_scale = num(f, v)?; Ok(()) }),
    nb!("-pgmscale", [S("-pgmscale")], 1, "<factor>", "scale of the PGM image (default 250/(5·rmsd))", |o, f, v, _| { o.pgm_scale = num(f, v)?; Ok(()) }),
    nb!("-coherent", [S("-coherent")], 0, "", "accepted and unused, as in nonBragg.c", |_, _, _, _| Ok(())),
    nb!("-printout", [S("-printout")], 0, "", "not supported (per-pixel printing)", |_, f, _, _| unsupported(f)),
    nb!("-noprogress", [S("-noprogress")], 0, "", "no progress lines", |o, _, _, _| { o.progress = false; Ok(()) }),
    nb!("-progress", [S("-progress")], 0, "", "progress lines (default)", |o, _, _, _| { o.progress = true; Ok(()) }),
    nb!("-seed", [S("-seed")], 1, "<n>", "seed of the noise image (default: the time)", |o, f, v, _| { o.seed = Some(-int(o, f, v)?); Ok(()) }),
    nb!("-c_parity", [E("-c_parity")], 0, "", "+ nonBragg.c's serial state, generator and slips: images equal the C program's", |o, _, _, _| { o.c_parity = true; Ok(()) }),
];

fn matches(f: &NonBraggFlag, arg: &str) -> bool {
    match GUARDED.iter().find(|(name, _)| *name == f.name) {
        Some((_, g)) => guarded(arg, *g),
        None => f.patterns.iter().any(|p| p.matches(arg)),
    }
}

/// Help generated from the table.
pub fn help_text() -> String {
    let mut out = String::from(
        "usage: nanobragg nonBragg -stol FILE [flags]\n\
         Renders the diffuse scattering of an amorphous sample, like nonBragg.c.\n\
         Flags match as in nonBragg.c (any argument containing the text); + marks ours.\n\n",
    );
    for f in FLAGS {
        let head = format!("  {} {}", f.name, f.value_names);
        out.push_str(&format!("{:<34}{}\n", head.trim_end(), f.help));
    }
    out
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options { c_parity: args.iter().any(|a| a == "-c_parity"), ..Options::default() };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if !arg.starts_with('-') {
            return Err(Error::Usage(format!("nonBragg: unexpected argument '{arg}'")));
        }
        let matched: Vec<&NonBraggFlag> = FLAGS.iter().filter(|f| matches(f, arg)).collect();
        if matched.is_empty() {
            return Err(Error::Usage(format!("nonBragg: unknown flag '{arg}' (nanobragg nonBragg -h lists them)")));
        }
        let count = matched.iter().map(|f| f.values).max().unwrap_or(0);
        if i + count >= args.len() && count > 0 {
            return Err(Error::Usage(format!("{arg}: missing value ({count} expected)")));
        }
        let values: Vec<&str> = args[i + 1..i + 1 + count].iter().map(String::as_str).collect();
        let ctx = Ctx { is_last: i + 1 == args.len() };
        for f in matched {
            (f.apply)(&mut o, arg, &values[..f.values], &ctx)?;
        }
        i += 1 + count;
    }
    Ok(o)
}

/// Entry point: the exit status.
pub fn main(args: &[String]) -> i32 {
    super::companion_main("nonBragg", args, help_text, parse, run)
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
fn check_counts(o: &Options, steps: [i64; 3], pixels: usize) -> Result<()> {
    if o.sourcefile.is_none() {
        let entries = steps.iter().try_fold(1u64, |acc, &n| acc.checked_mul(u64::try_from(n.max(0)).ok()?));
        if entries.is_none_or(|n| n > crate::model::MAX_TABLE) {
            return Err(Error::Resource(format!(
                "sources (-hdivsteps × -vdivsteps × -dispsteps): {} × {} × {} entries are more than the limit of {}",
                steps[0],
                steps[1],
                steps[2],
                crate::model::MAX_TABLE
            )));
        }
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

/// Axes that define no direction (a zero vector) or detector axes that span no plane (fast ∥
/// slow) place a meaningless detector: refused as the main command refuses them.
fn check_axes(o: &Options) -> Result<()> {
    use crate::physics::magnitude;
    let named = [("-beam_vector", o.beam), ("-fdet_vector", o.fdet), ("-sdet_vector", o.sdet), ("-polar_vector", o.polar_vector), ("-twotheta_axis", o.twotheta_axis)];
    if let Some((flag, v)) = named.iter().find(|(_, v)| !(magnitude(*v) > 0.0)) {
        return refuse_or_warn(o, format!("{flag} {} {} {}: the vector has no length, so it defines no direction", v[0], v[1], v[2]));
    }
    let sine = magnitude(cross(o.fdet, o.sdet)) / (magnitude(o.fdet) * magnitude(o.sdet));
    if !(sine > 1e-9) {
        let (f, s) = (o.fdet, o.sdet);
        return refuse_or_warn(o, format!("-fdet_vector {} {} {} and -sdet_vector {} {} {} are parallel: the detector axes span no plane", f[0], f[1], f[2], s[0], s[1], s[2]));
    }
    Ok(())
}

/// The detector as nonBragg.c places it.
struct Placement {
    pix0: V3,
    fdet: V3,
    sdet: V3,
    odet: V3,
    beam: V3,
    polar: V3,
    vert: V3,
    distance: f64,
    close_distance: f64,
    xbeam: f64,
    ybeam: f64,
    xclose: f64,
    yclose: f64,
}

fn place_detector(o: &Options, detsize: [f64; 2]) -> Placement {
    let (beam, _) = unitize(o.beam);
    let (fdet, _) = unitize(o.fdet);
    let (sdet, _) = unitize(o.sdet);
    let (odet, _) = unitize(cross(fdet, sdet));
    let (polar, _) = unitize(o.polar_vector);
    let (vert, _) = unitize(cross(beam, polar));
    let xclose = o.orgx.map(|x| x * o.pixel).or(o.xclose).unwrap_or((detsize[0] - o.pixel) / 2.0);
    let yclose = o.orgy.map(|y| y * o.pixel).or(o.yclose).unwrap_or((detsize[1] + o.pixel) / 2.0);
    let xbeam = o.xbeam.unwrap_or(xclose);
    let ybeam = o.ybeam.unwrap_or(yclose);
    let mut ratio = dot(beam, rotate_xyz(odet, o.rot));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let close_distance = o.close_distance.unwrap_or(ratio * o.distance);
    let distance = close_distance / ratio;
    let mut pix0 = [0.0; 3];
    if o.pivot == Pivot::Sample {
        pix0 = std::array::from_fn(|k| -xclose * fdet[k] - yclose * sdet[k] + close_distance * odet[k]);
        pix0 = rotate_axis(rotate_xyz(pix0, o.rot), o.twotheta_axis, o.twotheta);
    }
    let [fdet, sdet, odet] = [fdet, sdet, odet].map(|v| rotate_axis(rotate_xyz(v, o.rot), o.twotheta_axis, o.twotheta));
    if o.pivot == Pivot::Beam {
        pix0 = std::array::from_fn(|k| -xbeam * fdet[k] - ybeam * sdet[k] + distance * beam[k]);
    }
    let xclose = -dot(pix0, fdet);
    let yclose = -dot(pix0, sdet);
    let close_distance = dot(pix0, odet);
    let toward: V3 = std::array::from_fn(|k| close_distance / ratio * beam[k] - pix0[k]);
    Placement {
        pix0,
        fdet,
        sdet,
        odet,
        beam,
        polar,
        vert,
        distance: close_distance / ratio,
        close_distance,
        xbeam: dot(fdet, toward),
        ybeam: dot(sdet, toward),
        xclose,
        yclose,
    }
}

/// nonBragg.c's sources: the `-sourcefile` rows (weights and wavelengths used), or the
/// divergence grid (trimmed to an ellipse with `-round_div`) × the dispersion wavelengths.
/// Returns the sources, the number of divergence directions (−1 with a source file, as C
/// prints it) and the report lines.
fn make_sources(o: &Options, p: &Placement, div: [(f64, f64, i64); 2], disp: (f64, f64, i64), lines: &mut Vec<String>) -> Result<(Vec<BackgroundSource>, i64)> {
    let (dispersion, dispstep, dispsteps) = disp;
    if let Some(path) = &o.sourcefile {
        let rows = crate::io::sourcefile::read_sourcefile(path, o.c_parity).map_err(|e| e.from_flag("-sourcefile"))?;
        let sources = rows
            .iter()
            .map(|r| BackgroundSource {
                position: std::array::from_fn(|k| r.position[k].unwrap_or(-o.source_distance * p.beam[k])),
                weight: r.weight.unwrap_or(1.0),
                lambda: r.lambda_m.unwrap_or(o.lambda0),
            })
            .collect();
        return Ok((sources, -1));
    }
    let [(hrange, hstep, hsteps), (vrange, vstep, vsteps)] = div;
    let mut directions = Vec::new();
    for h in 0..hsteps {
        for v in 0..vsteps {
            let hdiv = hstep * h as f64 - hrange / 2.0;
            let vdiv = vstep * v as f64 - vrange / 2.0;
            let mut test = (hdiv * hdiv - hstep * hstep / 4.0 * (1 - hsteps % 2) as f64) / hrange / hrange;
            test += (vdiv * vdiv - vstep * vstep / 4.0 * (1 - vsteps % 2) as f64) / vrange / vrange;
            if o.round_div && test * 4.0 > 1.1 {
                continue;
            }
            lines.push(format!("divergence deviation: {} {}", fmt_g(hdiv), fmt_g(vdiv)));
            let start: V3 = std::array::from_fn(|k| -o.source_distance * p.beam[k]);
            directions.push(rotate_axis(rotate_axis(start, p.polar, vdiv), p.vert, hdiv));
        }
    }
    let lambdas: Vec<f64> = (0..dispsteps).map(|t| o.lambda0 * (1.0 + dispstep * t as f64 - dispersion / 2.0)).collect();
    for (t, l) in lambdas.iter().enumerate() {
        lines.push(format!("lambda{t} = {}", fmt_g_precision(*l, 15)));
    }
    let sources = directions.iter().flat_map(|&position| lambdas.iter().map(move |&lambda| BackgroundSource { position, lambda, weight: 1.0 })).collect();
    Ok((sources, directions.len() as i64))
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
    let div = [range_steps(o.hdivrange, o.hdivstep, o.hdivsteps), range_steps(o.vdivrange, o.vdivstep, o.vdivsteps)];
    let disp = range_steps(o.dispersion, -1.0, o.dispsteps);
    check_counts(o, [div[0].2, div[1].2, disp.2], fpixels * spixels)?;
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
    let p = place_detector(o, detsize);
    outln!("pivoting detector around {}", if o.pivot == Pivot::Sample { "sample" } else { "direct beam spot" });
    outln!("reading {}", stol_path.display());
    let mut lines = Vec::new();
    let (sources, divsteps) = make_sources(o, &p, div, disp, &mut lines)?;
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
    outln!("  Xbeam={} Ybeam={}", fmt_g(p.xbeam), fmt_g(p.ybeam));
    let v3 = |v: V3| format!("{} {} {}", fmt_g(v[0]), fmt_g(v[1]), fmt_g(v[2]));
    outln!("  detector origin: {}", v3(p.pix0));
    outln!("  DIRECTION_OF_DETECTOR_X-AXIS= {}", v3(p.fdet));
    outln!("  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v3(p.sdet));
    outln!("  INCIDENT_BEAM_DIRECTION= {}", v3(p.beam));
    outln!("  POLARIZATION_PLANE_NORMAL= {}", v3(p.polar));
    outln!("  roi: {} < x < {} && {} < y < {}", roi[0], roi[1], roi[2], roi[3]);
    outln!("  hdivrange={} hdivstep={}  radians", fmt_g(div[0].0), fmt_g(div[0].1));
    outln!("  vdivrange={} vdivstep={}  radians", fmt_g(div[1].0), fmt_g(div[1].1));
    outln!("  {divsteps} divergence steps");
    outln!("  {} sources", sources.len());
    outln!("  {oversample} pixel oversample steps");
    let seed = o.seed.unwrap_or_else(|| -(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1)));
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
        beam: p.beam,
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
        polar_axis: p.polar,
        panels: Vec::new(),
    };
    let scale = BackgroundScale { r_e_sqr: R_E_SQR, fluence, molecules: sample.molecules, steps: steps as f64 };
    let bg = render(&geometry, &sample.table, &scale, o.c_parity);
    let rendered = |idx: usize| geometry_renders(&roi, idx % fpixels, idx / fpixels);
    let image: Vec<f32> = if o.fmap { bg.last_f.iter().map(|&f| f as f32).collect() } else { bg.image.iter().map(|&v| v as f32).collect() };
    if o.progress {
        let count = (0..image.len()).filter(|&i| rendered(i)).count() as u64;
        for l in progress_lines(count, progress_total) {
            outln!("{l}");
        }
    }
    outln!();
    // nonBragg.c sums the full-pixel solid angle over every sub-pixel; the default mode reports
    // the detector's solid angle
    let omega = if o.c_parity { bg.omega_sum } else { bg.omega_sum / (oversample * oversample) as f64 };
    outln!("solid angle subtended by detector = {} steradian ( {}% sphere)", fmt_g(omega), fmt_g(100.0 * omega / 4.0 / std::f64::consts::PI));

    // statistics over the rendered pixels, as nonBragg.c works them out
    let (mut max_i, mut max_at, mut sum, mut sumsqr, mut n) = (0.0f64, None, 0.0f64, 0.0f64, 0u64);
    for (i, &v) in image.iter().enumerate() {
        if !rendered(i) {
            continue;
        }
        let v = f64::from(v);
        if v > max_i {
            max_i = v;
            max_at = Some(i);
        }
        sum += v;
        sumsqr += v * v;
        n += 1;
    }
    let avg = sum / n.max(1) as f64;
    let rms = (sumsqr / (n.max(2) - 1) as f64).sqrt();
    let mut dev = 0.0;
    let mut m = 0u64;
    for i in 0..image.len() {
        if !rendered(i) {
            continue;
        }
        // C: its second loop steps the index before reading, so each pixel's deviation is
        // taken from the next pixel's value (and the last from the zero past the image)
        let v = if o.c_parity { image.get(i + 1).map_or(0.0, |&x| f64::from(x)) } else { f64::from(image[i]) };
        dev += (v - avg) * (v - avg);
        m += 1;
    }
    let rmsd = (dev / (m.max(2) - 1) as f64).sqrt();
    let (max_x, max_y) = match max_at {
        // C reports the position of the pixel's last sub-pixel
        Some(i) => {
            let last = |pixel: usize| geometry.subpixel_grid().subpixel_coordinate(pixel, oversample - 1);
            (last(i % fpixels), last(i / fpixels))
        }
        None => (0.0, 0.0),
    };
    if o.fluence == crate::cli::raw::C_FLUENCE && o.flux == 0.0 && !o.fmap && max_i > 65535.0 {
        // the default fluence puts ~1e11 photons into every pixel (see app::hint_background_fluence)
        log::warn!(
            "rendered at the default fluence ({} photons/m^2): the brightest pixel holds {} photons, past a 16-bit detector's 65535; \
             give the beam's -fluence (photons/m^2), or -flux with -exposure and -beamsize",
            fmt_g(fluence),
            fmt_g(max_i)
        );
    }
    let float_bytes: Vec<u8> = image.iter().flat_map(|v| v.to_le_bytes()).collect();
    outln!("writing {} as {} 4-byte floats", o.floatfile.display(), image.len());
    outln!("max_I = {}  at {} {}", fmt_g(max_i), fmt_g(max_x), fmt_g(max_y));
    outln!("mean= {} rms= {} rmsd= {}", fmt_g(avg), fmt_g(rms), fmt_g(rmsd));
    let mut intfile_scale = o.intfile_scale;
    if intfile_scale <= 0.0 {
        intfile_scale = 1.0;
        if max_i > 0.0 {
            intfile_scale = 55000.0 / max_i;
        }
    }
    outln!("intfile_scale = {}", fmt_g(intfile_scale));
    let ints: Vec<u16> = image
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if !rendered(i) {
                return 0;
            }
            let test = (f64::from(v) * intfile_scale + o.adc).clamp(0.0, 65535.0);
            // C: floorf(test + 0.5), the sum rounded to float first
            ((test + 0.5) as f32).floor() as u16
        })
        .collect();
    let header = SmvHeader { o, fpixels, spixels, detsize_y: detsize[1], p: &p, osc: osc_range(o) };
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = vec![(o.floatfile.clone(), float_bytes)];
    outln!("writing {} as 2-byte integers", o.intfile.display());
    outputs.push((o.intfile.clone(), header.encode(&ints)));
    let mut pgm_scale = o.pgm_scale;
    if pgm_scale <= 0.0 {
        pgm_scale = intfile_scale;
        if rmsd > 0.0 {
            pgm_scale = 250.0 / (5.0 * rmsd);
        }
    }
    outln!("pgm_scale = {}", fmt_g(pgm_scale));
    let grey: Vec<u8> = image
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if !rendered(i) {
                return 0;
            }
            let test = (f64::from(v) * pgm_scale).min(255.0);
            // C converts to unsigned char through a 32-bit int, so a negative value wraps; the
            // default mode clamps it at 0
            if o.c_parity { (test as i32) as u8 } else { test.max(0.0) as u8 }
        })
        .collect();
    // nonBragg.c parses -nopgm and writes the PGM regardless
    if o.write_pgm || o.c_parity {
        outln!("writing {} as 1-byte integers", o.pgmfile.display());
        outputs.push((o.pgmfile.clone(), encode_pgm(fpixels, spixels, &grey, pgm_scale)));
    }
    if o.calculate_noise {
        let (noise, photons, overloads) = if o.c_parity {
            let n = crate::rng::noise_image(&image, rendered, seed, o.adc);
            (n.pixels, n.photons, n.overloads)
        } else {
            counter_noise(&image, rendered, seed, o.adc)
        };
        outln!("{photons:.0} photons on noise image ({overloads} overloads)");
        outln!("writing {} as 2-byte integers", o.noisefile.display());
        outputs.push((o.noisefile.clone(), header.encode(&noise)));
    }
    let files: Vec<(&Path, &[u8])> = outputs.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
    OutputsToWrite::open(&files)?.write()
}

fn geometry_renders(roi: &[usize; 4], fast: usize, slow: usize) -> bool {
    fast >= roi[0] && fast <= roi[1] && slow >= roi[2] && slow <= roi[3]
}

/// The default mode's noise image: each pixel's Poisson count from the counter-based
/// generator at (seed, frame 0, pixel), plus the ADC offset, clamped at 65535, truncated.
fn counter_noise(image: &[f32], rendered: impl Fn(usize) -> bool, seed: i64, adc: f64) -> (Vec<u16>, f64, u64) {
    let mut photons = 0.0;
    let mut overloads = 0;
    let pixels = image
        .iter()
        .enumerate()
        .map(|(i, &mean)| {
            if !rendered(i) {
                return 0;
            }
            let count = crate::response::sample::poisson(mean, &mut Draws::new(seed, 0, i as u32, Stage::Poisson));
            photons += f64::from(count);
            let mut value = f64::from(count) + adc;
            if value > 65535.0 {
                value = 65535.0;
                overloads += 1;
            }
            (value.max(0.0) as i32) as u16
        })
        .collect();
    (pixels, photons, overloads)
}

/// nonBragg.c's SMV header (its own key list), padded to 512 bytes, then the pixels.
struct SmvHeader<'a> {
    o: &'a Options,
    fpixels: usize,
    spixels: usize,
    detsize_y: f64,
    p: &'a Placement,
    osc: f64,
}

impl SmvHeader<'_> {
    fn encode(&self, pixels: &[u16]) -> Vec<u8> {
        let (o, p) = (self.o, self.p);
        let mut t = String::from("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n");
        t.push_str(&format!("SIZE1={};\nSIZE2={};\nPIXEL_SIZE={};\nDISTANCE={};\n", self.fpixels, self.spixels, fmt_g(o.pixel * 1000.0), fmt_g(p.distance * 1000.0)));
        t.push_str(&format!("WAVELENGTH={};\n", fmt_g(o.lambda0 * 1e10)));
        t.push_str(&format!("BEAM_CENTER_X={};\nBEAM_CENTER_Y={};\n", fmt_g(p.xbeam * 1000.0), fmt_g((self.detsize_y - p.ybeam) * 1000.0)));
        t.push_str(&format!("ORGX={};\nORGY={};\n", fmt_g(p.xclose / o.pixel), fmt_g(p.yclose / o.pixel)));
        t.push_str(&format!("CLOSE_DISTANCE={};\n", fmt_g(p.close_distance * 1000.0)));
        t.push_str(&format!("PHI={};\nOSC_START={};\nOSC_RANGE={};\n", fmt_g(o.phi0 * RTD), fmt_g(o.phi0 * RTD), fmt_g(self.osc * RTD)));
        t.push_str(&format!("TWOTHETA={};\n", fmt_g(o.twotheta * RTD)));
        t.push_str("DETECTOR_SN=000;\nBEAMLINE=fake;\n}\u{c}");
        while t.len() < 512 {
            t.push(' ');
        }
        let mut bytes = t.into_bytes();
        pixels.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
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
            ("-thick", "-thick: missing value"),
            ("-roi 1 2 3", "-roi: missing value"),
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
        let h = help_text();
        for f in FLAGS {
            assert!(h.contains(f.name), "{}", f.name);
        }
    }
}
