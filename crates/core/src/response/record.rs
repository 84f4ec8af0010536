//! What a detector records of one rendered frame: the photons per pixel as rendered, the
//! integer image (nanoBragg.c's `-intfile`: photons × scale + ADC offset), and, when the
//! experiment asks for one (`calculate_noise`), the noise image with its photon counts,
//! overloads and PSF report — every value nanoBragg.c's output stage computes, none of the
//! file encoding (the faces and `nanobragg-io` write them).
//!
//! `Recorder` is the response of one experiment on the CPU; the GPU crate's
//! `DetectorResponse` runs the default mode's noise stages on the device where the render
//! left its image there, and otherwise calls this one.

use super::detector::DetectorNoise;
use super::noisify::{NoiseModel, NoiseResult};
use super::psf::PsfReport;
use crate::engine::{EngineUsed, RenderStats, Rendered};
use crate::error::Result;
use crate::model::{Experiment, Response};
use crate::params::Mode;

/// One frame as the detector records it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// the photons per pixel as rendered, their statistics and the engine that rendered them
    pub photons: Rendered,
    /// the integer image's scale: `-scale`, else 55000 / the brightest pixel (1 for a dark
    /// image), as nanoBragg.c chooses it
    pub int_scale: f64,
    /// the integer image (`-intfile`): photons × `int_scale` + ADC offset, clamped to
    /// 0..=65535 and rounded; 0 outside the ROI
    pub int_image: Vec<u16>,
    /// the noise image, when the experiment asks for one
    pub noise: Option<RecordedNoise>,
}

impl Recorded {
    /// The noise image's clamped pixels (None without a noise image).
    pub fn overloads(&self) -> Option<u64> {
        self.noise.as_ref().map(|n| n.overloads)
    }

    /// What a photon-counting detector counts in each pixel: the noise image's counts (after
    /// the PSF, before gain, offset and readout), or without a noise image the photons.
    pub fn counts(&self) -> &[f32] {
        self.noise.as_ref().map_or(&self.photons.image, |n| &n.counts)
    }
}

/// The noise image's integer pixels, in the width it is written (`-bits`).
#[derive(Clone, Debug, PartialEq)]
pub enum NoisePixels {
    Bits16(Vec<u16>),
    Bits32(Vec<u32>),
}

/// The noise image of a frame and what nanoBragg.c and noisify.c report of it.
#[derive(Clone, Debug)]
pub struct RecordedNoise {
    /// the ADU of each pixel, as `-noisefile` writes them
    pub pixels: NoisePixels,
    /// the photons counted in each pixel after the PSF (before gain, offset and readout)
    pub counts: Vec<f32>,
    /// photons counted before the PSF
    pub photons_before_psf: f64,
    /// the PSF's report, when a PSF was applied
    pub psf: Option<PsfReport>,
    /// photons counted after the PSF
    pub photons: f64,
    /// pixels clamped at the written width's maximum
    pub overloads: u64,
    /// where the noise stages ran
    pub engine: EngineUsed,
}

impl RecordedNoise {
    /// The detector model's result (`bits32`: the width written), computed on `engine`.
    pub fn of(result: NoiseResult, bits32: bool, engine: EngineUsed) -> RecordedNoise {
        let pixels = if bits32 { NoisePixels::Bits32(result.image.int32) } else { NoisePixels::Bits16(result.image.int16) };
        RecordedNoise { pixels, counts: result.counts, photons_before_psf: result.photons_before_psf, psf: result.psf, photons: result.photons, overloads: result.overloads, engine }
    }

    /// The report lines of the noise image, as noisify.c prints them (nanoBragg.c's one line
    /// without a PSF).
    pub fn report(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(psf) = &self.psf {
            lines.push(format!("{:.0} photons on noise image before PSF", self.photons_before_psf));
            if let Some(radius) = psf.auto_radius {
                lines.push(format!("  auto-selected psf_radius = {radius} pixels"));
            }
            if let Some(lost) = psf.lost_photons {
                lines.push(format!("adding back {} lost photons", crate::cfmt::fmt_g(lost)));
            }
        }
        lines.push(format!("{:.0} photons on noise image ({} overloads)", self.photons, self.overloads));
        lines
    }
}

