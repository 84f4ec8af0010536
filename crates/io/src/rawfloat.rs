//! Raw float images (`-floatfile`): little-endian f32, fast index first, no header.
//! The golden corpus stores the largest ones gzip-compressed, hence the `.gz` support.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// The image as little-endian f32 bytes.
pub fn encode_float_image(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The file's bytes, gunzipped when the name ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let gzipped = path.extension().is_some_and(|ext| ext == "gz");
    if !gzipped {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| Error::parse(path, "gzip stream", crate::error::plain_reason(&e)))?;
    Ok(out)
}

/// Reads a float image (optionally `.gz`); with `expected_len` the pixel count must match.
pub fn read_float_image(path: &Path, expected_len: Option<usize>) -> Result<Vec<f32>> {
    let bytes = read_maybe_gz(path)?;
    if bytes.len() % 4 != 0 {
        let msg = format!(
            "{} bytes is not a whole number of 4-byte floats",
            bytes.len()
        );
        return Err(Error::parse(path, "file size", msg));
    }
    let count = bytes.len() / 4;
    if let Some(expected) = expected_len.filter(|&n| n != count) {
        let msg = format!("{count} floats, expected {expected}");
        return Err(Error::parse(path, "file size", msg));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn temp_path(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn round_trip_plain_and_gz() {
        let pixels = [0.0f32, -1.5, 3.25e10, f32::MIN_POSITIVE];
        let bytes = encode_float_image(&pixels);
        assert_eq!(&bytes[4..8], &(-1.5f32).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let plain = temp_path(&dir, "f.bin", &bytes);
        assert_eq!(read_float_image(&plain, Some(4)).unwrap(), pixels);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&bytes).unwrap();
        let packed = temp_path(&dir, "f.bin.gz", &gz.finish().unwrap());
        assert_eq!(read_float_image(&packed, None).unwrap(), pixels);
        assert_eq!(read_maybe_gz(&packed).unwrap(), bytes);
    }

    #[test]
    fn errors_name_path_and_cause() {
        let dir = tempfile::tempdir().unwrap();
        let odd = temp_path(&dir, "odd.bin", &[0, 0, 0, 0, 1]);
        let text = read_float_image(&odd, None).unwrap_err().to_string();
        assert!(
            text.contains("odd.bin") && text.contains("file size") && text.contains("5 bytes"),
            "{text}"
        );
        let short = temp_path(&dir, "short.bin", &[0; 8]);
        let text = read_float_image(&short, Some(3)).unwrap_err().to_string();
        assert!(
            text.contains("short.bin") && text.contains("2 floats, expected 3"),
            "{text}"
        );
        let bad_gz = temp_path(&dir, "bad.bin.gz", b"not gzip at all");
        let text = read_float_image(&bad_gz, None).unwrap_err().to_string();
        assert!(
            text.contains("bad.bin.gz") && text.contains("gzip stream"),
            "{text}"
        );
        let err = read_maybe_gz(&dir.path().join("absent.bin")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
    }

    #[test]
    fn golden_gz_float_image() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        let floats = read_float_image(
            &golden.join("a52_supervisor_roi64_literal/float.bin.gz"),
            None,
        )
        .unwrap();
        assert!(!floats.is_empty() && floats.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!(floats.iter().any(|&v| v > 0.0));
    }
}
