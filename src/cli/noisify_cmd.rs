//! `nanobragg noisify ARGS`: a drop-in for James Holton's noisify.c (github bl831/nanoBragg),
//! which turns an ideal float image (photons/pixel) into the integer images a detector would
//! record — noise, point-spread function, gain, ADC offset. Same flags, synonyms (matched as
//! the C matches them: any argument containing the flag's text), units, defaults and outputs
//! (`intimage.img`, `noiseimage.img`, `image.pgm`).
//!
//! With `-c_parity` the noise comes from noisify.c's serial generators and its two bounds slips
//! in the PSF are kept, so the images equal the C program's. Without it, the noise comes from
//! the counter-based generator (`crate::response::philox`), a pure function of (seed, pixel,
//! draw). The stage order and formulas are in `crate::response::noisify`; docs/realism.md.

use super::defs::{Arity::Fixed, CPattern::{Exact as E, Sub as S}, Ctx, Flag, Help, Program, flag, number, whole};
use super::raw::Mode;
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::pgm::encode_pgm;
use crate::io::smv::{SmvHeader, SmvKeys, encode_smv, encode_smv_u32, header_value, read_smv_from};
use crate::io::{OutputsToWrite, read_limited};
use crate::outln;
use crate::physics::constants::R_E_SQR;
use crate::response::noisify::{DEFAULT_FLUENCE, Generator, IntImages, NoiseModel, Psf, noise_image, noiseless_ints, photon_image};
use crate::response::psf::{PsfReport, PsfShape, apply_psf, c_int};
use std::path::{Path, PathBuf};

/// Largest float image read (a 16k × 16k detector of f32).
const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Everything the command line sets, with noisify.c's defaults (SI units inside).
#[derive(Clone, Debug)]
struct Options {
    floatfile: Option<PathBuf>,
    header: Option<PathBuf>,
    intfile: PathBuf,
    pgmfile: PathBuf,
    noisefile: PathBuf,
    bits: i64,
    calculate_noise: bool,
    write_pgm: bool,
    distance: f64,
    detsize: [f64; 2],
    detpixels: [i64; 2],
    pixel: f64,
    beam: [Option<f64>; 2],
    lambda: f64,
    psf: Option<PsfShape>,
    /// C stores it in a `float` (metres)
    psf_fwhm: f32,
    psf_radius: i32,
    fluence: f64,
    scale: f64,
    readout: f64,
    flicker: f64,
    calibration: f64,
    adc: f64,
    gain: f64,
    seed: Option<i64>,
    calib_seed: i64,
    phi: f64,
    osc: f64,
    c_parity: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            floatfile: None,
            header: None,
            intfile: "intimage.img".into(),
            pgmfile: "image.pgm".into(),
            noisefile: "noiseimage.img".into(),
            bits: 16,
            calculate_noise: true,
            write_pgm: true,
            distance: 0.1,
            detsize: [0.1024, 0.1024],
            detpixels: [0, 0],
            pixel: 0.1e-3,
            beam: [None, None],
            lambda: 1.0,
            psf: None,
            psf_fwhm: 46e-6,
            psf_radius: 0,
            fluence: DEFAULT_FLUENCE,
            scale: 1.0,
            readout: 0.0,
            flicker: 0.0,
            calibration: 0.03,
            adc: 40.0,
            gain: 1.0,
            seed: None,
            calib_seed: 123_456_789,
            phi: 0.0,
            osc: 1.0,
            c_parity: false,
        }
    }
}

fn mm(flag: &str, v: &str) -> Result<f64> {
    Ok(number(flag, v)? / 1000.0)
}

/// A length or wavelength: refused unless greater than zero, in both modes, as the main
/// command refuses its `-pixel`, `-distance` and `-lambda` (noisify.c would write it into the
/// header, and divide the PSF width by a pixel of 0).
fn positive(flag: &str, v: &str) -> Result<f64> {
    let x = number(flag, v)?;
    if x <= 0.0 {
        return Err(Error::Usage(format!("{flag}: value {x} must be greater than zero")));
    }
    Ok(x)
}