/// The detector response of one experiment: its settings (`Experiment::response`) and the
/// image they apply to. Small and cloned freely (a series' writer thread holds one).
#[derive(Clone, Debug)]
pub struct Recorder {
    /// `-c_parity`: nanoBragg.c's own noise (its serial generator, photon noise only)
    pub mode: Mode,
    /// the response settings; each frame's noise seed is passed to the calls that draw noise
    pub settings: Response,
    pub fpixels: usize,
    /// the image's rows: the panels' stacked
    pub spixels: usize,
    /// rows per panel (`spixels` for one panel): the PSF spreads within a panel
    pub panel_rows: usize,
    /// [fast0, fast1, slow0, slow1], inclusive: pixels outside are 0 in every integer image
    pub roi: [usize; 4],
    /// metres (the PSF's width is typed in metres)
    pub pixel_size: f64,
}

impl Recorder {
    pub fn of(exp: &Experiment) -> Recorder {
        let d = &exp.detector;
        Recorder { mode: exp.mode, settings: exp.response.clone(), fpixels: d.fpixels, spixels: d.image_rows(), panel_rows: d.spixels, roi: d.roi, pixel_size: d.pixel_size }
    }

    /// Whether a pixel lies in the ROI (C's output loops test only the ROI, not the mask).
    fn in_roi(&self, idx: usize) -> bool {
        let (fast, slow) = (idx % self.fpixels, idx / self.fpixels);
        let [x0, x1, y0, y1] = self.roi;
        fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1
    }

    /// The integer image's scale for a render of `stats`: `-scale` when given, else
    /// 55000 / the brightest pixel, else 1 (nanoBragg.c).
    pub fn int_scale(&self, stats: &RenderStats) -> f64 {
        let typed = self.settings.intfile_scale;
        if typed > 0.0 {
            typed
        } else if stats.max_i > 0.0 {
            55000.0 / stats.max_i
        } else {
            1.0
        }
    }

    /// The integer image: value·scale + ADC offset, clamped, rounded through a float as C's
    /// `floorf(x + 0.5)`; 0 outside the ROI. Row by row (no index division per pixel); the
    /// value is never below ½, so truncating is that floor.
    pub fn int_image(&self, photons: &[f32], scale: f64) -> Vec<u16> {
        let [x0, x1, y0, y1] = self.roi;
        let adc = self.settings.adc_offset;
        let mut out = vec![0u16; photons.len()];
        for (slow, (row, pixels)) in out.chunks_mut(self.fpixels).zip(photons.chunks(self.fpixels)).enumerate() {
            if slow < y0 || slow > y1 {
                continue;
            }
            for (o, &v) in row.iter_mut().zip(pixels).take(x1.saturating_add(1)).skip(x0) {
                let test = (v as f64 * scale + adc).clamp(0.0, 65535.0);
                *o = ((test + 0.5) as f32) as u16;
            }
        }
        out
    }

    /// The PGM image's scale: `typed` (`-pgmscale`) when above 0, else 250/(5·rmsd), else the
    /// integer image's scale (nanoBragg.c and nonBragg.c).
    pub fn pgm_scale(typed: f64, stats: &RenderStats, int_scale: f64) -> f64 {
        if typed > 0.0 {
            typed
        } else if stats.rmsd > 0.0 {
            250.0 / (5.0 * stats.rmsd)
        } else {
            int_scale
        }
    }

