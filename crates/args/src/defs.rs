//! The flag tables and the one mechanism that reads them. Every flag of nanoBragg.c is defined
//! once here (those of noisify.c and nonBragg.c in `noisify_cmd.rs` and `nonbragg_cmd.rs`, as
//! tables of the same `Flag` type over their own options): its name, its synonyms, how the C
//! program recognises it, its values, its help text and what it sets. A `Program` is such a
//! table with the few rules in which the three programs' command lines differ; its help is
//! generated here and `parse::walk` walks its arguments. Nothing else knows flag names.

use super::raw::{Convention, EngineChoice, ExperimentParams as P, Mode, Pivot, RawArgs, XtalShape};
use crate::error::{Error, Result};
use crate::engine::gpu::Precision;
use crate::io::colormap::Colormap;
use crate::response::detector::NoiseOrder;
use crate::response::psf::PsfShape;
use nanobragg_core::params::Set;

pub use crate::physics::constants::RTD;

/// How the C program recognises a flag: `strstr` (any argument containing the text) or an
/// exact comparison (`strcmp`, or `strstr` guarded by the exact length). REFERENCE §1.
#[derive(Clone, Copy, Debug)]
pub enum CPattern {
    Sub(&'static str),
    Exact(&'static str),
}

impl CPattern {
    pub fn matches(self, token: &str) -> bool {
        match self {
            CPattern::Sub(p) => token.contains(p),
            CPattern::Exact(p) => token == p,
        }
    }
}

/// How many values follow the flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Fixed(usize),
    /// `-cell`: one to six numbers (C stops at the next token starting with '-')
    UpTo6,
    /// `-misset`: the word `random` or three numbers
    Misset,
    /// no value, or one attached as `-flag=value` (`-validate=128`)
    OptionalInline,
}

/// What the apply function learns besides the values.
pub struct Ctx<'a> {
    pub mode: Mode,
    /// the flag is the last argument of the command line
    pub is_last: bool,
    /// the argument as typed (a synonym, or any text containing the flag's, as C matches it),
    /// for the messages of the programs that name a flag so
    pub typed: &'a str,
}

/// What a flag does to the options `T` it sets (the main command's `RawArgs` by default).
pub type Apply<T = RawArgs> = fn(&mut T, &[&str], &Ctx<'_>) -> Result<()>;

pub struct Flag<T: 'static = RawArgs> {
    /// canonical spelling (the C one)
    pub name: &'static str,
    /// further spellings: exact ones accepted in nanobragg's default mode; for the programs that
    /// match as C does in both modes, the synonyms their help names (each matched by a pattern)
    pub aliases: &'static [&'static str],
    /// how the C program matches it; empty for flags the C program does not have
    pub c_patterns: &'static [CPattern],
    pub arity: Arity,
    /// value names for the help text, e.g. "<mm>"
    pub values: &'static str,
    pub help: &'static str,
    pub apply: Apply<T>,
    /// the C program `continue`s after this flag: no later flag is tested on the same argument
    pub stop: bool,
}

/// A program's command line: its flag table (over its options `T`) and the rules in which the
/// three C programs, as nanobragg reads them, differ. `parse::walk` reads an argument list by
/// these rules, `help_text` writes the help.
pub struct Program<T: 'static> {
    /// how the program is run, for messages ("nanobragg", "nanobragg noisify")
    pub invocation: &'static str,
    /// every flag, in the order the C program tests them (the order matters where one argument
    /// matches several flags)
    pub flags: &'static [Flag<T>],
    /// the arguments that turn `-c_parity` on; known before the walk, since it decides how every
    /// other argument is read
    pub c_parity: &'static [&'static str],
    /// the default mode takes the exact spellings (names and aliases) only, as nanobragg reads
    /// nanoBragg.c's flags; false: the C program's patterns in both modes (the companions,
    /// drop-ins whose command lines are written for the C)
    pub exact_by_default: bool,
    /// with `-c_parity` an argument no flag matches is passed over with a warning, as
    /// nanoBragg.c passes over it; false: refused in both modes
    pub c_parity_skips_unknown: bool,
    /// an argument that is neither a flag nor a flag's value, taken by the program itself (true
    /// when taken): noisify.c reads any argument naming `floatimage.bin` as its input
    pub operand: Option<fn(&mut T, &str) -> bool>,
    pub help: Help,
}

/// How a program's help is laid out.
pub struct Help {
    /// what comes before the flags
    pub intro: fn() -> String,
    /// the flags under titles, in the order shown (a flag left out is listed under "Other");
    /// empty: every flag in the table's order, untitled
    pub sections: &'static [(&'static str, &'static [&'static str])],
    /// where the description column starts
    pub column: usize,
    /// the widest line: descriptions wrap to it (`usize::MAX`: never)
    pub width: usize,
}

/// Parse a real number; `atof` would turn garbage into 0, so we refuse it instead.
pub fn number(flag: &str, v: &str) -> Result<f64> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err(Error::Usage(format!("{flag}: value '{v}' is not a finite number"))),
        Err(_) => Err(Error::Usage(format!("{flag}: value '{v}' is not a number"))),
    }
}

/// Parse a whole number as the default mode reads one (see [`whole`]).
pub fn integer(flag: &str, v: &str) -> Result<i64> {
    whole(Mode::Default, flag, v)
}

/// Parse a whole number of a flag nanoBragg.c reads with `atoi`, which takes the leading
/// integer part of the text: `-N 6.0` is 6, so a whole number written with a decimal point
/// (`6.0`, `6.`, `6e0`) is taken in both modes. Where the leading integer part is not the
/// number written (`6.5`, `1e3`: atoi reads 6 and 1), `-c_parity` takes atoi's value with a
/// warning and the default mode refuses it, naming the value atoi would read. Text that is
/// no number at all is refused in both modes, as `number` refuses what `atof` reads as 0.
pub fn whole(mode: Mode, flag: &str, v: &str) -> Result<i64> {
    if let Ok(n) = v.trim().parse::<i64>() {
        return Ok(n);
    }
    let not_whole = || Error::Usage(format!("{flag}: value '{v}' is not a whole number"));
    let x = v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(not_whole)?;
    let read = atoi(v);
    if x == read as f64 {
        return Ok(read);
    }
    match mode {
        Mode::CParity => {
            log::warn!("{flag} {v}: read as {read}, as nanoBragg.c's atoi reads it");
            Ok(read)
        }
        Mode::Default => Err(Error::Usage(format!(
            "{flag}: value '{v}' is not a whole number (nanoBragg.c's atoi would read it as {read}: write {read}, or add -c_parity to read it so)"
        ))),
    }
}

/// C `atoi`: leading white space, an optional sign, then the digits up to the first other
/// character (0 when there are none); saturating where C's would overflow.
fn atoi(text: &str) -> i64 {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = digits.bytes().take_while(u8::is_ascii_digit).fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if negative { -magnitude } else { magnitude }
}

fn vector(flag: &str, v: &[&str]) -> Result<[f64; 3]> {
    Ok([number(flag, v[0])?, number(flag, v[1])?, number(flag, v[2])?])
}

/// One entry of a flag table (`Flag`), for this crate's table and the companion programs'.
#[macro_export]
macro_rules! flag {
    ($name:literal, [$($alias:literal),*], [$($pat:expr),*], $arity:expr, $values:literal, $help:literal, $apply:expr) => {
        $crate::defs::Flag { name: $name, aliases: &[$($alias),*], c_patterns: &[$($pat),*], arity: $arity,
               values: $values, help: $help, apply: $apply, stop: false }
    };
    ($name:literal, [$($alias:literal),*], [$($pat:expr),*], $arity:expr, $values:literal, $help:literal, $apply:expr, stop) => {
        $crate::defs::Flag { name: $name, aliases: &[$($alias),*], c_patterns: &[$($pat),*], arity: $arity,
               values: $values, help: $help, apply: $apply, stop: true }
    };
}
pub use crate::flag;

use Arity::Fixed;
use CPattern::{Exact as E, Sub as S};

// The experiment's flags parse their text here and hand the values to the parameters' builder
// methods (`nanobragg_core::params`), which convert them to nanoBragg.c's units and refuse what
// no experiment can take; a refusal reads as the flag's (`-distance: value -5 must be greater
// than zero`). No unit conversion or range check of an experiment parameter is written here.

/// A builder method's answer as the flag's.
fn set(flag: &str, outcome: Set<'_>) -> Result<()> {
    outcome.map(drop).map_err(|e| Error::Usage(format!("{flag}: {}", e.reason)))
}

/// A flag of one number, given to its builder method.
fn number_to(r: &mut RawArgs, flag: &str, v: &str, method: impl FnOnce(&mut P, f64) -> Set<'_>) -> Result<()> {
    let x = number(flag, v)?;
    set(flag, method(&mut r.params, x))
}

/// A flag of one whole number, given to its builder method.
fn integer_to(r: &mut RawArgs, flag: &str, v: &str, method: impl FnOnce(&mut P, i64) -> Set<'_>) -> Result<()> {
    // as nanoBragg.c's atoi reads it (`-N 6.0`), `whole` says how
    let n = whole(r.mode, flag, v)?;
    set(flag, method(&mut r.params, n))
}