/// A noise amplitude, gain or fluence outside its range (`ok` false) makes no detector: the
/// default mode refuses it, as the main command refuses its detector-model flags; `-c_parity`
/// keeps noisify.c's arithmetic with a warning.
fn in_range(c: &Ctx, v: &str, ok: fn(f64) -> bool, range: &str) -> Result<f64> {
    let flag = c.typed;
    let x = number(flag, v)?;
    if ok(x) {
        return Ok(x);
    }
    let why = format!("{flag}: value {v} must be {range}");
    if c.mode == Mode::CParity {
        crate::console::warn(&format!("{why} (kept as noisify.c does with -c_parity)"));
        return Ok(x);
    }
    Err(Error::Usage(why))
}

/// A whole number as noisify.c's `atoi` reads it (`-detpixels 64.0` is 64; see `defs::whole`).
fn integer(c: &Ctx, v: &str) -> Result<i64> {
    whole(c.mode, c.typed, v)
}

/// C `-seed N` stores −N (so the C's "negative seed reloads the table" rule sees −N).
fn c_seed(c: &Ctx, v: &str) -> Result<i64> {
    let n = integer(c, v)?;
    i32::try_from(n).map(|n| -i64::from(n)).map_err(|_| Error::Usage(format!("{}: value '{v}' is outside the C int range", c.typed)))
}

