//! Detectors of several panels (issue 23), through the library: a detector cut into tiles with
//! no gaps renders the pixels of the whole detector bit for bit, on the CPU engine and on the
//! GPU engine (split invariance), flat and rotated with a 2θ offset; every panel of a detector
//! is rendered in one job.

mod gpu_support;

use gpu_support::gpu_available;
use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::cli::raw::RawArgs;
use nanobragg::engine::gpu::{self, GpuOptions};
use nanobragg_core::control::RenderControl;
use nanobragg_core::engine::{plan::Plan, render_on_cpu};
use nanobragg_core::model::{Experiment, Inputs, PanelLayout, PanelSpec, resolve};
use std::sync::Arc;

fn argv(line: &str) -> RawArgs {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    match parse(&words, -1).unwrap_or_else(|e| panic!("{line}: {e}")) {
        Command::Run(raw) => *raw,
        Command::Help => panic!("{line}: help"),
    }
}

/// The experiment of `line` with the detector's panels `panels` (None: the flags' one panel).
fn experiment(line: &str, panels: Option<Vec<PanelSpec>>) -> Experiment {
    let raw = argv(line);
    let inputs = Inputs { panels: panels.map(|panels| Arc::new(PanelLayout { source: "split.expt".into(), panels })), ..Inputs::default() };
    resolve(&raw, &inputs, &Default::default(), &mut Vec::new()).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// A cheap crystal on a 512² detector of 0.1 mm pixels, oversampled, with a thick sensor (the
/// normal enters the capture fraction) and `detector` flags.
fn line(detector: &str) -> String {
    format!("{CRYSTAL} -distance 60 -pixel 0.1 -detpixels 512 {detector}")
}

/// What `line` says besides placing the detector.
const CRYSTAL: &str = "-cell 40 50 60 90 90 90 -default_F 10 -N 2 -lambda 1 -oversample 2 -detector_thick 50 -detector_thicksteps 2 -mosaic 0";

const DETECTORS: [&str; 2] = ["", "-detector_rotx 3 -detector_roty -2 -detector_rotz 5 -twotheta 12"];

/// Pixel (fast, slow) of panel `p` of a detector cut `across` × `down` is pixel
/// (fast + i·w, slow + j·h) of the whole: the stacked image put back together.
fn reassembled(stacked: &[f32], across: usize, down: usize, width: usize, height: usize) -> Vec<f32> {
    let (w, h) = (width / across, height / down);
    let mut whole = vec![f32::NAN; width * height];
    for (p, panel) in stacked.chunks(w * h).enumerate() {
        let (i, j) = (p % across, p / across);
        for (s, row) in panel.chunks(w).enumerate() {
            whole[(j * h + s) * width + i * w..][..w].copy_from_slice(row);
        }
    }
    whole
}

fn bits(image: &[f32]) -> Vec<u32> {
    image.iter().map(|v| v.to_bits()).collect()
}

/// The whole detector (as the flags place it, and as the 1-panel layout of that same panel)
/// and its cuts into 4 tiles of 256², 2 of 512 × 256 and 2 of 256 × 512, on the CPU engine.
#[test]
fn a_detector_cut_into_tiles_renders_the_same_pixels_on_the_cpu() {
    for detector in DETECTORS {
        let line = line(detector);
        let flags = experiment(&line, None);
        assert_eq!(flags.detector.panels.len(), 1);
        let whole = PanelSpec::of_panel(&flags.detector.panels[0]);
        let cpu = |exp: &Experiment| render_on_cpu(&Plan::new(exp), &RenderControl::default()).expect("CPU render").image;
        let reference = cpu(&flags);
        assert!(reference.iter().filter(|&&v| v > 0.0).count() > 1000, "{detector}: the image has spots");
        let one = experiment(&line, Some(vec![whole.clone()]));
        assert_eq!(bits(&cpu(&one)), bits(&reference), "{detector}: the one-panel layout of the flags' panel");
        for (across, down) in [(2, 2), (1, 2), (2, 1)] {
            let exp = experiment(&line, Some(whole.tiles(across, down).expect("equal tiles")));
            assert_eq!(exp.detector.panels.len(), across * down);
            let image = cpu(&exp);
            assert_eq!(image.len(), 512 * 512);
            assert_eq!(bits(&reassembled(&image, across, down, 512, 512)), bits(&reference), "{detector}: {across} × {down} tiles");
        }
    }
}

/// The same cuts on the GPU engine (every panel in one dispatch): the tiles' pixels are the
/// whole detector's GPU pixels bit for bit.
#[test]
fn a_detector_cut_into_tiles_renders_the_same_pixels_on_the_gpu() {
    if !gpu_available("a_detector_cut_into_tiles_renders_the_same_pixels_on_the_gpu") {
        return;
    }
    for detector in DETECTORS {
        let line = line(detector);
        let flags = experiment(&line, None);
        let whole = PanelSpec::of_panel(&flags.detector.panels[0]);
        let gpu = |exp: &Experiment| gpu::render_spots_with(&Plan::new(exp), &GpuOptions::default()).expect("GPU render").image;
        let reference = gpu(&flags);
        assert!(reference.iter().filter(|&&v| v > 0.0).count() > 1000, "{detector}: the image has spots");
        for (across, down) in [(2, 2), (1, 2), (2, 1)] {
            let exp = experiment(&line, Some(whole.tiles(across, down).expect("equal tiles")));
            let image = gpu(&exp);
            assert_eq!(bits(&reassembled(&image, across, down, 512, 512)), bits(&reference), "{detector}: {across} × {down} tiles");
        }
    }
}

/// Per-panel statistics: each panel's are those of its own pixels; the brightest panel holds
/// the brightest pixel of the detector; a one-panel detector's are the detector's.
#[test]
fn each_panel_has_its_statistics() {
    use nanobragg_core::engine::cpu::{panel_statistics, statistics};
    let line = line(DETECTORS[1]);
    let flags = experiment(&line, None);
    let plan = Plan::new(&flags);
    let image = render_on_cpu(&plan, &RenderControl::default()).unwrap().image;
    let whole = statistics(&plan, &image);
    let one = panel_statistics(&plan, &image);
    assert_eq!(one.len(), 1);
    assert_eq!([one[0].max_i, one[0].mean, one[0].rms, one[0].rmsd], [whole.max_i, whole.mean, whole.rms, whole.rmsd]);
    let tiled = experiment(&line, Some(PanelSpec::of_panel(&flags.detector.panels[0]).tiles(2, 2).unwrap()));
    let plan = Plan::new(&tiled);
    let image = render_on_cpu(&plan, &RenderControl::default()).unwrap().image;
    let panels = panel_statistics(&plan, &image);
    assert_eq!(panels.len(), 4);
    for (p, st) in panels.iter().enumerate() {
        let own = &image[p * 256 * 256..(p + 1) * 256 * 256];
        let max = own.iter().fold(0.0f32, |a, &b| a.max(b)) as f64;
        assert_eq!(st.max_i, max, "panel {p}");
        assert_eq!(own[st.max_at] as f64, max, "panel {p}: max_at is on the panel");
        let mean = own.iter().map(|&v| v as f64).sum::<f64>() / own.len() as f64;
        assert!((st.mean - mean).abs() <= 1e-12 * mean.abs(), "panel {p}: {} vs {mean}", st.mean);
    }
    assert_eq!(panels.iter().map(|s| s.max_i).fold(0.0, f64::max), whole.max_i);
}

/// A DIALS experiment list of one panel, written from the panel the flags place, renders the
/// flags' pixels bit for bit through `-detector` (flat, and rotated with a 2θ offset); its
/// cut into 4 tiles too.
#[test]
fn a_one_panel_expt_is_the_equivalent_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (k, detector) in DETECTORS.iter().enumerate() {
        let flags = experiment(&line(detector), None);
        let reference = render_on_cpu(&Plan::new(&flags), &RenderControl::default()).unwrap().image;
        let whole = PanelSpec::of_panel(&flags.detector.panels[0]);
        for (name, panels) in [("one", vec![whole.clone()]), ("four", whole.tiles(2, 2).unwrap())] {
            let path = dir.path().join(format!("{name}{k}.expt"));
            std::fs::write(&path, nanobragg_io::dials::write_expt(&panels, flags.beam.direction, 1.0)).unwrap();
            let raw = argv(&format!("{CRYSTAL} -detector {}", path.display()));
            let (exp, _) = raw.resolve().unwrap_or_else(|e| panic!("{detector}: {e}"));
            assert_eq!(exp.detector.panels.len(), panels.len());
            let image = render_on_cpu(&Plan::new(&exp), &RenderControl::default()).unwrap().image;
            let across = if panels.len() == 4 { 2 } else { 1 };
            assert_eq!(bits(&reassembled(&image, across, across, 512, 512)), bits(&reference), "{detector}: {name}");
        }
    }
}

