//! `-sourcefile` lists: one source per line, columns X Y Z (position relative to the sample,
//! metres), weight, λ (metres). Missing trailing columns are left to the caller's defaults.
//!
//! nanoBragg.c reads these with its `read_text_file`, which has a quirk reproduced under
//! `c_parity` (REFERENCE.md §5): after the last number of a line it only stops filling columns
//! when exactly "\n" remains, so a final line without a newline (or a CRLF line) gets 0 for
//! every missing column instead of the defaults.

use crate::error::{Error, Result};
use std::path::Path;

/// Largest source list read (some 300 000 full lines).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Column separators of the C reader (`" \t,;:!"`).
const DELIMITERS: [char; 6] = [' ', '\t', ',', ';', ':', '!'];
const COLUMNS: usize = 5;

/// One source line; `None` marks a column the line did not give.
pub use nanobragg_core::model::SourceRow;

fn from_columns(columns: [Option<f64>; COLUMNS]) -> SourceRow {
    let [x, y, z, weight, lambda_m] = columns;
    SourceRow { position: [x, y, z], weight, lambda_m }
}

/// Reads a source list. Blank lines and `#` comment lines are skipped; numbers beyond the fifth
/// column are ignored, as in C.
pub fn read_sourcefile(path: &Path, c_parity: bool) -> Result<Vec<SourceRow>> {
    let bytes = super::read_limited(path, MAX_FILE_BYTES)?;
    parse_sourcefile(path, &bytes, c_parity)
}

/// `read_sourcefile` on bytes already in memory; `path` only names them in error messages.
pub fn parse_sourcefile(path: &Path, bytes: &[u8], c_parity: bool) -> Result<Vec<SourceRow>> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    for (number, raw) in text.split_inclusive('\n').enumerate() {
        let parsed = parse_line(raw, c_parity)
            .map_err(|msg| Error::parse(path, format!("line {}", number + 1), msg))?;
        rows.extend(parsed);
    }
    if rows.is_empty() {
        return Err(Error::parse(
            path,
            "whole file",
            "no sources (expected lines of `X Y Z [weight [lambda]]`)",
        ));
    }
    // the default mode applies the weights (C ignores them): all of them 0 would render a
    // blank image without a word
    if !c_parity && rows.iter().all(|r| r.weight == Some(0.0)) {
        return Err(Error::parse(path, "whole file", "every source has weight 0 (column 4): the image would be blank"));
    }
    Ok(rows)
}

