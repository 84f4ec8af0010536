//! The keyword arguments of the experiment: one per parameter flag of nanoBragg.c (and of
//! nanobragg's own detector model), named as the flag without its dash (`lambda_` for
//! `-lambda`, a Python keyword), in the flag's units, each handed to the core's builder method
//! of that flag (`nanobragg_core::params`), which converts and refuses exactly as the command
//! line's flag does. A refusal names the keyword where the command line names the flag
//! (`distance: value -5 must be greater than zero`).
//!
//! The flag table (`nanobragg_args::defs`) gives each keyword its help and units and the near
//! spellings an unknown keyword is told about; no argument text is built or parsed here.

use nanobragg_args::defs::edit_distance;
use nanobragg_core::params::{Convention, ExperimentParams as P, Mode, Pivot, Set, XtalShape};
use nanobragg_core::response::detector::NoiseOrder;
use nanobragg_core::response::psf::PsfShape;
use pyo3::prelude::*;
use pyo3::types::PyString;

type Real = for<'a> fn(&'a mut P, f64) -> Set<'a>;
type Whole = for<'a> fn(&'a mut P, i64) -> Set<'a>;
type Vector = for<'a> fn(&'a mut P, [f64; 3]) -> Set<'a>;
type Switch = for<'a> fn(&'a mut P, bool) -> &'a mut P;
type Custom = fn(&mut P, &Bound<'_, PyAny>, &str) -> Result<(), String>;

/// How a keyword's value reaches its builder method.
#[derive(Clone, Copy)]
enum Setter {
    /// a number (int, float, numpy scalar)
    Real(Real),
    /// a whole number (an int, or a float with no fraction, as the flag's `6.0`)
    Whole(Whole),
    /// three numbers
    Vector(Vector),
    /// True or False
    Switch(Switch),
    /// anything else (words, the cell's six numbers, ...)
    Custom(Custom),
}

/// One keyword: its name, the flag it stands for, and how it is set.
pub struct Keyword {
    pub name: &'static str,
    pub flag: &'static str,
    setter: Setter,
}

macro_rules! kw {
    ($name:literal, $flag:literal, $kind:ident($f:expr)) => {
        Keyword { name: $name, flag: $flag, setter: Setter::$kind($f) }
    };
}

/// Every parameter keyword, in the order of the command line's help sections.
pub static KEYWORDS: &[Keyword] = &[
    // crystal
    kw!("cell", "-cell", Custom(cell)),
    kw!("N", "-N", Whole(P::n_cells)),
    kw!("Na", "-Na", Whole(P::na)),
    kw!("Nb", "-Nb", Whole(P::nb)),
    kw!("Nc", "-Nc", Whole(P::nc)),
    kw!("misset", "-misset", Custom(misset)),
    kw!("samplesize", "-samplesize", Real(P::samplesize)),
    kw!("sample_thick", "-sample_thick", Real(P::sample_thick)),
    kw!("sample_width", "-sample_width", Real(P::sample_width)),
    kw!("sample_height", "-sample_height", Real(P::sample_height)),
    kw!("xtalsize", "-xtalsize", Real(P::samplesize)),
    kw!("xtal_thick", "-xtal_thick", Real(P::sample_thick)),
    kw!("xtal_width", "-xtal_width", Real(P::sample_width)),
    kw!("xtal_height", "-xtal_height", Real(P::sample_height)),
    kw!("mosaic", "-mosaic", Real(P::mosaic)),
    kw!("mosaic_domains", "-mosaic_domains", Whole(P::mosaic_domains)),
    kw!("default_F", "-default_F", Real(P::default_f)),
    kw!("interpolate", "-interpolate", Switch(P::interpolate)),
    kw!("xtal_shape", "-square_xtal", Custom(xtal_shape)),
    kw!("fudge", "-fudge", Real(P::fudge)),
    kw!("dmin", "-dmin", Real(P::dmin)),
    kw!("water", "-water", Real(P::water)),
    // beam
    kw!("lambda_", "-lambda", Real(P::lambda)),
    kw!("energy", "-energy", Real(P::energy)),
    kw!("fluence", "-fluence", Real(P::fluence)),
    kw!("flux", "-flux", Real(P::flux)),
    kw!("exposure", "-exposure", Real(P::exposure)),
    kw!("beamsize", "-beamsize", Real(P::beamsize)),
    kw!("polar", "-polar", Real(P::polar)),
    kw!("nopolar", "-nopolar", Switch(P::nopolar)),
    kw!("dispersion", "-dispersion", Real(P::dispersion)),
    kw!("dispsteps", "-dispsteps", Whole(P::dispsteps)),
    kw!("divergence", "-divergence", Real(P::divergence)),
    kw!("hdivrange", "-hdivrange", Real(P::hdivrange)),
    kw!("vdivrange", "-vdivrange", Real(P::vdivrange)),
    kw!("hdivstep", "-hdivstep", Real(P::hdivstep)),
    kw!("vdivstep", "-vdivstep", Real(P::vdivstep)),
    kw!("hdivsteps", "-hdivsteps", Whole(P::hdivsteps)),
    kw!("vdivsteps", "-vdivsteps", Whole(P::vdivsteps)),
    kw!("divsteps", "-divsteps", Whole(P::divsteps)),
    kw!("round_div", "-round_div", Switch(P::round_div)),
    // detector
    kw!("distance", "-distance", Real(P::distance)),
    kw!("close_distance", "-close_distance", Real(P::close_distance)),
    kw!("detpixels", "-detpixels", Whole(P::detpixels)),
    kw!("detpixels_f", "-detpixels_f", Whole(P::detpixels_f)),
    kw!("detpixels_s", "-detpixels_s", Whole(P::detpixels_s)),
    kw!("pixel", "-pixel", Real(P::pixel)),
    kw!("detsize", "-detsize", Real(P::detsize)),
    kw!("detsize_f", "-detsize_f", Real(P::detsize_f)),
    kw!("detsize_s", "-detsize_s", Real(P::detsize_s)),
    kw!("Xbeam", "-Xbeam", Real(P::xbeam)),
    kw!("Ybeam", "-Ybeam", Real(P::ybeam)),
    kw!("Xclose", "-Xclose", Real(P::xclose)),
    kw!("Yclose", "-Yclose", Real(P::yclose)),
    kw!("ORGX", "-ORGX", Real(P::orgx)),
    kw!("ORGY", "-ORGY", Real(P::orgy)),
    kw!("convention", "-mosflm", Custom(convention)),
    kw!("pivot", "-pivot", Custom(pivot)),
    kw!("twotheta", "-twotheta", Real(P::twotheta)),
    kw!("detector_rotx", "-detector_rotx", Real(P::detector_rotx)),
    kw!("detector_roty", "-detector_roty", Real(P::detector_roty)),
    kw!("detector_rotz", "-detector_rotz", Real(P::detector_rotz)),
    kw!("fdet_vector", "-fdet_vector", Vector(P::fdet_vector)),
    kw!("sdet_vector", "-sdet_vector", Vector(P::sdet_vector)),
    kw!("odet_vector", "-odet_vector", Vector(P::odet_vector)),
    kw!("beam_vector", "-beam_vector", Vector(P::beam_vector)),
    kw!("polar_vector", "-polar_vector", Vector(P::polar_vector)),
    kw!("twotheta_axis", "-twotheta_axis", Vector(P::twotheta_axis)),
    kw!("pix0_vector", "-pix0_vector", Vector(P::pix0_vector)),
    kw!("pix0_vector_mm", "-pix0_vector_mm", Vector(P::pix0_vector_mm)),
    kw!("curved_det", "-curved_det", Switch(P::curved_det)),
    kw!("point_pixel", "-point_pixel", Switch(P::point_pixel)),
    kw!("detector_abs", "-detector_abs", Real(P::detector_abs)),
    kw!("detector_thick", "-detector_thick", Real(P::detector_thick)),
    kw!("detector_thicksteps", "-detector_thicksteps", Whole(P::detector_thicksteps)),
    kw!("roi", "-roi", Custom(roi)),
    // rotation
    kw!("phi", "-phi", Real(P::phi)),
    kw!("osc", "-osc", Real(P::osc)),
    kw!("phistep", "-phistep", Real(P::phistep)),
    kw!("phisteps", "-phisteps", Whole(P::phisteps)),
    kw!("spindle_axis", "-spindle_axis", Vector(P::spindle_axis)),
    // sampling
    kw!("oversample", "-oversample", Custom(oversample)),
    kw!("oversample_thick", "-oversample_thick", Switch(P::oversample_thick)),
    kw!("oversample_polar", "-oversample_polar", Switch(P::oversample_polar)),
    kw!("oversample_omega", "-oversample_omega", Switch(P::oversample_omega)),
    // the integer image and the amorphous background
    kw!("scale", "-scale", Custom(scale)),
    kw!("adc", "-adc", Real(P::adc)),
    kw!("bg_thick", "-bg_thick", Real(P::bg_thick)),
    kw!("bg_width", "-bg_width", Real(P::bg_width)),
    kw!("bg_height", "-bg_height", Real(P::bg_height)),
    kw!("bg_size", "-bg_size", Real(P::bg_size)),
    kw!("density", "-density", Real(P::density)),
    kw!("MW", "-MW", Real(P::molecular_weight)),
    kw!("bg_molecules", "-bg_molecules", Real(P::bg_molecules)),
    // noise and seeds
    kw!("seed", "-seed", Custom(seed)),
    kw!("mosaic_seed", "-mosaic_seed", Custom(mosaic_seed)),
    kw!("misset_seed", "-misset_seed", Custom(misset_seed)),
    // the detector model of the noise image
    kw!("psf", "-psf", Custom(psf)),
    kw!("psf_fwhm", "-psf_fwhm", Real(P::psf_fwhm)),
    kw!("psf_radius", "-psf_radius", Whole(P::psf_radius)),
    kw!("readout_noise", "-readout_noise", Real(P::readout_noise)),
    kw!("flicker", "-flicker", Real(P::flicker)),
    kw!("calibration", "-calibration", Real(P::calibration)),
    kw!("calib_seed", "-calib_seed", Whole(P::calib_seed)),
    kw!("gain", "-gain", Real(P::gain)),
    kw!("bits", "-bits", Custom(bits)),
    kw!("noise_order", "-noise_order", Custom(noise_order)),
];

/// The keywords of the simulator itself (engine, inputs), beside the parameter keywords: for
/// the message about an unknown keyword.
pub const OBJECT_KEYWORDS: &[&str] =
    &["c_parity", "engine", "backend", "gpu_precision", "gpu_index", "hkl", "F", "column", "mtz_column", "mat", "matrix", "orientation", "sourcefile", "stol", "mask"];

/// The keyword named `name`.
pub fn find(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

impl Keyword {
    /// Sets this keyword's parameter from `value`; Err: the message, naming the keyword.
    pub fn apply(&self, p: &mut P, value: &Bound<'_, PyAny>) -> Result<(), String> {
        let name = self.name;
        let outcome = match self.setter {
            Setter::Real(set) => real(name, value).and_then(|x| set(p, x).map(drop).map_err(|e| e.reason)),
            Setter::Whole(set) => whole(name, value).and_then(|n| set(p, n).map(drop).map_err(|e| e.reason)),
            Setter::Vector(set) => numbers::<3>(name, value).and_then(|v| set(p, v).map(drop).map_err(|e| e.reason)),
            Setter::Switch(set) => switch(name, value).map(|on| {
                set(p, on);
            }),
            Setter::Custom(set) => set(p, value, name),
        };
        outcome.map_err(|reason| format!("{name}: {reason}"))
    }
}

/// The value as the message shows it.
fn shown(value: &Bound<'_, PyAny>) -> String {
    value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into())
}

/// A number: a Python int or float or anything with `__float__` (numpy scalars), but not a
/// string or a bool.
fn real(_: &str, value: &Bound<'_, PyAny>) -> Result<f64, String> {
    if value.is_instance_of::<PyString>() || value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(format!("value {} is not a number", shown(value)));
    }
    value.extract::<f64>().map_err(|_| format!("value {} is not a number", shown(value)))
}

