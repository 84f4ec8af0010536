//! `Fdump.bin`, the binary structure-factor cache nanoBragg.c writes whenever `-hkl` is given
//! and reads when it is not (REFERENCE.md §5).
//!
//! Layout: the ASCII header `"%d %d %d %d %d %d\n\f"` (h_min h_max k_min k_max l_min l_max),
//! then native (little-endian) doubles for an (h_count+1)×(k_count+1)×(l_count+1) array, l
//! fastest. The C allocates one spare slot per dimension and dumps it too; the spare slots
//! hold 0.0. The C reader parses the header with `fscanf`, whose `\n` directive also swallows
//! leading whitespace-valued bytes of the first double and misaligns the table; this reader
//! starts the table at the byte right after the form feed.

use super::hkl::{GridRanges, StructureFactors};
use super::write_atomic;
use crate::error::{Error, Result};
use std::path::Path;

/// Largest cache read: the header and the largest grid `MAX_GRID_CELLS` allows.
pub(crate) const MAX_FILE_BYTES: u64 = MAX_HEADER_BYTES as u64 + 8 * super::hkl::MAX_GRID_CELLS as u64;

/// Spare slots per dimension in the file.
const PAD: i64 = 1;
/// The header is a few dozen bytes; stop looking for its form feed after this many.
const MAX_HEADER_BYTES: usize = 256;

/// Writes `sf` in the C Fdump.bin layout, atomically. Grids beyond `MAX_GRID_CELLS` (only
/// possible for a hand-built `StructureFactors`) are refused rather than written.
pub fn write_fdump(path: &Path, sf: &StructureFactors) -> Result<()> {
    let ranges = sf.ranges();
    let padded_cells = ranges.cells(PAD).ok_or_else(|| {
        Error::Resource(format!(
            "{}: {}",
            path.display(),
            ranges.too_large_message(PAD)
        ))
    })?;
    write_atomic(path, &encode_fdump(sf, padded_cells))
}

