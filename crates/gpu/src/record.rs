//! The detector response with an engine chosen for each stage: the core's `Recorder` (integer
//! image, noise image, reports) with the default mode's noise stages run on the device where a
//! GPU render left its image, when they fit there.
//!
//! Which engine runs the noise: `-c_parity` always takes nanoBragg.c's serial generator on the
//! CPU (its draws follow pixel order, which no device can replay); the default mode's
//! counter-based detector model runs on the GPU after a GPU render (the photons are read on the
//! device, nothing is uploaded) unless the image is larger than one storage binding, which the
//! stages need whole (then on the CPU, with a note: the same counts), or the detector has
//! several panels and a PSF (the device's PSF stage blurs one image; the CPU's blurs each panel
//! alone), and on the CPU after a CPU render.

use crate::GpuOptions;
use crate::engine::RenderedImage;
use crate::error::Result;
use crate::model::Experiment;
use crate::params::Mode;
use crate::response::{Photons, noise_image_on_gpu_async, noise_stages_fit};
use crate::simulator::Frame;
use nanobragg_core::engine::EngineUsed;
use nanobragg_core::response::record::{Recorded, RecordedNoise, Recorder};

/// The detector response of one experiment, apart from the simulator that renders it: a
/// series' writer thread holds one and records frame k while frame k+1 renders.
#[derive(Clone, Debug)]
pub struct DetectorResponse {
    recorder: Recorder,
    /// the GPU the noise stages may run on: the one the simulator renders on
    gpu: GpuOptions,
}

impl DetectorResponse {
    /// The response of `exp` (its `response` settings and detector) on the GPU `gpu` chooses.
    pub fn new(exp: &Experiment, gpu: GpuOptions) -> DetectorResponse {
        DetectorResponse { recorder: Recorder::of(exp), gpu }
    }

    /// This response with its settings changed by `change` (the experiment's `response`: a noise
    /// image or not, the integer image's scale, ...), the experiment and its render untouched:
    /// for a caller that chooses per frame (the Python package's `render(noise=True)`).
    pub fn with_settings(mut self, change: impl FnOnce(&mut crate::model::Response)) -> DetectorResponse {
        change(&mut self.recorder.settings);
        self
    }

    /// The CPU side: the settings and the image they apply to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// `rendered` as the detector records `frame` of it (the frame's noise seed and counter):
    /// the integer image and, when the experiment asks for one, the noise image, each stage on
    /// the engine the module docs give. Consumes the render: its device image is freed here.
    pub fn record(&self, rendered: RenderedImage, frame: &Frame) -> Result<Recorded> {
        pollster::block_on(self.record_async(rendered, frame))
    }

    /// `record` as a future (the device's noise stages awaited).
    pub async fn record_async(&self, rendered: RenderedImage, frame: &Frame) -> Result<Recorded> {
        let r = &self.recorder;
        let noise = if !r.settings.calculate_noise {
            None
        } else if r.mode == Mode::Default && self.noise_stages_on_device(&rendered)? {
            let model = r.noise_model(frame.seed, frame.noise_counter)?;
            let bits32 = r.settings.noise.bits32;
            let result = noise_image_on_gpu_async(&self.gpu, Photons::of(&rendered), r.fpixels, r.spixels, r.roi, &model, bits32).await?;
            Some(RecordedNoise::of(result, bits32, rendered.engine.clone()))
        } else {
            Some(r.noise_on_cpu(&rendered.image, frame.seed, frame.noise_counter)?)
        };
        Ok(r.with_noise(rendered.rendered, noise))
    }