/// A whole number: an int, or a float without a fraction (`6.0`, as the flag reads `-N 6.0`).
fn whole(name: &str, value: &Bound<'_, PyAny>) -> Result<i64, String> {
    if !value.is_instance_of::<pyo3::types::PyFloat>()
        && let Ok(n) = value.extract::<i64>()
        && !value.is_instance_of::<pyo3::types::PyBool>()
    {
        return Ok(n);
    }
    let x = real(name, value)?;
    if x.is_finite() && x == x.trunc() && x.abs() < 9.0e15 {
        Ok(x as i64)
    } else {
        Err(format!("value {} is not a whole number", shown(value)))
    }
}

/// `N` numbers, from a tuple, list or array.
fn numbers<const N: usize>(name: &str, value: &Bound<'_, PyAny>) -> Result<[f64; N], String> {
    let expected = || format!("expects {N} numbers, got {}", shown(value));
    if value.is_instance_of::<PyString>() {
        return Err(expected());
    }
    let items: Vec<Bound<'_, PyAny>> = value.try_iter().map_err(|_| expected())?.collect::<PyResult<_>>().map_err(|_| expected())?;
    if items.len() != N {
        return Err(expected());
    }
    let mut out = [0.0; N];
    for (slot, item) in out.iter_mut().zip(&items) {
        *slot = real(name, item)?;
    }
    Ok(out)
}