/// Bad files and bad combinations: one message naming the file and the panel (or the flag).
#[test]
fn bad_detector_files_are_refused_naming_file_and_panel() {
    let dir = tempfile::tempdir().unwrap();
    let flags = experiment(&line(""), None);
    let good = nanobragg_io::dials::write_expt(&[PanelSpec::of_panel(&flags.detector.panels[0])], flags.beam.direction, 1.0);
    let cases: [(&str, String, &str); 7] = [
        ("unknown", good.replace("\"fast_axis\"", "\"fast_axiz\""), "panel detector: unknown key \"fast_axiz\""),
        ("missing", good.replace("\"origin\"", "\"identifier\""), "panel detector: missing field \"origin\""),
        ("nofield", good.replace("\"image_size\"", "\"material2\""), "panel detector: unknown key"),
        ("notjson", "{ nope".into(), "not a DIALS experiment list"),
        ("nodet", "{\"beam\": []}".into(), "missing field \"detector\""),
        ("parallel", good.replacen("\"slow_axis\": [", "\"slow_axis\": [1.0, 0.0, 0.0], \"x\": [", 1), "panel detector: unknown key \"x\""),
        ("flat", good.replacen("\"image_size\": [", "\"image_size\": [0, ", 1), "image_size"),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(format!("{name}.expt"));
        std::fs::write(&path, text).unwrap();
        let e = argv(&format!("{CRYSTAL} -detector {}", path.display())).resolve().map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(&format!("{name}.expt")) && e.contains(want), "{name}: {e}");
    }
    // geometry: both axes along one line
    let mut spec = PanelSpec::of_panel(&flags.detector.panels[0]);
    spec.slow = spec.fast;
    let path = dir.path().join("axes.expt");
    std::fs::write(&path, nanobragg_io::dials::write_expt(&[spec], flags.beam.direction, 1.0)).unwrap();
    let e = argv(&format!("{CRYSTAL} -detector {}", path.display())).resolve().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("axes.expt") && e.contains("panel detector: its fast and slow axes are parallel"), "{e}");
    // the flags that place nanoBragg.c's panel, and -c_parity
    let path = dir.path().join("good.expt");
    std::fs::write(&path, &good).unwrap();
    let e = argv(&format!("{CRYSTAL} -distance 80 -detector {}", path.display())).resolve().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("-distance") && e.contains("good.expt"), "{e}");
    let e = argv(&format!("{CRYSTAL} -c_parity -detector {}", path.display())).resolve().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("-c_parity") || e.contains("ignor"), "{e}");
}