/// A flag of three numbers (a vector, three angles), given to its builder method.
fn vector_to(r: &mut RawArgs, flag: &str, v: &[&str], method: impl FnOnce(&mut P, [f64; 3]) -> Set<'_>) -> Result<()> {
    let xyz = vector(flag, v)?;
    set(flag, method(&mut r.params, xyz))
}

fn pivot_word(v: &str) -> Result<Pivot> {
    // C tests `strstr(value, "sample")` then "beam"; an unknown word is our error
    if v.contains("beam") {
        Ok(Pivot::Beam)
    } else if v.contains("sample") {
        Ok(Pivot::Sample)
    } else {
        Err(Error::Usage(format!("-pivot: value '{v}' must be 'beam' or 'sample'")))
    }
}

/// A whole number that must not be negative; `mode` as for [`whole`] (nanobragg's own flags
/// pass `Mode::Default`: nanoBragg.c has no reading of them to follow).
fn positive_count(mode: Mode, flag: &str, v: &str) -> Result<i64> {
    let n = whole(mode, flag, v)?;
    if n < 0 {
        return Err(Error::Usage(format!("{flag}: value {n} must not be negative")));
    }
    Ok(n)
}

/// A frame count or number: a whole number from `min` up to `dataset::MAX_FRAME_NUMBER`.
fn frame_count(flag: &str, v: &str, min: u64) -> Result<u64> {
    let n = integer(flag, v)?;
    let max = crate::dataset::MAX_FRAME_NUMBER;
    if n < min as i64 || n > max as i64 {
        return Err(Error::Usage(format!("{flag}: value {n} must be from {min} to {max}")));
    }
    Ok(n as u64)
}

fn gpu_index(v: &str) -> Result<crate::engine::gpu::AdapterChoice> {
    use crate::engine::gpu::AdapterChoice;
    if v == "auto" {
        let env = crate::dataset::shard::process_env;
        return Ok(AdapterChoice::LocalRank(crate::dataset::shard::local_rank(&env)?.0));
    }
    v.trim().parse::<usize>().map(AdapterChoice::Index).map_err(|_| Error::Usage(format!("-gpu_index: value '{v}' must be an adapter number (0, 1, ...) or auto")))
}

/// `-pngscale` (not an experiment parameter).
fn positive_length(flag: &str, v: &str) -> Result<f64> {
    let x = number(flag, v)?;
    if x <= 0.0 {
        return Err(Error::Usage(format!("{flag}: value {x} must be greater than zero")));
    }
    Ok(x)
}

/// Pixels `-validate` recomputes when no count is given.
pub const DEFAULT_VALIDATE: usize = 64;