/// The table, in noisify.c's order (an argument matching several entries applies each, as the C
/// tests every pattern in turn). Messages name a flag as typed.
static FLAGS: &[Flag<Options>] = &[
    flag!("-lambda", [], [S("-lambda")], Fixed(1), "<Å>", "wavelength, written into the SMV header", |o, v, c| { o.lambda = positive(c.typed, v[0])?; Ok(()) }),
    flag!("-Xbeam", [], [S("-Xbeam")], Fixed(1), "<mm>", "direct-beam X position (default: detector centre)", |o, v, c| { o.beam[0] = Some(mm(c.typed, v[0])?); Ok(()) }),
    flag!("-Ybeam", [], [S("-Ybeam")], Fixed(1), "<mm>", "direct-beam Y position (default: detector centre)", |o, v, c| { o.beam[1] = Some(mm(c.typed, v[0])?); Ok(()) }),
    flag!("-distance", [], [S("-distance")], Fixed(1), "<mm>", "sample-to-detector distance, for the header (default 100)", |o, v, c| { o.distance = positive(c.typed, v[0])? / 1000.0; Ok(()) }),
    flag!("-detsize", [], [E("-detsize")], Fixed(1), "<mm>", "detector size, both axes (used only when the pixel counts are unknown)", |o, v, c| { let s = mm(c.typed, v[0])?; o.detsize = [s, s]; Ok(()) }),
    flag!("-detsize_x", [], [S("-detsize_x")], Fixed(1), "<mm>", "detector size along x", |o, v, c| { o.detsize[0] = mm(c.typed, v[0])?; Ok(()) }),
    flag!("-detsize_y", [], [S("-detsize_y")], Fixed(1), "<mm>", "detector size along y", |o, v, c| { o.detsize[1] = mm(c.typed, v[0])?; Ok(()) }),
    flag!("-detpixels", [], [E("-detpixels")], Fixed(1), "<n>", "pixels along both axes (default: from the file size, a square if possible)", |o, v, c| { let n = integer(c, v[0])?; o.detpixels = [n, n]; Ok(()) }),
    flag!("-detpixels_x", [], [S("-detpixels_x")], Fixed(1), "<n>", "pixels along x (fast)", |o, v, c| { o.detpixels[0] = integer(c, v[0])?; Ok(()) }),
    flag!("-detpixels_y", [], [S("-detpixels_y")], Fixed(1), "<n>", "pixels along y (slow)", |o, v, c| { o.detpixels[1] = integer(c, v[0])?; Ok(()) }),
    flag!("-pixel", [], [S("-pixel")], Fixed(1), "<mm>", "pixel size (default 0.1)", |o, v, c| { o.pixel = positive(c.typed, v[0])? / 1000.0; Ok(()) }),
    flag!("-psf", [], [E("-psf")], Fixed(1), "gauss|fiber", "point-spread function shape (default none)", |o, v, _| {
        // C: a value containing neither word leaves no PSF, with a warning
        o.psf = if v[0].contains("fiber") { Some(PsfShape::Fiber) } else if v[0].contains("gauss") { Some(PsfShape::Gauss) } else {
            crate::console::warn(&format!("unknown psf type: {}", v[0]));
            None
        };
        Ok(())
    }),
    flag!("-psf_radius", [], [S("-psf_rad")], Fixed(1), "<pixels>", "radius to render the PSF (default 0: automatic)", |o, v, c| { o.psf_radius = c_int(number(c.typed, v[0])?); Ok(()) }),
    flag!("-psf_fwhm", ["-psf_size", "-psf_width"], [S("-psf_si"), S("-psf_fw"), S("-psf_wi")], Fixed(1), "<µm>", "PSF full width at half maximum (default 46)", |o, v, c| { o.psf_fwhm = (number(c.typed, v[0])? / 1e6) as f32; Ok(()) }),
    flag!("-fluence", [], [S("-fluence")], Fixed(1), "<photons/m²>", "incident fluence; the input is multiplied by fluence·r_e² (default 1/r_e²: no change)", |o, v, c| { o.fluence = in_range(c, v[0], |x| x >= 0.0, "0 or more")?; Ok(()) }),
    flag!("-floatfile", ["-floatimage", "-bin"], [S("-floatfile"), S("-floatimage"), S("-bin")], Fixed(1), "<file>", "the input: raw 4-byte floats, photons/pixel (also any argument naming floatimage.bin)", |o, v, _| { o.floatfile = Some(v[0].into()); Ok(()) }),
    flag!("-header", [], [S("-header")], Fixed(1), "<file.img>", "take the SMV header (size, pixel, distance, beam) from this image and copy it into the outputs", |o, v, _| { o.header = Some(v[0].into()); Ok(()) }),
    flag!("-pgmfile", ["-pgmimage"], [S("-pgmfile"), S("-pgmimage")], Fixed(1), "<file>", "noiseless image as PGM (default image.pgm)", |o, v, _| { o.pgmfile = v[0].into(); Ok(()) }),
    flag!("-intfile", ["-intimage"], [S("-intfile"), S("-intimage")], Fixed(1), "<file>", "noiseless SMV image (default intimage.img)", |o, v, _| { o.intfile = v[0].into(); Ok(()) }),
    flag!("-bits", [], [S("-bits")], Fixed(1), "16|32", "integer width of the SMV images (default 16)", |o, v, c| {
        o.bits = integer(c, v[0])?;
        if o.bits != 16 && o.bits != 32 {
            return Err(Error::Usage(format!("{}: value '{}' must be 16 or 32", c.typed, v[0])));
        }
        Ok(())
    }),
    flag!("-noisefile", ["-noiseimage"], [S("-noisefile"), S("-noiseimage")], Fixed(1), "<file>", "noisy SMV image (default noiseimage.img)", |o, v, _| { o.noisefile = v[0].into(); Ok(()) }),
    flag!("-nonoise", [], [S("-nonoise")], Fixed(0), "", "no noise image; the PSF then blurs the noiseless image", |o, _, _| { o.calculate_noise = false; Ok(()) }),
    flag!("-nopgm", [], [S("-nopgm")], Fixed(0), "", "no PGM image", |o, _, _| { o.write_pgm = false; Ok(()) }),
    flag!("-readout_noise", ["-readnoise"], [S("-readout"), S("-readnoi")], Fixed(1), "<ADU>", "Gaussian readout noise added to every pixel (default 0)", |o, v, c| { o.readout = in_range(c, v[0], |x| x >= 0.0, "0 or more")?; Ok(()) }),
    flag!("-flicker", [], [S("-flicker")], Fixed(1), "<fraction>", "per-pixel source (1/f) noise, relative (default 0)", |o, v, c| { o.flicker = in_range(c, v[0], |x| x >= 0.0, "0 or more")?; Ok(()) }),
    flag!("-calibration", [], [S("-calibration")], Fixed(1), "<fraction>", "static per-pixel calibration error, relative (default 0.03)", |o, v, c| { o.calibration = in_range(c, v[0], |x| x >= 0.0, "0 or more")?; Ok(()) }),
    flag!("-scale", [], [S("-scale")], Fixed(1), "<factor>", "multiplies the input to put it on the photons/pixel scale (default 1)", |o, v, c| { o.scale = number(c.typed, v[0])?; Ok(()) }),
    flag!("-seed", [], [S("-seed")], Fixed(1), "<n>", "seed of every error but calibration (default: the time)", |o, v, c| { o.seed = Some(c_seed(c, v[0])?); Ok(()) }),
    flag!("-calib_seed", [], [S("-calib_seed")], Fixed(1), "<n>", "seed of the calibration errors (default: noisify.c's fixed one)", |o, v, c| { o.calib_seed = c_seed(c, v[0])?; Ok(()) }),
    flag!("-badpix_seed", [], [S("-badpix_seed")], Fixed(1), "<n>", "accepted and unused, as in noisify.c", |_, v, c| c_seed(c, v[0]).map(drop)),
    flag!("-hotpix_seed", [], [S("-hotpix_seed")], Fixed(1), "<n>", "accepted and unused, as in noisify.c", |_, v, c| c_seed(c, v[0]).map(drop)),
    flag!("-adc", [], [S("-adc")], Fixed(1), "<ADU>", "offset added to every pixel (default 40)", |o, v, c| { o.adc = number(c.typed, v[0])?; Ok(()) }),
    flag!("-gain", [], [S("-gain")], Fixed(1), "<ADU/photon>", "pixel units per photon (default 1)", |o, v, c| { o.gain = in_range(c, v[0], |x| x > 0.0, "greater than zero")?; Ok(()) }),
    flag!("-phi", [], [S("-phi")], Fixed(1), "<deg>", "PHI and OSC_START of the SMV header (default 0)", |o, v, c| { o.phi = number(c.typed, v[0])?; Ok(()) }),
    flag!("-osc", [], [S("-osc")], Fixed(1), "<deg>", "OSC_RANGE of the SMV header (default 1)", |o, v, c| { o.osc = number(c.typed, v[0])?; Ok(()) }),
    // decided before the walk (`Program::c_parity`)
    flag!("-c_parity", [], [E("-c_parity")], Fixed(0), "", "+ noisify.c's serial generators and PSF slips: images equal the C program's", |_, _, _| Ok(())),
];

