//! PGM (P5) preview images, written as nanoBragg.c writes `image.pgm` (REFERENCE.md §7).

use super::cfmt::fmt_g;

/// `P5`, the size, a comment naming the scale (C prints it with `%lg`, the same as `%g`), the
/// maximum grey value 255, then one byte per pixel, fast index first.
pub fn encode_pgm(width: usize, height: usize, pixels: &[u8], scale: f64) -> Vec<u8> {
    let header = format!(
        "P5\n{width} {height}\n# pixels scaled by {}\n255\n",
        fmt_g(scale)
    );
    let mut bytes = Vec::with_capacity(header.len() + pixels.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(pixels);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_pixels() {
        let bytes = encode_pgm(3, 1, &[0, 128, 255], 250.0 / (5.0 * 9.953));
        assert_eq!(
            bytes,
            b"P5\n3 1\n# pixels scaled by 5.02361\n255\n\x00\x80\xff"
        );
    }

    /// The scale comment of a golden PGM, parsed back, re-encodes to the same header and bytes.
    #[test]
    fn golden_pgm_headers_are_identical() {
        let Some(golden) = nanobragg_core::testing::golden_dir() else {
            return;
        };
        for case in ["a74_pgm_auto", "a75_pgm_scale"] {
            let original = std::fs::read(golden.join(case).join("image.pgm")).unwrap();
            let text = String::from_utf8_lossy(&original);
            let scale_text = text
                .split("# pixels scaled by ")
                .nth(1)
                .and_then(|t| t.lines().next())
                .unwrap();
            let scale: f64 = scale_text.parse().unwrap();
            let header_len = text.match_indices('\n').nth(3).map(|(i, _)| i + 1).unwrap();
            let pixels = &original[header_len..];
            assert_eq!(pixels.len(), 128 * 128, "{case}");
            assert!(
                encode_pgm(128, 128, pixels, scale) == original,
                "{case}: re-encoded bytes differ"
            );
        }
    }
}