/// Every flag, in the order nanoBragg.c tests them (the order matters where one argument
/// matches several flags in c-parity mode).
///
/// Synonym audit (against the argument loop of `golden_suite_generator/nanoBragg.c`, branch
/// `feature/spec-based-2`): every `strstr`/`strcmp` test of that loop is a `c_patterns` entry
/// here, in C's order, with C's exact-length guards written as `E` (`-detsize` 8, `-detpixels`
/// 10, `-detector_thick` 15, `-polar` 6, `-mosaic` 7, `-phi` 4, `-phistep` 8, `-hdivstep` and
/// `-vdivstep` 9, `-stol` 5, `-4stol` 6, `-Q` 2; `strcmp` for `-N`, `-misset`, `-MW`) and its
/// `continue`s as `stop` (`-Na`, `-Nb`, `-Nc`, `-N`, `-oversample_thick/_polar/_omega`). Every
/// pattern text is also an exact spelling of the default mode (a name or an alias), so a
/// synonym C accepts — `-mosaici`, `-sample_heigh`, `-heigh`, `-sample_den`, `-molec` — is
/// accepted in both modes (unit test `every_c_pattern_is_a_default_spelling`). `-mask` is only
/// read by C's header pre-pass; its main loop ignores the token and its value, as we do. C
/// ignores an argument no test matches; `-c_parity` warns and skips it (`parse.rs`).
pub static FLAGS: &[Flag] = &[
    // ---- crystal size and cell
    flag!("-Na", [], [S("-Na")], Fixed(1), "<cells>", "unit cells along a (default 1; 0 is clamped to 1)",
        |r, v, _| integer_to(r, "-Na", v[0], P::na), stop),
    flag!("-Nb", [], [S("-Nb")], Fixed(1), "<cells>", "unit cells along b (default 1)",
        |r, v, _| integer_to(r, "-Nb", v[0], P::nb), stop),
    flag!("-Nc", [], [S("-Nc")], Fixed(1), "<cells>", "unit cells along c (default 1)",
        |r, v, _| integer_to(r, "-Nc", v[0], P::nc), stop),
    flag!("-N", [], [E("-N")], Fixed(1), "<cells>", "unit cells along a, b and c",
        |r, v, _| integer_to(r, "-N", v[0], P::n_cells), stop),
    flag!("-cell", [], [S("-cell")], Arity::UpTo6, "<a b c alpha beta gamma>",
        "unit cell in Å and degrees (alternative to -mat; with -c_parity fewer values are taken as C does: missing b, c copy a, missing angles are 90)",
        |r, v, ctx| {
            // C fills a short -cell silently (b, c = a; angles 90°), so a typo renders another
            // crystal; the default mode asks for all six
            if v.len() < 6 {
                let typed = v.join(" ");
                match ctx.mode {
                    Mode::Default => return Err(Error::Usage(format!(
                        "-cell expects 6 values (a b c alpha beta gamma), got {} ('{typed}')", v.len()))),
                    Mode::CParity => log::warn!("-cell {typed}: {} of 6 values; as nanoBragg.c, missing lengths copy a and missing angles are 90 degrees", v.len()),
                }
            }
            let values = v.iter().map(|s| number("-cell", s)).collect::<Result<Vec<f64>>>()?;
            set("-cell", r.cell_leading(&values))
        }),
    flag!("-misset", [], [E("-misset")], Arity::Misset, "<rotx roty rotz | random>",
        "crystal misorientation about x, y, z in degrees, or a random orientation",
        |r, v, _| {
            if v.len() == 1 {
                r.misset_random();
                return Ok(());
            }
            vector_to(r, "-misset", v, P::misset)
        }),
    flag!("-samplesize", ["-sample_size"], [S("-samplesize"), S("-sample_size")], Fixed(1), "<mm>",
        "crystal size along x, y and z (sets N from the cell)", |r, v, _| number_to(r, "-samplesize", v[0], P::samplesize)),
    flag!("-sample_thick", ["-sample_x"], [S("-sample_thick"), S("-sample_x")], Fixed(1), "<mm>",
        "crystal size along x (beam)", |r, v, _| number_to(r, "-sample_thick", v[0], P::sample_thick)),
    flag!("-sample_width", ["-sample_y", "-width"], [S("-sample_width"), S("-sample_y"), S("-width")], Fixed(1), "<mm>",
        "crystal size along y", |r, v, _| number_to(r, "-sample_width", v[0], P::sample_width)),
    flag!("-sample_height", ["-sample_z", "-height", "-sample_heigh", "-heigh"], [S("-sample_heigh"), S("-sample_z"), S("-heigh")], Fixed(1), "<mm>",
        "crystal size along z", |r, v, _| number_to(r, "-sample_height", v[0], P::sample_height)),
    flag!("-xtalsize", ["-xtal_size"], [S("-xtalsize"), S("-xtal_size")], Fixed(1), "<mm>",
        "crystal size along x, y and z (alternative to -N)", |r, v, _| number_to(r, "-xtalsize", v[0], P::samplesize)),
    flag!("-xtal_thick", ["-xtal_x"], [S("-xtal_thick"), S("-xtal_x")], Fixed(1), "<mm>",
        "crystal size along x", |r, v, _| number_to(r, "-xtal_thick", v[0], P::sample_thick)),
    flag!("-xtal_width", ["-xtal_y"], [S("-xtal_width"), S("-xtal_y"), S("-width")], Fixed(1), "<mm>",
        "crystal size along y", |r, v, _| number_to(r, "-xtal_width", v[0], P::sample_width)),
    flag!("-xtal_height", ["-xtal_z", "-xtal_heigh"], [S("-xtal_heigh"), S("-xtal_z"), S("-heigh")], Fixed(1), "<mm>",
        "crystal size along z", |r, v, _| number_to(r, "-xtal_height", v[0], P::sample_height)),
    flag!("-density", ["-sample_density", "-sample_den"], [S("-density"), S("-sample_den")], Fixed(1), "<g/cm^3>",
        "density of the -stol amorphous sample (default 1; nanoBragg.c reads and ignores it)", |r, v, _| number_to(r, "-density", v[0], P::density)),
    flag!("-MW", ["-molecular_weight", "-molec"], [E("-MW"), S("-molec")], Fixed(1), "<g/mol>",
        "molecular weight of the -stol amorphous sample (default 18; nanoBragg.c reads and ignores it)", |r, v, _| number_to(r, "-MW", v[0], P::molecular_weight)),
    flag!("-bg_thick", ["-thick"], [], Fixed(1), "<mm>",
        "-stol sample thickness along the beam (default 0.1; nonBragg's -thick; -sample_thick is the crystal's)", |r, v, _| number_to(r, "-bg_thick", v[0], P::bg_thick)),
    flag!("-bg_width", [], [], Fixed(1), "<mm>",
        "-stol sample size along y (default 0.1, clipped by -beamsize; nonBragg's -width)", |r, v, _| number_to(r, "-bg_width", v[0], P::bg_width)),
    flag!("-bg_height", [], [], Fixed(1), "<mm>",
        "-stol sample size along z (default 0.1, clipped by -beamsize; nonBragg's -height)", |r, v, _| number_to(r, "-bg_height", v[0], P::bg_height)),
    flag!("-bg_size", [], [], Fixed(1), "<mm>",
        "-stol sample edge, all three axes (nonBragg's -samplesize)", |r, v, _| number_to(r, "-bg_size", v[0], P::bg_size)),
    flag!("-bg_molecules", [], [], Fixed(1), "<n>",
        "-stol sample molecules in the beam (default: from size, -density, -MW; nonBragg's -molecules)", |r, v, _| number_to(r, "-bg_molecules", v[0], P::bg_molecules)),
    // ---- beam centre and pivots
    flag!("-Xbeam", [], [S("-Xbeam")], Fixed(1), "<mm>", "direct-beam position along the image's first axis (default: centre); pivot BEAM",
        |r, v, _| number_to(r, "-Xbeam", v[0], P::xbeam)),
    flag!("-Ybeam", [], [S("-Ybeam")], Fixed(1), "<mm>", "direct-beam position along the image's second axis (default: centre); pivot BEAM",
        |r, v, _| number_to(r, "-Ybeam", v[0], P::ybeam)),
    flag!("-Xclose", [], [S("-Xclose")], Fixed(1), "<mm>", "near point of the detector (CUSTOM convention); pivot SAMPLE",
        |r, v, _| number_to(r, "-Xclose", v[0], P::xclose)),
    flag!("-Yclose", [], [S("-Yclose")], Fixed(1), "<mm>", "near point of the detector (CUSTOM convention); pivot SAMPLE",
        |r, v, _| number_to(r, "-Yclose", v[0], P::yclose)),
    flag!("-ORGX", [], [S("-ORGX")], Fixed(1), "<pixels>", "XDS origin (fast pixels); pivot SAMPLE",
        |r, v, _| number_to(r, "-ORGX", v[0], P::orgx)),
    flag!("-ORGY", [], [S("-ORGY")], Fixed(1), "<pixels>", "XDS origin (slow pixels); pivot SAMPLE",
        |r, v, _| number_to(r, "-ORGY", v[0], P::orgy)),
    flag!("-pivot", [], [S("-pivot")], Fixed(1), "<beam|sample>",
        "detector rotation pivot (nanoBragg.c lets -mosflm/-xds/... override it; the default mode does not)",
        |r, v, _| { r.pivot(pivot_word(v[0])?); Ok(()) }),
    flag!("-mosflm", [], [S("-mosflm")], Fixed(0), "", "MOSFLM conventions (default): beam +x, +0.5 pixel centre, pivot BEAM",
        |r, _, _| { r.convention(Convention::Mosflm); Ok(()) }),
    flag!("-xds", [], [S("-xds")], Fixed(0), "", "XDS conventions: beam +z, pivot SAMPLE",
        |r, _, _| { r.convention(Convention::Xds); Ok(()) }),
    flag!("-adxv", [], [S("-adxv")], Fixed(0), "", "ADXV conventions: beam +z, pivot BEAM",
        |r, _, _| { r.convention(Convention::Adxv); Ok(()) }),
    flag!("-denzo", [], [S("-denzo")], Fixed(0), "", "DENZO conventions (MOSFLM without the 0.5 pixel)",
        |r, _, _| { r.convention(Convention::Denzo); Ok(()) }),
    flag!("-dials", [], [S("-dials")], Fixed(0), "", "DIALS conventions: beam +z, pivot SAMPLE",
        |r, _, _| { r.convention(Convention::Dials); Ok(()) }),
    // ---- custom vectors (any of them selects the CUSTOM convention)
    flag!("-fdet_vector", [], [S("-fdet_vector")], Fixed(3), "<x y z>", "fast detector axis (default 0 0 1); CUSTOM",
        |r, v, _| vector_to(r, "-fdet_vector", v, P::fdet_vector)),
    flag!("-sdet_vector", [], [S("-sdet_vector")], Fixed(3), "<x y z>", "slow detector axis (default 0 -1 0); CUSTOM",
        |r, v, _| vector_to(r, "-sdet_vector", v, P::sdet_vector)),
    flag!("-odet_vector", [], [S("-odet_vector")], Fixed(3), "<x y z>", "detector normal (default 1 0 0); CUSTOM",
        |r, v, _| vector_to(r, "-odet_vector", v, P::odet_vector)),
    flag!("-beam_vector", [], [S("-beam_vector")], Fixed(3), "<x y z>", "x-ray beam direction (default 1 0 0); CUSTOM",
        |r, v, _| vector_to(r, "-beam_vector", v, P::beam_vector)),
    flag!("-polar_vector", [], [S("-polar_vector")], Fixed(3), "<x y z>", "E-vector polarization axis (default 0 0 1); CUSTOM",
        |r, v, _| vector_to(r, "-polar_vector", v, P::polar_vector)),
    flag!("-spindle_axis", [], [S("-spindle_axis")], Fixed(3), "<x y z>", "right-handed phi rotation axis (default 0 0 1); CUSTOM",
        |r, v, _| vector_to(r, "-spindle_axis", v, P::spindle_axis)),
    flag!("-twotheta_axis", [], [S("-twotheta_axis")], Fixed(3), "<x y z>", "detector 2-theta rotation axis (CUSTOM default 0 1 0); CUSTOM",
        |r, v, _| vector_to(r, "-twotheta_axis", v, P::twotheta_axis)),
    flag!("-pix0_vector", [], [S("-pix0_vector")], Fixed(3), "<x y z>",
        "detector origin (first pixel) before rotations, metres; CUSTOM (nanoBragg.c ignores it)",
        |r, v, _| vector_to(r, "-pix0_vector", v, P::pix0_vector)),
    flag!("-pix0_vector_mm", [], [], Fixed(3), "<x y z>", "as -pix0_vector, in millimetres",
        |r, v, _| vector_to(r, "-pix0_vector_mm", v, P::pix0_vector_mm)),
    // ---- detector placement
    flag!("-distance", [], [S("-distance")], Fixed(1), "<mm>", "sample to detector distance along the beam (default 100); pivot BEAM",
        |r, v, _| number_to(r, "-distance", v[0], P::distance)),
    flag!("-close_distance", [], [S("-close_distance")], Fixed(1), "<mm>", "sample to detector-plane distance along its normal; pivot SAMPLE",
        |r, v, _| number_to(r, "-close_distance", v[0], P::close_distance)),
    flag!("-detector_abs", ["-detector_absorb"], [S("-detector_abs")], Fixed(1), "<um|inf>",
        "sensor attenuation length (default inf: no absorption model)",
        |r, v, _| {
            // as nanoBragg.c, any value containing "inf" is an infinite length: no absorption
            let x = if v[0].contains("inf") { f64::INFINITY } else { number("-detector_abs", v[0])? };
            set("-detector_abs", r.detector_abs(x))
        }),
    flag!("-detector_thick", [], [E("-detector_thick")], Fixed(1), "<um>", "sensor thickness (default 0)",
        |r, v, _| number_to(r, "-detector_thick", v[0], P::detector_thick)),
    flag!("-detector_thicksteps", ["-thicksteps"], [S("-detector_thicksteps"), S("-thicksteps")], Fixed(1), "<layers>",
        "sensor layers (default 1)", |r, v, _| integer_to(r, "-detector_thicksteps", v[0], P::detector_thicksteps)),
    flag!("-twotheta", [], [S("-twotheta")], Fixed(1), "<deg>", "detector swing about the 2-theta axis (default 0); pivot SAMPLE",
        |r, v, _| number_to(r, "-twotheta", v[0], P::twotheta)),
    flag!("-detector_rotx", [], [S("-detector_rotx")], Fixed(1), "<deg>", "detector rotation about x",
        |r, v, _| number_to(r, "-detector_rotx", v[0], P::detector_rotx)),
    flag!("-detector_roty", [], [S("-detector_roty")], Fixed(1), "<deg>", "detector rotation about y",
        |r, v, _| number_to(r, "-detector_roty", v[0], P::detector_roty)),
    flag!("-detector_rotz", [], [S("-detector_rotz")], Fixed(1), "<deg>", "detector rotation about z",
        |r, v, _| number_to(r, "-detector_rotz", v[0], P::detector_rotz)),
    flag!("-detsize", [], [E("-detsize")], Fixed(1), "<mm>", "detector edge length, both axes (default 102.4)",
        |r, v, _| number_to(r, "-detsize", v[0], P::detsize)),
    flag!("-detsize_f", [], [S("-detsize_f")], Fixed(1), "<mm>", "detector size along the fast axis",
        |r, v, _| number_to(r, "-detsize_f", v[0], P::detsize_f)),
    flag!("-detsize_s", [], [S("-detsize_s")], Fixed(1), "<mm>", "detector size along the slow axis",
        |r, v, _| number_to(r, "-detsize_s", v[0], P::detsize_s)),
    flag!("-detpixels", [], [E("-detpixels")], Fixed(1), "<pixels>", "pixels along both axes (overrides -detsize)",
        |r, v, _| integer_to(r, "-detpixels", v[0], P::detpixels)),
    flag!("-detpixels_f", ["-detpixels_x"], [S("-detpixels_f"), S("-detpixels_x")], Fixed(1), "<pixels>", "pixels along the fast axis",
        |r, v, _| integer_to(r, "-detpixels_f", v[0], P::detpixels_f)),
    flag!("-detpixels_s", ["-detpixels_y"], [S("-detpixels_s"), S("-detpixels_y")], Fixed(1), "<pixels>", "pixels along the slow axis",
        |r, v, _| integer_to(r, "-detpixels_s", v[0], P::detpixels_s)),
    flag!("-curved_det", [], [S("-curved_det")], Fixed(0), "", "spherical detector: every pixel at the same distance",
        |r, _, c| {
            // nanoBragg.c tests `argc > i+1`, so the switch is lost as the last argument (REFERENCE §1)
            if !(c.mode == Mode::CParity && c.is_last) { r.curved_det(true); }
            Ok(())
        }),
    flag!("-pixel", [], [S("-pixel")], Fixed(1), "<mm>", "pixel size (default 0.1)",
        |r, v, _| number_to(r, "-pixel", v[0], P::pixel)),
    flag!("-point_pixel", [], [S("-point_pixel")], Fixed(0), "", "solid angle 1/R^2 (no pixel obliquity)",
        |r, _, _| { r.point_pixel(true); Ok(()) }),
    flag!("-polar", [], [E("-polar")], Fixed(1), "<kahn>", "Kahn polarization factor (default 0: unpolarized)",
        |r, v, _| number_to(r, "-polar", v[0], P::polar)),
    flag!("-nopolar", [], [S("-nopolar")], Fixed(0), "", "no polarization correction",
        |r, _, _| { r.nopolar(true); Ok(()) }),
    flag!("-oversample_thick", [], [S("-oversample_thick")], Fixed(0), "", "recompute the sensor capture fraction for every sub-pixel",
        |r, _, _| { r.oversample_thick(true); Ok(()) }, stop),
    flag!("-oversample_polar", [], [S("-oversample_polar")], Fixed(0), "", "recompute polarization for every sub-pixel",
        |r, _, _| { r.oversample_polar(true); Ok(()) }, stop),
    flag!("-oversample_omega", [], [S("-oversample_omega")], Fixed(0), "", "recompute the solid angle for every sub-pixel",
        |r, _, _| { r.oversample_omega(true); Ok(()) }, stop),
    flag!("-oversample", [], [S("-oversample")], Fixed(1), "<n>", "sub-pixels per pixel edge (default: automatic from crystal size)",
        |r, v, c| { r.oversample(whole(c.mode, "-oversample", v[0])?); Ok(()) }),
    flag!("-roi", [], [S("-roi")], Fixed(4), "<xmin xmax ymin ymax>", "render only these pixels (inclusive, fast then slow; must lie on the detector)",
        |r, v, _| {
            let [x0, x1, y0, y1] = [v[0], v[1], v[2], v[3]].map(|s| whole(r.mode, "-roi", s));
            set("-roi", r.roi([x0?, x1?, y0?, y1?]))
        }),
    // ---- beam
    flag!("-lambda", ["-wave", "-wavelength"], [S("-lambda"), S("-wave")], Fixed(1), "<Å>", "wavelength (default 1)",
        |r, v, _| number_to(r, "-lambda", v[0], P::lambda)),
    flag!("-energy", [], [S("-energy")], Fixed(1), "<eV>", "photon energy (alternative to -lambda)",
        |r, v, _| number_to(r, "-energy", v[0], P::energy)),
    flag!("-fluence", [], [S("-fluence")], Fixed(1), "<photons/m^2>", "integrated incident fluence (default 1.26e29)",
        |r, v, _| number_to(r, "-fluence", v[0], P::fluence)),
    flag!("-flux", [], [S("-flux")], Fixed(1), "<photons/s>", "incident flux (with -exposure and -beamsize)",
        |r, v, _| number_to(r, "-flux", v[0], P::flux)),
    flag!("-exposure", [], [S("-exposure")], Fixed(1), "<s>", "exposure time (default 1)",
        |r, v, _| number_to(r, "-exposure", v[0], P::exposure)),
    flag!("-beamsize", [], [S("-beamsize")], Fixed(1), "<mm>", "beam edge (default 0.1); clips the crystal",
        |r, v, _| number_to(r, "-beamsize", v[0], P::beamsize)),
    flag!("-mosaic", ["-mosaic_spread", "-mosaic_spr", "-mosaicity", "-mosaici"], [E("-mosaic"), S("-mosaici"), S("-mosaic_spr")], Fixed(1), "<deg>",
        "isotropic mosaic spread (default 0)",
        |r, v, _| number_to(r, "-mosaic", v[0], P::mosaic)),
    flag!("-mosaic_domains", ["-mosaic_dom"], [S("-mosaic_dom")], Fixed(1), "<n>", "mosaic domains (default 10 when a spread is given)",
        |r, v, _| integer_to(r, "-mosaic_domains", v[0], P::mosaic_domains)),
    flag!("-dispersion", [], [S("-dispersion")], Fixed(1), "<percent>", "spectral width Δλ/λ (default 0)",
        |r, v, _| number_to(r, "-dispersion", v[0], P::dispersion)),
    flag!("-dispsteps", [], [S("-dispsteps")], Fixed(1), "<n>", "wavelengths across the dispersion",
        |r, v, _| integer_to(r, "-dispsteps", v[0], P::dispsteps)),
    flag!("-divergence", [], [S("-divergence")], Fixed(1), "<mrad>", "beam divergence, both directions",
        |r, v, _| number_to(r, "-divergence", v[0], P::divergence)),
    flag!("-hdivrange", [], [S("-hdivrange")], Fixed(1), "<mrad>", "horizontal divergence",
        |r, v, _| number_to(r, "-hdivrange", v[0], P::hdivrange)),
    flag!("-vdivrange", [], [S("-vdivrange")], Fixed(1), "<mrad>", "vertical divergence",
        |r, v, _| number_to(r, "-vdivrange", v[0], P::vdivrange)),
    flag!("-hdivstep", [], [E("-hdivstep")], Fixed(1), "<mrad>", "horizontal divergence step",
        |r, v, _| number_to(r, "-hdivstep", v[0], P::hdivstep)),
    flag!("-hdivsteps", [], [S("-hdivsteps")], Fixed(1), "<n>", "horizontal divergence points",
        |r, v, _| integer_to(r, "-hdivsteps", v[0], P::hdivsteps)),
    flag!("-vdivstep", [], [E("-vdivstep")], Fixed(1), "<mrad>", "vertical divergence step",
        |r, v, _| number_to(r, "-vdivstep", v[0], P::vdivstep)),
    flag!("-vdivsteps", [], [S("-vdivsteps")], Fixed(1), "<n>", "vertical divergence points",
        |r, v, _| integer_to(r, "-vdivsteps", v[0], P::vdivsteps)),
    flag!("-divsteps", [], [S("-divsteps")], Fixed(1), "<n>", "divergence points, both directions",
        |r, v, _| integer_to(r, "-divsteps", v[0], P::divsteps)),
    flag!("-round_div", [], [S("-round_div")], Fixed(0), "", "trim the divergence grid to an ellipse (default)",
        |r, _, _| { r.round_div(true); Ok(()) }),
    flag!("-square_div", [], [S("-square_div")], Fixed(0), "", "full rectangular divergence grid",
        |r, _, _| { r.round_div(false); Ok(()) }),
    flag!("-adc", [], [S("-adc")], Fixed(1), "<counts>", "offset added to SMV pixels (default 40)",
        |r, v, _| number_to(r, "-adc", v[0], P::adc)),
    // ---- rotation
    flag!("-phi", [], [E("-phi")], Fixed(1), "<deg>", "starting spindle angle (default 0)",
        |r, v, _| number_to(r, "-phi", v[0], P::phi)),
    flag!("-osc", [], [S("-osc")], Fixed(1), "<deg>", "oscillation range",
        |r, v, _| number_to(r, "-osc", v[0], P::osc)),
    flag!("-phistep", [], [E("-phistep")], Fixed(1), "<deg>", "spindle step",
        |r, v, _| number_to(r, "-phistep", v[0], P::phistep)),
    flag!("-phisteps", [], [S("-phisteps")], Fixed(1), "<n>", "spindle steps",
        |r, v, _| integer_to(r, "-phisteps", v[0], P::phisteps)),
    flag!("-dmin", [], [S("-dmin")], Fixed(1), "<Å>", "skip scattering beyond this resolution",
        |r, v, _| number_to(r, "-dmin", v[0], P::dmin)),
    // ---- input files
    flag!("-mat", ["-matrix"], [S("-mat")], Fixed(1), "<file>", "MOSFLM orientation matrix (reciprocal cell × λ)",
        |r, v, _| { r.mat = Some(v[0].into()); Ok(()) }),
    flag!("-hkl", [], [S("-hkl")], Fixed(1), "<file>", "structure factors: h k l F per line, an MTZ file, or an Fdump.bin cache (also writes ./Fdump.bin)",
        |r, v, _| { r.hkl = Some(v[0].into()); Ok(()) }),
    flag!("-default_F", [], [S("-default_F")], Fixed(1), "<F>", "structure factor for unlisted reflections (default 0)",
        |r, v, _| number_to(r, "-default_F", v[0], P::default_f)),
    flag!("-img", [], [S("-img")], Fixed(1), "<file.img>", "take detector and beam parameters from an SMV header",
        |r, v, _| { r.img = Some(v[0].into()); Ok(()) }),
    flag!("-stolout", [], [S("-stolout")], Fixed(1), "<file>", "accepted for compatibility (nanoBragg.c never writes it)",
        |_, _, _| Ok(())),
    flag!("-stol", [], [E("-stol")], Fixed(1), "<file>", "add the amorphous background of this F vs sin(θ)/λ (Å⁻¹) table, as nonBragg (ignored with -c_parity, as by nanoBragg.c)",
        |r, v, _| { r.stolfile = Some(v[0].into()); r.stol_unit = crate::model::amorphous::StolUnit::Stol; Ok(()) }),
    flag!("-4stol", [], [E("-4stol")], Fixed(1), "<file>", "as -stol with 4·sin(θ)/λ in the first column",
        |r, v, _| { r.stolfile = Some(v[0].into()); r.stol_unit = crate::model::amorphous::StolUnit::FourStol; Ok(()) }),
    flag!("-Q", [], [E("-Q")], Fixed(1), "<file>", "as -stol with Q = 4π·sin(θ)/λ in the first column",
        |r, v, _| { r.stolfile = Some(v[0].into()); r.stol_unit = crate::model::amorphous::StolUnit::Q; Ok(()) }),
    flag!("-sourcefile", [], [S("-sourcefile")], Fixed(1), "<file>", "sources: X Y Z weight λ per line",
        |r, v, _| { r.sourcefile = Some(v[0].into()); Ok(()) }),
    flag!("-detector", [], [], Fixed(1), "<file>", "detector of panels: a DIALS experiment list (.expt); flags override its beam and sensor",
        |r, v, _| { r.detector_file = Some(v[0].into()); Ok(()) }),
    // ---- output files
    flag!("-floatfile", ["-floatimage"], [S("-floatfile"), S("-floatimage")], Fixed(1), "<file>", "raw float32 image (default floatimage.bin)",
        |r, v, _| { r.floatfile = v[0].into(); Ok(()) }),
    flag!("-intfile", ["-intimage"], [S("-intfile"), S("-intimage")], Fixed(1), "<file>", "SMV 16-bit image (default intimage.img)",
        |r, v, _| { r.intfile = v[0].into(); Ok(()) }),
    flag!("-pgmfile", ["-pgmimage"], [S("-pgmfile"), S("-pgmimage")], Fixed(1), "<file>", "8-bit PGM preview (default image.pgm)",
        |r, v, _| { r.pgmfile = v[0].into(); r.write_pgm = true; Ok(()) }),
    flag!("-noisefile", ["-noiseimage"], [S("-noisefile"), S("-noiseimage")], Fixed(1), "<file>", "SMV image with Poisson noise (default noiseimage.img)",
        |r, v, _| { r.noisefile = v[0].into(); r.calculate_noise = true; Ok(()) }),
    flag!("-nonoise", [], [S("-nonoise")], Fixed(0), "", "do not write the noise image",
        |r, _, _| { r.calculate_noise = false; Ok(()) }),
    flag!("-nopgm", [], [S("-nopgm")], Fixed(0), "", "do not write the PGM image",
        |r, _, _| { r.write_pgm = false; Ok(()) }),
    flag!("-scale", [], [S("-scale")], Fixed(1), "<factor>", "SMV int image scale (default: 55000/max; a rotation series: 1 count per photon, docs/datasets.md)",
        |r, v, _| { r.intfile_scale = number("-scale", v[0])?; Ok(()) }),
    flag!("-pgmscale", [], [S("-pgmscale")], Fixed(1), "<factor>", "PGM scale (default: 250/(5·rmsd))",
        |r, v, _| { r.pgm_scale = number("-pgmscale", v[0])?; r.write_pgm = true; Ok(()) }),
    flag!("-coherent", [], [S("-coherent")], Fixed(0), "", "accepted for compatibility (nanoBragg.c does not use it)",
        |_, _, _| Ok(())),
    flag!("-printout", [], [S("-printout")], Fixed(0), "", "print per-pixel values",
        |r, _, _| { r.printout = true; Ok(()) }),
    flag!("-noprogress", [], [S("-noprogress")], Fixed(0), "", "no progress bar",
        |r, _, _| { r.progress = false; Ok(()) }),
    flag!("-progress", [], [S("-progress")], Fixed(0), "", "progress bar on a terminal (default; never in pipes, files or CI logs)",
        |r, _, _| { r.progress = true; Ok(()) }),
    flag!("-interpolate", [], [S("-interpolate")], Fixed(0), "", "tricubic interpolation of F (default: on when any N <= 2)",
        |r, _, _| { r.interpolate(true); Ok(()) }),
    flag!("-nointerpolate", [], [S("-nointerpolate")], Fixed(0), "", "nearest-neighbour F",
        |r, _, _| { r.interpolate(false); Ok(()) }),
    flag!("-round_xtal", [], [S("-round_xtal")], Fixed(0), "", "ellipsoidal crystal (sinc3 spots)",
        |r, _, _| { r.xtal_shape(XtalShape::Round); Ok(()) }),
    flag!("-square_xtal", [], [S("-square_xtal")], Fixed(0), "", "parallelepiped crystal (sincg spots, default)",
        |r, _, _| { r.xtal_shape(XtalShape::Square); Ok(()) }),
    flag!("-gauss_xtal", [], [S("-gauss_xtal")], Fixed(0), "", "Gaussian spots",
        |r, _, _| { r.xtal_shape(XtalShape::Gauss); Ok(()) }),
    flag!("-tophat_spots", ["-binary_spots"], [S("-binary_spots"), S("-tophat_spots")], Fixed(0), "", "flat-top spots",
        |r, _, _| { r.xtal_shape(XtalShape::Tophat); Ok(()) }),
    flag!("-fudge", [], [S("-fudge")], Fixed(1), "<factor>", "spot-shape radius factor (default 1)",
        |r, v, _| number_to(r, "-fudge", v[0], P::fudge)),
    flag!("-printout_pixel", [], [S("-printout_pixel")], Fixed(2), "<fast slow>", "print only this pixel with -printout",
        |r, v, c| { r.printout_pixel = Some((whole(c.mode, "-printout_pixel", v[0])?, whole(c.mode, "-printout_pixel", v[1])?)); Ok(()) }),
    flag!("-trace_pixel", ["-dump_pixel"], [S("-trace_pixel"), S("-dump_pixel")], Fixed(2), "<slow fast>", "trace one pixel's computation",
        |r, v, c| { r.trace_pixel = Some((whole(c.mode, "-trace_pixel", v[0])?, whole(c.mode, "-trace_pixel", v[1])?)); Ok(()) }),
    flag!("-seed", [], [S("-seed")], Fixed(1), "<n>", "noise seed (default: time)",
        |r, v, c| { r.seed(whole(c.mode, "-seed", v[0])?); Ok(()) }),
    flag!("-mosaic_seed", [], [S("-mosaic_seed")], Fixed(1), "<n>", "mosaic domain seed (default 12345678)",
        |r, v, c| { r.mosaic_seed(whole(c.mode, "-mosaic_seed", v[0])?); Ok(()) }),
    flag!("-misset_seed", [], [S("-misset_seed")], Fixed(1), "<n>", "random misset seed (default: time)",
        |r, v, c| { r.misset_seed(whole(c.mode, "-misset_seed", v[0])?); Ok(()) }),
    flag!("-water", [], [S("-water")], Fixed(1), "<um>", "edge of a cube of water (a droplet) in the beam: a diffuse background (default 0)",
        |r, v, _| number_to(r, "-water", v[0], P::water)),
    flag!("-mask", [], [S("-mask")], Fixed(1), "<file.img>", "SMV mask: pixels that are 0 are skipped (header sets geometry)",
        |r, v, _| { r.mask = Some(v[0].into()); Ok(()) }),
    // ---- flags nanoBragg.c silently ignores (the spec lists them); we say so
    flag!("-dispstep", [], [], Fixed(1), "<value>", "ignored, as in nanoBragg.c (use -dispsteps)",
        |_, _, _| { log::warn!("-dispstep is ignored, as nanoBragg.c does; use -dispsteps"); Ok(()) }),
    flag!("-hdiv", [], [], Fixed(1), "<value>", "ignored, as in nanoBragg.c (use -hdivrange)",
        |_, _, _| { log::warn!("-hdiv is ignored, as nanoBragg.c does; use -hdivrange"); Ok(()) }),
    flag!("-vdiv", [], [], Fixed(1), "<value>", "ignored, as in nanoBragg.c (use -vdivrange)",
        |_, _, _| { log::warn!("-vdiv is ignored, as nanoBragg.c does; use -vdivrange"); Ok(()) }),
    // ---- nanobragg's own flags
    flag!("-mtz_column", [], [], Fixed(1), "<label>", "MTZ column of amplitudes for -hkl (type F, or G for an F(+)/F(-) pair; default the first F)",
        |r, v, _| { r.mtz_column = Some(v[0].to_string()); Ok(()) }),
    flag!("-nofdump", [], [], Fixed(0), "", "do not write the ./Fdump.bin structure-factor cache after an -hkl run",
        |r, _, _| { r.write_fdump = false; Ok(()) }),
    flag!("-frames", ["--frames"], [], Fixed(1), "<n>",
        "render a rotation series of n frames, frame k starting at -phi + (k - first)·-osc; output names are templates where a run of # is the frame number (docs/datasets.md)",
        |r, v, _| { r.frames = Some(frame_count("-frames", v[0], 1)?); Ok(()) }),
    flag!("-first_frame", ["--first_frame", "--first-frame"], [], Fixed(1), "<k>",
        "number of the series' first frame (default 1)",
        |r, v, _| { r.first_frame = Some(frame_count("-first_frame", v[0], 0)?); Ok(()) }),
    flag!("-shard", ["--shard"], [], Fixed(1), "<I/N|auto>",
        "render only shard I of N: the frames at positions p (0-based) with p mod N = I; auto: from the Slurm/MPI launcher's variables (docs/datasets.md)",
        |r, v, _| { r.shard = Some(crate::dataset::shard::parse_spec(v[0])?); Ok(()) }),
    flag!("-manifest", ["--manifest"], [], Fixed(1), "<file>",
        "write the run's manifest (JSON lines: the run, then each frame's files, sizes, SHA-256, parameters, statistics); default manifest.jsonl with -shard or -resume; a sharded run inserts .shard-I-of-N before the extension",
        |r, v, _| { r.manifest = Some(std::path::PathBuf::from(v[0])); Ok(()) }),
    flag!("-resume", ["--resume"], [], Fixed(0), "",
        "skip the frames the manifest records as written whose files are intact (size and SHA-256); refuse files that do not match it",
        |r, _, _| { r.resume = true; Ok(()) }),
    flag!("-gpu_index", ["--gpu_index", "--gpu-index"], [], Fixed(1), "<n|auto>",
        "use the nth GPU adapter (0-based); auto: the local rank (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, PALS_LOCAL_RANKID, SLURM_LOCALID) modulo the adapters",
        |r, v, _| { r.gpu_index = Some(gpu_index(v[0])?); Ok(()) }),
    flag!("-shots", ["--shots"], [], Fixed(1), "<file|n>",
        "render a list of still shots: a file of JSON objects, one per line, each overriding flags for its shot, or a count n; outputs are templates where # is the shot number (docs/datasets.md)",
        |r, v, _| {
            // a number is a count; a file whose name is all digits is written ./123
            if v[0].bytes().all(|b| b.is_ascii_digit()) {
                r.shots_count = Some(frame_count("-shots", v[0], 1)?);
                r.shots_file = None;
            } else {
                r.shots_file = Some(v[0].into());
                r.shots_count = None;
            }
            Ok(())
        }),
    flag!("-random_orientation", ["--random_orientation", "--random-orientation"], [], Fixed(0), "",
        "with -shots: each shot's crystal orientation drawn uniformly over all rotations from -seed and the shot number (printed as its -misset)",
        |r, _, _| { r.random_orientation = true; Ok(()) }),
    // ---- the detector model of the noise image (nanobragg noisify's flags; docs/realism.md)
    flag!("-psf", [], [], Fixed(1), "<gauss|fiber>", "point-spread function applied to the noise image's photons (default none)",
        |r, v, _| { let shape = match v[0] { "gauss" => PsfShape::Gauss, "fiber" => PsfShape::Fiber,
            other => return Err(Error::Usage(format!("-psf: value '{other}' must be gauss or fiber"))) }; set("-psf", r.psf(shape)) }),
    flag!("-psf_fwhm", [], [], Fixed(1), "<µm>", "PSF full width at half maximum (default 46)",
        |r, v, _| number_to(r, "-psf_fwhm", v[0], P::psf_fwhm)),
    flag!("-psf_radius", [], [], Fixed(1), "<pixels>", "radius the PSF is rendered to (default 0: chosen as noisify does)",
        |r, v, _| integer_to(r, "-psf_radius", v[0], P::psf_radius)),
    flag!("-readout_noise", [], [], Fixed(1), "<ADU>", "Gaussian readout noise of every noise-image pixel (default 0)",
        |r, v, _| number_to(r, "-readout_noise", v[0], P::readout_noise)),
    flag!("-flicker", [], [], Fixed(1), "<fraction>", "relative source (1/f) noise of each pixel's mean (default 0)",
        |r, v, _| number_to(r, "-flicker", v[0], P::flicker)),
    flag!("-calibration", [], [], Fixed(1), "<fraction>", "relative per-pixel calibration error, the same on every frame (default 0)",
        |r, v, _| number_to(r, "-calibration", v[0], P::calibration)),
    flag!("-calib_seed", [], [], Fixed(1), "<n>", "seed of the calibration errors (default noisify's fixed one)",
        |r, v, _| integer_to(r, "-calib_seed", v[0], P::calib_seed)),
    flag!("-gain", [], [], Fixed(1), "<ADU/photon>", "noise-image pixel units per photon (default 1)",
        |r, v, _| number_to(r, "-gain", v[0], P::gain)),
    flag!("-bits", [], [], Fixed(1), "<16|32>", "integer width of the noise image (default 16)",
        |r, v, _| { let bits = match v[0] { "16" => 16, "32" => 32,
            other => return Err(Error::Usage(format!("-bits: value '{other}' must be 16 or 32"))) }; set("-bits", r.bits(bits)) }),
    flag!("-noise_order", [], [], Fixed(1), "<noisify|simtbx>", "calibration error on each pixel's mean before the Poisson count (noisify, default) or on the count (simtbx)",
        |r, v, _| { let order = match v[0] { "noisify" => NoiseOrder::Noisify, "simtbx" => NoiseOrder::Simtbx,
            other => return Err(Error::Usage(format!("-noise_order: value '{other}' must be noisify or simtbx"))) }; set("-noise_order", r.noise_order(order)) }),
    flag!("-c_parity", ["--c-parity"], [], Fixed(0), "", "reproduce nanoBragg.c exactly, verified defects included (see docs/behaviours.md)",
        |_, _, _| Ok(())),
    flag!("-engine", ["--engine"], [], Fixed(1), "<cpu|gpu|auto>", "rendering engine (default auto: a hardware GPU when one exists, else the CPU)",
        |r, v, _| { r.engine = match v[0] { "cpu" => EngineChoice::Cpu, "gpu" => EngineChoice::Gpu, "auto" => EngineChoice::Auto,
            other => return Err(Error::Usage(format!("-engine: value '{other}' must be cpu, gpu or auto"))) }; Ok(()) }),
    flag!("-backend", ["--backend"], [], Fixed(1), "<vulkan|metal|dx12|gl|auto>", "GPU API (default auto; WGPU_BACKEND also works)",
        |r, v, _| { match v[0] { "vulkan" | "metal" | "dx12" | "gl" | "auto" => { r.backend = Some(v[0].to_string()); Ok(()) }
            other => Err(Error::Usage(format!("-backend: value '{other}' must be vulkan, metal, dx12, gl or auto"))) } }),
    flag!("-gpu_precision", ["--gpu-precision"], [], Fixed(1), "<auto|f64|df>",
        "GPU kernel arithmetic: native f64 or double-float (default auto: the faster of those that pass the adapter's precision self-test, measured once and cached)",
        |r, v, _| { r.gpu_precision = match v[0] { "auto" => None, "f64" => Some(Precision::F64), "df" => Some(Precision::DoubleFloat),
            other => return Err(Error::Usage(format!("-gpu_precision: value '{other}' must be auto, f64 or df"))) }; Ok(()) }),
    flag!("-pngfile", ["--png"], [], Fixed(1), "<file.png>", "8-bit grayscale PNG preview",
        |r, v, _| { r.pngfile = Some(v[0].into()); Ok(()) }),
    flag!("-cbffile", ["--cbf"], [], Fixed(1), "<file.cbf>",
        "miniCBF image of 32-bit photon counts (the noise image's counts, else the float image rounded; read by DIALS, fabio)",
        |r, v, _| { r.cbffile = Some(v[0].into()); Ok(()) }),
    flag!("-nexusfile", ["--nexus"], [], Fixed(1), "<file.h5>",
        "NeXus/NXmx HDF5 file holding every frame of the run ([frame, slow, fast], 32-bit photon counts as -cbffile; read by DIALS)",
        |r, v, _| { r.nexusfile = Some(v[0].into()); Ok(()) }),
    flag!("-nexus_float", ["--nexus-float"], [], Fixed(0), "", "-nexusfile holds the float image's photons (32-bit float) instead of counts",
        |r, _, _| { r.nexus_float = true; Ok(()) }),
    flag!("-pngscale", [], [], Fixed(1), "<factor>", "PNG scale (default: 99.5th percentile maps to white)",
        |r, v, _| { r.pngscale = positive_length("-pngscale", v[0])?; Ok(()) }),
    flag!("-png_log", [], [], Fixed(0), "", "logarithmic PNG scaling: median black, brightest pixel (or 255/-pngscale) white",
        |r, _, _| { r.png_log = true; Ok(()) }),
    flag!("-png_colormap", ["--png-colormap"], [], Fixed(1), "<gray|viridis|inferno>", "false-colour map for the PNG images (default gray)",
        |r, v, _| { r.png_colormap = Colormap::parse("-png_colormap", v[0])?; Ok(()) }),
    flag!("-preview", ["--preview"], [], Fixed(0), "",
        "print image statistics and write <floatfile stem>_preview.png (max-pooled to at most 1024 pixels a side)",
        |r, _, _| { r.preview = true; Ok(()) }),
    flag!("-validate", ["--validate"], [], Arity::OptionalInline, "[=N]",
        "after a GPU render, recompute N pixels (default 64: brightest + random) on the f64 engine and print the worst relative error",
        |r, v, _| {
            let n = match v.first() { Some(s) => positive_count(Mode::Default, "-validate", s)?, None => DEFAULT_VALIDATE as i64 };
            if n == 0 { return Err(Error::Usage("-validate: the pixel count must be at least 1".into())); }
            r.validate = Some(n as usize);
            Ok(())
        }),
    flag!("-quiet", ["--quiet"], [], Fixed(0), "", "print only errors",
        |r, _, _| { r.quiet = true; Ok(()) }),
];

