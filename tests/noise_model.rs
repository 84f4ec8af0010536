//! The detector model of the main command's noise image (`-psf`, `-readout_noise`, `-flicker`,
//! `-calibration`, `-calib_seed`, `-gain`, `-bits`, `-noise_order`) through the binary: the
//! image is the model of `nanobragg::response` applied to the run's own float image with the
//! frame number in the counters, the same whatever the thread count and whether a frame is
//! rendered in a series or alone; bad values and `-c_parity` are refused before any output.

mod gpu_support;

use gpu_support::gpu_available;
use nanobragg::response::detector::{DetectorNoise, NoiseOrder};
use nanobragg::response::psf::PsfShape;
use std::path::Path;
use std::process::{Command, Output};

const EXPERIMENT: &str = "-cell 70 80 90 90 90 90 -default_F 100 -N 4 -lambda 1 -distance 80 -detpixels 48 -pixel 0.2 \
     -fluence 1e30 -osc 0.5 -phisteps 2 -engine cpu -seed 11 -nopgm -quiet";
const MODEL: &str = "-psf gauss -psf_fwhm 300 -readout_noise 2.5 -flicker 0.02 -calibration 0.03 -calib_seed 5 -gain 2 -adc 10";

fn run(dir: &Path, args: &str, threads: &str) -> Output {
    let args: Vec<&str> = args.split_whitespace().collect();
    Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .current_dir(dir)
        .output()
        .expect("run nanobragg")
}

fn ok(dir: &Path, args: &str, threads: &str) -> String {
    let out = run(dir, args, threads);
    assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The pixels of an SMV file whose header holds `TYPE=`; 2- or 4-byte little-endian.
fn smv_pixels(bytes: &[u8], pixels: usize) -> (String, Vec<u32>) {
    let header = String::from_utf8_lossy(&bytes[..512]).into_owned();
    let width = (bytes.len() - 512) / pixels;
    let data = &bytes[bytes.len() - width * pixels..];
    let values = match width {
        2 => data.chunks_exact(2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]]))).collect(),
        4 => data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        w => panic!("{w}-byte pixels"),
    };
    (header, values)
}

/// The noise image is the model applied to the float image the run wrote: PSF, readout noise,
/// flicker, calibration, gain and offset, in both orders and both widths.
#[test]
fn noise_image_is_the_model_of_the_float_image() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, order, bits32) in [("", NoiseOrder::Noisify, false), ("-noise_order simtbx -bits 32", NoiseOrder::Simtbx, true)] {
        let out = ok(dir.path(), &format!("{EXPERIMENT} {MODEL} {extra} -floatfile f.bin -intfile i.img -noisefile n.img"), "2");
        assert!(out.is_empty(), "-quiet: {out}");
        let image = floats(&read(dir.path(), "f.bin"));
        let model = DetectorNoise {
            psf: Some(PsfShape::Gauss),
            psf_fwhm: 300e-6,
            readout: 2.5,
            flicker: 0.02,
            calibration: 0.03,
            calib_seed: -5,
            gain: 2.0,
            bits32,
            order,
            ..DetectorNoise::default()
        };
        let want = model.frame_noise(&image, 48, 48, [0, 47, 0, 47], 0.2e-3, -11, 10.0, 1).unwrap();
        let (header, got) = smv_pixels(&read(dir.path(), "n.img"), 48 * 48);
        if bits32 {
            assert!(header.contains("TYPE=long_integer;"), "{header}");
            assert_eq!(got, want.image.int32);
        } else {
            assert!(header.contains("TYPE=unsigned_short;"), "{header}");
            assert_eq!(got, want.image.int16.iter().map(|&v| u32::from(v)).collect::<Vec<_>>());
        }
        // the model did something: not just photons × gain + offset
        let plain: Vec<u32> = image.iter().map(|&p| (f64::from(p) * 2.0 + 10.0) as u32).collect();
        assert!(got.iter().zip(&plain).filter(|(a, b)| a != b).count() > 48 * 48 / 2);
        // the PSF moves photons, it makes none (what it spreads past the detector's edges is
        // lost, ≈ 1 % here): the noise image's total is the float image's within 3 %, once the
        // truncation to whole ADU (½ ADU per pixel on average, readout noise making the
        // fractions uniform) is added back
        let photons: f64 = image.iter().map(|&v| f64::from(v)).sum();
        let total: f64 = got.iter().map(|&v| (f64::from(v) + 0.5 - 10.0) / 2.0).sum();
        assert!(photons > 1e5 && (total / photons - 1.0).abs() < 0.03, "{total} vs {photons}");
        assert!(got.iter().all(|&v| v < 65535), "no overloads in this test");
    }
}