    /// The PGM image's grey levels: value·scale capped at 255 and truncated; 0 outside the ROI.
    /// A negative value is 0, or with `wrap_negative` what C's `(unsigned char)` conversion
    /// through an int makes of it, wrapped (nonBragg.c's images are negative where F is).
    pub fn pgm_image(&self, photons: &[f32], scale: f64, wrap_negative: bool) -> Vec<u8> {
        let [x0, x1, y0, y1] = self.roi;
        let mut out = vec![0u8; photons.len()];
        for (slow, (row, pixels)) in out.chunks_mut(self.fpixels).zip(photons.chunks(self.fpixels)).enumerate() {
            if slow < y0 || slow > y1 {
                continue;
            }
            for (o, &v) in row.iter_mut().zip(pixels).take(x1.saturating_add(1)).skip(x0) {
                let grey = (v as f64 * scale).min(255.0);
                *o = if wrap_negative { (grey as i32) as u8 } else { grey as u8 };
            }
        }
        out
    }

    /// The default mode's detector model (docs/realism.md) for the frame whose noise seed is
    /// `seed` (the C variable) and whose number the counters hold is `frame`.
    pub fn noise_model(&self, seed: i64, frame: u64) -> Result<NoiseModel> {
        self.settings.noise.model(self.pixel_size, seed, self.settings.adc_offset, frame)
    }

    /// The detector model as configured (`-psf`, `-readout_noise`, `-bits`, ...).
    pub fn detector_noise(&self) -> &DetectorNoise {
        &self.settings.noise
    }

    /// The noise image of `photons` on the CPU: in `-c_parity` nanoBragg.c's own noise (its
    /// serial generator, pixel after pixel), else the detector model with counter-based noise.
    pub fn noise_on_cpu(&self, photons: &[f32], seed: i64, frame: u64) -> Result<RecordedNoise> {
        let adc = self.settings.adc_offset;
        if self.mode == Mode::CParity {
            let noise = crate::rng::noise_image(photons, |i| self.in_roi(i), seed, adc);
            return Ok(RecordedNoise {
                pixels: NoisePixels::Bits16(noise.pixels),
                counts: noise.counts,
                photons_before_psf: noise.photons,
                psf: None,
                photons: noise.photons,
                overloads: noise.overloads,
                engine: EngineUsed::Cpu,
            });
        }
        let noise = &self.settings.noise;
        let result = noise.frame_noise_of_panels(photons, self.fpixels, self.spixels, self.panel_rows, self.roi, self.pixel_size, seed, adc, frame)?;
        Ok(RecordedNoise::of(result, noise.bits32, EngineUsed::Cpu))
    }

    /// `photons` with their integer image and the noise image made elsewhere (None when the
    /// experiment asks for none).
    pub fn with_noise(&self, photons: Rendered, noise: Option<RecordedNoise>) -> Recorded {
        let int_scale = self.int_scale(&photons.stats);
        let int_image = self.int_image(&photons.image, int_scale);
        Recorded { photons, int_scale, int_image, noise }
    }

