//! `-preview`: a few numbers that describe the rendered image and a PNG small enough to open
//! for any detector size (max-pooled, so isolated bright spots survive the reduction).

use crate::engine::plan::Plan;
use crate::error::Result;
use crate::io::cfmt::fmt_g;
use crate::io::png::{self, DEFAULT_PERCENTILE, PngOptions, percentile};
use crate::output::Output;
use std::path::{Path, PathBuf};

/// Longest side of the preview PNG, in pixels.
pub const MAX_PREVIEW_SIDE: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct ImageSummary {
    pub fpixels: usize,
    pub spixels: usize,
    pub max: f64,
    /// (fast, slow) of the first brightest pixel
    pub max_at: (usize, usize),
    pub mean: f64,
    pub p99_5: f64,
    /// fraction of rendered pixels that are exactly zero
    pub zero_fraction: f64,
}

/// Statistics over the pixels the run rendered.
pub fn summarize(plan: &Plan, image: &[f32]) -> ImageSummary {
    let rendered = |i: usize| plan.renders(i % plan.fpixels, i / plan.fpixels);
    let (mut n, mut sum, mut zeros, mut max, mut max_idx) = (0usize, 0.0f64, 0usize, f64::NEG_INFINITY, 0usize);
    for (i, &v) in image.iter().enumerate().filter(|&(i, _)| rendered(i)) {
        let v = v as f64;
        n += 1;
        sum += v;
        zeros += usize::from(v == 0.0);
        if v > max {
            (max, max_idx) = (v, i);
        }
    }
    ImageSummary {
        fpixels: plan.fpixels,
        spixels: plan.spixels,
        max: if n > 0 { max } else { 0.0 },
        max_at: (max_idx % plan.fpixels, max_idx / plan.fpixels),
        mean: sum / n.max(1) as f64,
        p99_5: percentile(image, rendered, DEFAULT_PERCENTILE),
        zero_fraction: zeros as f64 / n.max(1) as f64,
    }
}

impl ImageSummary {
    pub fn line(&self) -> String {
        format!(
            "preview: {}x{} pixels; max {} at (fast {}, slow {}); mean {}; 99.5th percentile {}; zero pixels {:.2}%",
            self.fpixels,
            self.spixels,
            fmt_g(self.max),
            self.max_at.0,
            self.max_at.1,
            fmt_g(self.mean),
            fmt_g(self.p99_5),
            100.0 * self.zero_fraction
        )
    }
}

/// An image reduced by taking the maximum of each `factor`×`factor` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Pooled {
    pub width: usize,
    pub height: usize,
    pub factor: usize,
    pub image: Vec<f32>,
    /// whether any pixel of the block was rendered
    pub rendered: Vec<bool>,
}

/// Max-pool so that the longer side is at most `max_side` (factor 1 leaves the image as is).
pub fn max_pool(width: usize, height: usize, image: &[f32], rendered: impl Fn(usize) -> bool, max_side: usize) -> Pooled {
    let factor = width.max(height).div_ceil(max_side.max(1)).max(1);
    let (w, h) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut pooled = Pooled { width: w, height: h, factor, image: vec![0.0; w * h], rendered: vec![false; w * h] };
    for (i, &v) in image.iter().enumerate().take(width * height) {
        if !rendered(i) {
            continue;
        }
        let j = (i / width / factor) * w + (i % width) / factor;
        if !pooled.rendered[j] || v > pooled.image[j] {
            pooled.image[j] = v;
        }
        pooled.rendered[j] = true;
    }
    pooled
}

/// `<floatfile stem>_preview.png` beside the float image.
pub fn preview_path(floatfile: &Path) -> PathBuf {
    let stem = floatfile.file_stem().map_or_else(|| "floatimage".into(), |s| s.to_string_lossy().into_owned());
    floatfile.with_file_name(format!("{stem}_preview.png"))
}

/// Print the summary and write the preview PNG, its gray levels set by the full image as
/// `-pngfile`'s are (linear or `-png_log`, `-pngscale`), so the same value looks the same in
/// both; max-pooling only chooses which values are shown.
pub fn write_preview(o: &Output, plan: &Plan, image: &[f32]) -> Result<()> {
    let summary = summarize(plan, image);
    crate::outln!("{}", summary.line());
    let rendered = |i: usize| plan.renders(i % plan.fpixels, i / plan.fpixels);
    let full_levels = png::levels(image, &PngOptions::new(o.pngscale, o.png_log, o.png_colormap, rendered));
    let pooled = max_pool(plan.fpixels, plan.spixels, image, rendered, MAX_PREVIEW_SIDE);
    let opts = PngOptions::new(o.pngscale, o.png_log, o.png_colormap, |j: usize| pooled.rendered[j]);
    let path = preview_path(&o.floatfile);
    let bytes = png::png_bytes_with(pooled.width, pooled.height, &pooled.image, &opts, full_levels)?;
    crate::io::write_atomic(&path, &bytes)?;
    crate::outln!("preview: wrote {} ({}x{}, max-pooled {}x{})", path.display(), pooled.width, pooled.height, pooled.factor, pooled.factor);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_keeps_the_brightest_pixel_of_each_block() {
        // 5x3 image pooled to at most 2 wide: factor 3, 2x1 output
        let img: Vec<f32> = (0..15).map(|i| if i == 7 { 100.0 } else { i as f32 }).collect();
        let p = max_pool(5, 3, &img, |_| true, 2);
        assert_eq!((p.width, p.height, p.factor), (2, 1, 3));
        assert_eq!(p.image, vec![100.0, 14.0]);
        assert_eq!(p.rendered, vec![true, true]);
    }

    #[test]
    fn small_images_are_not_pooled_and_unrendered_blocks_stay_dark() {
        let img = vec![1.0f32, 2.0, 3.0, 4.0];
        let p = max_pool(2, 2, &img, |i| i != 3, 1024);
        assert_eq!((p.width, p.height, p.factor), (2, 2, 1));
        assert_eq!(p.rendered, vec![true, true, true, false]);
        assert_eq!(p.image[3], 0.0);
    }

    #[test]
    fn large_detectors_fit_the_limit() {
        let (w, h) = (2463, 2527);
        let p = max_pool(w, h, &[], |_| true, MAX_PREVIEW_SIDE);
        assert!(p.width.max(p.height) <= MAX_PREVIEW_SIDE && p.width.max(p.height) > MAX_PREVIEW_SIDE / 2);
        assert_eq!(p.factor, 3);
    }

    #[test]
    fn preview_sits_beside_the_float_image() {
        assert_eq!(preview_path(Path::new("out/float.bin")), PathBuf::from("out/float_preview.png"));
        assert_eq!(preview_path(Path::new("floatimage.bin")), PathBuf::from("floatimage_preview.png"));
    }
}