/// noisify.c's command line: its flags matched as noisify.c matches them (any argument
/// containing the text) in both modes, an argument naming `floatimage.bin` its input, anything
/// else refused; the help in the table's order.
static NOISIFY: Program<Options> = Program {
    invocation: "nanobragg noisify",
    flags: FLAGS,
    c_parity: &["-c_parity"],
    exact_by_default: false,
    c_parity_skips_unknown: false,
    operand: Some(|o, arg| {
        let named = arg.contains("floatimage.bin");
        if named {
            o.floatfile = Some(arg.into());
        }
        named
    }),
    help: Help {
        intro: || {
            "usage: nanobragg noisify -floatfile FILE [flags]\n\
             Turns an ideal photons/pixel float image into detector images with noise, like noisify.c.\n\
             Flags match as in noisify.c (any argument containing the text); + marks ours.\n\n"
                .into()
        },
        sections: &[],
        column: 30,
        width: usize::MAX,
    },
};

/// The options noisify.c starts from, in `mode`.
fn initial(mode: Mode) -> Options {
    Options { c_parity: mode == Mode::CParity, ..Options::default() }
}

/// Entry point: the exit status.
pub fn main(args: &[String]) -> i32 {
    super::companion_main(&NOISIFY, args, initial, run)
}

/// The header of another SMV image (`-header`): its bytes, copied into the outputs, and the
/// values noisify takes from it.
struct ImportedHeader {
    bytes: Vec<u8>,
    text: String,
    width: usize,
    height: usize,
}

