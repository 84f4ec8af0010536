//! The command-line walk, one for the three programs (`defs::Program`): in c-parity mode an
//! argument applies every flag the C `strstr` tests would apply; in the default mode only the
//! exact names and synonyms of the flag table (the companion programs: the C tests in both
//! modes). The main command first reads the `-mask` then the `-img` header, as nanoBragg.c does.

use super::defs::{self, Arity, Ctx, Flag, Program};
use super::raw::{Mode, RawArgs};
use crate::error::{Error, Result, shown};
use crate::io::smv;
use std::path::Path;

pub enum Command {
    Help,
    Run(Box<RawArgs>),
}

use crate::physics::constants::RTD;

/// A flag is an argument starting with '-' that is not a number (negative values are values).
fn is_flag_token(t: &str) -> bool {
    t.starts_with('-') && t.len() > 1 && t.parse::<f64>().is_err()
}

/// Whether `args` ask for the help (`-h`, `--help`, `-help`), which every program answers
/// instead of running.
pub fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "-h" || a == "--help" || a == "-help")
}

pub fn parse(args: &[String], time_seed: i64) -> Result<Command> {
    if wants_help(args) {
        return Ok(Command::Help);
    }
    let mode = defs::NANOBRAGG.mode_of(args);
    let mut raw = RawArgs::c_initial(mode, time_seed);
    read_headers(&mut raw, args)?;
    apply_args(&mut raw, args)?;
    Ok(Command::Run(Box::new(raw)))
}

/// A companion program's options from its arguments (`None`: the help was asked for):
/// `initial` in the mode the arguments ask for, then the walk.
pub fn parse_program<T>(program: &Program<T>, args: &[String], initial: impl FnOnce(Mode) -> T) -> Result<Option<T>> {
    if wants_help(args) {
        return Ok(None);
    }
    let mode = program.mode_of(args);
    let mut options = initial(mode);
    walk(program, &mut options, mode, args)?;
    Ok(Some(options))
}

/// Applies the flags of `args` to `raw` in order, in `raw`'s mode, through the flag table:
/// the command line's walk (after the header pre-pass), and a shot's overrides on top of the
/// command line (`dataset::shots`), which thus get every flag's checks and messages.
/// The flags applied are recorded in `raw.typed` (what a `-detector` file may not override).
pub fn apply_args(raw: &mut RawArgs, args: &[String]) -> Result<()> {
    let mode = raw.mode;
    let applied = walk(&defs::NANOBRAGG, raw, mode, args)?;
    raw.typed.extend(applied);
    Ok(())
}

/// Applies the flags of `args` to `target` in order, as `program` reads them in `mode`;
/// returns the names of the flags applied, in order.
pub fn walk<T>(program: &Program<T>, target: &mut T, mode: Mode, args: &[String]) -> Result<Vec<&'static str>> {
    let mut applied = Vec::new();
    let mut i = 0;
    // the last flag applied, to explain a stray value after it
    let mut previous: Option<&'static Flag<T>> = None;
    while i < args.len() {
        let (token, inline) = split_inline_value(program, args[i].as_str());
        let flags = if is_flag_token(token) { program.matches(token, mode) } else { Vec::new() };
        if flags.is_empty() {
            if !is_flag_token(token) && program.operand.is_some_and(|take| take(target, token)) {
                i += 1;
                continue;
            }
            if mode == Mode::CParity && program.c_parity_skips_unknown {
                // nanoBragg.c tests each argument against its flags and goes on when none
                // matches: a stray value or an unknown flag changes nothing there
                log::warn!("ignoring '{}', as nanoBragg.c does", shown(token));
                i += 1;
                continue;
            }
            return Err(refusal(program, token, previous));
        }
        let mut consumed = 0;
        for &flag in &flags {
            let (values, used) = take_values(flag, token, inline, &args[i + 1..])?;
            let ctx = Ctx { mode, is_last: i + 1 == args.len(), typed: token };
            (flag.apply)(target, &values, &ctx)?;
            applied.push(flag.name);
            consumed = consumed.max(used);
        }
        previous = flags.first().copied();
        i += 1 + consumed;
    }
    Ok(applied)
}