impl<T> Program<T> {
    /// The mode `args` ask for (`-c_parity` anywhere, as the programs test for it first).
    pub fn mode_of(&self, args: &[String]) -> Mode {
        if args.iter().any(|a| self.c_parity.contains(&a.as_str())) { Mode::CParity } else { Mode::Default }
    }

    /// The flag whose canonical name or alias is exactly `token` (also accepting `--name`).
    pub fn find_exact(&self, token: &str) -> Option<&'static Flag<T>> {
        let bare = token.strip_prefix('-').filter(|t| t.starts_with('-')).unwrap_or(token);
        self.flags.iter().find(|f| f.name == token || f.aliases.contains(&token) || f.name == bare || f.aliases.contains(&bare))
    }

    /// The flags the C program would apply for `token`, in its order, honouring its
    /// `continue`s. Our own flags (no C pattern) match exactly, and only when no C flag does
    /// (so `-pix0_vector_mm` means what it means to nanoBragg.c: a `-pix0_vector` match).
    pub fn find_c_matches(&self, token: &str) -> Vec<&'static Flag<T>> {
        let mut found = Vec::new();
        for f in self.flags.iter().filter(|f| !f.c_patterns.is_empty()) {
            if f.c_patterns.iter().any(|p| p.matches(token)) {
                found.push(f);
                if f.stop {
                    break;
                }
            }
        }
        if found.is_empty() {
            found.extend(self.flags.iter().filter(|f| f.c_patterns.is_empty() && (f.name == token || f.aliases.contains(&token))));
        }
        found
    }

    /// The flags `token` applies in `mode`: the C program's matches, or in the default mode of
    /// a program read by exact spellings, the flag of that spelling.
    pub fn matches(&self, token: &str, mode: Mode) -> Vec<&'static Flag<T>> {
        if mode == Mode::CParity || !self.exact_by_default {
            self.find_c_matches(token)
        } else {
            self.find_exact(token).into_iter().collect()
        }
    }

    /// The spelling closest to a mistyped `token`, if one is close enough to be what was meant
    /// (at most a quarter of the letters differ, and at most 3).
    pub fn nearest_spelling(&self, token: &str) -> Option<&'static str> {
        let bare = token.strip_prefix('-').filter(|t| t.starts_with('-')).unwrap_or(token);
        let limit = (bare.chars().count() / 4).clamp(1, 3);
        self.flags
            .iter()
            .flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied()))
            .filter(|s| !s.starts_with("--"))
            .map(|s| (edit_distance(&bare.to_lowercase(), &s.to_lowercase()), s))
            .filter(|&(d, _)| d <= limit)
            .min_by_key(|&(d, _)| d)
            .map(|(_, s)| s)
    }

    /// Help generated from the table: the intro, then the flags (in sections, or in the table's
    /// order), the description column aligned and wrapped to the layout's width.
    pub fn help_text(&self) -> String {
        let mut out = (self.help.intro)();
        if self.help.sections.is_empty() {
            self.flags.iter().for_each(|flag| self.help_entry(&mut out, flag));
            return out;
        }
        let sections = self.help.sections;
        let others: Vec<&str> = self.flags.iter().map(|f| f.name).filter(|n| !sections.iter().any(|(_, names)| names.contains(n))).collect();
        let all = sections.iter().map(|&(title, names)| (title, names.to_vec())).chain((!others.is_empty()).then(|| ("Other", others)));
        for (title, names) in all {
            out.push_str(&format!("\n{title}:\n"));
            for name in names {
                let Some(flag) = self.flags.iter().find(|f| f.name == name) else { continue };
                self.help_entry(&mut out, flag);
            }
        }
        out
    }

    /// One flag's help: `  -name <values>` (a `+` in place of the second space marks a flag
    /// the C program does not have) then the description with the synonyms, wrapped.
    fn help_entry(&self, out: &mut String, flag: &Flag<T>) {
        let column = self.help.column;
        let mark = if flag.c_patterns.is_empty() { "+" } else { " " };
        let head = format!(" {mark}{} {}", flag.name, flag.values);
        let head = head.trim_end();
        let mut text = flag.help.to_string();
        if !flag.aliases.is_empty() {
            text.push_str(&format!("; also {}", flag.aliases.join(", ")));
        }
        let mut lines = wrap(&text, self.help.width.saturating_sub(column)).into_iter();
        let indent = " ".repeat(column);
        if head.chars().count() + 2 <= column {
            let first = lines.next().unwrap_or_default();
            out.push_str(&format!("{head:<column$}{first}\n"));
        } else {
            out.push_str(head);
            out.push('\n');
        }
        for line in lines {
            out.push_str(&format!("{indent}{line}\n"));
        }
    }
}

