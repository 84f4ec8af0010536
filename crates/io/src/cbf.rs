//! miniCBF images (`-cbffile`): the Crystallographic Binary File layout that Dectris pixel-array
//! detectors write, with the `GENERIC_MINI` header convention that DIALS's dxtbx reads as a
//! simulated pixel-array detector. Pixels are signed 32-bit photon counts, compressed with the
//! CBF byte-offset scheme (written here: no maintained, permissively licensed crate has it).
//!
//! The text part uses CRLF line ends, as CBFlib writes and as the imgCIF MIME section
//! requires. The header lines are the ones dxtbx's FormatCBFMini parses (`# Key value unit`),
//! so DIALS builds the detector, beam and scan from them.

use super::cfmt::tidy;
use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::path::Path;

/// The four bytes that open the binary data (CBF's form feed, ^Z, ^D, 0xD5).
const BINARY_START: [u8; 4] = [0x0c, 0x1a, 0x04, 0xd5];
const SECTION_BOUNDARY: &str = "--CIF-BINARY-FORMAT-SECTION--";
/// Zero bytes after the binary data: CBFlib pads to 4 KiB so that readers may over-read.
const PADDING: usize = 4095;
/// The detector never clips below this (the element type's largest value).
pub const COUNT_CUTOFF: i32 = i32::MAX;

/// The header values, in the units the miniCBF lines carry.
#[derive(Clone, Debug, PartialEq)]
pub struct CbfHeader {
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size_m: f64,
    /// sample to the beam's point on the detector, along the beam
    pub distance_m: f64,
    pub wavelength_a: f64,
    /// the direct beam's position from the first pixel's outer corner, in pixels
    /// (fast, slow), as dxtbx's simple detector model takes it
    pub beam_xy_px: (f64, f64),
    pub start_angle_deg: f64,
    pub angle_increment_deg: f64,
    pub exposure_s: f64,
    /// sensor thickness (`-detector_thick`), when one is modelled
    pub silicon_thickness_m: Option<f64>,
    /// `YYYY-MM-DDThh:mm:ss.sss` (see `timestamp`)
    pub timestamp: String,
}

impl CbfHeader {
    /// The header of the frame `e` describes, taken at `time`; the beam position is where the
    /// beam meets the detector, in pixels along the fast and slow axes from the first pixel's
    /// corner (dxtbx's simple detector model).
    pub fn from_experiment(e: &nanobragg_core::model::Experiment, time: std::time::SystemTime) -> CbfHeader {
        let d = &e.detector;
        CbfHeader {
            fpixels: d.fpixels,
            // the image's rows: a detector of panels is one image of its panels stacked
            // (docs/detectors.md), panel 0 described
            spixels: d.image_rows(),
            pixel_size_m: d.pixel_size,
            distance_m: d.distance,
            wavelength_a: e.beam.lambda0 * 1e10,
            beam_xy_px: (d.fbeam / d.pixel_size, d.sbeam / d.pixel_size),
            start_angle_deg: e.sampling.phi0.to_degrees(),
            angle_increment_deg: e.sampling.osc.to_degrees(),
            exposure_s: e.beam.exposure,
            silicon_thickness_m: (d.thick > 0.0).then_some(d.thick),
            timestamp: timestamp(time),
        }
    }
}