/// The file's wavelength and sensor apply where no flag gives them; a flag overrides the file.
#[test]
fn flags_override_the_detector_file() {
    let dir = tempfile::tempdir().unwrap();
    let flags = experiment(&line(""), None);
    let path = dir.path().join("beam.expt");
    std::fs::write(&path, nanobragg_io::dials::write_expt(&[PanelSpec::of_panel(&flags.detector.panels[0])], flags.beam.direction, 1.5)).unwrap();
    let no_lambda = CRYSTAL.replace("-lambda 1 ", "");
    let (exp, _) = argv(&format!("{no_lambda} -detector {}", path.display())).resolve().unwrap();
    assert_eq!(exp.beam.lambda0, 1.5e-10);
    let (exp, _) = argv(&format!("{no_lambda} -detector {} -lambda 1.2", path.display())).resolve().unwrap();
    assert_eq!(exp.beam.lambda0, 1.2e-10);
}

/// The program end to end: a `-detector` of 4 tiles writes the stacked image (`[panel, slow,
/// fast]`) to the float file, and an SMV image whose header says so (SIZE1 × SIZE2 = one
/// panel's width × all panels' rows).
#[test]
fn the_program_writes_the_stacked_panels() {
    let dir = tempfile::tempdir().unwrap();
    let flags = experiment(&line(""), None);
    let expt = dir.path().join("tiles.expt");
    std::fs::write(&expt, nanobragg_io::dials::write_expt(&PanelSpec::of_panel(&flags.detector.panels[0]).tiles(2, 2).unwrap(), flags.beam.direction, 1.0)).unwrap();
    let args = format!("{CRYSTAL} -detector {} -floatfile f.bin -intfile i.img -nopgm -nonoise", expt.display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args.split_whitespace()).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(dir.path().join("f.bin")).unwrap().len(), 4 * 256 * 256 * 4);
    let img = std::fs::read(dir.path().join("i.img")).unwrap();
    let header = String::from_utf8_lossy(&img[..512]);
    assert!(header.contains("SIZE1=256;") && header.contains("SIZE2=1024;"), "{header}");
}