/// Why `program` refuses `token`, which is no flag it knows, with the likely intent.
fn refusal<T>(program: &Program<T>, token: &str, previous: Option<&Flag<T>>) -> Error {
    if !is_flag_token(token) {
        let why = match previous {
            Some(f) => format!("{} takes {}", f.name, describe_arity(f)),
            None => "values must follow their flag".into(),
        };
        return Error::Usage(format!("unexpected argument '{token}' ({why})"));
    }
    // what the C program's matching would make of it, where the default mode read it exactly
    let c_reading = if program.exact_by_default { program.find_c_matches(token).first().copied() } else { None };
    let hint = match (c_reading, program.nearest_spelling(token)) {
        (Some(c), _) => format!(
            "nanoBragg.c would read it as {}: write {}, or add -c_parity for nanoBragg.c's matching",
            c.name, c.name
        ),
        (None, Some(near)) => format!("did you mean {near}?"),
        (None, None) => format!("{} -h lists every flag", program.invocation),
    };
    Error::Usage(format!("unknown flag '{token}' ({hint})"))
}

/// How many values a flag takes, in words.
fn describe_arity<T>(flag: &Flag<T>) -> String {
    match flag.arity {
        Arity::Fixed(0) | Arity::OptionalInline => "no value".into(),
        Arity::Fixed(1) => format!("1 value {}", flag.values),
        Arity::Fixed(n) => format!("{n} values {}", flag.values),
        Arity::UpTo6 => format!("6 values {}", flag.values),
        Arity::Misset => format!("3 values or the word random {}", flag.values),
    }
}

/// `-flag=value` split in two, for the flags whose optional value is written that way (none of
/// the C programs' flags contains '=', so nothing else is affected).
fn split_inline_value<'a, T>(program: &Program<T>, token: &'a str) -> (&'a str, Option<&'a str>) {
    match token.split_once('=') {
        Some((name, value)) if program.find_exact(name).is_some_and(|f| f.arity == Arity::OptionalInline) => (name, Some(value)),
        _ => (token, None),
    }
}

/// The values of a flag and how many following arguments they used, checked for count (C
/// silently skips a flag whose values are missing; we refuse).
fn take_values<'a, T>(flag: &Flag<T>, token: &str, inline: Option<&'a str>, rest: &'a [String]) -> Result<(Vec<&'a str>, usize)> {
    if flag.arity == Arity::OptionalInline {
        return Ok((inline.into_iter().collect(), 0));
    }
    let missing = |n: usize| {
        let found = match rest[..n.min(rest.len())].iter().find(|t| is_flag_token(t)) {
            Some(next) => format!("found the flag '{next}'"),
            None => "the command line ends".to_string(),
        };
        Error::Usage(format!("{token}: expects {}; {found}", describe_arity(flag)))
    };
    let n = match flag.arity {
        Arity::Fixed(n) => n,
        Arity::UpTo6 => rest.iter().take(6).take_while(|t| !t.starts_with('-')).count().max(1),
        Arity::Misset => {
            if rest.first().is_some_and(|t| t.contains("rand")) { 1 } else { 3 }
        }
        Arity::OptionalInline => 0,
    };
    if rest.len() < n || rest[..n].iter().any(|t| is_flag_token(t) && !t.contains("rand")) {
        return Err(missing(n));
    }
    Ok((rest[..n].iter().map(String::as_str).collect(), n))
}