/// The miniCBF file for `pixels` (fast index first, `fpixels` × `spixels` values). Numbers are
/// printed `tidy`: as typed, without the round-off of their conversion to metres or radians
/// and back (`Start_angle 7.5`, not `7.499999999999999`).
pub fn encode_cbf(h: &CbfHeader, pixels: &[i32]) -> Vec<u8> {
    debug_assert_eq!(pixels.len(), h.fpixels * h.spixels);
    let data = compress_byte_offset(pixels);
    let mut lines: Vec<String> = vec![
        format!("###CBF: VERSION 1.5, nanobragg {} miniCBF", env!("CARGO_PKG_VERSION")),
        String::new(),
        "data_nanobragg_image".into(),
        String::new(),
        "_array_data.header_convention \"GENERIC_MINI\"".into(),
        "_array_data.header_contents".into(),
        ";".into(),
        "# Detector: nanobragg simulation".into(),
        format!("# {}", h.timestamp),
        format!("# Pixel_size {} m x {} m", tidy(h.pixel_size_m), tidy(h.pixel_size_m)),
    ];
    if let Some(t) = h.silicon_thickness_m {
        lines.push(format!("# Silicon sensor, thickness {} m", tidy(t)));
    }
    lines.extend([
        format!("# Exposure_time {} s", tidy(h.exposure_s)),
        format!("# Exposure_period {} s", tidy(h.exposure_s)),
        format!("# Count_cutoff {COUNT_CUTOFF} counts"),
        format!("# Wavelength {} A", tidy(h.wavelength_a)),
        format!("# Detector_distance {} m", tidy(h.distance_m)),
        format!("# Beam_xy ({}, {}) pixels", tidy(h.beam_xy_px.0), tidy(h.beam_xy_px.1)),
        format!("# Start_angle {} deg.", tidy(h.start_angle_deg)),
        format!("# Angle_increment {} deg.", tidy(h.angle_increment_deg)),
        ";".into(),
        String::new(),
        "_array_data.data".into(),
        ";".into(),
        SECTION_BOUNDARY.into(),
        "Content-Type: application/octet-stream;".into(),
        "     conversions=\"x-CBF_BYTE_OFFSET\"".into(),
        "Content-Transfer-Encoding: BINARY".into(),
        format!("X-Binary-Size: {}", data.len()),
        "X-Binary-ID: 1".into(),
        "X-Binary-Element-Type: \"signed 32-bit integer\"".into(),
        "X-Binary-Element-Byte-Order: LITTLE_ENDIAN".into(),
        format!("Content-MD5: {}", base64(&Md5::digest(&data))),
        format!("X-Binary-Number-of-Elements: {}", pixels.len()),
        format!("X-Binary-Size-Fastest-Dimension: {}", h.fpixels),
        format!("X-Binary-Size-Second-Dimension: {}", h.spixels),
        format!("X-Binary-Size-Padding: {PADDING}"),
        String::new(),
    ]);
    let mut out = Vec::with_capacity(data.len() + PADDING + 2048);
    for line in &lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&BINARY_START);
    out.extend_from_slice(&data);
    out.resize(out.len() + PADDING, 0);
    out.extend_from_slice(format!("\r\n{SECTION_BOUNDARY}--\r\n;\r\n\r\n").as_bytes());
    out
}

/// Photon counts of a float image: rounded half up (as the SMV writer rounds), saturating at
/// the 32-bit limits (never reached by a physical image; NaN cannot occur, the run refuses
/// non-finite images before any output).
pub fn photon_counts(values: &[f32]) -> Vec<i32> {
    values.iter().map(|&v| (f64::from(v) + 0.5).floor() as i32).collect()
}

/// CBF byte-offset compression: each pixel is stored as its difference from the previous one
/// (the first from 0) in the fewest bytes of 1, 2 or 4, little-endian; the smallest value of
/// a width (-128, -32768) escapes to the next. As CBFlib does for 32-bit elements, the
/// differences wrap modulo 2³² (so four bytes always suffice, and the 64-bit step of the
/// specification never occurs); readers add them back with the same wrap.
pub fn compress_byte_offset(pixels: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len() + pixels.len() / 8);
    let mut previous = 0i32;
    for &pixel in pixels {
        let delta = pixel.wrapping_sub(previous);
        previous = pixel;
        if (-127..=127).contains(&delta) {
            out.push(delta as i8 as u8);
        } else if (-32767..=32767).contains(&delta) {
            out.push(0x80);
            out.extend_from_slice(&(delta as i16).to_le_bytes());
        } else {
            out.push(0x80);
            out.extend_from_slice(&i16::MIN.to_le_bytes());
            out.extend_from_slice(&delta.to_le_bytes());
        }
    }
    out
}