fn import_header(path: &Path) -> Result<ImportedHeader> {
    let bytes = read_limited(path, MAX_INPUT_BYTES).map_err(|e| e.from_flag("-header"))?;
    let image = read_smv_from(path, bytes.as_slice()).map_err(|e| e.from_flag("-header"))?;
    // the values noisify takes from the header, refused (naming file and key) as the main
    // command refuses them in an -img or -mask header: not finite, or a length or wavelength
    // that is not positive
    for key in ["PIXEL_SIZE", "DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y"] {
        let positive = !key.starts_with("BEAM_CENTER");
        match header_value(&image.header, key) {
            Some(v) if !v.is_finite() => return Err(Error::parse(path, format!("header key {key}"), format!("value {v} is not a finite number")).from_flag("-header")),
            Some(v) if positive && v <= 0.0 => return Err(Error::parse(path, format!("header key {key}"), format!("value {v} must be greater than zero")).from_flag("-header")),
            _ => {}
        }
    }
    Ok(ImportedHeader { bytes: bytes[..image.header_bytes].to_vec(), text: image.header, width: image.width, height: image.height })
}

/// noisify's SMV outputs: the header of the `-header` image copied as it is, else noisify.c's
/// own (`SmvKeys::Noisify`), then the pixels little-endian in the width of `-bits`.
struct SmvOut<'a> {
    header: SmvHeader,
    bits32: bool,
    imported: Option<&'a ImportedHeader>,
}

impl SmvOut<'_> {
    fn encode(&self, image: &IntImages) -> Vec<u8> {
        let Some(imported) = self.imported else {
            return if self.bits32 { encode_smv_u32(&self.header, &image.int32) } else { encode_smv(&self.header, &image.int16) };
        };
        let mut bytes = imported.bytes.clone();
        if self.bits32 {
            image.int32.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        } else {
            image.int16.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        }
        bytes
    }
}

/// Pixel counts as noisify.c settles them: from the header, the flags, or the file size (a
/// square if the count allows, else the most nearly square factorisation, else one row).
fn detector_pixels(o: &Options, file_pixels: usize, header: Option<&ImportedHeader>) -> (usize, usize) {
    let (mut x, mut y) = (o.detpixels[0].max(0) as usize, o.detpixels[1].max(0) as usize);
    let mut pixels = file_pixels;
    if let Some(h) = header {
        (x, y) = (h.width, h.height);
        pixels = x * y;
    }
    if x == 0 && y == 0 {
        outln!("WARNING: guessing xy pixel dimensions.");
        x = (pixels as f64).sqrt() as usize;
        y = pixels.checked_div(x).unwrap_or(0);
        while pixels != x * y && x > 0 {
            x -= 1;
            y = pixels.checked_div(x).unwrap_or(0);
        }
        if pixels != x * y {
            (x, y) = (pixels, 1);
        }
    }
    if x != 0 && y == 0 {
        y = pixels / x;
    }
    if x == 0 && y != 0 {
        x = pixels / y;
    }
    // C: with no pixel count at all (an empty file), the detector size decides
    let from_size = |size: f64| (size / o.pixel - 0.5).ceil().max(0.0) as usize;
    if x == 0 {
        x = from_size(o.detsize[0]);
    }
    if y == 0 {
        y = from_size(o.detsize[1]);
    }
    (x, y)
}