fn switch(_: &str, value: &Bound<'_, PyAny>) -> Result<bool, String> {
    value.extract::<bool>().map_err(|_| format!("value {} is not True or False", shown(value)))
}

/// One of `words`, as typed.
fn word<'a>(value: &Bound<'_, PyAny>, words: &[&'a str]) -> Result<&'a str, String> {
    let text: String = value.extract().map_err(|_| format!("value {} must be one of {}", shown(value), words.join(", ")))?;
    words.iter().copied().find(|w| *w == text).ok_or_else(|| format!("value '{text}' must be one of {}", words.join(", ")))
}

fn cell(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    let cell = numbers::<6>(name, value).map_err(|_| format!("expects 6 numbers (a b c alpha beta gamma), got {}", shown(value)))?;
    p.cell(cell).map(drop).map_err(|e| e.reason)
}

fn misset(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    if value.is_instance_of::<PyString>() {
        word(value, &["random"])?;
        p.misset_random();
        return Ok(());
    }
    let angles = numbers::<3>(name, value).map_err(|_| format!("expects 3 angles in degrees or 'random', got {}", shown(value)))?;
    p.misset(angles).map(drop).map_err(|e| e.reason)
}

fn roi(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    let v = numbers::<4>(name, value).map_err(|_| format!("expects 4 pixel numbers (xmin xmax ymin ymax), got {}", shown(value)))?;
    let mut n = [0i64; 4];
    for (slot, x) in n.iter_mut().zip(v) {
        if x != x.trunc() {
            return Err(format!("value {x} is not a whole number"));
        }
        *slot = x as i64;
    }
    p.roi(n).map(drop).map_err(|e| e.reason)
}

fn xtal_shape(p: &mut P, value: &Bound<'_, PyAny>, _: &str) -> Result<(), String> {
    let shape = match word(value, &["square", "round", "gauss", "tophat"])? {
        "square" => XtalShape::Square,
        "round" => XtalShape::Round,
        "gauss" => XtalShape::Gauss,
        _ => XtalShape::Tophat,
    };
    p.xtal_shape(shape);
    Ok(())
}

fn convention(p: &mut P, value: &Bound<'_, PyAny>, _: &str) -> Result<(), String> {
    let convention = match word(value, &["mosflm", "xds", "adxv", "denzo", "dials"])? {
        "mosflm" => Convention::Mosflm,
        "xds" => Convention::Xds,
        "adxv" => Convention::Adxv,
        "denzo" => Convention::Denzo,
        _ => Convention::Dials,
    };
    p.convention(convention);
    Ok(())
}

fn pivot(p: &mut P, value: &Bound<'_, PyAny>, _: &str) -> Result<(), String> {
    let pivot = if word(value, &["beam", "sample"])? == "beam" { Pivot::Beam } else { Pivot::Sample };
    p.pivot(pivot);
    Ok(())
}

fn oversample(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    p.oversample(whole(name, value)?);
    Ok(())
}

fn scale(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    let x = real(name, value)?;
    if !x.is_finite() {
        return Err(format!("value {x} is not a finite number"));
    }
    p.scale(x);
    Ok(())
}

fn seed(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    p.seed(whole(name, value)?);
    Ok(())
}

fn mosaic_seed(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    p.mosaic_seed(whole(name, value)?);
    Ok(())
}

fn misset_seed(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    p.misset_seed(whole(name, value)?);
    Ok(())
}

fn psf(p: &mut P, value: &Bound<'_, PyAny>, _: &str) -> Result<(), String> {
    let shape = if word(value, &["gauss", "fiber"])? == "gauss" { PsfShape::Gauss } else { PsfShape::Fiber };
    p.psf(shape).map(drop).map_err(|e| e.reason)
}

fn bits(p: &mut P, value: &Bound<'_, PyAny>, name: &str) -> Result<(), String> {
    let bits = match whole(name, value)? {
        16 => 16,
        32 => 32,
        other => return Err(format!("value {other} must be 16 or 32")),
    };
    p.bits(bits).map(drop).map_err(|e| e.reason)
}

fn noise_order(p: &mut P, value: &Bound<'_, PyAny>, _: &str) -> Result<(), String> {
    let order = if word(value, &["noisify", "simtbx"])? == "noisify" { NoiseOrder::Noisify } else { NoiseOrder::Simtbx };
    p.noise_order(order).map(drop).map_err(|e| e.reason)
}

/// The message for a keyword that is none of the simulator's, with the likely intent: a near
/// spelling of a keyword, or the keyword of a flag typed with its dash.
pub fn unknown(name: &str) -> String {
    let names = KEYWORDS.iter().map(|k| k.name).chain(OBJECT_KEYWORDS.iter().copied());
    let by_flag = KEYWORDS.iter().find(|k| k.flag.trim_start_matches('-') == name.trim_start_matches('-') || nanobragg_args::defs::find_exact(&format!("-{}", name.trim_start_matches('-'))).is_some_and(|f| f.name == k.flag));
    if let Some(k) = by_flag {
        return format!("unknown keyword '{name}' (did you mean {}?)", k.name);
    }
    let limit = (name.chars().count() / 4).clamp(1, 3);
    let near = names.map(|n| (edit_distance(&name.to_lowercase(), &n.to_lowercase()), n)).filter(|&(d, _)| d <= limit).min_by_key(|&(d, _)| d);
    match near {
        Some((_, n)) => format!("unknown keyword '{name}' (did you mean {n}?)"),
        None => format!("unknown keyword '{name}' (nanobragg.keywords() lists them)"),
    }
}


/// Every parameter keyword with the flag it stands for and that flag's help (values and
/// units): `{"distance": ("-distance", "<mm>", "sample to detector distance ...")}`.
#[pyfunction]
pub fn keywords() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    KEYWORDS
        .iter()
        .map(|k| {
            let flag = nanobragg_args::defs::find_exact(k.flag);
            (k.name, k.flag, flag.map_or("", |f| f.values), flag.map_or("", |f| f.help))
        })
        .collect()
}

/// `c_parity=True`: the mode, set before any other keyword (some builder methods depend on it).
pub fn mode_of(value: &Bound<'_, PyAny>) -> Result<Mode, String> {
    Ok(if switch("c_parity", value).map_err(|r| format!("c_parity: {r}"))? { Mode::CParity } else { Mode::Default })
}
