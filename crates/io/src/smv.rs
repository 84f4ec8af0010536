//! SMV (ADSC) images: the `int.img`/`noise.img` outputs and the `-img`/`-mask` inputs.
//!
//! A brace-delimited ASCII header of `KEY=value;` lines padded to HEADER_BYTES, followed by
//! unsigned 16-bit pixels, fast index first. The writer reproduces nanoBragg.c's header byte for
//! byte (REFERENCE.md §7); the reader follows the C `GetFrame`/`ValueOf` (REFERENCE.md §5).

use super::cfmt::fmt_g;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Header size nanoBragg.c writes, and the amount `GetFrame` reads before looking at keys.
const STANDARD_HEADER_BYTES: usize = 512;
/// Largest HEADER_BYTES accepted from a file.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// Largest SIZE1·SIZE2 accepted from a file (a 16k × 16k detector), to refuse absurd allocations.
const MAX_PIXELS: usize = 1 << 28;

/// A decoded SMV file. `header` is the header text (up to its first NUL byte).
#[derive(Clone, Debug, PartialEq)]
pub struct SmvImage {
    pub header: String,
    pub header_bytes: usize,
    pub width: usize,
    pub height: usize,
    pub data: Vec<u16>,
}

/// Whose key list a header carries: each of the three C programs writes its own, all in the
/// same layout (the opening keys, SIZE1/SIZE2, then the keys below, DETECTOR_SN and BEAMLINE,
/// the closing `}` and form feed, spaces to 512 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmvKeys {
    /// nanoBragg.c: PIXEL_SIZE … BEAM_CENTER_Y, the beam centre in ADXV's, MOSFLM's, DENZO's and
    /// DIALS's conventions, XDS_ORGX/XDS_ORGY, CLOSE_DISTANCE, PHI, OSC_START, OSC_RANGE, TWOTHETA
    #[default]
    NanoBragg,
    /// nonBragg.c: PIXEL_SIZE … BEAM_CENTER_Y, then ORGX/ORGY (`xds_orgx`/`xds_orgy`, without
    /// the XDS_ prefix), CLOSE_DISTANCE, PHI, OSC_START, OSC_RANGE, TWOTHETA
    NonBragg,
    /// noisify.c: PIXEL_SIZE … BEAM_CENTER_Y, then PHI, OSC_START, OSC_RANGE
    Noisify,
}

/// The values the C programs print into their SMV headers, in header units (mm, Å, degrees,
/// pixels); `keys` says which of them a header carries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SmvHeader {
    /// whose key list (nanoBragg.c's unless a companion program writes the header)
    pub keys: SmvKeys,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size_mm: f64,
    pub distance_mm: f64,
    pub wavelength_a: f64,
    pub beam_center_x_mm: f64,
    pub beam_center_y_mm: f64,
    pub adxv_center_x_mm: f64,
    pub adxv_center_y_mm: f64,
    pub mosflm_center_x_mm: f64,
    pub mosflm_center_y_mm: f64,
    pub denzo_x_beam_mm: f64,
    pub denzo_y_beam_mm: f64,
    pub dials_origin_mm: [f64; 3],
    pub xds_orgx: f64,
    pub xds_orgy: f64,
    pub close_distance_mm: f64,
    pub phi_deg: f64,
    pub osc_start_deg: f64,
    pub osc_range_deg: f64,
    pub twotheta_deg: f64,
    /// nanoBragg.c's header byte for byte (`-c_parity`): its DIALS_ORIGIN line lacks the `;`
    /// that ends every other `KEY=value;` line, so a reader that splits on `;` runs it into
    /// the next key. False: the line ends in `;` like the others.
    pub c_parity: bool,
}