/// nanoBragg.c's command line as `nanobragg` reads it: exact spellings by default, the C's
/// matching with `-c_parity`, which passes over what matches no flag as nanoBragg.c does.
pub static NANOBRAGG: Program<RawArgs> = Program {
    invocation: "nanobragg",
    flags: FLAGS,
    c_parity: &["-c_parity", "--c-parity"],
    exact_by_default: true,
    c_parity_skips_unknown: true,
    operand: None,
    help: Help { intro: help_intro, sections: SECTIONS, column: HELP_COLUMN, width: HELP_WIDTH },
};

/// The main command's flag whose canonical name or alias is exactly `token`.
pub fn find_exact(token: &str) -> Option<&'static Flag> {
    NANOBRAGG.find_exact(token)
}

/// The main command's flags nanoBragg.c would apply for `token` (`Program::find_c_matches`).
pub fn find_c_matches(token: &str) -> Vec<&'static Flag> {
    NANOBRAGG.find_c_matches(token)
}

/// The main command's spelling closest to a mistyped `token` (`Program::nearest_spelling`).
pub fn nearest_spelling(token: &str) -> Option<&'static str> {
    NANOBRAGG.nearest_spelling(token)
}

/// The help sections, each with its flags in the order shown. A flag missing here is listed
/// under "Other" (and fails the unit test `every_flag_has_a_section`).
pub const SECTIONS: &[(&str, &[&str])] = &[
    ("Crystal", &[
        "-cell", "-N", "-Na", "-Nb", "-Nc", "-misset", "-samplesize", "-sample_thick", "-sample_width",
        "-sample_height", "-xtalsize", "-xtal_thick", "-xtal_width", "-xtal_height", "-mosaic", "-mosaic_domains",
        "-default_F", "-interpolate", "-nointerpolate", "-round_xtal", "-square_xtal", "-gauss_xtal",
        "-tophat_spots", "-fudge", "-dmin", "-water",
    ]),
    ("Beam", &[
        "-lambda", "-energy", "-fluence", "-flux", "-exposure", "-beamsize", "-polar", "-nopolar", "-dispersion",
        "-dispsteps", "-divergence", "-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep", "-hdivsteps",
        "-vdivsteps", "-divsteps", "-round_div", "-square_div",
    ]),
    ("Detector", &[
        "-distance", "-close_distance", "-detpixels", "-detpixels_f", "-detpixels_s", "-pixel", "-detsize",
        "-detsize_f", "-detsize_s", "-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX", "-ORGY", "-mosflm", "-xds",
        "-adxv", "-denzo", "-dials", "-pivot", "-twotheta", "-detector_rotx", "-detector_roty", "-detector_rotz",
        "-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector", "-polar_vector", "-twotheta_axis",
        "-pix0_vector", "-pix0_vector_mm", "-curved_det", "-point_pixel", "-detector_abs", "-detector_thick",
        "-detector_thicksteps", "-roi",
    ]),
    ("Rotation", &["-phi", "-osc", "-phistep", "-phisteps", "-spindle_axis"]),
    ("Datasets (nanobragg's own)", &["-frames", "-first_frame", "-shots", "-random_orientation", "-shard", "-manifest", "-resume"]),
    ("Sampling", &["-oversample", "-oversample_thick", "-oversample_polar", "-oversample_omega"]),
    ("Files in", &["-hkl", "-mtz_column", "-mat", "-img", "-mask", "-sourcefile", "-detector"]),
    ("Files out", &[
        "-floatfile", "-intfile", "-pgmfile", "-noisefile", "-nopgm", "-nonoise", "-scale", "-pgmscale", "-adc",
        "-pngfile", "-pngscale", "-png_log", "-png_colormap", "-cbffile", "-nexusfile", "-nexus_float", "-nofdump",
    ]),
    ("Amorphous background", &["-stol", "-4stol", "-Q", "-bg_thick", "-bg_width", "-bg_height", "-bg_size", "-density", "-MW", "-bg_molecules"]),
    ("Noise and seeds", &["-seed", "-mosaic_seed", "-misset_seed"]),
    ("Detector model of the noise image (nanobragg's own)", &[
        "-psf", "-psf_fwhm", "-psf_radius", "-readout_noise", "-flicker", "-calibration", "-calib_seed", "-gain", "-bits",
        "-noise_order",
    ]),
    ("GPU and engine (nanobragg's own)", &["-engine", "-backend", "-gpu_precision", "-gpu_index", "-validate"]),
    ("Reports", &["-preview", "-trace_pixel", "-printout", "-printout_pixel", "-progress", "-noprogress", "-quiet"]),
    ("Compatibility with nanoBragg.c", &[
        "-c_parity", "-coherent", "-stolout", "-dispstep", "-hdiv",
        "-vdiv",
    ]),
];