/// `raw` is one line including its `\n`, if it has one. `None` for lines that define no source.
fn parse_line(raw: &str, c_parity: bool) -> std::result::Result<Option<SourceRow>, String> {
    let terminated = raw.ends_with('\n');
    let body = raw.strip_suffix('\n').unwrap_or(raw);
    let content = body.trim_start_matches(DELIMITERS);
    if content.starts_with('#') {
        return Ok(None);
    }
    // C: only "\n" after the last number ends a line cleanly; anything else (end of file, a
    // carriage return) lets its column loop run on and store atof("") = 0 in the rest.
    let c_zero_fill = c_parity && (!terminated || body.ends_with('\r'));
    let trimmed = content.trim_end_matches(|c: char| DELIMITERS.contains(&c) || c == '\r');
    if trimmed.is_empty() {
        // C treats a line as blank only if nothing but delimiters precedes a final "\n"; any
        // other empty-looking line becomes a source whose five columns are all 0.
        let c_counts_it = c_parity && !(terminated && content.is_empty());
        return Ok(c_counts_it.then(|| from_columns([Some(0.0); COLUMNS])));
    }
    let missing = if c_zero_fill { Some(0.0) } else { None };
    let mut columns = [missing; COLUMNS];
    let tokens = trimmed.split(DELIMITERS).filter(|t| !t.is_empty());
    for (slot, token) in columns.iter_mut().zip(tokens) {
        let value: f64 = token.parse().map_err(|_| {
            if token.contains('\r') {
                // a lone CR is no line end for C's reader (nor ours): a CR-only file (old Mac
                // editors) reads as one long line, so say that instead of a puzzling number
                format!("`{}` is not a number: the lines end in a bare carriage return (CR); save the file with LF or CRLF line ends", token.escape_debug())
            } else {
                format!("`{token}` is not a number")
            }
        })?;
        if !value.is_finite() {
            return Err(format!("`{token}` is not finite"));
        }
        *slot = Some(value);
    }
    // C divides by whatever the λ column holds; c-parity keeps that (and its zero-filled
    // columns), the default mode refuses a wavelength that cannot scatter
    // the default mode applies the weights (C ignores them): a negative one would subtract a
    // source's image
    if let Some(weight) = columns[3].filter(|&w| !c_parity && w < 0.0) {
        return Err(format!("weight {weight} (column 4) must not be negative"));
    }
    if let Some(lambda) = columns[COLUMNS - 1].filter(|&l| !c_parity && l <= 0.0) {
        return Err(format!("wavelength {lambda} (column 5) must be greater than zero"));
    }
    Ok(Some(from_columns(columns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content: &[u8], c_parity: bool) -> Result<Vec<SourceRow>> {
        let f = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
        std::fs::write(f.path(), content).unwrap();
        read_sourcefile(f.path(), c_parity)
    }

    fn row(values: [Option<f64>; 5]) -> SourceRow {
        from_columns(values)
    }

    fn parse_error(content: &[u8], location: &str, fragment: &str) {
        let f = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
        std::fs::write(f.path(), content).unwrap();
        for c_parity in [false, true] {
            let err = read_sourcefile(f.path(), c_parity).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::Parse { .. }), "{text}");
            assert!(
                text.contains(&f.path().display().to_string()) && text.contains(location),
                "{text}"
            );
            assert!(text.contains(fragment), "{text}");
        }
    }

    #[test]
    fn columns_delimiters_blanks_and_comments() {
        let text = b"# X Y Z w l\n-10 0 0 1.0 1.0e-10\n\n  \t\n-10,0.02;0:0.5!1.02e-10 99 extra\n-10 0 0.015\n";
        let want = vec![
            row([Some(-10.0), Some(0.0), Some(0.0), Some(1.0), Some(1e-10)]),
            row([
                Some(-10.0),
                Some(0.02),
                Some(0.0),
                Some(0.5),
                Some(1.02e-10),
            ]),
            row([Some(-10.0), Some(0.0), Some(0.015), None, None]),
        ];
        assert_eq!(read(text, false).unwrap(), want);
        assert_eq!(read(text, true).unwrap(), want);
    }

    #[test]
    fn last_line_without_newline() {
        let text = b"-10 0 0 2\n-10 1 1";
        let default = read(text, false).unwrap();
        assert_eq!(
            default[1],
            row([Some(-10.0), Some(1.0), Some(1.0), None, None])
        );
        assert_eq!(default[0].lambda_m, None);
        let parity = read(text, true).unwrap();
        assert_eq!(
            parity[1],
            row([Some(-10.0), Some(1.0), Some(1.0), Some(0.0), Some(0.0)])
        );
        assert_eq!(parity[0].lambda_m, None);
    }

    #[test]
    fn crlf_lines() {
        let text = b"-10 0 0\r\n-10 0 0 1 1e-10\r\n";
        let default = read(text, false).unwrap();
        assert_eq!(
            default[0],
            row([Some(-10.0), Some(0.0), Some(0.0), None, None])
        );
        let parity = read(text, true).unwrap();
        assert_eq!(
            parity[0],
            row([Some(-10.0), Some(0.0), Some(0.0), Some(0.0), Some(0.0)])
        );
        assert_eq!(parity[1], default[1]);
        // "\r" followed by a delimiter before "\n" ends the C line cleanly.
        assert_eq!(read(b"-10 0 0\r \n", true).unwrap()[0].weight, None);
    }

    #[test]
    fn whitespace_only_unterminated_line_is_a_zero_source_under_parity() {
        let text = b"-10 0 0\n   ";
        assert_eq!(read(text, false).unwrap().len(), 1);
        let parity = read(text, true).unwrap();
        assert_eq!(parity.len(), 2);
        assert_eq!(parity[1], row([Some(0.0); 5]));
    }

    #[test]
    fn golden_a59_sources() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        let rows = read_sourcefile(&golden.join("a59_sourcefile/sources.txt"), true).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].lambda_m, Some(1.02e-10));
        assert_eq!(rows[2].weight, Some(2.0));
        assert_eq!(rows[2].lambda_m, None);
        assert_eq!(
            rows[3],
            row([Some(-10.0), Some(-0.01), Some(-0.01), None, None])
        );
    }

    #[test]
    fn error_non_numeric() {
        parse_error(
            b"-10 0 0\nsource two 0 0\n",
            "line 2",
            "`source` is not a number",
        );
        parse_error(b"-10 0 0 1 1e-10x\n", "line 1", "`1e-10x`");
    }

    #[test]
    fn error_non_finite() {
        parse_error(b"-10 0 0 nan\n", "line 1", "`nan` is not finite");
        parse_error(b"\n-10 inf 0\n", "line 2", "not finite");
    }

    #[test]
    fn error_non_positive_wavelength_in_default_mode() {
        let f = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
        std::fs::write(f.path(), b"-10 0 0 1 1e-10\n-10 0 0 1 -1e-10\n").unwrap();
        let text = read_sourcefile(f.path(), false).unwrap_err().to_string();
        assert!(text.contains("line 2") && text.contains("wavelength"), "{text}");
        assert_eq!(read_sourcefile(f.path(), true).unwrap()[1].lambda_m, Some(-1e-10));
    }

    #[test]
    fn error_no_sources() {
        parse_error(b"# nothing\n\n", "whole file", "no sources");
        parse_error(b"", "whole file", "no sources");
    }

    #[test]
    fn cr_only_line_ends_are_named() {
        parse_error(b"-10 0 0 1 1e-10\r-10 0.1 0 1 1e-10\r", "line 1", "bare carriage return (CR)");
    }

    #[test]
    fn all_zero_weights_are_refused_in_the_default_mode_only() {
        let f = tempfile::Builder::new().suffix(".txt").tempfile().unwrap();
        std::fs::write(f.path(), b"-10 0 0 0 1e-10\n-10 0.1 0 0\n").unwrap();
        let text = read_sourcefile(f.path(), false).unwrap_err().to_string();
        assert!(text.contains("whole file") && text.contains("weight 0"), "{text}");
        // C ignores the weights
        assert_eq!(read_sourcefile(f.path(), true).unwrap().len(), 2);
        // one source with weight (or a missing weight, 1) is enough
        for ok in [&b"-10 0 0 0\n-10 0.1 0 0.5\n"[..], b"-10 0 0 0\n-10 0.1 0\n"] {
            std::fs::write(f.path(), ok).unwrap();
            assert_eq!(read_sourcefile(f.path(), false).unwrap().len(), 2);
        }
    }

    #[test]
    fn missing_file_is_io_error() {
        assert!(matches!(
            read_sourcefile(Path::new("/nonexistent/s.txt"), false),
            Err(Error::Io { .. })
        ));
    }
}
