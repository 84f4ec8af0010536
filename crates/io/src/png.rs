//! 8-bit PNG previews of float images: linear or logarithmic scaling, with the white point
//! set by `-pngscale` or by a high percentile of the rendered pixels; grayscale, or false
//! colour with `-png_colormap`.

use super::colormap::Colormap;
use crate::error::{Error, Result};
use std::path::Path;

/// Fraction of rendered pixels that stay below white when no scale is given.
pub const DEFAULT_PERCENTILE: f64 = 99.5;

pub struct PngOptions<F: Fn(usize) -> bool> {
    /// multiply values by this before clamping to 255 (0 = automatic)
    pub scale: f64,
    pub log: bool,
    pub percentile: f64,
    pub colormap: Colormap,
    /// pixels outside the ROI / mask are drawn black and ignored by the automatic scale
    pub rendered: F,
}

impl<F: Fn(usize) -> bool> PngOptions<F> {
    /// `-pngscale` (0: automatic), `-png_log`, `-png_colormap`, the default percentile.
    pub fn new(scale: f64, log: bool, colormap: Colormap, rendered: F) -> Self {
        PngOptions { scale, log, percentile: DEFAULT_PERCENTILE, colormap, rendered }
    }
}

/// Value at the given percentile of the rendered, finite pixels (0 when there are none).
pub fn percentile(image: &[f32], rendered: impl Fn(usize) -> bool, pct: f64) -> f64 {
    let mut v: Vec<f32> = image.iter().enumerate().filter(|&(i, x)| rendered(i) && x.is_finite()).map(|(_, &x)| x).collect();
    if v.is_empty() {
        return 0.0;
    }
    let last = v.len() - 1;
    let rank = (((pct / 100.0) * last as f64).round() as usize).min(last);
    let (_, x, _) = v.select_nth_unstable_by(rank, |a, b| a.total_cmp(b));
    *x as f64
}

/// What black and white stand for, derived from an image's rendered pixels (see `gray_levels`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Levels {
    Linear { white: f64 },
    Log { black: f64, white: f64 },
}

/// The levels `gray_levels` uses for `image` under `opts`.
pub fn levels<F: Fn(usize) -> bool>(image: &[f32], opts: &PngOptions<F>) -> Levels {
    if opts.log {
        let white = if opts.scale > 0.0 { 255.0 / opts.scale } else { percentile(image, &opts.rendered, 100.0) };
        // a mostly empty image has a zero median: start six decades below white instead
        let black = percentile(image, &opts.rendered, 50.0).max(white * 1e-6);
        Levels::Log { black, white }
    } else {
        let white = if opts.scale > 0.0 { 255.0 / opts.scale } else { percentile(image, &opts.rendered, opts.percentile) };
        Levels::Linear { white }
    }
}

/// Gray levels for the image: monotone in the value, 0 for pixels not rendered.
///
/// Linear: `white` (255/`-pngscale`, else the chosen percentile) maps to 255. Logarithmic:
/// the median rendered value is black and the brightest (or 255/`-pngscale`) white, so spots
/// stand out over a diffuse background instead of everything above the percentile saturating.
pub fn gray_levels<F: Fn(usize) -> bool>(image: &[f32], opts: &PngOptions<F>) -> Vec<u8> {
    gray_levels_with(image, opts, levels(image, opts))
}

/// `gray_levels` with levels taken elsewhere (`-preview` maps its max-pooled image with the
/// levels of the full image, so both PNGs give a value the same gray).
pub fn gray_levels_with<F: Fn(usize) -> bool>(image: &[f32], opts: &PngOptions<F>, levels: Levels) -> Vec<u8> {
    let map: Box<dyn Fn(f64) -> f64> = match levels {
        Levels::Log { black, white } => {
            let span = (white / black).ln();
            Box::new(move |x| if x > black && span > 0.0 { 255.0 * (x / black).ln() / span } else { 0.0 })
        }
        Levels::Linear { white } => Box::new(move |x| if white > 0.0 && x > 0.0 { 255.0 * x / white } else { 0.0 }),
    };
    image
        .iter()
        .enumerate()
        .map(|(i, &x)| if (opts.rendered)(i) && x.is_finite() { map(x as f64).clamp(0.0, 255.0).round() as u8 } else { 0 })
        .collect()
}