    /// The whole response on the CPU, for the frame of noise seed `seed` and number `frame`
    /// (what the default mode's counters hold).
    pub fn record_on_cpu(&self, photons: Rendered, seed: i64, frame: u64) -> Result<Recorded> {
        let noise = if self.settings.calculate_noise { Some(self.noise_on_cpu(&photons.image, seed, frame)?) } else { None };
        Ok(self.with_noise(photons, noise))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ExperimentParams;

    fn rendered(image: Vec<f32>) -> Rendered {
        let max = image.iter().copied().fold(0.0f32, f32::max);
        let at = image.iter().position(|&v| v == max).unwrap_or(0);
        let stats = RenderStats { max_i: f64::from(max), max_at: at, ..Default::default() };
        Rendered { image, stats, interpolation_switched_at: None, engine: EngineUsed::Cpu, kernel_seconds: None }
    }

    /// The recorder of a `pixels`² detector with the changes `set` makes.
    fn recorder(pixels: u32, set: impl FnOnce(&mut ExperimentParams)) -> Recorder {
        let mut p = ExperimentParams::default();
        p.cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]).and_then(|p| p.default_f(1.0)).and_then(|p| p.detpixels(i64::from(pixels))).unwrap();
        set(&mut p);
        let exp = crate::model::resolve(&p, &Default::default(), &Default::default(), &mut Vec::new()).unwrap();
        Recorder::of(&exp)
    }

    /// The automatic scale maps the brightest pixel to 55000 counts above the offset; `-scale`
    /// is taken as typed; pixels outside the ROI stay 0.
    #[test]
    fn integer_image_scale_offset_and_roi() {
        let r = recorder(4, |p| {
            p.roi([1, 2, 0, 3]).unwrap().adc_offset = 10.0;
        });
        let image: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let rec = r.with_noise(rendered(image.clone()), None);
        assert_eq!(rec.int_scale, 55000.0 / 15.0);
        assert_eq!(rec.int_image[0], 0, "outside the ROI");
        assert_eq!(rec.int_image[14], (14.0 * 55000.0 / 15.0 + 10.0 + 0.5) as u16);
        let typed = recorder(4, |p| {
            p.scale(2.0).adc_offset = 0.0;
        });
        let rec = typed.with_noise(rendered(image), None);
        assert_eq!(rec.int_scale, 2.0);
        assert_eq!(rec.int_image[5], 10);
        assert!(rec.noise.is_none() && rec.overloads().is_none());
        assert_eq!(rec.counts()[5], 5.0, "without noise a counting detector counts the photons");
    }

    /// `-nonoise` makes none; otherwise the default mode's counts are those of the detector
    /// model, and c-parity's those of nanoBragg.c's serial generator.
    #[test]
    fn noise_follows_the_experiment_and_the_mode() {
        let image = vec![20.0f32; 64];
        let off = recorder(8, |p| {
            p.calculate_noise(false);
        });
        assert!(off.record_on_cpu(rendered(image.clone()), -5, 1).unwrap().noise.is_none());
        let on = recorder(8, |_| {});
        let rec = on.record_on_cpu(rendered(image.clone()), -5, 3).unwrap();
        let noise = rec.noise.as_ref().unwrap();
        let want = on.settings.noise.frame_noise(&image, 8, 8, [0, 7, 0, 7], on.pixel_size, -5, 40.0, 3).unwrap();
        assert_eq!(noise.pixels, NoisePixels::Bits16(want.image.int16));
        assert_eq!(rec.counts(), &want.counts[..]);
        assert_eq!(noise.report(), vec![format!("{:.0} photons on noise image (0 overloads)", want.photons)]);
        let other_frame = on.record_on_cpu(rendered(image.clone()), -5, 4).unwrap().noise.unwrap();
        assert_ne!(other_frame.counts, noise.counts, "the frame number keys the counters");
        let c = recorder(8, |p| {
            p.mode(Mode::CParity);
        });
        let noise = c.record_on_cpu(rendered(image.clone()), -5, 3).unwrap().noise.unwrap();
        let want = crate::rng::noise_image(&image, |_| true, -5, 40.0);
        assert_eq!(noise.pixels, NoisePixels::Bits16(want.pixels));
        assert_eq!(noise.photons, want.photons);
    }

    /// `-bits 32` keeps the 32-bit pixels, and the PSF adds its report lines.
    #[test]
    fn thirty_two_bits_and_the_psf_report() {
        let r = recorder(16, |p| {
            p.pixel(0.1).unwrap();
            p.noise.bits32 = true;
            p.noise.psf = Some(super::super::psf::PsfShape::Gauss);
            p.noise.psf_fwhm = 0.2e-3;
        });
        let noise = r.noise_on_cpu(&[100.0f32; 256], -5, 1).unwrap();
        assert!(matches!(noise.pixels, NoisePixels::Bits32(ref v) if v.len() == 256));
        let lines = noise.report();
        assert!(lines[0].ends_with("photons on noise image before PSF"), "{lines:?}");
        assert!(lines.last().unwrap().ends_with("overloads)"), "{lines:?}");
    }
}