/// nanoBragg.c reads the `-mask` header and then the `-img` header before any flag, so flags
/// override headers and `-img` beats `-mask` whatever the order typed (REFERENCE §5).
fn read_headers(raw: &mut RawArgs, args: &[String]) -> Result<()> {
    let mode = raw.mode;
    let named = |key: &str| -> Option<String> {
        let mut found = None;
        for (i, a) in args.iter().enumerate() {
            let hit = match mode {
                Mode::CParity => a.contains(key),
                Mode::Default => a == key,
            };
            if hit && i + 1 < args.len() {
                found = Some(args[i + 1].clone());
            }
        }
        found
    };
    if let Some(mask) = named("-mask") {
        let image = smv::read_smv(mask.as_ref()).map_err(|e| e.from_flag("-mask"))?;
        apply_header(raw, &image, true, mask.as_ref()).map_err(|e| e.from_flag("-mask"))?;
        raw.mask_size = (image.width, image.height);
        raw.mask_pixels = Some(image.data);
        raw.mask = Some(mask.into());
    }
    if let Some(img) = named("-img") {
        let image = smv::read_smv(img.as_ref()).map_err(|e| e.from_flag("-img"))?;
        apply_header(raw, &image, false, img.as_ref()).map_err(|e| e.from_flag("-img"))?;
        raw.img = Some(img.into());
    }
    Ok(())
}

/// A file error met while resolving `raw`, naming the flag that gave the file
/// (`-hkl nothere.hkl: no such file`); other errors pass unchanged.
pub fn with_input_flag(raw: &RawArgs, e: Error) -> Error {
    let typed = [
        ("-hkl", &raw.hkl),
        ("-mat", &raw.mat),
        ("-img", &raw.img),
        ("-mask", &raw.mask),
        ("-sourcefile", &raw.sourcefile),
        ("-detector", &raw.detector_file),
        ("-stol", &raw.stolfile),
    ];
    let flag = e.file_path().and_then(|p| typed.iter().find(|(_, typed)| typed.as_deref() == Some(p)).map(|(f, _)| *f));
    match flag {
        Some(f) => e.from_flag(f),
        None => e,
    }
}

/// Header keys that are lengths or a wavelength: zero or negative values make no detector.
const POSITIVE_KEYS: [&str; 4] = ["PIXEL_SIZE", "DISTANCE", "CLOSE_DISTANCE", "WAVELENGTH"];

/// A header value as the mode reads it, refused (naming file and key) when it is not a finite
/// number or, for lengths and the wavelength, not positive.
fn header_number(image: &smv::SmvImage, key: &str, parity: bool, path: &Path) -> Result<Option<f64>> {
    let value = if parity { smv::header_value(&image.header, key) } else { smv::header_value_exact(&image.header, key) };
    match value {
        Some(v) if !v.is_finite() => Err(Error::parse(path, format!("header key {key}"), format!("value {v} is not a finite number"))),
        Some(v) if v <= 0.0 && POSITIVE_KEYS.contains(&key) => {
            Err(Error::parse(path, format!("header key {key}"), format!("value {v} must be greater than zero")))
        }
        other => Ok(other),
    }
}