/// The same noise image from 1 and 2 threads, and frame k of a series equals a run of frame k
/// alone (`-first_frame k -frames 1`), every output byte for byte; frames differ.
#[test]
fn noise_is_the_same_for_any_thread_count_and_series_split() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let base = format!("{EXPERIMENT} {MODEL} -psf fiber -psf_radius 3");
    ok(p, &format!("{base} -floatfile one.bin -intfile one.img -noisefile one.noise.img"), "1");
    ok(p, &format!("{base} -floatfile two.bin -intfile two.img -noisefile two.noise.img"), "2");
    assert!(read(p, "one.noise.img") == read(p, "two.noise.img"), "1 vs 2 threads");
    ok(p, &format!("{base} -frames 3 -floatfile s_#.bin -intfile s_#.img -noisefile s_#.noise.img"), "2");
    for k in 1..=3 {
        let start = -0.0 + (k - 1) as f64 * 0.5;
        ok(p, &format!("{base} -phi {start} -first_frame {k} -frames 1 -floatfile a.bin -intfile a.img -noisefile a.noise.img"), "1");
        for (series, alone) in [("bin", "a.bin"), ("img", "a.img"), ("noise.img", "a.noise.img")] {
            assert!(read(p, &format!("s_{k}.{series}")) == read(p, alone), "frame {k}: s_{k}.{series} differs from {alone}");
        }
    }
    assert!(read(p, "s_1.noise.img") == read(p, "one.noise.img"), "a run without -frames is frame 1");
    assert!(read(p, "s_2.noise.img") != read(p, "s_3.noise.img"));
}

/// Every bad value names its flag; `-c_parity` refuses the model's flags; nothing is written.
#[test]
fn bad_values_and_c_parity_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (flags, want) in [
        ("-psf box", "-psf: value 'box' must be gauss or fiber"),
        ("-psf_fwhm 0", "-psf_fwhm: value 0 must be greater than zero"),
        ("-psf_fwhm -3", "-psf_fwhm: value -3 must be greater than zero"),
        ("-psf_radius -1", "-psf_radius: value -1 must not be negative"),
        ("-psf_radius 2.5", "-psf_radius: value '2.5' is not a whole number"),
        ("-readout_noise -1", "-readout_noise: value -1 must not be negative"),
        ("-flicker -0.1", "-flicker: value -0.1 must not be negative"),
        ("-calibration nan", "-calibration: value 'nan' is not a finite number"),
        ("-calib_seed 99999999999", "-calib_seed: value 99999999999 is outside the C int range"),
        ("-gain 0", "-gain: value 0 must be greater than zero"),
        ("-bits 8", "-bits: value '8' must be 16 or 32"),
        ("-noise_order cctbx", "-noise_order: value 'cctbx' must be noisify or simtbx"),
        ("-c_parity -readout_noise 3", "-readout_noise: nanoBragg.c has no detector model"),
        ("-c_parity -psf gauss", "-psf: nanoBragg.c has no detector model"),
        ("-c_parity -bits 32", "-bits: nanoBragg.c has no detector model"),
    ] {
        let out = run(p, &format!("{EXPERIMENT} {flags} -floatfile x.bin -intfile x.img -noisefile x.noise.img"), "1");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{flags}: {err}");
        assert!(!p.join("x.bin").exists() && !p.join("x.noise.img").exists(), "{flags}: wrote output");
    }
}