/// Help lines are at most this wide.
pub const HELP_WIDTH: usize = 100;
/// Where the description column starts.
const HELP_COLUMN: usize = 32;

/// The lines that open both the help and the bare-`nanobragg` usage.
fn usage_lines() -> &'static str {
    "nanobragg: X-ray diffraction images of small crystals (GPU via WebGPU, f64 CPU reference)\n\
     usage: nanobragg [flags]                 every nanoBragg.c flag, units as listed below\n\
     \x20      nanobragg noisify [flags]         noisify.c: detector noise on a float image\n\
     \x20      nanobragg nonBragg [flags]        nonBragg.c: an amorphous sample's scattering\n\
     \x20      nanobragg compare [options] -- <flags>   GPU vs f64 CPU vs nanoBragg.c\n\
     \x20      nanobragg trace-diff A.log B.log [--tol T]   two -trace_pixel logs side by side\n\
     \x20      nanobragg bench [options]         speed against nanoBragg.c\n\
     \x20      nanobragg manifest merge|check ...   a sharded run's manifests\n\
     \x20      nanobragg -h | --version          (each subcommand has its own -h)\n"
}

/// What bare `nanobragg` prints (to stderr, exit status 2: a run needs flags).
pub fn usage_text() -> String {
    format!(
        "{}\nexample: nanobragg -cell 100 100 100 90 90 90 -default_F 100 -lambda 6.2 -N 5 -distance 100 \\\n\
         \x20                  -detpixels 1024 -floatfile out.bin -pngfile out.png\n\
         `nanobragg -h` lists every flag; compare and trace-diff: docs/compare-and-trace.md\n",
        usage_lines()
    )
}