fn apply_header(raw: &mut RawArgs, image: &smv::SmvImage, flip_beam_y: bool, path: &Path) -> Result<()> {
    let parity = raw.mode == Mode::CParity;
    let value = |key: &str| header_number(image, key, parity, path);
    raw.fpixels = image.width as i64;
    raw.spixels = image.height as i64;
    if let Some(v) = value("PIXEL_SIZE")? {
        raw.pixel_size = v / 1000.0;
    }
    raw.detsize_f = raw.pixel_size * raw.fpixels as f64;
    raw.detsize_s = raw.pixel_size * raw.spixels as f64;
    if let Some(v) = value("DISTANCE")? {
        raw.distance = v / 1000.0;
    }
    if let Some(v) = value("CLOSE_DISTANCE")? {
        raw.close_distance = v / 1000.0;
        raw.close_distance_from_header = true;
    }
    if let Some(v) = value("WAVELENGTH")? {
        raw.lambda0 = v / 1e10;
    }
    if let Some(v) = value("BEAM_CENTER_X")? {
        raw.xbeam = v / 1000.0;
    }
    if let Some(v) = value("BEAM_CENTER_Y")? {
        // the mask reader flips Y, the img reader does not (as C and the spec)
        raw.ybeam = if flip_beam_y { raw.detsize_s - v / 1000.0 } else { v / 1000.0 };
    }
    let (orgx_key, orgy_key) = if parity { ("ORGX", "ORGY") } else { ("XDS_ORGX", "XDS_ORGY") };
    if let Some(v) = value(orgx_key)? {
        raw.orgx = v;
    }
    if let Some(v) = value(orgy_key)? {
        raw.orgy = v;
    }
    // kept in degrees too, as the flags keep them: a series starts its frames from these
    if let Some(v) = value("PHI")? {
        raw.phi_deg = v;
        raw.phi0 = v / RTD;
    }
    if let Some(v) = value("OSC_RANGE")? {
        raw.osc_deg = Some(v);
        raw.osc = v / RTD;
    }
    // C reads TWOTHETA into a variable it never uses; the default mode honours it
    if !parity && let Some(v) = value("TWOTHETA")? {
        raw.twotheta = v / RTD;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<RawArgs> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args, -1)? {
            Command::Run(r) => Ok(*r),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn twotheta_axis_collision_only_in_c_parity() {
        let c = run(&["-c_parity", "-twotheta", "20", "-twotheta_axis", "0", "1", "0"]).unwrap();
        assert_eq!(c.twotheta, 0.0);
        let d = run(&["-twotheta", "20", "-twotheta_axis", "0", "1", "0"]).unwrap();
        assert!((d.twotheta * RTD - 20.0).abs() < 1e-12);
    }

    #[test]
    fn curved_det_last_argument() {
        assert!(!run(&["-c_parity", "-curved_det"]).unwrap().curved_det);
        assert!(run(&["-curved_det"]).unwrap().curved_det);
    }

    #[test]
    fn negative_numbers_are_values() {
        let r = run(&["-sdet_vector", "0", "-1", "0"]).unwrap();
        assert_eq!(r.sdet, [0.0, -1.0, 0.0]);
    }

    #[test]
    fn errors_name_the_flag() {
        let e = run(&["-distance"]).unwrap_err().to_string();
        assert!(e.contains("-distance"), "{e}");
        let e = run(&["-distance", "far"]).unwrap_err().to_string();
        assert!(e.contains("-distance") && e.contains("far"), "{e}");
        let e = run(&["-bogus"]).unwrap_err().to_string();
        assert!(e.contains("-bogus"), "{e}");
        let e = run(&["-detpixels", "0"]).unwrap_err().to_string();
        assert!(e.contains("-detpixels"), "{e}");
        let e = run(&["-misset", "1", "2"]).unwrap_err().to_string();
        assert!(e.contains("-misset"), "{e}");
    }

    #[test]
    fn cell_takes_up_to_six_values() {
        let r = run(&["-cell", "70", "80", "90", "75", "85", "95", "-N", "3"]).unwrap();
        assert_eq!(r.cell[0..3], [70.0, 80.0, 90.0]);
        assert_eq!(r.na, 3.0);
    }

    #[test]
    fn validate_takes_an_optional_inline_count() {
        assert_eq!(run(&["-validate"]).unwrap().validate, Some(defs::DEFAULT_VALIDATE));
        assert_eq!(run(&["-validate=128", "-N", "2"]).unwrap().validate, Some(128));
        assert_eq!(run(&["-c_parity", "-validate=7"]).unwrap().validate, Some(7));
        assert!(run(&["-validate=0"]).unwrap_err().to_string().contains("-validate"));
        assert!(run(&["-validate=many"]).unwrap_err().to_string().contains("many"));
        // a following number is not swallowed as the count
        assert!(run(&["-validate", "12"]).is_err());
    }

    #[test]
    fn colormap_and_preview_flags() {
        let r = run(&["-png_colormap", "viridis", "-preview"]).unwrap();
        assert_eq!(r.png_colormap, crate::io::colormap::Colormap::Viridis);
        assert!(r.preview);
        assert!(run(&["-png_colormap", "rainbow"]).unwrap_err().to_string().contains("rainbow"));
    }

    #[test]
    fn misset_random_word() {
        let r = run(&["-misset", "random", "-misset_seed", "7"]).unwrap();
        assert_eq!(r.misset, super::super::raw::Misset::Random);
        assert_eq!(r.misset_seed, -7);
    }
}
