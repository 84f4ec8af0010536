//! A short rotation series made with the library alone, no command line: parameters through
//! the `ExperimentParams` builder (the units the flags document), structure factors from an
//! array, a `Simulator` on the GPU when there is a hardware one (else the CPU), each frame
//! recorded as the detector does (photons, Poisson noise, ADC offset), and written with
//! `nanobragg-io` as SMV noise images and miniCBF photon counts.
//!
//! ```text
//! cargo run --release -p nanobragg-gpu --example series [OUT_DIR]
//! ```
//! writes `OUT_DIR/frame_00001.img` and `frame_00001.cbf`, ... (OUT_DIR: `./series_out`).

use nanobragg_core::control::RenderControl;
use nanobragg_core::engine::EngineUsed;
use nanobragg_core::error::Result;
use nanobragg_core::model::{Inputs, resolve};
use nanobragg_core::params::ExperimentParams;
use nanobragg_core::structure::StructureFactors;
use nanobragg_gpu::{EngineChoice, GpuOptions, NoisePixels, Simulator};
use nanobragg_io::cbf::{self, CbfHeader};
use nanobragg_io::smv::{SmvHeader, encode_smv, encode_smv_u32};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Frames of the series, and the oscillation of each (degrees).
pub const FRAMES: u64 = 3;
pub const OSC_DEG: f64 = 0.5;

/// A made-up crystal's structure factors for h, k, l in −12..=12: F falls off with resolution
/// and varies from reflection to reflection, as measured amplitudes do. (A real one comes from
/// an HKL or MTZ file: `nanobragg_io::inputs::load`.)
pub fn structure_factors() -> StructureFactors {
    let range = -12..=12i32;
    let mut values = Vec::new();
    for h in range.clone() {
        for k in range.clone() {
            for l in range.clone() {
                let s2 = f64::from(h * h + k * k + l * l);
                let wobble = 1.0 + 0.5 * (f64::from(h * 7 + k * 13 + l * 29)).sin();
                values.push(100.0 * wobble * (-s2 / 150.0).exp());
            }
        }
    }
    StructureFactors { h_min: -12, h_max: 12, k_min: -12, k_max: 12, l_min: -12, l_max: 12, values }
}

/// Renders the series and writes each frame's noise image (SMV) and photon counts (CBF) into
/// `out`; returns the files written, in order.
pub fn write_series(out: &Path) -> Result<Vec<PathBuf>> {
    // -cell 60 60 60 90 90 90 -N 10 -lambda 1 -distance 100 -detpixels 256 -pixel 0.1
    // -oversample 1 -water 0.1 -osc 0.5 -seed 7, built in code
    let mut params = ExperimentParams::default();
    // a value a parameter cannot take is refused where it is set (`?`), with the flag's message
    params
        .cell([60.0, 60.0, 60.0, 90.0, 90.0, 90.0])?
        .n_cells(10)?
        .lambda(1.0)?
        .distance(100.0)?
        .detpixels(256)?
        .pixel(0.1)?
        .oversample(1)
        .water(0.1)?
        .osc(OSC_DEG)?
        .seed(7);
    let sf = structure_factors();
    let inputs = Inputs { reflections: sf.values.len(), structure_factors: Some(Arc::new(sf)), ..Inputs::default() };
    // what resolving warns of (a recommended oversampling, ...) comes back as values
    let mut warnings = Vec::new();
    let exp = resolve(&params, &inputs, &Default::default(), &mut warnings)?;
    let mut sim = Simulator::new(exp, EngineChoice::Auto, GpuOptions::default());
    std::fs::create_dir_all(out).map_err(|e| nanobragg_core::error::Error::io(out, e))?;
    let control = RenderControl::default();
    let mut written = Vec::new();
    for number in 1..=FRAMES {
        let frame = sim.frame().with_phi_deg((number - 1) as f64 * OSC_DEG).numbered(number);
        let recorded = sim.record(&frame, &control)?;
        // the experiment as this frame sees it: its φ goes into the headers
        let exp = sim.experiment();
        let noise = recorded.noise.as_ref().expect("the experiment asks for a noise image (the default)");
        let smv_header = SmvHeader::from_experiment(exp);
        let smv = match &noise.pixels {
            NoisePixels::Bits16(pixels) => encode_smv(&smv_header, pixels),
            NoisePixels::Bits32(pixels) => encode_smv_u32(&smv_header, pixels),
        };
        let counts = cbf::encode_cbf(&CbfHeader::from_experiment(exp, std::time::SystemTime::now()), &cbf::photon_counts(recorded.counts()));
        for (name, bytes) in [(format!("frame_{number:05}.img"), smv), (format!("frame_{number:05}.cbf"), counts)] {
            let path = out.join(name);
            nanobragg_io::write_atomic(&path, &bytes)?;
            written.push(path);
        }
        let on = |engine: &EngineUsed| match engine {
            EngineUsed::Cpu => "the CPU".to_string(),
            EngineUsed::Gpu { adapter, .. } => adapter.clone(),
        };
        println!("frame {number}: rendered on {}, noise on {}; {}", on(&recorded.photons.engine), on(&noise.engine), noise.report().join("; "));
    }
    Ok(written)
}

fn main() {
    let out = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("series_out"), PathBuf::from);
    match write_series(&out) {
        Ok(files) => println!("wrote {} files in {}", files.len(), out.display()),
        Err(e) => {
            eprintln!("series: {e}");
            std::process::exit(1);
        }
    }
}