    /// Whether the default mode's noise stages run on the GPU for `rendered`: after a GPU
    /// render, when the image fits one storage binding.
    fn noise_stages_on_device(&self, rendered: &RenderedImage) -> Result<bool> {
        if rendered.engine == EngineUsed::Cpu {
            return Ok(false);
        }
        let r = &self.recorder;
        if r.panel_rows < r.spixels && r.settings.noise.psf.is_some() && r.settings.noise.psf_fwhm > 0.0 {
            log::info!("a detector of panels with a PSF: the noise stages run on the CPU, which spreads each panel's photons within it");
            return Ok(false);
        }
        // the stages run where the image is: on its device (a simulator's own, or the shared
        // one), whose binding limit decides; a host image goes to the device `gpu` chooses
        let fits = match &rendered.device {
            Some(image) => (rendered.image.len() as u64).saturating_mul(8) <= image.context().binding_limit(self.gpu.binding_limit),
            None => noise_stages_fit(&self.gpu, rendered.image.len())?,
        };
        if !fits {
            log::info!("the noise image is larger than one GPU storage binding: its noise stages run on the CPU (the same counts)");
        }
        Ok(fits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EngineChoice, Simulator};
    use nanobragg_core::params::ExperimentParams;
    use nanobragg_core::response::record::NoisePixels;

    fn experiment(mode: Mode) -> Experiment {
        let mut p = ExperimentParams::default();
        p.mode(mode).cell([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]).and_then(|p| p.default_f(10.0)?.n_cells(5)?.distance(100.0)?.detpixels(32)).unwrap().seed(3);
        crate::model::resolve(&p, &Default::default(), &Default::default(), &mut Vec::new()).unwrap()
    }

    fn pixels16(noise: &RecordedNoise) -> &[u16] {
        match &noise.pixels {
            NoisePixels::Bits16(p) => p,
            NoisePixels::Bits32(_) => panic!("16-bit noise expected"),
        }
    }

    /// After a GPU render the default mode's noise stages run on its device (the counts of the
    /// CPU's model, docs/realism.md); when the image exceeds one storage binding, on the CPU
    /// with the CPU's counts; `-c_parity`'s serial noise and a CPU render's noise on the CPU.
    #[test]
    fn each_noise_stage_runs_where_the_render_suggests() {
        let exp = experiment(Mode::Default);
        let mut sim = Simulator::new(exp.clone(), EngineChoice::Gpu, GpuOptions::default());
        let frame = sim.frame();
        let rendered = match sim.render(&frame, &Default::default()) {
            Ok(r) => r,
            Err(e) if std::env::var("NANOBRAGG_REQUIRE_GPU").as_deref() == Ok("1") => panic!("NANOBRAGG_REQUIRE_GPU=1 but the GPU render failed: {e}"),
            Err(e) => {
                eprintln!("\n!!!!! SKIPPED each_noise_stage_runs_where_the_render_suggests: {e}\n");
                return;
            }
        };
        assert!(matches!(rendered.engine, EngineUsed::Gpu { .. }));
        let cpu = Recorder::of(&exp).noise_on_cpu(&rendered.image, frame.seed, frame.noise_counter).unwrap();

        let on_device = sim.response().record(rendered.clone(), &frame).unwrap();
        let noise = on_device.noise.as_ref().unwrap();
        assert_eq!(noise.engine, rendered.engine, "the noise stages run on the render's device");
        let same = pixels16(noise).iter().zip(pixels16(&cpu)).filter(|(a, b)| a == b).count();
        assert!(same * 100 >= 99 * 32 * 32, "{same} of {} pixels as the CPU model", 32 * 32);
        assert_eq!(on_device.int_image, Recorder::of(&exp).int_image(&rendered.image, on_device.int_scale));

        // bindings smaller than the noise stages need (8 bytes a pixel): the CPU, the same counts
        let small = GpuOptions { binding_limit: Some(32 * 32 * 8 - 4), ..GpuOptions::default() };
        let fallback = DetectorResponse::new(&exp, small).record(rendered.clone(), &frame).unwrap().noise.unwrap();
        assert_eq!(fallback.engine, EngineUsed::Cpu);
        assert_eq!(fallback.pixels, cpu.pixels);

        // a CPU render: the CPU
        let mut photons = rendered.rendered.clone();
        photons.engine = EngineUsed::Cpu;
        let after_cpu = sim.response().record(photons.into(), &frame).unwrap().noise.unwrap();
        assert_eq!((after_cpu.engine, &after_cpu.pixels), (EngineUsed::Cpu, &cpu.pixels));

        // c-parity: nanoBragg.c's serial generator, whatever rendered
        let c_parity = DetectorResponse::new(&experiment(Mode::CParity), GpuOptions::default()).record(rendered.clone(), &frame).unwrap().noise.unwrap();
        let serial = nanobragg_core::rng::noise_image(&rendered.image, |_| true, frame.seed, 40.0);
        assert_eq!((c_parity.engine, c_parity.pixels), (EngineUsed::Cpu, NoisePixels::Bits16(serial.pixels)));
    }
}