pub fn encode_png(width: usize, height: usize, gray: &[u8]) -> Result<Vec<u8>> {
    encode(width, height, gray, image::ExtendedColorType::L8)
}

/// PNG of interleaved RGB bytes (three per pixel).
pub fn encode_rgb_png(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>> {
    encode(width, height, rgb, image::ExtendedColorType::Rgb8)
}

fn encode(width: usize, height: usize, bytes: &[u8], color: image::ExtendedColorType) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(encoder, bytes, width as u32, height as u32, color)
        .map_err(|e| Error::Resource(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// The PNG bytes of a float image under `opts` (grayscale unless a colour map is chosen).
pub fn png_bytes<F: Fn(usize) -> bool>(width: usize, height: usize, image: &[f32], opts: &PngOptions<F>) -> Result<Vec<u8>> {
    png_bytes_with(width, height, image, opts, levels(image, opts))
}

/// `png_bytes` with the levels given (see `gray_levels_with`).
pub fn png_bytes_with<F: Fn(usize) -> bool>(
    width: usize,
    height: usize,
    image: &[f32],
    opts: &PngOptions<F>,
    levels: Levels,
) -> Result<Vec<u8>> {
    let gray = gray_levels_with(image, opts, levels);
    if opts.colormap == Colormap::Gray {
        return encode_png(width, height, &gray);
    }
    let rgb: Vec<u8> = gray.iter().flat_map(|&g| opts.colormap.rgb(g)).collect();
    encode_rgb_png(width, height, &rgb)
}

pub fn write_png<F: Fn(usize) -> bool>(path: &Path, width: usize, height: usize, image: &[f32], opts: &PngOptions<F>) -> Result<()> {
    super::write_atomic(path, &png_bytes(width, height, image, opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_is_monotone_and_bounded() {
        let img: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        for log in [false, true] {
            let g = gray_levels(&img, &PngOptions { scale: 0.0, log, percentile: 99.5, colormap: Colormap::Gray, rendered: |_| true });
            assert!(g.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(g[0], 0);
            assert_eq!(*g.last().unwrap(), 255);
        }
    }

    #[test]
    fn log_scale_keeps_spots_above_a_diffuse_background() {
        // 99% of the pixels are background between 10 and 20, a few spots reach 1e6
        let mut img: Vec<f32> = (0..1000).map(|i| 10.0 + (i % 10) as f32).collect();
        for i in [3, 500, 997] {
            img[i] = 1e6;
        }
        let g = gray_levels(&img, &PngOptions { scale: 0.0, log: true, percentile: 99.5, rendered: |_| true, colormap: Default::default() });
        assert_eq!(g[500], 255);
        let background_max = g.iter().enumerate().filter(|(i, _)| ![3, 500, 997].contains(i)).map(|(_, &v)| v).max().unwrap();
        assert!(background_max < 64, "background saturates: {background_max}");
        assert!(g[19] > g[10], "log scale stays monotone in the background");
    }

    #[test]
    fn unrendered_pixels_are_black() {
        let img = vec![5.0f32; 10];
        let g = gray_levels(&img, &PngOptions { scale: 10.0, log: false, percentile: 99.5, colormap: Colormap::Gray, rendered: |i| i != 3 });
        assert_eq!(g[3], 0);
        assert_eq!(g[0], 50);
    }

    #[test]
    fn colormap_writes_rgb_pixels() {
        let img = [0.0f32, 1.0];
        let opts = PngOptions { scale: 255.0, log: false, percentile: 99.5, colormap: Colormap::Inferno, rendered: |_| true };
        let decoded = image::load_from_memory(&png_bytes(2, 1, &img, &opts).unwrap()).unwrap().to_rgb8();
        assert_eq!(decoded.get_pixel(0, 0).0, Colormap::Inferno.rgb(0));
        assert_eq!(decoded.get_pixel(1, 0).0, Colormap::Inferno.rgb(255));
    }

    #[test]
    fn png_round_trip_size() {
        let bytes = encode_png(3, 2, &[0, 50, 100, 150, 200, 250]).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (3, 2));
        assert_eq!(img.to_luma8().into_raw(), vec![0, 50, 100, 150, 200, 250]);
    }
}
