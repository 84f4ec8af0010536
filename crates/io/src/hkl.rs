//! Structure-factor tables from `h k l F` text files.
//!
//! nanoBragg.c reads HKL files with `fscanf("%lg%lg%lg%lg")` and stops silently at the first
//! token that is not a number, so a leading `#` comment makes it fail with "not enough HKL
//! indices" (REFERENCE.md §5). This reader accepts a superset — comments, blank lines, commas,
//! extra columns — and refuses malformed lines with their line number instead of stopping early.

use crate::error::{Error, Result};
pub use nanobragg_core::structure::{GridRanges, MAX_GRID_CELLS, StructureFactors};
use std::path::Path;

/// Largest HKL file read (1 GiB holds some 40 million reflections).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// One parsed reflection.
struct Entry {
    hkl: [i32; 3],
    f: f64,
}

/// Bytes looked at before the rest of an `-hkl` file is read: enough to recognise a cache
/// header or binary data, so that a device such as /dev/zero is refused at once instead of
/// after MAX_FILE_BYTES.
const PROBE_BYTES: u64 = 64 << 10;

/// What `-hkl` named: the grid, the reflections it listed (every cell of a cache), and
/// whether the file was a structure-factor cache rather than HKL text.
pub struct HklInput {
    pub grid: StructureFactors,
    pub reflections: usize,
    pub from_cache: bool,
}

/// Reads the `-hkl` file: a structure-factor cache (Fdump.bin layout, recognised by its
/// content whatever its name) or HKL text.
pub fn read_hkl_or_cache(path: &Path, default_f: f64) -> Result<HklInput> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let mut bytes = Vec::new();
    (&mut reader).take(PROBE_BYTES).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    let from_cache = super::fdump::looks_like_fdump(&bytes);
    let limit = if from_cache { super::fdump::MAX_FILE_BYTES } else { MAX_FILE_BYTES };
    if !from_cache {
        check_text(path, &bytes)?;
    }
    if bytes.len() as u64 == PROBE_BYTES {
        reader.take(limit.saturating_add(1) - PROBE_BYTES).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    }
    if bytes.len() as u64 > limit {
        let msg = format!("larger than {}, the limit for this kind of file", nanobragg_core::budget::human_bytes(limit as f64));
        return Err(Error::parse(path, "file size", msg));
    }
    if from_cache {
        let grid = super::fdump::parse_fdump(path, &bytes)?;
        let (h, k, l) = grid.counts();
        return Ok(HklInput { grid, reflections: h * k * l, from_cache });
    }
    let (grid, reflections) = parse_hkl(path, &bytes, default_f)?;
    Ok(HklInput { grid, reflections, from_cache })
}

/// Reads an HKL text file into a dense grid spanning the listed indices; cells not listed get
/// `default_f`, and a reflection listed twice keeps its last value (as the C fill loop does).
/// Returns the grid and the number of reflections read.
pub fn read_hkl(path: &Path, default_f: f64) -> Result<(StructureFactors, usize)> {
    let bytes = super::read_limited(path, MAX_FILE_BYTES)?;
    parse_hkl(path, &bytes, default_f)
}

/// HKL text holds no NUL byte; a file that does is binary (an image, /dev/zero, a compressed
/// file), refused at the line where the binary data start.
fn check_text(path: &Path, bytes: &[u8]) -> Result<()> {
    match bytes.iter().position(|&b| b == 0) {
        Some(at) => {
            let line = text_lines(&String::from_utf8_lossy(&bytes[..at])).count().max(1);
            Err(Error::parse(path, format!("line {line}"), "binary data (a NUL byte), not HKL text"))
        }
        None => Ok(()),
    }
}

/// Lines ended by LF, CR LF or a lone CR (old Mac files): C's `fscanf` treats every one of
/// them as white space, so a CR-only file is as readable as any other.
fn text_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

/// `read_hkl` on bytes already in memory; `path` only names them in error messages.
pub fn parse_hkl(path: &Path, bytes: &[u8], default_f: f64) -> Result<(StructureFactors, usize)> {
    check_text(path, bytes)?;
    let text = String::from_utf8_lossy(bytes);
    let mut entries = Vec::new();
    for (number, line) in text_lines(&text).enumerate() {
        if let Some(entry) = parse_line(line)
            .map_err(|msg| Error::parse(path, format!("line {}", number + 1), msg))?
        {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        return Err(Error::parse(path, "whole file", "no reflections (expected lines of `h k l F`)"));
    }
    let reflections: Vec<([i32; 3], f64)> = entries.iter().map(|e| (e.hkl, e.f)).collect();
    let grid = StructureFactors::from_reflections(&reflections, default_f).map_err(|why| Error::parse(path, "whole file", why))?;
    Ok((grid, entries.len()))
}

/// `None` for blank and comment-only lines.
fn parse_line(line: &str) -> std::result::Result<Option<Entry>, String> {
    let content = line.split('#').next().unwrap_or("");
    let words: Vec<&str> = content.split_whitespace().collect();
    // `1 2 3 2,5`: a comma inside a number of a blank-separated line is a decimal comma, which
    // would silently read as F = 2 and an extra column 5; comma-separated lines (`1,2,3,2.5`
    // or `1, 2, 3, 2.5`) stay accepted
    if words.len() > 1
        && let Some(w) = words.iter().find(|w| w.as_bytes().windows(3).any(|t| t[0].is_ascii_digit() && t[1] == b',' && t[2].is_ascii_digit()))
    {
        return Err(format!("`{w}` looks like a decimal comma; write numbers with a decimal point"));
    }
    let tokens: Vec<&str> = content
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Ok(None);
    }
    if tokens.len() < 4 {
        return Err(format!(
            "expected `h k l F`, found {} field(s)",
            tokens.len()
        ));
    }
    let mut numbers = [0.0; 4];
    for (slot, token) in numbers.iter_mut().zip(&tokens) {
        *slot = token
            .parse::<f64>()
            .map_err(|_| format!("`{token}` is not a number"))?;
    }
    let [h, k, l, f] = numbers;
    if !f.is_finite() {
        return Err(format!("structure factor `{}` is not finite", tokens[3]));
    }
    Ok(Some(Entry {
        hkl: [miller(h, "h")?, miller(k, "k")?, miller(l, "l")?],
        f,
    }))
}