/// The inverse of `compress_byte_offset` for exactly `count` pixels; refuses data that end
/// early or run on past the last pixel. A 4-byte step of -2³¹ is that step (CBFlib writes it
/// so for 32-bit pixels), not the escape to 8 bytes.
pub fn decompress_byte_offset(data: &[u8], count: usize) -> std::result::Result<Vec<i32>, String> {
    // every pixel takes at least one byte: a count beyond that is refused below, not allocated
    let mut pixels = Vec::with_capacity(count.min(data.len()));
    let mut at = 0usize;
    let mut value = 0i32;
    let truncated = |done: usize| format!("the byte-offset data end after {done} of {count} pixels (truncated file?)");
    let mut take = |n: usize, done: usize| -> std::result::Result<&[u8], String> {
        let bytes = data.get(at..at + n).ok_or_else(|| truncated(done))?;
        at += n;
        Ok(bytes)
    };
    while pixels.len() < count {
        let done = pixels.len();
        let mut delta = i32::from(take(1, done)?[0] as i8);
        if delta == -128 {
            let b = take(2, done)?;
            delta = i32::from(i16::from_le_bytes([b[0], b[1]]));
            if delta == -32768 {
                let b = take(4, done)?;
                delta = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        value = value.wrapping_add(delta);
        pixels.push(value);
    }
    if at != data.len() {
        return Err(format!("{} bytes of byte-offset data are left after the last of {count} pixels", data.len() - at));
    }
    Ok(pixels)
}

/// A CBF image as our decoder reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct CbfImage {
    pub fpixels: usize,
    pub spixels: usize,
    pub pixels: Vec<i32>,
    /// the text before the binary section, CRLFs kept (what dxtbx parses the header from)
    pub header_text: String,
}

/// Reads a miniCBF file (byte-offset, signed 32-bit, little-endian: what `encode_cbf` writes
/// and Dectris detectors produce).
pub fn read_cbf(path: &Path) -> Result<CbfImage> {
    // a 2³³-pixel image at its worst (7 bytes a pixel) stays below this
    let bytes = super::read_limited(path, 1 << 36)?;
    decode_cbf(&bytes).map_err(|(location, message)| Error::parse(path, location, message))
}

/// As `read_cbf` for bytes in memory; the error names the part of the file and the fault.
pub fn decode_cbf(bytes: &[u8]) -> std::result::Result<CbfImage, (String, String)> {
    let fault = |location: &str, message: String| (location.to_string(), message);
    if !bytes.starts_with(b"###CBF") {
        return Err(fault("first line", "does not start with ###CBF: not a CBF file".into()));
    }
    let start = find(bytes, &BINARY_START).ok_or_else(|| fault("binary section", "the start of the binary data (0C 1A 04 D5) is missing (truncated file?)".into()))?;
    let text = std::str::from_utf8(&bytes[..start]).map_err(|_| fault("header", "the text before the binary data is not ASCII".into()))?;
    let boundary = text.find(SECTION_BOUNDARY).ok_or_else(|| fault("header", format!("no {SECTION_BOUNDARY} line")))?;
    let mime = mime_fields(&text[boundary + SECTION_BOUNDARY.len()..]);
    let field = |name: &str| mime.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let number = |name: &str| -> std::result::Result<usize, (String, String)> {
        let v = field(name).ok_or_else(|| fault(name, "missing".into()))?;
        v.parse().map_err(|_| fault(name, format!("'{v}' is not a count")))
    };
    let expect = |name: &str, want: &str| -> std::result::Result<(), (String, String)> {
        match field(name) {
            Some(v) if v.contains(want) => Ok(()),
            Some(v) => Err(fault(name, format!("'{v}' is not supported (only {want})"))),
            None => Err(fault(name, "missing".into())),
        }
    };
    expect("Content-Type", "x-CBF_BYTE_OFFSET")?;
    expect("X-Binary-Element-Type", "signed 32-bit integer")?;
    expect("X-Binary-Element-Byte-Order", "LITTLE_ENDIAN")?;
    let size = number("X-Binary-Size")?;
    let count = number("X-Binary-Number-of-Elements")?;
    let fpixels = number("X-Binary-Size-Fastest-Dimension")?;
    let spixels = number("X-Binary-Size-Second-Dimension")?;
    if fpixels.checked_mul(spixels) != Some(count) {
        return Err(fault("X-Binary-Number-of-Elements", format!("{count} is not {fpixels} × {spixels}")));
    }
    let begin = start + BINARY_START.len();
    let data = bytes.get(begin..begin.saturating_add(size)).ok_or_else(|| {
        fault("binary section", format!("X-Binary-Size is {size} bytes but only {} follow (truncated file)", bytes.len() - begin))
    })?;
    if let Some(md5) = field("Content-MD5")
        && md5 != base64(&Md5::digest(data))
    {
        return Err(fault("Content-MD5", format!("the binary data's digest is {}, not {md5} (corrupt file)", base64(&Md5::digest(data)))));
    }
    let pixels = decompress_byte_offset(data, count).map_err(|m| fault("binary section", m))?;
    Ok(CbfImage { fpixels, spixels, pixels, header_text: text[..boundary].to_string() })
}

/// `Name: value` pairs of a MIME header ending at its blank line; indented lines continue
/// the previous field (Content-Type's `conversions=`).
fn mime_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')).skip(1) {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    fields
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 with padding (RFC 4648), as MIME's Content-MD5 holds the digest.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The miniCBF timestamp (`2024-05-17T13:45:02.125`, UTC) of `time`, as dxtbx parses it
/// (`%Y-%m-%dT%H:%M:%S` plus milliseconds).
pub fn timestamp(time: std::time::SystemTime) -> String {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (year, month, day) = civil_date(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Gregorian (year, month, day) of a day count from 1970-01-01 (the proleptic calendar's
/// 400-year eras, counted from 1 March so that the leap day ends a year).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nanobragg_core::rng::Ran1;

    /// Pixels whose steps land in every width, at both ends of each range, on each escape
    /// value, and across the 32-bit wrap.
    fn every_branch() -> Vec<i32> {
        vec![0, 1, 0, 127, 0, -127, 0, 128, 0, -128, 0, 32767, 0, -32767, 0, 32768, 0, -32768, 70_000, i32::MAX, i32::MIN, 0, i32::MIN, i32::MAX, -1, 7]
    }

    #[test]
    fn each_width_has_the_documented_bytes() {
        assert_eq!(compress_byte_offset(&[5, 5 - 127, 5]), [5, 0x81, 127]);
        assert_eq!(compress_byte_offset(&[-128]), [0x80, 0x80, 0xff]);
        assert_eq!(compress_byte_offset(&[300]), [0x80, 0x2c, 0x01]);
        assert_eq!(compress_byte_offset(&[-32768]), [0x80, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff]);
        assert_eq!(compress_byte_offset(&[1 << 20]), [0x80, 0x00, 0x80, 0, 0, 0x10, 0]);
        // from the largest to the smallest pixel is a step of +1 modulo 2³²
        assert_eq!(compress_byte_offset(&[i32::MAX, i32::MIN]), [0x80, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x01]);
    }

    /// Bytes CBFlib 0.9.6.7 (pycbf, `set_integerarray_wdims_fs` with CBF_BYTE_OFFSET, 4-byte
    /// signed elements) wrote for these pixels: ours are the same, and decode back.
    #[test]
    fn cbflib_bytes_are_reproduced_and_read() {
        let cases: [(&[i32], &str); 2] = [
            (
                &[1000, -2_000_000_000, 2_000_000_000, 0, i32::MAX, i32::MIN],
                "80 e8 03 80 00 80 18 68 ca 88 80 00 80 00 28 6b ee 80 00 80 00 6c ca 88 80 00 80 ff ff ff 7f 01",
            ),
            (&[i32::MIN, 0, i32::MIN, 5], "80 00 80 00 00 00 80 80 00 80 00 00 00 80 80 00 80 00 00 00 80 80 00 80 05 00 00 80"),
        ];
        for (pixels, hex) in cases {
            let bytes: Vec<u8> = hex.split(' ').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
            assert_eq!(compress_byte_offset(pixels), bytes);
            assert_eq!(decompress_byte_offset(&bytes, pixels.len()).unwrap(), pixels);
        }
    }

    #[test]
    fn every_branch_round_trips() {
        let pixels = every_branch();
        let data = compress_byte_offset(&pixels);
        assert_eq!(decompress_byte_offset(&data, pixels.len()).unwrap(), pixels);
    }

    #[test]
    fn random_images_round_trip() {
        let mut rng = Ran1::new(-4242);
        for scale in [100.0f64, 30_000.0, 70_000.0, 3.0e9] {
            let pixels: Vec<i32> = (0..5000).map(|_| ((f64::from(rng.next()) - 0.5) * 2.0 * scale) as i32).collect();
            let data = compress_byte_offset(&pixels);
            assert_eq!(decompress_byte_offset(&data, pixels.len()).unwrap(), pixels, "scale {scale}");
        }
        assert_eq!(decompress_byte_offset(&[], 0).unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn truncated_or_overlong_data_is_refused_at_every_cut() {
        let pixels = every_branch();
        let data = compress_byte_offset(&pixels);
        for cut in 0..data.len() {
            let err = decompress_byte_offset(&data[..cut], pixels.len()).unwrap_err();
            assert!(err.contains("truncated"), "cut {cut}: {err}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decompress_byte_offset(&longer, pixels.len()).unwrap_err().contains("left after"));
        // a huge declared count with little data: an error, not an allocation
        assert!(decompress_byte_offset(&data, usize::MAX).unwrap_err().contains("truncated"));
    }

    fn header() -> CbfHeader {
        CbfHeader {
            fpixels: 3,
            spixels: 2,
            pixel_size_m: 0.000172,
            distance_m: 0.25,
            wavelength_a: 0.9793,
            beam_xy_px: (1.5, 1.0),
            start_angle_deg: 10.0,
            angle_increment_deg: 0.1,
            exposure_s: 0.5,
            silicon_thickness_m: Some(0.00045),
            timestamp: timestamp(std::time::UNIX_EPOCH),
        }
    }

    #[test]
    fn a_file_round_trips_and_has_crlf_text() {
        let pixels = [0, 127, -128, 40_000, i32::MAX, i32::MIN];
        let bytes = encode_cbf(&header(), &pixels);
        let image = decode_cbf(&bytes).unwrap();
        assert_eq!((image.fpixels, image.spixels, image.pixels.as_slice()), (3, 2, pixels.as_slice()));
        assert!(bytes.starts_with(b"###CBF: VERSION 1.5"));
        let text = &image.header_text;
        assert!(text.split('\n').all(|l| l.is_empty() || l.ends_with('\r')), "CRLF line ends");
        for line in ["_array_data.header_convention \"GENERIC_MINI\"", "# 1970-01-01T00:00:00.000", "# Silicon sensor, thickness 0.00045 m"] {
            assert!(text.contains(&format!("{line}\r\n")), "{line}");
        }
        let no_sensor = CbfHeader { silicon_thickness_m: None, ..header() };
        assert!(!String::from_utf8_lossy(&encode_cbf(&no_sensor, &pixels)).contains("Silicon"));
    }

    #[test]
    fn damaged_files_are_refused_with_the_fault_named() {
        let bytes = encode_cbf(&header(), &[1, 2, 3, 400, 5, 6]);
        assert!(decode_cbf(&bytes).is_ok());
        let start = find(&bytes, &BINARY_START).unwrap();
        // every cut: a clear error, never a panic (the 4095 padding bytes may go)
        for cut in 0..start + 4 + 6 {
            assert!(decode_cbf(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let (location, message) = decode_cbf(&bytes[..start + 6]).unwrap_err();
        assert_eq!(location, "binary section");
        assert!(message.contains("truncated"), "{message}");
        let mut flipped = bytes.clone();
        flipped[start + 5] ^= 1;
        assert_eq!(decode_cbf(&flipped).unwrap_err().0, "Content-MD5");
        assert_eq!(decode_cbf(b"not a cbf").unwrap_err().0, "first line");
        let text = String::from_utf8_lossy(&bytes[..start]).replace("x-CBF_BYTE_OFFSET", "x-CBF_PACKED");
        let mut packed = text.into_bytes();
        packed.extend_from_slice(&bytes[start..]);
        assert!(decode_cbf(&packed).unwrap_err().1.contains("only x-CBF_BYTE_OFFSET"));
    }

    #[test]
    fn counts_round_half_up_and_saturate() {
        assert_eq!(photon_counts(&[0.0, 0.49, 0.5, 65535.7, 1.0e12, -0.6]), [0, 0, 1, 65536, i32::MAX, -1]);
    }

    #[test]
    fn md5_is_base64_encoded_as_mime_wants() {
        // RFC 1321 / RFC 4648 examples
        assert_eq!(base64(&Md5::digest(b"")), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs: u64, millis: u64| timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + millis));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000");
    }
}
