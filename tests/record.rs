//! The library's detector response is the program's: `Simulator::record` of a command line's
//! experiment gives, encoded with the io crate, the integer and noise images the program
//! writes for it, byte for byte (default mode with the detector model, both noise widths,
//! `-scale`, `-c_parity`), and `-nonoise` makes none.

use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::engine::gpu::{NoisePixels, Recorded, Simulator};
use nanobragg::io::smv::{SmvHeader, encode_smv, encode_smv_u32};
use std::path::Path;

const EXPERIMENT: &str = "-cell 70 80 90 90 90 90 -default_F 100 -N 4 -lambda 1 -distance 80 -detpixels 40 -pixel 0.2 \
     -fluence 1e30 -osc 0.5 -phisteps 2 -water 50 -engine cpu -seed 11 -nopgm -quiet";

fn words(args: &str) -> Vec<String> {
    args.split_whitespace().map(String::from).collect()
}

/// What the library records of `args` (frame 1, as a single run renders it).
fn record(args: &str) -> (Recorded, SmvHeader) {
    let Ok(Command::Run(raw)) = parse(&words(args), -1) else { panic!("{args}: does not parse") };
    let (exp, _) = raw.resolve().unwrap();
    let mut sim = Simulator::new(exp, raw.engine, raw.gpu_options());
    let frame = sim.frame();
    let recorded = sim.record(&frame, &Default::default()).unwrap();
    (recorded, SmvHeader::from_experiment(sim.experiment()))
}

fn run(dir: &Path, args: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(words(args)).current_dir(dir).output().expect("run nanobragg");
    assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_library_records_what_the_program_writes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for extra in ["", "-psf gauss -psf_fwhm 300 -readout_noise 2 -gain 2 -adc 10", "-bits 32 -calibration 0.03", "-scale 3 -adc 0", "-c_parity"] {
        let args = format!("{EXPERIMENT} {extra}");
        run(p, &format!("{args} -floatfile f.bin -intfile i.img -noisefile n.img"));
        let (recorded, header) = record(&args);
        let floats: Vec<u8> = recorded.photons.image.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(std::fs::read(p.join("f.bin")).unwrap() == floats, "{extra}: float image");
        assert!(std::fs::read(p.join("i.img")).unwrap() == encode_smv(&header, &recorded.int_image), "{extra}: integer image");
        let noise = recorded.noise.as_ref().unwrap_or_else(|| panic!("{extra}: no noise image"));
        let bytes = match &noise.pixels {
            NoisePixels::Bits16(pixels) => encode_smv(&header, pixels),
            NoisePixels::Bits32(pixels) => encode_smv_u32(&header, pixels),
        };
        assert!(std::fs::read(p.join("n.img")).unwrap() == bytes, "{extra}: noise image");
        assert_eq!(matches!(noise.pixels, NoisePixels::Bits32(_)), extra.contains("-bits 32"));
        assert_eq!(noise.psf.is_some(), extra.contains("-psf"));
        if extra.contains("-scale 3") {
            assert_eq!(recorded.int_scale, 3.0);
        }
    }
    let (recorded, _) = record(&format!("{EXPERIMENT} -nonoise"));
    assert!(recorded.noise.is_none() && recorded.overloads().is_none());
}
