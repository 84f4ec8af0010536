//! False-colour maps for PNG previews: gray, viridis and inferno as 16 anchor colours each,
//! linearly interpolated to 256 levels, plus the blue–white–red map of signed differences.
//! The anchors are the published viridis/inferno tables (matplotlib, CC0) sampled at 16 evenly
//! spaced levels; between anchors the error is at most a few units per channel, invisible in
//! a preview.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    #[default]
    Gray,
    Viridis,
    Inferno,
}

const VIRIDIS: [[u8; 3]; 16] = [
    [68, 1, 84], [72, 26, 108], [71, 47, 125], [65, 68, 135], [57, 86, 140], [49, 104, 142],
    [42, 120, 142], [35, 136, 142], [31, 152, 139], [34, 168, 132], [53, 183, 121], [84, 197, 104],
    [122, 209, 81], [165, 219, 54], [210, 226, 27], [253, 231, 37],
];

const INFERNO: [[u8; 3]; 16] = [
    [0, 0, 4], [12, 8, 38], [36, 12, 79], [66, 10, 104], [93, 18, 110], [120, 28, 109],
    [147, 38, 103], [174, 48, 92], [199, 62, 76], [221, 81, 58], [237, 105, 37], [248, 133, 15],
    [252, 165, 10], [250, 198, 45], [242, 230, 97], [252, 255, 164],
];

impl Colormap {
    pub fn parse(flag: &str, word: &str) -> Result<Colormap> {
        match word {
            "gray" | "grey" => Ok(Colormap::Gray),
            "viridis" => Ok(Colormap::Viridis),
            "inferno" => Ok(Colormap::Inferno),
            other => Err(Error::Usage(format!("{flag}: value '{other}' must be gray, viridis or inferno"))),
        }
    }

    /// Colour of gray level `level` (0 = lowest value, 255 = white point).
    pub fn rgb(self, level: u8) -> [u8; 3] {
        match self {
            Colormap::Gray => [level; 3],
            Colormap::Viridis => interpolate(&VIRIDIS, level),
            Colormap::Inferno => interpolate(&INFERNO, level),
        }
    }
}

/// Piecewise-linear interpolation between 16 anchors spread evenly over 0..=255.
fn interpolate(anchors: &[[u8; 3]; 16], level: u8) -> [u8; 3] {
    let position = level as f64 * 15.0 / 255.0;
    let lower = (position.floor() as usize).min(14);
    let t = position - lower as f64;
    let (a, b) = (anchors[lower], anchors[lower + 1]);
    std::array::from_fn(|c| (a[c] as f64 + t * (b[c] as f64 - a[c] as f64)).round() as u8)
}

/// Signed difference map: `t` in [-1, 1] goes from blue (-1) through white (0) to red (+1).
pub fn signed_rgb(t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let fade = (255.0 * (1.0 - t.abs())).round() as u8;
    if t < 0.0 { [fade, fade, 255] } else { [255, fade, fade] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(c: [u8; 3]) -> f64 {
        0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64
    }

    #[test]
    fn maps_hit_their_anchors_at_the_ends() {
        assert_eq!(Colormap::Viridis.rgb(0), VIRIDIS[0]);
        assert_eq!(Colormap::Viridis.rgb(255), VIRIDIS[15]);
        assert_eq!(Colormap::Inferno.rgb(0), INFERNO[0]);
        assert_eq!(Colormap::Inferno.rgb(255), INFERNO[15]);
        assert_eq!(Colormap::Inferno.rgb(17), INFERNO[1]);
        assert_eq!(Colormap::Gray.rgb(77), [77, 77, 77]);
    }

    #[test]
    fn perceptual_maps_brighten_monotonically() {
        for map in [Colormap::Viridis, Colormap::Inferno] {
            let lum: Vec<f64> = (0..=255u8).map(|l| luminance(map.rgb(l))).collect();
            assert!(lum.windows(2).all(|w| w[1] >= w[0] - 0.5), "{map:?} darkens somewhere");
            assert!(lum[255] > lum[0] + 150.0, "{map:?} spans too little");
        }
    }

    #[test]
    fn signed_map_is_blue_white_red() {
        assert_eq!(signed_rgb(-1.0), [0, 0, 255]);
        assert_eq!(signed_rgb(0.0), [255, 255, 255]);
        assert_eq!(signed_rgb(1.0), [255, 0, 0]);
        assert_eq!(signed_rgb(7.0), [255, 0, 0]);
        assert_eq!(signed_rgb(f64::NAN), [255, 255, 255]);
        let half = signed_rgb(-0.5);
        assert!(half[2] == 255 && half[0] == half[1] && half[0] > 100 && half[0] < 150);
    }

    #[test]
    fn unknown_names_are_refused() {
        assert_eq!(Colormap::parse("-png_colormap", "viridis").unwrap(), Colormap::Viridis);
        let e = Colormap::parse("-png_colormap", "jet").unwrap_err().to_string();
        assert!(e.contains("-png_colormap") && e.contains("jet"), "{e}");
    }
}
