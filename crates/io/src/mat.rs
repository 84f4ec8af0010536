//! MOSFLM orientation matrices (`-mat`/`-matrix`).
//!
//! The first three lines of a MOSFLM matrix file hold the wavelength-scaled reciprocal cell as
//! columns: line i is (a*_i, b*_i, c*_i). nanoBragg.c reads those nine numbers with three
//! `fscanf("%lg%lg%lg")` calls and ignores the rest of the file (U matrix, cell, missets);
//! the caller applies the 1e-10/λ scaling (REFERENCE.md §5).

use crate::error::{Error, Result};
use std::path::Path;

/// Largest matrix file read: a MOSFLM matrix is a few hundred bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// |det| of the raw matrix relative to |a*|·|b*|·|c*| (the sine-volume of the three vectors)
/// below which the vectors are treated as coplanar.
const MIN_RELATIVE_VOLUME: f64 = 1e-9;

/// Returns `[a_star, b_star, c_star]`, each `[x, y, z]`, exactly as written in the file.
pub fn read_mosflm_matrix(path: &Path) -> Result<[[f64; 3]; 3]> {
    let bytes = super::read_limited(path, MAX_FILE_BYTES)?;
    parse_mosflm_matrix(path, &bytes)
}

/// `read_mosflm_matrix` on bytes already in memory; `path` only names them in error messages.
pub fn parse_mosflm_matrix(path: &Path, bytes: &[u8]) -> Result<[[f64; 3]; 3]> {
    // a matrix is text; a NUL byte means binary data (an Fdump.bin cache, an image), which
    // would otherwise be quoted back as an unreadable "number"
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(Error::parse(path, format!("line {line}"), "binary data (a NUL byte), not a text MOSFLM matrix"));
    }
    let text = String::from_utf8_lossy(bytes);
    let mut numbers = Vec::with_capacity(9);
    let mut last_line = 0;
    'lines: for (number, line) in text.lines().enumerate() {
        last_line = number + 1;
        for token in line.split_whitespace() {
            let location = format!("line {}", number + 1);
            let value: f64 = token.parse().map_err(|_| {
                Error::parse(
                    path,
                    location.as_str(),
                    format!("`{token}` is not a number"),
                )
            })?;
            if !value.is_finite() {
                return Err(Error::parse(
                    path,
                    location,
                    format!("`{token}` is not finite"),
                ));
            }
            numbers.push(value);
            if numbers.len() == 9 {
                break 'lines;
            }
        }
    }
    let [ax, bx, cx, ay, by, cy, az, bz, cz] = numbers[..] else {
        let msg = format!(
            "expected 9 numbers (3 lines of a* b* c* components), found {}",
            numbers.len()
        );
        return Err(Error::parse(
            path,
            format!("line {}", last_line.max(1)),
            msg,
        ));
    };
    let vectors = [[ax, ay, az], [bx, by, bz], [cx, cy, cz]];
    check_not_singular(&vectors).map_err(|msg| Error::parse(path, "lines 1-3", msg))?;
    Ok(vectors)
}

/// Refuses three reciprocal vectors that span no cell (also for a matrix given as an array: the
/// Python package's `matrix=`).
pub fn check_not_singular(v: &[[f64; 3]; 3]) -> std::result::Result<(), String> {
    let [a, b, c] = v;
    let det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
        + a[2] * (b[0] * c[1] - b[1] * c[0]);
    let len = |x: &[f64; 3]| (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
    let scale = len(a) * len(b) * len(c);
    if scale > 0.0 && (det / scale).abs() >= MIN_RELATIVE_VOLUME {
        Ok(())
    } else {
        Err(format!(
            "the reciprocal vectors are singular (determinant {det:e})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &str) -> tempfile::NamedTempFile {
        let f = tempfile::Builder::new().suffix(".mat").tempfile().unwrap();
        std::fs::write(f.path(), content).unwrap();
        f
    }

    fn parse_error(content: &str, location: &str, fragment: &str) {
        let f = write(content);
        let err = read_mosflm_matrix(f.path()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Parse { .. }), "{text}");
        assert!(
            text.contains(&f.path().display().to_string()) && text.contains(location),
            "{text}"
        );
        assert!(text.contains(fragment), "{text}");
    }

    #[test]
    fn columns_become_vectors_and_trailing_lines_are_ignored() {
        let f = write("1 2 3\n4 5 6.5\n7 8 -10\n0.0 0.0 0.0\n  garbage line\n");
        let [a, b, c] = read_mosflm_matrix(f.path()).unwrap();
        assert_eq!(a, [1.0, 4.0, 7.0]);
        assert_eq!(b, [2.0, 5.0, 8.0]);
        assert_eq!(c, [3.0, 6.5, -10.0]);
    }

    #[test]
    fn golden_a_mat() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        let [a, b, c] = read_mosflm_matrix(&golden.join("inputs/A.mat")).unwrap();
        assert_eq!(a, [-0.02837711, -0.02871390, 0.01050048]);
        assert_eq!(b, [-0.00305386, 0.01019549, -0.03209440]);
        assert_eq!(c, [0.02535816, -0.01400049, -0.01036054]);
    }

    #[test]
    fn binary_data_is_refused_by_line() {
        parse_error("1 2 3\n\0\0\x0c", "line 2", "binary data");
    }

    #[test]
    fn error_too_few_numbers() {
        parse_error("1 2 3\n4 5 6\n7 8\n", "line 3", "found 8");
        parse_error("", "line 1", "found 0");
    }

    #[test]
    fn error_non_numeric() {
        parse_error(
            "1 2 3\n4 five 6\n7 8 9\n",
            "line 2",
            "`five` is not a number",
        );
    }

    #[test]
    fn error_non_finite() {
        parse_error("1 2 3\n4 5 6\n7 8 inf\n", "line 3", "not finite");
    }

    #[test]
    fn error_singular() {
        parse_error("1 2 3\n2 4 6\n1 1 1\n", "lines 1-3", "singular");
        parse_error("0 0 0\n0 0 0\n0 0 0\n", "lines 1-3", "singular");
    }
}