/// After a GPU render the noise model runs on the device: the noise image is the CPU model of
/// the GPU's own float image for ≥ 99.99 % of the pixels (identical in practice: the device
/// stages repeat the CPU's arithmetic, docs/realism.md), PSF included to ±1 ADU.
#[test]
fn gpu_engine_noise_is_the_model_of_its_float_image() {
    if !gpu_available("gpu_engine_noise_is_the_model_of_its_float_image") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (extra, psf) in [("", None), ("-psf gauss -psf_fwhm 300", Some(PsfShape::Gauss))] {
        let args = format!("{EXPERIMENT} -engine gpu -readout_noise 2 -flicker 0.02 -calibration 0.03 {extra} -first_frame 5 -frames 1 -floatfile g.bin -intfile g.img -noisefile g.noise.img");
        ok(p, &args, "2");
        let image = floats(&read(p, "g.bin"));
        let model = DetectorNoise { psf, psf_fwhm: 300e-6, readout: 2.0, flicker: 0.02, calibration: 0.03, ..DetectorNoise::default() };
        let want = model.frame_noise(&image, 48, 48, [0, 47, 0, 47], 0.2e-3, -11, 40.0, 5).unwrap();
        let (_, got) = smv_pixels(&read(p, "g.noise.img"), 48 * 48);
        let same = got.iter().zip(&want.image.int16).filter(|(a, b)| **a == u32::from(**b)).count();
        let near = got.iter().zip(&want.image.int16).all(|(a, b)| a.abs_diff(u32::from(*b)) <= 1);
        {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "-engine gpu noise {extra}: {same} of {} pixels as the CPU model", 48 * 48);
        }
        assert!(same * 10_000 >= 9_999 * 48 * 48 || (psf.is_some() && near && same * 100 >= 99 * 48 * 48), "{extra}: {same} of {} identical", 48 * 48);
    }
}

/// A detector larger than one GPU storage binding (6000², 144 MB of float image; lavapipe and
/// WebGPU's default allow 128 MiB): the spots are gathered on the host, and the `-stol`
/// background and the noise stages, which bind whole images, run on the CPU with a note
/// instead of failing; the noise image is then the CPU engine's, byte for byte. On an adapter
/// whose bindings hold the image the same run stays on the device and must agree as well.
#[test]
fn gpu_run_larger_than_one_binding_finishes_its_noise_and_background() {
    if !gpu_available("gpu_run_larger_than_one_binding_finishes_its_noise_and_background") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("w.stol"), "0 2.0\n0.1 3.0\n0.2 5.0\n0.3 3.5\n0.5 2.0\n").unwrap();
    let base = "-default_F 10 -cell 50 50 50 90 90 90 -N 5 -distance 100 -detpixels 6000 -pixel 0.1 -roi 0 9 0 9 \
                -stol w.stol -bg_thick 0.005 -seed 3 -readout_noise 2 -nopgm -intfile i.img";
    let gpu = run(p, &format!("{base} -engine gpu -floatfile g.bin -noisefile g.noise.img"), "2");
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert!(gpu.status.success(), "{stderr}");
    ok(p, &format!("{base} -engine cpu -floatfile c.bin -noisefile c.noise.img"), "2");
    let (g, c) = (read(p, "g.noise.img"), read(p, "c.noise.img"));
    assert_eq!(g.len(), 512 + 2 * 6000 * 6000);
    assert!(g == c, "the noise image differs from the CPU engine's");
    let roi_counts: u64 = (0..10).flat_map(|s| (0..10).map(move |f| s * 6000 + f)).map(|i| u64::from(u16::from_le_bytes([g[512 + 2 * i], g[513 + 2 * i]]))).sum();
    assert!(roi_counts > 100 * 40, "photons in the ROI: {roi_counts}");
    eprintln!("6000² -engine gpu with -stol and noise: {}", stderr.lines().filter(|l| l.contains("note:")).collect::<Vec<_>>().join(" | "));
}