/// The main command's help, generated from the table: the flags in sections, the description
/// column aligned, every line at most `HELP_WIDTH` columns (descriptions wrap).
pub fn help_text() -> String {
    NANOBRAGG.help_text()
}

fn help_intro() -> String {
    format!("{}\nFlags nanoBragg.c does not have are marked +. \"-flag\" and \"--flag\" are the same flag.\n", usage_lines())
}

/// Greedy word wrap to `width` characters (a single longer word keeps its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Edit distance (Levenshtein, on characters) between two spellings (also the Python
/// package's, for its keywords).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_name_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in FLAGS {
            for n in std::iter::once(&f.name).chain(f.aliases.iter()) {
                assert!(seen.insert(*n), "duplicate flag spelling {n}");
            }
        }
    }

    #[test]
    fn c_matching_reproduces_known_collisions() {
        let names = |t: &str| find_c_matches(t).iter().map(|f| f.name).collect::<Vec<_>>();
        // REFERENCE §1: -twotheta_axis also sets 2-theta
        assert_eq!(names("-twotheta_axis"), ["-twotheta_axis", "-twotheta"]);
        // guarded by exact length: no collision
        assert_eq!(names("-detpixels_x"), ["-detpixels_f"]);
        assert_eq!(names("-polar_vector"), ["-polar_vector"]);
        assert_eq!(names("-phisteps"), ["-phisteps"]);
        // synonyms that work through strstr
        assert_eq!(names("-matrix"), ["-mat"]);
        assert_eq!(names("-mosaic_spread"), ["-mosaic"]);
        assert_eq!(names("-mosaic_domains"), ["-mosaic_domains"]);
        assert_eq!(names("-pix0_vector_mm"), ["-pix0_vector"]);
        // C `continue` after -oversample_thick keeps -oversample from reading a value
        assert_eq!(names("-oversample_thick"), ["-oversample_thick"]);
        // not colliding (checked in C)
        assert_eq!(names("-pgmscale"), ["-pgmscale"]);
        assert_eq!(names("-mosaic_seed"), ["-mosaic_seed"]);
        assert_eq!(names("-nointerpolate"), ["-nointerpolate"]);
        assert_eq!(names("-close_distance"), ["-close_distance"]);
        assert!(names("-no_such_flag").is_empty());
    }

    #[test]
    fn exact_lookup_accepts_aliases_and_long_form() {
        assert_eq!(find_exact("-wavelength").map(|f| f.name), Some("-lambda"));
        assert_eq!(find_exact("--distance").map(|f| f.name), Some("-distance"));
        assert!(find_exact("-twotheta_axiss").is_none());
    }

    #[test]
    fn values_are_checked() {
        assert!(number("-distance", "abc").is_err());
        assert!(number("-distance", "nan").is_err());
        assert!(number("-distance", "inf").is_err());
        assert_eq!(number("-distance", "1e2").ok(), Some(100.0));
        assert!(integer("-N", "2.5").is_err());
    }

    #[test]
    fn whole_numbers_are_read_as_atoi_reads_them() {
        // a whole number written with a decimal point, as nanoBragg.c command lines have them
        for (text, n) in [("6", 6), ("6.0", 6), ("6.", 6), ("+6.00", 6), (" -3.0", -3), ("6e0", 6), ("0.0", 0)] {
            assert_eq!(whole(Mode::Default, "-N", text).ok(), Some(n), "{text}");
            assert_eq!(whole(Mode::CParity, "-N", text).ok(), Some(n), "{text}");
        }
        // the leading integer part is not the value written: atoi's in c-parity, refused by default
        for (text, n) in [("6.5", 6), ("1e3", 1), ("-0.5", 0), (".5", 0)] {
            assert_eq!(whole(Mode::CParity, "-N", text).ok(), Some(n), "{text}");
            let e = whole(Mode::Default, "-N", text).unwrap_err().to_string();
            assert!(e.contains("-N") && e.contains(text.trim()) && e.contains(&format!("read it as {n}")), "{e}");
        }
        for text in ["abc", "6x", "nan", "inf", ""] {
            assert!(whole(Mode::CParity, "-N", text).is_err(), "{text}");
            assert!(whole(Mode::Default, "-N", text).is_err(), "{text}");
        }
        assert_eq!(atoi("  12abc"), 12);
        assert_eq!(atoi("-"), 0);
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help_text();
        for f in FLAGS {
            assert!(h.contains(&format!("{} ", f.name)) || h.contains(&format!("{}\n", f.name)), "help misses {}", f.name);
        }
        for line in h.lines() {
            assert!(line.chars().count() <= HELP_WIDTH, "help line wider than {HELP_WIDTH}: {line}");
        }
    }

    #[test]
    fn help_lists_the_subcommands() {
        let h = help_text();
        for sub in ["noisify", "nonBragg", "compare", "trace-diff", "bench", "manifest"] {
            assert!(h.lines().any(|l| l.trim_start().starts_with(&format!("nanobragg {sub} "))), "help misses the {sub} subcommand:\n{h}");
        }
    }

    #[test]
    fn every_flag_has_a_section() {
        for f in FLAGS {
            let n = SECTIONS.iter().filter(|(_, names)| names.contains(&f.name)).count();
            assert_eq!(n, 1, "{} is in {n} help sections", f.name);
        }
        for (title, names) in SECTIONS {
            for n in *names {
                assert!(FLAGS.iter().any(|f| f.name == *n), "section {title} names {n}, which is no flag");
            }
        }
    }

    #[test]
    fn every_c_pattern_is_a_default_spelling() {
        // a synonym nanoBragg.c accepts is accepted in the default mode too (exactly)
        for f in FLAGS {
            for p in f.c_patterns {
                let (CPattern::Sub(text) | CPattern::Exact(text)) = *p;
                assert!(find_exact(text).is_some(), "{text} (a nanoBragg.c spelling of {}) is refused by default", f.name);
            }
        }
    }

    #[test]
    fn nearest_spelling_suggests_close_names_only() {
        assert_eq!(nearest_spelling("-distence"), Some("-distance"));
        assert_eq!(nearest_spelling("--distence"), Some("-distance"));
        assert_eq!(nearest_spelling("-lamda"), Some("-lambda"));
        assert_eq!(nearest_spelling("-detpixel"), Some("-detpixels"));
        assert_eq!(nearest_spelling("-frobnicate"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
