//! `-preview`, `-png_colormap` and `-validate` through the CLI and the library.

mod common;

use common::*;
use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::engine::plan::Plan;
use nanobragg::engine::{EngineUsed, cpu};
use std::path::Path;

const DEMO: &[&str] = &["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "6.2", "-distance", "50", "-engine", "cpu"];

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = strings(DEMO);
    args.extend(strings(extra));
    let out = nanobragg(dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn preview_of_a_large_detector_is_max_pooled_below_1024() {
    let tmp = tempfile::tempdir().unwrap();
    // 2100×2100 detector, only a 200×200 corner rendered to keep the test fast
    let out = run(tmp.path(), &["-detpixels", "2100", "-roi", "950", "1149", "950", "1149", "-floatfile", "big.bin", "-preview", "-quiet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("preview: 2100x2100 pixels; max "), "{stdout}");
    assert!(stdout.contains("99.5th percentile") && stdout.contains("zero pixels"), "{stdout}");
    let png = image::open(tmp.path().join("big_preview.png")).expect("big_preview.png");
    // factor ceil(2100/1024) = 3 → 700×700
    assert_eq!((png.width(), png.height()), (700, 700));
    // the brightest pooled pixel is white and lies inside the rendered block (950..1149)/3
    let gray = png.to_luma8();
    let (x, y, _) = gray.enumerate_pixels().max_by_key(|(_, _, p)| p.0[0]).unwrap();
    assert_eq!(gray.get_pixel(x, y).0[0], 255);
    assert!((316..=383).contains(&x) && (316..=383).contains(&y), "({x}, {y})");
    assert_eq!(gray.get_pixel(0, 0).0[0], 0, "unrendered corner is black");
}

#[test]
fn preview_summary_numbers_match_the_float_image() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["-detpixels", "48", "-floatfile", "f.bin", "-preview"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("preview: 48x48")).unwrap_or_else(|| panic!("{stdout}"));
    let image = floats(&std::fs::read(tmp.path().join("f.bin")).unwrap());
    let (at, max) = image.iter().enumerate().fold((0, f32::MIN), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    assert!(line.contains(&format!("at (fast {}, slow {})", at % 48, at / 48)), "{line}");
    assert!(line.contains(&format!("max {}", nanobragg::io::cfmt::fmt_g(max as f64))), "{line}");
    let png = image::open(tmp.path().join("f_preview.png")).unwrap();
    assert_eq!((png.width(), png.height()), (48, 48), "small images are not pooled");
}

#[test]
fn png_colormap_writes_false_colour() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["-detpixels", "40", "-pngfile", "v.png", "-png_colormap", "viridis", "-quiet"]);
    let rgb = image::open(tmp.path().join("v.png")).unwrap().to_rgb8();
    assert_eq!(rgb.dimensions(), (40, 40));
    let lowest = nanobragg::io::colormap::Colormap::Viridis.rgb(0);
    assert!(rgb.pixels().any(|p| p.0 != [p.0[0]; 3]), "colour, not gray");
    assert!(rgb.pixels().any(|p| p.0 == lowest), "background uses the map's lowest colour");
}

#[test]
fn validate_is_a_note_on_cpu_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["-detpixels", "16", "-validate=8", "-quiet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("this run used the CPU engine, nothing to check"), "{stdout}");
}

#[test]
fn validate_finds_a_perturbed_gpu_pixel() {
    let args = strings(&[DEMO, &["-detpixels", "32"]].concat());
    let Ok(Command::Run(raw)) = parse(&args, -1) else { panic!("demo flags parse") };
    let exp = raw.resolve().unwrap().0;
    let plan = Plan::new(&exp);
    let mut fake = cpu::render_spots(&plan);
    fake.engine = EngineUsed::Gpu { adapter: "test".into(), backend: "none".into() };
    let clean = nanobragg::diagnostics::validate(&plan, &fake, 16);
    assert!(clean.contains("16 pixels (8 brightest, 8 random)") && clean.contains("worst relative error 0.000e0"), "{clean}");
    let at = fake.stats.max_at;
    fake.image[at] *= 1.01;
    let report = nanobragg::diagnostics::validate(&plan, &fake, 16);
    assert!(report.contains(&format!("at (fast {}, slow {})", at % 32, at / 32)), "{report}");
    assert!(report.contains("worst relative error 1.000e-2"), "{report}");
}