impl SmvHeader {
    /// The header nanoBragg.c writes for the frame `e` describes (its φ is the frame's start).
    pub fn from_experiment(e: &nanobragg_core::model::Experiment) -> SmvHeader {
        let d = &e.detector;
        let s = &e.sampling;
        SmvHeader {
            keys: SmvKeys::NanoBragg,
            fpixels: d.fpixels,
            // the image's rows: a detector of panels is one image of its panels stacked
            // (docs/detectors.md), panel 0 described
            spixels: d.image_rows(),
            pixel_size_mm: d.pixel_size * 1000.0,
            distance_mm: d.distance * 1000.0,
            wavelength_a: e.beam.lambda0 * 1e10,
            beam_center_x_mm: d.xbeam * 1000.0,
            beam_center_y_mm: d.ybeam * 1000.0,
            adxv_center_x_mm: d.fbeam * 1000.0,
            adxv_center_y_mm: (d.detsize_s - d.sbeam) * 1000.0,
            mosflm_center_x_mm: (d.sbeam - 0.5 * d.pixel_size) * 1000.0,
            mosflm_center_y_mm: (d.fbeam - 0.5 * d.pixel_size) * 1000.0,
            denzo_x_beam_mm: (d.sbeam - 0.0 * d.pixel_size) * 1000.0,
            denzo_y_beam_mm: (d.fbeam - 0.0 * d.pixel_size) * 1000.0,
            dials_origin_mm: d.dials_origin,
            xds_orgx: d.orgx,
            xds_orgy: d.orgy,
            close_distance_mm: d.close_distance * 1000.0,
            phi_deg: s.phi0.to_degrees(),
            osc_start_deg: s.phi0.to_degrees(),
            osc_range_deg: s.osc.to_degrees(),
            twotheta_deg: d.twotheta.to_degrees(),
            c_parity: e.mode == nanobragg_core::params::Mode::CParity,
        }
    }
}