fn run(o: &Options) -> Result<()> {
    let float_path = o.floatfile.as_ref().ok_or_else(|| Error::Usage("noisify: no input image: give -floatfile FILE (nanobragg noisify -h lists the flags)".into()))?;
    check_files(o, float_path)?;
    let raw = read_limited(float_path, MAX_INPUT_BYTES).map_err(|e| e.from_flag("-floatfile"))?;
    if raw.len() % 4 != 0 {
        // a truncated or foreign file: noisify.c takes the whole floats and guesses a detector
        // from their count (a 64 × 64 image 2 bytes short becomes 63 × 65)
        let msg = format!("{} bytes is not a whole number of 4-byte floats ({} floats and {} bytes over: a truncated file?)", raw.len(), raw.len() / 4, raw.len() % 4);
        if !o.c_parity {
            return Err(Error::parse(float_path, "file size", msg).from_flag("-floatfile"));
        }
        crate::console::warn(&format!("{}: {msg}; the whole floats are read, as noisify.c does", float_path.display()));
    }
    outln!("noisify - add noise to pixels - James Holton 3-19-16");
    let imported = match &o.header {
        Some(path) => {
            outln!("taking header from {}", path.display());
            outln!("reading {}", path.display());
            Some(import_header(path)?)
        }
        None => None,
    };
    let mut o = o.clone();
    if let Some(h) = &imported {
        // C ValueOf: the last occurrence of the key anywhere in the header
        if let Some(p) = header_value(&h.text, "PIXEL_SIZE") {
            o.pixel = p / 1000.0;
        }
        let header_detsize_y = o.pixel * h.height as f64;
        if let Some(d) = header_value(&h.text, "DISTANCE") {
            o.distance = d / 1000.0;
        }
        if let Some(l) = header_value(&h.text, "WAVELENGTH") {
            o.lambda = l / 1e10;
        }
        if let Some(x) = header_value(&h.text, "BEAM_CENTER_X") {
            o.beam[0] = Some(x / 1000.0);
        }
        if let Some(y) = header_value(&h.text, "BEAM_CENTER_Y") {
            o.beam[1] = Some(header_detsize_y - y / 1000.0);
        }
    }
    let (width, height) = detector_pixels(&o, raw.len() / 4, imported.as_ref());
    if width == 0 || height == 0 {
        return Err(Error::parse(float_path, "file size", "no pixels: the image is empty").from_flag("-floatfile"));
    }
    let pixels = width.checked_mul(height).filter(|&n| n.checked_mul(4).is_some_and(|b| b as u64 <= MAX_INPUT_BYTES)).ok_or_else(|| Error::Usage(format!("noisify: {width} × {height} pixels is too large")))?;
    let detsize = [o.pixel * width as f64, o.pixel * height as f64];
    // C: `fread(image, pixels, 4, file)` succeeds once `pixels` bytes are there and leaves the
    // rest of the calloc'ed image zero; our default mode wants the whole image.
    let needed = pixels * 4;
    if raw.len() < needed && (!o.c_parity || raw.len() < pixels) {
        let msg = format!("{} bytes, fewer than the {needed} of {width} × {height} 4-byte floats", raw.len());
        return Err(Error::parse(float_path, "file size", msg).from_flag("-floatfile"));
    }
    if raw.len() < needed {
        crate::console::warn(&format!("{}: {} bytes, short of {needed}; the rest of the image is 0, as noisify.c leaves it", float_path.display(), raw.len()));
    }
    let mut input = vec![0.0f32; pixels];
    for (v, b) in input.iter_mut().zip(raw.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    if let Some(first) = input.iter().position(|v| !v.is_finite()) {
        // as the main command refuses an image with such pixels: no count can be drawn from them
        let count = input.iter().filter(|v| !v.is_finite()).count();
        let at = format!("pixel {first} (fast {}, slow {})", first % width, first / width);
        return Err(Error::parse(float_path, at, format!("{} is not a finite number ({count} such pixels)", input[first])).from_flag("-floatfile"));
    }
    outln!("importing {} pixel intensites: {}", pixels, float_path.display());
    let beam = [o.beam[0].unwrap_or(detsize[0] / 2.0), o.beam[1].unwrap_or(detsize[1] / 2.0)];
    if !o.calculate_noise {
        o.calibration = 0.0;
        o.readout = 0.0;
        o.flicker = 0.0;
    }
    let seed = o.seed.unwrap_or_else(super::time_seed);
    report_settings(&o, width, height, detsize, beam, seed);

    let mut photons = photon_image(&input, o.fluence, o.scale);
    let max_input = input.iter().fold(0.0f64, |m, &v| if m < f64::from(v) { f64::from(v) } else { m });
    let negatives = input.iter().filter(|&&v| v < 0.0).count();
    if negatives > 0 {
        crate::console::warn(&format!("{negatives} negative intensities in {}", float_path.display()));
    }
    outln!("maximum value in input file: {} ( {} on photon scale)", fmt_g(max_input), fmt_g(max_input * o.scale * o.fluence * R_E_SQR));
    let fwhm_pixels = f64::from(o.psf_fwhm) / o.pixel;
    let psf = o.psf.map(|shape| Psf { shape, fwhm_pixels, radius: o.psf_radius });
    if !o.calculate_noise && o.psf_fwhm > 0.0 {
        if let Some(p) = &psf {
            outln!("  applying PSF to noiseless image width = {} pixels", fmt_g(fwhm_pixels));
            let (blurred, report) = apply_psf(&photons, width, height, p.shape, p.fwhm_pixels, p.radius, o.c_parity);
            report_psf(&report);
            photons = blurred;
        }
    }
    let noiseless = noiseless_ints(&photons, o.gain, o.adc, o.c_parity);
    let header = SmvHeader {
        keys: SmvKeys::Noisify,
        fpixels: width,
        spixels: height,
        pixel_size_mm: o.pixel * 1000.0,
        distance_mm: o.distance * 1000.0,
        wavelength_a: o.lambda,
        beam_center_x_mm: beam[0] * 1000.0,
        beam_center_y_mm: (detsize[1] - beam[1]) * 1000.0,
        phi_deg: o.phi,
        osc_start_deg: o.phi,
        osc_range_deg: o.osc,
        ..SmvHeader::default()
    };
    let smv = SmvOut { header, bits32: o.bits == 32, imported: imported.as_ref() };
    let bytes_per = if o.bits == 32 { 4 } else { 2 };
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    outln!("writing {} as {} {}-byte integers", o.intfile.display(), pixels, bytes_per);
    outputs.push((o.intfile.clone(), smv.encode(&noiseless)));
    if o.write_pgm {
        let grey: Vec<u8> = noiseless.int16.iter().map(|&v| v.min(255) as u8).collect();
        outln!("writing {} as 1-byte integers", o.pgmfile.display());
        outputs.push((o.pgmfile.clone(), encode_pgm(width, height, &grey, 1.0)));
    }
    if o.calculate_noise {
        let model = NoiseModel {
            flicker: o.flicker,
            calibration: o.calibration,
            readout: o.readout,
            gain: o.gain,
            adc_offset: o.adc,
            seed,
            calib_seed: o.calib_seed,
            psf: psf.filter(|_| o.psf_fwhm > 0.0),
            calibration_after_poisson: false,
            generator: if o.c_parity { Generator::CParity } else { Generator::Counter { frame: 0 } },
        };
        let noisy = noise_image(&photons, width, height, &model, o.bits == 32);
        if let Some(report) = &noisy.psf {
            outln!("{:.0} photons on noise image before PSF", noisy.photons_before_psf);
            outln!("  applying PSF width = {} um", fmt_g(f64::from(o.psf_fwhm) * 1e6));
            report_psf(report);
        }
        outln!("{:.0} photons on noise image ({} overloads)", noisy.photons, noisy.overloads);
        outln!("writing {} as {}-byte integers", o.noisefile.display(), bytes_per);
        outputs.push((o.noisefile.clone(), smv.encode(&noisy.image)));
    }
    let files: Vec<(&Path, &[u8])> = outputs.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
    OutputsToWrite::open(&files)?.write()
}

/// Every file the run reads and writes, in the registry the main command uses
/// (`dataset::files`): no output may be an input (`-noisefile in.bin` would replace the image
/// it is made from) or another output, and each must be a file that can be written, in a
/// folder where files can be created; checked before anything is read.
fn check_files(o: &Options, float_path: &Path) -> Result<()> {
    let mut files = crate::dataset::files::Registry::new();
    files.read_flag("-floatfile", float_path);
    if let Some(header) = &o.header {
        files.read_flag("-header", header);
    }
    files.write("-intfile", &o.intfile);
    if o.write_pgm {
        files.write("-pgmfile", &o.pgmfile);
    }
    if o.calculate_noise {
        files.write("-noisefile", &o.noisefile);
    }
    files.check()
}

fn report_settings(o: &Options, width: usize, height: usize, detsize: [f64; 2], beam: [f64; 2], seed: i64) {
    outln!("  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)", fmt_g(o.distance), fmt_g(detsize[0]), fmt_g(detsize[1]), fmt_g(o.pixel), width, height);
    outln!("  Xbeam={} Ybeam={}", fmt_g(beam[0]), fmt_g(beam[1]));
    if let Some(shape) = o.psf {
        let name = if shape == PsfShape::Gauss { "Gaussian" } else { "fiber" };
        crate::out!("  {name} PSF fwhm = {} um ", fmt_g(f64::from(o.psf_fwhm) * 1e6));
        if o.psf_radius == 0 {
            outln!("  with automatic rendering radius");
        }
        if o.psf_radius >= 0 {
            outln!("  with rendering radius: {}", o.psf_radius);
        }
    }
    outln!("  seed: {seed}");
    outln!("  calibration noise seed: {}", o.calib_seed);
    if !o.c_parity {
        outln!("  generator: Philox4x32-10 counters (seed, pixel, draw); -c_parity for noisify.c's serial generators");
    }
    outln!("  calibration_noise = {} %", fmt_g(o.calibration * 100.0));
    outln!("  input file scale = {}", fmt_g(o.scale));
    outln!("  readout_noise = {} ADU", fmt_g(o.readout));
    outln!("  flicker_noise = {} %", fmt_g(o.flicker * 100.0));
    outln!("  quantum_gain = {} ADU/photon", fmt_g(o.gain));
    outln!("  adc_offset = {} ADU", fmt_g(o.adc));
    outln!();
}

fn report_psf(r: &PsfReport) {
    if let Some(m) = r.max_input {
        outln!("  maximum input photon/pixel: {}", fmt_g(m));
        if m <= 0.0 {
            outln!("WARNING: no photons, PSF skipped");
        }
    }
    if let Some(radius) = r.auto_radius {
        outln!("  auto-selected psf_radius = {radius} pixels");
    }
    if let Some(lost) = r.lost_photons {
        outln!("adding back {} lost photons", fmt_g(lost));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(args: &[String]) -> Result<Options> {
        crate::cli::parse::parse_program(&NOISIFY, args, initial).map(|o| o.expect("no help asked for"))
    }

    #[test]
    fn flags_match_as_noisify_c_matches_them() {
        let o = parse(&args("-bin x.bin -readnoise 3 -psf_size 60 -psf_rad 2.7 -seed -7 -calib_seed 11 -psf fiber -detpixels_x 20")).unwrap();
        assert_eq!(o.floatfile.as_deref(), Some(Path::new("x.bin")));
        assert_eq!(o.readout, 3.0);
        assert_eq!(o.psf_fwhm, 60e-6f64 as f32);
        assert_eq!(o.psf_radius, 2);
        assert_eq!(o.seed, Some(7));
        assert_eq!(o.calib_seed, -11);
        assert_eq!(o.psf, Some(PsfShape::Fiber));
        assert_eq!(o.detpixels, [20, 0]);
        let o = parse(&args("my_floatimage.bin -nonoise -nopgm -c_parity")).unwrap();
        assert!(o.floatfile.is_some() && !o.calculate_noise && !o.write_pgm && o.c_parity);
    }

    #[test]
    fn bad_command_lines_name_the_flag() {
        for (line, want) in [
            ("-scale", "-scale: expects 1 value <factor>; the command line ends"),
            ("-scale abc", "-scale: value 'abc' is not a number"),
            ("-bits 8", "-bits: value '8' must be 16 or 32"),
            ("-frobnicate 1", "unknown flag '-frobnicate'"),
            ("stray", "unexpected argument 'stray'"),
        ] {
            let e = parse(&args(line)).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn help_lists_every_flag() {
        let h = NOISIFY.help_text();
        for f in FLAGS {
            assert!(h.contains(f.name), "{}", f.name);
        }
    }

    #[test]
    fn pixel_guess_follows_the_c() {
        let o = Options::default();
        assert_eq!(detector_pixels(&o, 65536, None), (256, 256));
        assert_eq!(detector_pixels(&o, 12, None), (3, 4));
        assert_eq!(detector_pixels(&o, 7, None), (1, 7));
        let mut o = Options::default();
        o.detpixels = [10, 0];
        assert_eq!(detector_pixels(&o, 50, None), (10, 5));
    }
}