/// A Miller index: integral (written as `1` or `1.0`) and within the i32 range.
fn miller(x: f64, name: &str) -> std::result::Result<i32, String> {
    let rounded = x.round();
    if !x.is_finite() || (x - rounded).abs() > 1e-6 {
        return Err(format!("{name} = {x} is not an integer"));
    }
    if rounded < f64::from(i32::MIN) || rounded > f64::from(i32::MAX) {
        return Err(format!("{name} = {x} is out of range"));
    }
    Ok(rounded as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".hkl").tempfile().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    fn read_text(content: &str, default_f: f64) -> Result<(StructureFactors, usize)> {
        let f = temp_file(content);
        read_hkl(f.path(), default_f)
    }

    fn parse_error(content: &str, location: &str, fragment: &str) {
        let f = temp_file(content);
        let err = read_hkl(f.path(), 0.0).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Parse { .. }), "{text}");
        assert!(text.contains(&f.path().display().to_string()), "{text}");
        assert!(text.contains(location), "{text}");
        assert!(text.contains(fragment), "{text}");
    }

    #[test]
    fn reads_grid_with_default_fill() {
        let (sf, n) = read_text("0 0 0 10\n1 -1 2 20.5\n", 3.0).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            (sf.h_min, sf.h_max, sf.k_min, sf.k_max, sf.l_min, sf.l_max),
            (0, 1, -1, 0, 0, 2)
        );
        assert_eq!(sf.counts(), (2, 2, 3));
        assert_eq!(sf.values.len(), 12);
        assert_eq!(sf.get(0, 0, 0), Some(10.0));
        assert_eq!(sf.get(1, -1, 2), Some(20.5));
        assert_eq!(sf.get(1, 0, 1), Some(3.0));
        assert_eq!(sf.get(2, 0, 0), None);
        assert_eq!(sf.get(i32::MIN, i32::MAX, 0), None);
        // Layout: ((h-h_min)*k_count + (k-k_min))*l_count + (l-l_min).
        assert_eq!(sf.values[2 * 3 + 2], 20.5);
    }

    #[test]
    fn accepts_comments_blanks_commas_extra_columns_and_duplicates() {
        let text =
            "# header\n\n  1, 2, 3, 4.5  # trailing\n1.0 2 3.000000 7 0.3 extra\n\t\n-1 0 0 1e2\n";
        let (sf, n) = read_text(text, 0.0).unwrap();
        assert_eq!(n, 3);
        assert_eq!(sf.get(1, 2, 3), Some(7.0));
        assert_eq!(sf.get(-1, 0, 0), Some(100.0));
        assert_eq!(sf.get(0, 1, 1), Some(0.0));
    }

    #[test]
    fn error_too_few_numbers() {
        parse_error("1 2 3 4\n1 2 3\n", "line 2", "found 3");
    }

    #[test]
    fn error_non_numeric_token() {
        parse_error("1 2 3 4\n\n1 x 3 4\n", "line 3", "`x` is not a number");
    }

    #[test]
    fn error_non_integral_index() {
        parse_error("1 2 3.5 4\n", "line 1", "l = 3.5 is not an integer");
        parse_error("1e20 2 3 4\n", "line 1", "out of range");
    }

    #[test]
    fn error_non_finite_f() {
        parse_error("1 2 3 nan\n", "line 1", "not finite");
        parse_error("1 2 3 4\n1 2 3 inf\n", "line 2", "not finite");
    }

    #[test]
    fn error_no_reflections() {
        parse_error("# only a comment\n\n", "whole file", "no reflections");
        parse_error("", "whole file", "no reflections");
    }

    #[test]
    fn error_grid_too_large_refused_before_allocation() {
        parse_error(
            "-2000000000 0 0 1\n2000000000 1000 1000 1\n",
            "whole file",
            "limit of 268435456",
        );
        let f = temp_file("0 0 0 1\n1000 1000 1000 1\n");
        let text = read_hkl(f.path(), 0.0).unwrap_err().to_string();
        assert!(
            text.contains("h 0..1000, k 0..1000, l 0..1000") && text.contains("1003003001"),
            "{text}"
        );
    }

    #[test]
    fn missing_file_is_io_error() {
        let err = read_hkl(Path::new("/nonexistent/x.hkl"), 0.0).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
    }

    #[test]
    fn garbage_bytes_never_panic() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), [0xffu8, 0x00, b'1', b' ', 0x80, b'\n', b'#']).unwrap();
        assert!(read_hkl(f.path(), 0.0).is_err());
    }

    #[test]
    fn golden_inputs_parse() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        for name in ["P1.hkl", "scaled.hkl", "smooth.hkl"] {
            let (sf, n) = read_hkl(&golden.join("inputs").join(name), 0.0).unwrap();
            let (hc, kc, lc) = sf.counts();
            assert!(n > 0 && n <= hc * kc * lc, "{name}");
        }
    }
}