fn encode_fdump(sf: &StructureFactors, padded_cells: usize) -> Vec<u8> {
    let header = format!(
        "{} {} {} {} {} {}\n\u{c}",
        sf.h_min, sf.h_max, sf.k_min, sf.k_max, sf.l_min, sf.l_max
    );
    let (hc, kc, lc) = sf.counts();
    let mut bytes = Vec::with_capacity(header.len() + padded_cells * 8);
    bytes.extend_from_slice(header.as_bytes());
    for h in 0..=hc {
        for k in 0..=kc {
            for l in 0..=lc {
                let inside = h < hc && k < kc && l < lc;
                let value = if inside {
                    sf.values.get((h * kc + k) * lc + l).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    bytes
}

/// Reads an Fdump.bin written by nanoBragg.c or `write_fdump`, dropping the spare slots.
pub fn read_fdump(path: &Path) -> Result<StructureFactors> {
    let bytes = super::read_limited(path, MAX_FILE_BYTES)?;
    parse_fdump(path, &bytes)
}

/// `read_fdump` on bytes already in memory; `path` only names them in error messages.
pub fn parse_fdump(path: &Path, bytes: &[u8]) -> Result<StructureFactors> {
    let (ranges, data_start) =
        parse_header(bytes).map_err(|msg| Error::parse(path, "header", msg))?;
    let padded_cells = ranges
        .cells(PAD)
        .ok_or_else(|| Error::parse(path, "header", ranges.too_large_message(PAD)))?;
    let data = &bytes[data_start..];
    let needed = padded_cells * 8;
    if data.len() < needed {
        let msg = format!(
            "truncated: {} needs {needed} bytes of data after the header, found {}",
            ranges.describe(),
            data.len()
        );
        return Err(Error::parse(path, "data", msg));
    }
    if data.len() > needed {
        // C writes exactly the header's grid; more bytes mean the header belongs to another
        // table (or the file was appended to), and reading any prefix would be a guess
        let msg = format!(
            "the header does not match the data: {} needs {needed} bytes of data after the header, found {}",
            ranges.describe(),
            data.len()
        );
        return Err(Error::parse(path, "data", msg));
    }
    let (hc, kc, lc) = ranges.counts();
    let mut values = Vec::with_capacity(hc * kc * lc);
    let mut doubles = data[..needed].chunks_exact(8).map(le_f64);
    for h in 0..=hc {
        for k in 0..=kc {
            for l in 0..=lc {
                let value = doubles.next().unwrap_or(0.0);
                if h < hc && k < kc && l < lc {
                    if !value.is_finite() {
                        // a NaN or infinite F renders a NaN image; no HKL file can produce one
                        let (hi, ki, li) = (ranges.h.0 as i64 + h as i64, ranges.k.0 as i64 + k as i64, ranges.l.0 as i64 + l as i64);
                        let msg = format!("F({hi} {ki} {li}) = {value} is not a finite number (a damaged or foreign cache)");
                        return Err(Error::parse(path, "data", msg));
                    }
                    values.push(value);
                }
            }
        }
    }
    Ok(ranges.with_values(values))
}

/// Whether `bytes` start like a structure-factor cache (six integers, a newline and a form
/// feed), so that `-hkl` can take a cache by its content whatever its name. HKL text never
/// holds a form feed, and a cache's header is all ASCII digits, signs and blanks.
pub fn looks_like_fdump(bytes: &[u8]) -> bool {
    let window = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    match window.iter().position(|&b| b == 0x0c) {
        Some(ff) => {
            let head = &window[..ff];
            head.ends_with(b"\n")
                && head.iter().all(|&b| b.is_ascii_digit() || b == b'-' || b == b'+' || b.is_ascii_whitespace())
                && head.split(|b| b.is_ascii_whitespace()).filter(|t| !t.is_empty()).count() == 6
        }
        None => false,
    }
}

fn le_f64(chunk: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(chunk);
    f64::from_le_bytes(raw)
}

/// Six integers, whitespace separated, up to the first form feed. Returns the ranges and the
/// offset of the first data byte.
fn parse_header(bytes: &[u8]) -> std::result::Result<(GridRanges, usize), String> {
    let window = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    let form_feed = window
        .iter()
        .position(|&b| b == 0x0c)
        .ok_or("no form feed ending the header")?;
    let text = std::str::from_utf8(&window[..form_feed]).map_err(|_| "header is not text")?;
    let numbers: Vec<i32> = text
        .split_ascii_whitespace()
        .map(|t| {
            t.parse::<i32>()
                .map_err(|_| format!("`{t}` is not an integer"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let [h0, h1, k0, k1, l0, l1] = numbers[..] else {
        return Err(format!(
            "expected 6 integers (h_min h_max k_min k_max l_min l_max), found {}",
            numbers.len()
        ));
    };
    if h1 < h0 || k1 < k0 || l1 < l0 {
        return Err(format!(
            "empty index range h {h0}..{h1}, k {k0}..{k1}, l {l0}..{l1}"
        ));
    }
    Ok((
        GridRanges {
            h: (h0, h1),
            k: (k0, k1),
            l: (l0, l1),
        },
        form_feed + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StructureFactors {
        let (h_min, h_max, k_min, k_max, l_min, l_max) = (-1, 1, 0, 2, -2, 1);
        let values = (0..3 * 3 * 4).map(|i| f64::from(i) * 0.25 - 3.0).collect();
        StructureFactors {
            h_min,
            h_max,
            k_min,
            k_max,
            l_min,
            l_max,
            values,
        }
    }

    fn parse_error(bytes: &[u8], location: &str, fragment: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Fdump.bin");
        std::fs::write(&path, bytes).unwrap();
        let err = read_fdump(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Parse { .. }), "{text}");
        assert!(
            text.contains(&path.display().to_string()) && text.contains(location),
            "{text}"
        );
        assert!(text.contains(fragment), "{text}");
    }

    #[test]
    fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Fdump.bin");
        let sf = sample();
        write_fdump(&path, &sf).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header = b"-1 1 0 2 -2 1\n\x0c";
        assert_eq!(&bytes[..header.len()], header);
        assert_eq!(bytes.len(), header.len() + 4 * 4 * 5 * 8);
        // First double is F(h_min, k_min, l_min); slot 4 (l index 4) is padding.
        let double_at = |i: usize| {
            let start = header.len() + 8 * i;
            f64::from_le_bytes(bytes[start..start + 8].try_into().unwrap())
        };
        assert_eq!(double_at(0), -3.0);
        assert_eq!(double_at(4), 0.0);
        assert_eq!(double_at(5), sf.values[4]);
        assert_eq!(read_fdump(&path).unwrap(), sf);
    }

    #[test]
    fn whitespace_valued_first_double_is_not_misread() {
        // 142.32 has low byte 0x0a: the C fscanf would swallow it (REFERENCE.md §5).
        let mut sf = sample();
        sf.values[0] = 142.32;
        assert_eq!(sf.values[0].to_le_bytes()[0], 0x0a);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Fdump.bin");
        write_fdump(&path, &sf).unwrap();
        assert_eq!(read_fdump(&path).unwrap(), sf);
    }

    #[test]
    fn error_truncated() {
        let bytes = encode_fdump(&sample(), 4 * 4 * 5);
        parse_error(&bytes[..bytes.len() - 1], "data", "truncated");
    }

    #[test]
    fn error_bad_headers() {
        parse_error(b"1 2 3 4 5 6\n", "header", "no form feed");
        parse_error(b"1 2 3 4 5\n\x0c", "header", "found 5");
        parse_error(b"1 2 x 4 5 6\n\x0c", "header", "`x` is not an integer");
        parse_error(b"2 1 0 0 0 0\n\x0c", "header", "empty index range");
        parse_error(b"\xff\xfe 1\n\x0c", "header", "not text");
        parse_error(b"", "header", "no form feed");
    }

    #[test]
    fn write_refuses_absurd_hand_built_grid() {
        let mut sf = sample();
        sf.h_min = i32::MIN;
        sf.h_max = i32::MAX;
        let dir = tempfile::tempdir().unwrap();
        let err = write_fdump(&dir.path().join("Fdump.bin"), &sf).unwrap_err();
        assert!(matches!(err, Error::Resource(_)), "{err}");
        assert_eq!(sf.get(0, 0, 0), None);
    }

    #[test]
    fn error_absurd_ranges() {
        parse_error(
            b"-2147483648 2147483647 0 0 0 0\n\x0c",
            "header",
            "limit of 268435456",
        );
        parse_error(
            b"0 999 0 999 0 999\n\x0c",
            "header",
            "1003003001 grid cells",
        );
    }

    #[test]
    fn golden_fdump_reads_cleanly() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        let sf = read_fdump(&golden.join("a40_fdump_read/Fdump.bin")).unwrap();
        assert_eq!(
            (sf.h_min, sf.h_max, sf.k_min, sf.k_max, sf.l_min, sf.l_max),
            (-6, 6, -6, 6, -6, 6)
        );
        assert_eq!(sf.values.len(), 13 * 13 * 13);
        assert!(
            sf.values
                .iter()
                .all(|v| v.is_finite() && (v * 4.0).fract() == 0.0 && *v >= 0.0 && *v < 1e4)
        );
        assert!(sf.values.iter().any(|&v| v > 0.0));
        // Re-encoding reproduces the C file byte for byte (padding slots are zero).
        let original = std::fs::read(golden.join("a40_fdump_read/Fdump.bin")).unwrap();
        assert_eq!(encode_fdump(&sf, 14 * 14 * 14), original);
    }
}
