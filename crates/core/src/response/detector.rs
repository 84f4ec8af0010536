//! The detector model of the main command (`nanobragg ... -noisefile`, and so of series and
//! shots): the noisify model of [`super::noisify`] applied to the rendered photons/pixel image,
//! with the frame number in the counter of every draw.
//!
//! The flags are noisify's (`-psf`, `-psf_fwhm`, `-psf_radius`, `-readout_noise`, `-flicker`,
//! `-calibration`, `-calib_seed`, `-gain`, `-bits`, with `-adc` and `-seed` the main command's
//! own), with the main command's defaults: no PSF, flicker, calibration or readout noise, gain
//! 1 — so `-noisefile` alone is nanoBragg.c's noise model, photon counts plus the ADC offset.
//! `-noise_order simtbx` applies the calibration error to the counts instead of their mean.
//!
//! `-c_parity` keeps nanoBragg.c's own noise (`crate::rng::noise_image`), which knows none of
//! these flags; they are refused there (`refuse_in_c_parity`).

use super::noisify::{Generator, NoiseModel, NoiseResult, Psf};
use super::psf::PsfShape;
use crate::error::{Error, Result};

/// Where the calibration error enters (`-noise_order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseOrder {
    /// noisify.c: flicker, calibration, Poisson, PSF, readout
    Noisify,
    /// simtbx (`nanoBragg::add_noise`): flicker, Poisson, calibration, PSF, readout
    Simtbx,
}

/// The main command's detector-model settings, as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorNoise {
    pub psf: Option<PsfShape>,
    /// metres
    pub psf_fwhm: f64,
    /// pixels; 0 chooses it as noisify does
    pub psf_radius: i32,
    /// ADU
    pub readout: f64,
    pub flicker: f64,
    pub calibration: f64,
    /// the C `calib_seed` variable (`-calib_seed N` makes it −N), as noisify stores it
    pub calib_seed: i64,
    /// ADU per photon
    pub gain: f64,
    pub bits32: bool,
    pub order: NoiseOrder,
}

impl Default for DetectorNoise {
    fn default() -> Self {
        DetectorNoise {
            psf: None,
            psf_fwhm: 46e-6,
            psf_radius: 0,
            readout: 0.0,
            flicker: 0.0,
            calibration: 0.0,
            calib_seed: 123_456_789,
            gain: 1.0,
            bits32: false,
            order: NoiseOrder::Noisify,
        }
    }
}

/// nanoBragg.c has no detector model: with `-c_parity` these flags would silently change what
/// `-c_parity` promises (nanoBragg.c's own noise image), so they are an error that says where
/// the model is available.
pub fn refuse_in_c_parity(flag: &str) -> Error {
    Error::Usage(format!(
        "{flag}: nanoBragg.c has no detector model, so -c_parity keeps its photon noise only; \
         drop -c_parity, or run `nanobragg noisify -c_parity` on the float image"
    ))
}

/// A value that must not be negative (a relative error or a noise width).
pub fn non_negative(flag: &str, x: f64) -> Result<f64> {
    if x < 0.0 {
        return Err(Error::Usage(format!("{flag}: value {x} must not be negative")));
    }
    Ok(x)
}

/// A frame number as the counter's frame word.
fn frame_word(frame: u64) -> Result<u32> {
    u32::try_from(frame).map_err(|_| Error::Usage(format!("frame {frame}: beyond the noise counter's 32-bit frame word")))
}

impl DetectorNoise {
    /// The noisify model of frame `frame` for a detector of pixel size `pixel_m`, noise seed
    /// `seed` (the C variable) and ADC offset `adc`.
    pub fn model(&self, pixel_m: f64, seed: i64, adc: f64, frame: u64) -> Result<NoiseModel> {
        Ok(NoiseModel {
            flicker: self.flicker,
            calibration: self.calibration,
            readout: self.readout,
            gain: self.gain,
            adc_offset: adc,
            seed,
            calib_seed: self.calib_seed,
            psf: self.psf.filter(|_| self.psf_fwhm > 0.0).map(|shape| Psf { shape, fwhm_pixels: self.psf_fwhm / pixel_m, radius: self.psf_radius }),
            calibration_after_poisson: self.order == NoiseOrder::Simtbx,
            generator: Generator::Counter { frame: frame_word(frame)? },
        })
    }