/// The C header text followed by the pixels, little-endian. Key order, `%g` formatting, the
/// closing `}` + form feed and the space padding to 512 bytes are all as the C programs write
/// them (`h.keys`: whose keys); so is nanoBragg.c's missing `;` after DIALS_ORIGIN when
/// `h.c_parity`.
pub fn encode_smv(h: &SmvHeader, data: &[u16]) -> Vec<u8> {
    let mut bytes = header_bytes(h, "unsigned_short");
    bytes.reserve(data.len() * 2);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// As [`encode_smv`] with 32-bit pixels (`TYPE=long_integer`, as noisify.c writes `-bits 32`).
pub fn encode_smv_u32(h: &SmvHeader, data: &[u32]) -> Vec<u8> {
    let mut bytes = header_bytes(h, "long_integer");
    bytes.reserve(data.len() * 4);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// The one SMV header writer, for the three programs' key lists.
fn header_bytes(h: &SmvHeader, pixel_type: &str) -> Vec<u8> {
    let keyed = |pairs: &[(&str, f64)]| -> String {
        pairs
            .iter()
            .map(|(key, value)| format!("{key}={};\n", fmt_g(*value)))
            .collect()
    };
    let mut text = format!(
        "{{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE={pixel_type};\n\
         SIZE1={};\nSIZE2={};\n",
        h.fpixels, h.spixels
    );
    text.push_str(&keyed(&[
        ("PIXEL_SIZE", h.pixel_size_mm),
        ("DISTANCE", h.distance_mm),
        ("WAVELENGTH", h.wavelength_a),
        ("BEAM_CENTER_X", h.beam_center_x_mm),
        ("BEAM_CENTER_Y", h.beam_center_y_mm),
    ]));
    let phi = [("PHI", h.phi_deg), ("OSC_START", h.osc_start_deg), ("OSC_RANGE", h.osc_range_deg)];
    match h.keys {
        SmvKeys::NanoBragg => {
            text.push_str(&keyed(&[
                ("ADXV_CENTER_X", h.adxv_center_x_mm),
                ("ADXV_CENTER_Y", h.adxv_center_y_mm),
                ("MOSFLM_CENTER_X", h.mosflm_center_x_mm),
                ("MOSFLM_CENTER_Y", h.mosflm_center_y_mm),
                ("DENZO_X_BEAM", h.denzo_x_beam_mm),
                ("DENZO_Y_BEAM", h.denzo_y_beam_mm),
            ]));
            let [o1, o2, o3] = h.dials_origin_mm.map(fmt_g);
            let end = if h.c_parity { "" } else { ";" };
            text.push_str(&format!("DIALS_ORIGIN={o1},{o2},{o3}{end}\n"));
            text.push_str(&keyed(&[("XDS_ORGX", h.xds_orgx), ("XDS_ORGY", h.xds_orgy), ("CLOSE_DISTANCE", h.close_distance_mm)]));
            text.push_str(&keyed(&phi));
            text.push_str(&keyed(&[("TWOTHETA", h.twotheta_deg)]));
        }
        SmvKeys::NonBragg => {
            text.push_str(&keyed(&[("ORGX", h.xds_orgx), ("ORGY", h.xds_orgy), ("CLOSE_DISTANCE", h.close_distance_mm)]));
            text.push_str(&keyed(&phi));
            text.push_str(&keyed(&[("TWOTHETA", h.twotheta_deg)]));
        }
        SmvKeys::Noisify => text.push_str(&keyed(&phi)),
    }
    text.push_str("DETECTOR_SN=000;\nBEAMLINE=fake;\n}\u{c}");
    // C: `while (ftell(outfile) < 512) fprintf(" ")` — pads, never truncates, so a long header
    // pushes the pixels past byte 512 while still claiming HEADER_BYTES=512 (golden a52).
    while text.len() < STANDARD_HEADER_BYTES {
        text.push(' ');
    }
    text.into_bytes()
}

/// C `ValueOf`: the number after the `=` that follows the LAST occurrence of `key` anywhere in
/// the header (a substring match, so "DISTANCE" also finds "CLOSE_DISTANCE="), parsed like
/// `atof`. `None` when the key does not occur (C: NaN); 0 when no `=` follows or no number
/// can be parsed (C: `atof` of garbage is 0).
pub fn header_value(header: &str, key: &str) -> Option<f64> {
    if key.is_empty() {
        return None;
    }
    let (pos, _) = header.rmatch_indices(key).next()?;
    let after_key = &header[pos + key.len()..];
    let Some(eq) = after_key.find('=') else {
        return Some(0.0);
    };
    Some(atof_prefix(&after_key[eq + 1..]).unwrap_or(0.0))
}

/// Strict lookup for the default (non-C-parity) mode: the key must start a line and be followed
/// directly by `=`; the last such line wins. `None` when absent or when the value is not a number.
pub fn header_value_exact(header: &str, key: &str) -> Option<f64> {
    header
        .lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .and_then(atof_prefix)
}

/// Longest prefix of `s` that C `atof` would convert (after leading white space): optional sign,
/// digits with an optional point, optional exponent; or `inf`/`infinity`/`nan`.
/// `None` when no number starts there. (Hexadecimal floats are not recognised.)
fn atof_prefix(s: &str) -> Option<f64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let bytes = s.as_bytes();
    let sign_len = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let unsigned = s.get(sign_len..).unwrap_or("").to_ascii_lowercase();
    if let Some(word) = ["infinity", "inf", "nan"]
        .into_iter()
        .find(|w| unsigned.starts_with(w))
    {
        return s.get(..sign_len + word.len())?.parse().ok();
    }
    let digits_from = |from: usize| {
        bytes
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int_digits = digits_from(sign_len);
    let mut end = sign_len + int_digits;
    let mut frac_digits = 0;
    if bytes.get(end) == Some(&b'.') {
        frac_digits = digits_from(end + 1);
        end += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    // An exponent counts only when at least one digit follows `e` and its optional sign.
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let exp_sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exp_digits = digits_from(end + 1 + exp_sign);
        if exp_digits > 0 {
            end += 1 + exp_sign + exp_digits;
        }
    }
    s.get(..end)?.parse().ok()
}

/// Reads an SMV file. The structural keys are looked up with the C `ValueOf` rules, the byte
/// order is swapped when BYTE_ORDER says big_endian, and the file must hold all
/// HEADER_BYTES + 2·SIZE1·SIZE2 bytes.
pub fn read_smv(path: &Path) -> Result<SmvImage> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_smv_from(path, std::io::BufReader::new(file))
}

/// `read_smv` from any byte stream; `path` names it in error messages. Reads no further than
/// the header and the pixels the header announces.
pub fn read_smv_from(path: &Path, mut reader: impl Read) -> Result<SmvImage> {
    let mut buf = read_up_to(&mut reader, STANDARD_HEADER_BYTES, path)?;
    if buf.first() != Some(&b'{') {
        return Err(Error::parse(
            path,
            "header",
            "not an SMV image (the header does not start with `{`)",
        ));
    }
    let header_bytes = header_number(&header_text(&buf), "HEADER_BYTES", MAX_HEADER_BYTES, path)?;
    if header_bytes > buf.len() {
        let more = read_up_to(&mut reader, header_bytes - buf.len(), path)?;
        buf.extend_from_slice(&more);
        if buf.len() < header_bytes {
            let msg = format!(
                "file ends after {} bytes, inside the {header_bytes}-byte header",
                buf.len()
            );
            return Err(Error::parse(path, "header key HEADER_BYTES", msg));
        }
    }
    let header = header_text(&buf[..header_bytes]);
    let width = header_number(&header, "SIZE1", MAX_PIXELS, path)?;
    let height = header_number(&header, "SIZE2", MAX_PIXELS, path)?;
    let swap =
        big_endian(&header).map_err(|msg| Error::parse(path, "header key BYTE_ORDER", msg))?;
    let pixels = width
        .checked_mul(height)
        .filter(|&n| n <= MAX_PIXELS)
        .ok_or_else(|| {
            Error::parse(
                path,
                "header keys SIZE1/SIZE2",
                format!("{width} × {height} pixels exceeds the limit of {MAX_PIXELS}"),
            )
        })?;
    let total = header_bytes + 2 * pixels;
    if total > buf.len() {
        let more = read_up_to(&mut reader, total - buf.len(), path)?;
        buf.extend_from_slice(&more);
    }
    if buf.len() < total {
        let msg = format!(
            "file has {} bytes, fewer than the {header_bytes}-byte header plus {pixels} 2-byte pixels",
            buf.len()
        );
        return Err(Error::parse(path, "data", msg));
    }
    let decode = |b: &[u8]| {
        if swap {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        }
    };
    let data = buf[header_bytes..total]
        .chunks_exact(2)
        .map(decode)
        .collect();
    Ok(SmvImage {
        header,
        header_bytes,
        width,
        height,
        data,
    })
}

/// Reads at most `limit` bytes (fewer only at end of file).
fn read_up_to(reader: &mut impl Read, limit: usize, path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(limit.min(1 << 24));
    reader
        .take(limit as u64)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    Ok(out)
}

/// The header as text, cut at the first NUL as the C string functions see it.
fn header_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A positive whole-number header value no larger than `max`.
fn header_number(header: &str, key: &str, max: usize, path: &Path) -> Result<usize> {
    let location = format!("header key {key}");
    let value = header_value(header, key)
        .ok_or_else(|| Error::parse(path, location.as_str(), "missing"))?;
    if !(value >= 1.0 && value <= max as f64 && value.fract() == 0.0) {
        return Err(Error::parse(
            path,
            location,
            format!("{value} is not a whole number between 1 and {max}"),
        ));
    }
    Ok(value as usize)
}

/// C `GetFrame` compares the value after the last `BYTE_ORDER=` with the machine's order.
fn big_endian(header: &str) -> std::result::Result<bool, String> {
    let (pos, key) = header
        .rmatch_indices("BYTE_ORDER=")
        .next()
        .ok_or("missing")?;
    let value = &header[pos + key.len()..];
    if value.starts_with("little_endian") {
        Ok(false)
    } else if value.starts_with("big_endian") {
        Ok(true)
    } else {
        let shown: String = value
            .chars()
            .take_while(|c| *c != ';' && *c != '\n')
            .take(32)
            .collect();
        Err(format!("`{shown}` is neither little_endian nor big_endian"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rawfloat::read_maybe_gz;

    fn sample_header() -> SmvHeader {
        SmvHeader {
            keys: SmvKeys::NanoBragg,
            fpixels: 3,
            spixels: 2,
            pixel_size_mm: 0.1,
            distance_mm: 100.0,
            wavelength_a: 6.2,
            beam_center_x_mm: 51.25,
            beam_center_y_mm: 51.25,
            adxv_center_x_mm: 51.3,
            adxv_center_y_mm: 51.1,
            mosflm_center_x_mm: 51.25,
            mosflm_center_y_mm: 51.25,
            denzo_x_beam_mm: 51.3,
            denzo_y_beam_mm: 51.3,
            dials_origin_mm: [-51.3, 51.3, -100.0],
            xds_orgx: 513.5,
            xds_orgy: 513.5,
            close_distance_mm: 100.0,
            phi_deg: 0.0,
            osc_start_deg: 0.0,
            osc_range_deg: 0.0,
            twotheta_deg: 0.0,
            c_parity: true,
        }
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::Builder::new().suffix(".img").tempfile().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    fn parse_error(bytes: &[u8], location: &str, fragment: &str) {
        let f = write_temp(bytes);
        let err = read_smv(f.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Parse { .. }), "{text}");
        assert!(
            text.contains(&f.path().display().to_string()) && text.contains(location),
            "{text}"
        );
        assert!(text.contains(fragment), "{text}");
    }

    /// A minimal header with the given body lines, padded to `size` bytes.
    fn header_with(lines: &str, size: usize) -> Vec<u8> {
        let mut h = format!("{{\n{lines}}}\u{c}").into_bytes();
        h.resize(size, b' ');
        h
    }

    /// The companions' key lists through the same writer: nonBragg.c's ORGX/ORGY without the
    /// XDS_ prefix and no ADXV…DIALS keys; noisify.c's beam centre then PHI…OSC_RANGE only.
    #[test]
    fn companion_key_lists() {
        let text = |keys| String::from_utf8_lossy(&encode_smv(&SmvHeader { keys, ..sample_header() }, &[0; 6])[..512]).into_owned();
        let nonbragg = text(SmvKeys::NonBragg);
        assert!(nonbragg.contains("BEAM_CENTER_Y=51.25;\nORGX=513.5;\n"), "{nonbragg}");
        assert!(nonbragg.contains("OSC_RANGE=0;\nTWOTHETA=0;\nDETECTOR_SN=000;"), "{nonbragg}");
        assert!(!nonbragg.contains("XDS_") && !nonbragg.contains("DIALS") && !nonbragg.contains("ADXV"), "{nonbragg}");
        let noisify = text(SmvKeys::Noisify);
        assert!(noisify.contains("BEAM_CENTER_Y=51.25;\nPHI=0;\nOSC_START=0;\nOSC_RANGE=0;\nDETECTOR_SN=000;\nBEAMLINE=fake;\n}\u{c} "), "{noisify}");
        assert!(!noisify.contains("ORG") && !noisify.contains("TWOTHETA") && !noisify.contains("CLOSE_DISTANCE"), "{noisify}");
    }

    #[test]
    fn encode_then_read_round_trip() {
        let data = [0u16, 1, 40, 0x1234, 65535, 7];
        let bytes = encode_smv(&sample_header(), &data);
        assert_eq!(bytes.len(), 512 + 12);
        assert!(bytes[..512].ends_with(b" "));
        let text = String::from_utf8_lossy(&bytes[..512]).into_owned();
        assert!(
            text.contains("DIALS_ORIGIN=-51.3,51.3,-100\nXDS_ORGX=513.5;\n"),
            "{text}"
        );
        assert!(text.contains("BEAMLINE=fake;\n}\u{c} "), "{text}");
        // the default layout ends the DIALS_ORIGIN line like every other one
        let fixed = encode_smv(&SmvHeader { c_parity: false, ..sample_header() }, &data);
        let fixed_text = String::from_utf8_lossy(&fixed[..512]).into_owned();
        assert!(fixed_text.contains("DIALS_ORIGIN=-51.3,51.3,-100;\nXDS_ORGX=513.5;\n"), "{fixed_text}");
        assert!(fixed_text.lines().filter(|l| l.contains('=')).all(|l| l.ends_with(';')), "{fixed_text}");
        let f = write_temp(&bytes);
        let img = read_smv(f.path()).unwrap();
        assert_eq!((img.width, img.height, img.header_bytes), (3, 2, 512));
        assert_eq!(img.data, data);
        assert_eq!(header_value(&img.header, "WAVELENGTH"), Some(6.2));
    }

    #[test]
    fn reads_big_endian_and_larger_headers() {
        let mut bytes = header_with(
            "HEADER_BYTES=1024;\nBYTE_ORDER=big_endian;\nSIZE1=2;\nSIZE2=1;\n",
            1024,
        );
        bytes.extend_from_slice(&[0x12, 0x34, 0xab, 0xcd]);
        let f = write_temp(&bytes);
        let img = read_smv(f.path()).unwrap();
        assert_eq!(img.header_bytes, 1024);
        assert_eq!(img.data, [0x1234, 0xabcd]);
    }

    #[test]
    fn reads_small_header() {
        let mut bytes = header_with(
            "HEADER_BYTES=64;\nBYTE_ORDER=little_endian;\nSIZE1=1;\nSIZE2=1;\n",
            64,
        );
        bytes.extend_from_slice(&[0x02, 0x01]);
        let f = write_temp(&bytes);
        assert_eq!(read_smv(f.path()).unwrap().data, [0x0102]);
    }

    #[test]
    fn value_of_uses_last_substring_match() {
        let h = "{\nDISTANCE=100;\nCLOSE_DISTANCE=95.5;\nPHI=10;\nXDS_ORGX=12;\nNOEQ\n}";
        assert_eq!(header_value(h, "DISTANCE"), Some(95.5));
        assert_eq!(header_value(h, "ORGX"), Some(12.0));
        assert_eq!(header_value(h, "MISSING"), None);
        assert_eq!(header_value(h, "NOEQ"), Some(0.0));
        assert_eq!(header_value("A= junk;", "A"), Some(0.0));
        assert_eq!(header_value_exact(h, "DISTANCE"), Some(100.0));
        assert_eq!(header_value_exact(h, "ORGX"), None);
        assert_eq!(header_value_exact(h, "XDS_ORGX"), Some(12.0));
        assert_eq!(header_value_exact("A=1;\nA=2;\n", "A"), Some(2.0));
        assert_eq!(header_value_exact("A=x;\n", "A"), None);
    }

    #[test]
    fn atof_prefix_follows_c() {
        let cases: [(&str, Option<f64>); 14] = [
            ("  512;", Some(512.0)),
            ("-51.3,51.3", Some(-51.3)),
            ("1e+06;", Some(1e6)),
            ("1.5e-07", Some(1.5e-7)),
            ("2e", Some(2.0)),
            ("3e+x", Some(3.0)),
            ("5.;", Some(5.0)),
            (".5", Some(0.5)),
            ("-.25", Some(-0.25)),
            ("+7", Some(7.0)),
            ("-inf;", Some(f64::NEG_INFINITY)),
            ("x1", None),
            (".", None),
            ("-", None),
        ];
        for (text, want) in cases {
            assert_eq!(atof_prefix(text), want, "{text:?}");
        }
        assert!(atof_prefix("nan;").is_some_and(f64::is_nan));
    }

    #[test]
    fn error_not_smv() {
        parse_error(b"P5\n1 1\n255\n\0", "header", "does not start");
        parse_error(b"", "header", "does not start");
    }

    #[test]
    fn error_missing_and_invalid_keys() {
        let no_size2 = header_with(
            "HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=2;\n",
            512,
        );
        parse_error(&no_size2, "header key SIZE2", "missing");
        let bad_size1 = header_with(
            "HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=2.5;\nSIZE2=1;\n",
            512,
        );
        parse_error(&bad_size1, "header key SIZE1", "2.5 is not a whole number");
        let no_hb = header_with("BYTE_ORDER=little_endian;\nSIZE1=1;\nSIZE2=1;\n", 512);
        parse_error(&no_hb, "header key HEADER_BYTES", "missing");
        let huge_hb = header_with("HEADER_BYTES=1e12;\n", 512);
        parse_error(&huge_hb, "header key HEADER_BYTES", "between 1 and");
        let no_order = header_with("HEADER_BYTES=512;\nSIZE1=1;\nSIZE2=1;\n", 512);
        parse_error(&no_order, "header key BYTE_ORDER", "missing");
        let odd_order = header_with(
            "HEADER_BYTES=512;\nBYTE_ORDER=middle;\nSIZE1=1;\nSIZE2=1;\n",
            512,
        );
        parse_error(&odd_order, "header key BYTE_ORDER", "`middle`");
    }

    #[test]
    fn error_absurd_size_refused_before_allocation() {
        let huge = header_with(
            "HEADER_BYTES=512;\nBYTE_ORDER=little_endian;\nSIZE1=100000;\nSIZE2=100000;\n",
            512,
        );
        parse_error(&huge, "SIZE1/SIZE2", "exceeds the limit");
    }

    #[test]
    fn error_truncated() {
        let bytes = encode_smv(&sample_header(), &[1, 2, 3, 4, 5, 6]);
        parse_error(&bytes[..bytes.len() - 1], "data", "fewer than");
        let long_header = header_with(
            "HEADER_BYTES=2048;\nBYTE_ORDER=little_endian;\nSIZE1=1;\nSIZE2=1;\n",
            600,
        );
        parse_error(
            &long_header,
            "header key HEADER_BYTES",
            "inside the 2048-byte header",
        );
    }

    /// Rebuilds the header struct from a C-written header, reading each key strictly.
    fn header_from_text(text: &str) -> SmvHeader {
        let v = |key: &str| header_value_exact(text, key).unwrap_or_else(|| panic!("key {key}"));
        let dials_line = text
            .lines()
            .find_map(|l| l.strip_prefix("DIALS_ORIGIN="))
            .expect("DIALS_ORIGIN");
        let dials: Vec<f64> = dials_line
            .split(',')
            .map(|t| t.trim().parse().expect("DIALS_ORIGIN value"))
            .collect();
        SmvHeader {
            keys: SmvKeys::NanoBragg,
            fpixels: v("SIZE1") as usize,
            spixels: v("SIZE2") as usize,
            pixel_size_mm: v("PIXEL_SIZE"),
            distance_mm: v("DISTANCE"),
            wavelength_a: v("WAVELENGTH"),
            beam_center_x_mm: v("BEAM_CENTER_X"),
            beam_center_y_mm: v("BEAM_CENTER_Y"),
            adxv_center_x_mm: v("ADXV_CENTER_X"),
            adxv_center_y_mm: v("ADXV_CENTER_Y"),
            mosflm_center_x_mm: v("MOSFLM_CENTER_X"),
            mosflm_center_y_mm: v("MOSFLM_CENTER_Y"),
            denzo_x_beam_mm: v("DENZO_X_BEAM"),
            denzo_y_beam_mm: v("DENZO_Y_BEAM"),
            dials_origin_mm: [dials[0], dials[1], dials[2]],
            xds_orgx: v("XDS_ORGX"),
            xds_orgy: v("XDS_ORGY"),
            close_distance_mm: v("CLOSE_DISTANCE"),
            phi_deg: v("PHI"),
            osc_start_deg: v("OSC_START"),
            osc_range_deg: v("OSC_RANGE"),
            twotheta_deg: v("TWOTHETA"),
            c_parity: true,
        }
    }

    /// C-written headers re-encode byte for byte. The pixels are taken from where the C really
    /// put them: right after its header text, which for a52 runs past 512 bytes even though it
    /// says HEADER_BYTES=512 (the padding loop never truncates).
    #[test]
    fn golden_int_images_re_encode_byte_for_byte() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        for file in [
            "a01_simple_cubic_canonical/int.img",
            "a73_scale_adc/int.img",
            "a76_noise_seed123/noise.img",
            "a52_supervisor_roi64_literal/int.img.gz",
        ] {
            let original = read_maybe_gz(&golden.join(file)).unwrap();
            let f = write_temp(&original);
            let img = read_smv(f.path()).unwrap();
            let header = header_from_text(&img.header);
            let header_len = encode_smv(&header, &[]).len();
            assert!(original.len() >= header_len, "{file}");
            let data: Vec<u16> = original[header_len..]
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            assert_eq!(data.len(), img.width * img.height, "{file}");
            assert!(
                encode_smv(&header, &data) == original,
                "{file}: re-encoded bytes differ"
            );
            if header_len == 512 {
                assert_eq!(img.data, data, "{file}");
            }
        }
    }
}