    /// The noise image of one frame: `image` (photons/pixel, `width` × `height`) through the
    /// model, pixels outside `roi` ([fast0, fast1, slow0, slow1], inclusive) left 0.
    #[allow(clippy::too_many_arguments)]
    pub fn frame_noise(&self, image: &[f32], width: usize, height: usize, roi: [usize; 4], pixel_m: f64, seed: i64, adc: f64, frame: u64) -> Result<NoiseResult> {
        self.frame_noise_of_panels(image, width, height, height, roi, pixel_m, seed, adc, frame)
    }

    /// `frame_noise` of an image of panels stacked as `[panel, slow, fast]`, `panel_rows`
    /// rows each (of the image's `height`): the PSF stays within each panel.
    #[allow(clippy::too_many_arguments)]
    pub fn frame_noise_of_panels(&self, image: &[f32], width: usize, height: usize, panel_rows: usize, roi: [usize; 4], pixel_m: f64, seed: i64, adc: f64, frame: u64) -> Result<NoiseResult> {
        let model = self.model(pixel_m, seed, adc, frame)?;
        let [x0, x1, y0, y1] = roi;
        // a whole-detector ROI (the usual case) needs no division per pixel
        let whole = x0 == 0 && y0 == 0 && x1 + 1 >= width && y1 + 1 >= height;
        let in_roi = |i: usize| {
            whole || {
                let slow = i / width;
                let fast = i - slow * width;
                fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1
            }
        };
        Ok(super::noisify::noise_image_of_panels(image, width, panel_rows, &model, self.bits32, in_roi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default settings are nanoBragg.c's noise model: each pixel is its Poisson count
    /// plus the offset, with no other error.
    #[test]
    fn defaults_are_photon_noise_plus_offset() {
        let image: Vec<f32> = (0..400).map(|i| (i % 23) as f32 * 2.5).collect();
        let r = DetectorNoise::default().frame_noise(&image, 20, 20, [0, 19, 0, 19], 1e-4, -5, 40.0, 1).unwrap();
        for (count, adu) in r.counts.iter().zip(&r.image.int16) {
            assert_eq!(count.fract(), 0.0);
            assert_eq!(*count as u16 + 40, *adu);
        }
        assert!(r.psf.is_none());
    }

    /// Pixels outside the ROI are 0 and drew nothing; the others do not depend on the ROI.
    #[test]
    fn roi_leaves_pixels_out_and_the_rest_unchanged() {
        let image = vec![30.0f32; 100];
        let noise = DetectorNoise { readout: 3.0, flicker: 0.1, ..DetectorNoise::default() };
        let full = noise.frame_noise(&image, 10, 10, [0, 9, 0, 9], 1e-4, -5, 40.0, 2).unwrap();
        let part = noise.frame_noise(&image, 10, 10, [2, 5, 3, 4], 1e-4, -5, 40.0, 2).unwrap();
        for i in 0..100 {
            let inside = (2..=5).contains(&(i % 10)) && (3..=4).contains(&(i / 10));
            let want = if inside { full.image.int16[i] } else { 0 };
            assert_eq!(part.image.int16[i], want, "pixel {i}");
        }
    }

    /// simtbx's order: calibration after the count, so counts are no longer whole numbers;
    /// noisify's: before, so they are.
    #[test]
    fn noise_order_moves_the_calibration() {
        let image = vec![500.0f32; 64];
        let noisify = DetectorNoise { calibration: 0.05, ..DetectorNoise::default() };
        let simtbx = DetectorNoise { order: NoiseOrder::Simtbx, ..noisify.clone() };
        let a = noisify.frame_noise(&image, 8, 8, [0, 7, 0, 7], 1e-4, -9, 0.0, 1).unwrap();
        let b = simtbx.frame_noise(&image, 8, 8, [0, 7, 0, 7], 1e-4, -9, 0.0, 1).unwrap();
        assert!(a.counts.iter().all(|c| c.fract() == 0.0));
        assert!(b.counts.iter().any(|c| c.fract() != 0.0));
        assert_ne!(a.image.int16, b.image.int16);
    }

    #[test]
    fn frames_beyond_the_counter_are_refused() {
        let e = DetectorNoise::default().frame_noise(&[1.0], 1, 1, [0, 0, 0, 0], 1e-4, -1, 40.0, 1 << 32).unwrap_err();
        assert!(e.to_string().contains("frame 4294967296"), "{e}");
    }
}
