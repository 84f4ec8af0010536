//! One simulation run: command line → experiment → plan → render → output files, with the
//! checks that make a bad run fail before any output exists.

use crate::cli::parse::{Command, parse};
use crate::cli::raw::RawArgs;
use crate::engine::{self, EngineUsed, Rendered, plan::Plan};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{SmvHeader, encode_smv};
use crate::io::{pgm, rawfloat, write_atomic};
use crate::model::{Experiment, resolve};
use crate::rng;
use std::path::{Path, PathBuf};

/// Run the simulator for command-line `args` (without the program name).
pub fn run(args: &[String]) -> Result<()> {
    let time_seed = -(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1));
    let raw = match parse(args, time_seed)? {
        Command::Help => {
            print!("{}", crate::cli::defs::help_text());
            return Ok(());
        }
        Command::Run(raw) => raw,
    };
    check_outputs(&raw)?;
    let exp = resolve(&raw)?;
    let plan = Plan::new(&exp);
    crate::diagnostics::before_render(&exp, &plan)?;
    if !exp.output.quiet {
        print_setup(&exp, &plan);
    }
    let rendered = engine::render(&plan, raw.engine, raw.backend.as_deref())?;
    if let EngineUsed::Gpu { adapter, backend } = &rendered.engine
        && !exp.output.quiet
    {
        println!("GPU engine: {adapter} ({backend})");
    }
    write_outputs(&exp, &plan, &rendered)?;
    // after the outputs, so that a failing diagnostic never costs the rendered images
    crate::diagnostics::after_render(&exp, &plan, &rendered, raw.backend.as_deref())
}

/// Every output must go somewhere writable and must not be one of the inputs; checked before
/// the (possibly long) render.
fn check_outputs(raw: &RawArgs) -> Result<()> {
    let inputs: Vec<&PathBuf> = [&raw.hkl, &raw.mat, &raw.img, &raw.mask, &raw.sourcefile].into_iter().flatten().collect();
    let mut outputs = vec![&raw.floatfile, &raw.intfile];
    if raw.write_pgm {
        outputs.push(&raw.pgmfile);
    }
    if raw.calculate_noise {
        outputs.push(&raw.noisefile);
    }
    outputs.extend(raw.pngfile.iter());
    for out in outputs {
        if inputs.iter().any(|i| same_file(i, out)) {
            return Err(Error::Usage(format!("refusing to overwrite input file {}", out.display())));
        }
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let probe = dir.join(format!(".nanobragg-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| Error::io(out, e))?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn print_setup(e: &Experiment, p: &Plan) {
    let d = &e.detector;
    let c = &e.crystal;
    println!("nanobragg {} ({:?} mode)", env!("CARGO_PKG_VERSION"), e.mode);
    println!("{:?} convention, pivot {:?}", d.convention, d.pivot);
    println!(
        "Unit Cell: {} {} {} {} {} {}",
        fmt_g(c.cell[0]), fmt_g(c.cell[1]), fmt_g(c.cell[2]), fmt_g(c.cell[3]), fmt_g(c.cell[4]), fmt_g(c.cell[5])
    );
    if let Some(m) = c.misset {
        println!("misset angles: {} {} {} deg", fmt_g(m[0].to_degrees()), fmt_g(m[1].to_degrees()), fmt_g(m[2].to_degrees()));
    }
    println!("  {}x{}x{} cells, {:?} shape", c.n[0], c.n[1], c.n[2], c.shape);
    println!("  {} sources, {} mosaic domains, {} phi steps, {}x{} oversample", p.sources.len(), p.domains, p.phisteps, p.oversample, p.oversample);
    println!(
        "  distance={} detsize={}x{} pixel={} meters ({}x{} pixels)",
        fmt_g(d.distance), fmt_g(d.detsize_f), fmt_g(d.detsize_s), fmt_g(d.pixel_size), d.fpixels, d.spixels
    );
    println!("DETECTOR_PIX0_VECTOR {:.15} {:.15} {:.15}", d.pix0[0], d.pix0[1], d.pix0[2]);
}

/// SMV header values exactly as nanoBragg.c writes them.
fn smv_header(e: &Experiment) -> SmvHeader {
    let d = &e.detector;
    let s = &e.sampling;
    SmvHeader {
        fpixels: d.fpixels,
        spixels: d.spixels,
        pixel_size_mm: d.pixel_size * 1000.0,
        distance_mm: d.distance * 1000.0,
        wavelength_a: e.beam.lambda0 * 1e10,
        beam_center_x_mm: d.xbeam * 1000.0,
        beam_center_y_mm: d.ybeam * 1000.0,
        adxv_center_x_mm: d.fbeam * 1000.0,
        adxv_center_y_mm: (d.detsize_s - d.sbeam) * 1000.0,
        mosflm_center_x_mm: (d.sbeam - 0.5 * d.pixel_size) * 1000.0,
        mosflm_center_y_mm: (d.fbeam - 0.5 * d.pixel_size) * 1000.0,
        denzo_x_beam_mm: (d.sbeam - 0.0 * d.pixel_size) * 1000.0,
        denzo_y_beam_mm: (d.fbeam - 0.0 * d.pixel_size) * 1000.0,
        dials_origin_mm: d.dials_origin,
        xds_orgx: d.orgx,
        xds_orgy: d.orgy,
        close_distance_mm: d.close_distance * 1000.0,
        phi_deg: s.phi0.to_degrees(),
        osc_start_deg: s.phi0.to_degrees(),
        osc_range_deg: s.osc.to_degrees(),
        twotheta_deg: d.twotheta.to_degrees(),
    }
}

/// Whether a pixel lies in the ROI (C's output loops test only the ROI, not the mask).
fn in_roi(p: &Plan, idx: usize) -> bool {
    let (fast, slow) = (idx % p.fpixels, idx / p.fpixels);
    let [x0, x1, y0, y1] = p.roi;
    fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1
}

/// SMV counts: value·scale + adc, clamped, rounded through a float as C's `floorf(x + 0.5)`.
pub fn int_pixels(p: &Plan, image: &[f32], scale: f64, adc: f64) -> Vec<u16> {
    image
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if !in_roi(p, i) {
                return 0;
            }
            let test = (v as f64 * scale + adc).clamp(0.0, 65535.0);
            ((test + 0.5) as f32).floor() as u16
        })
        .collect()
}

/// PGM bytes: value·scale truncated, capped at 255.
pub fn pgm_pixels(p: &Plan, image: &[f32], scale: f64) -> Vec<u8> {
    image.iter().enumerate().map(|(i, &v)| if in_roi(p, i) { (v as f64 * scale).min(255.0) as u8 } else { 0 }).collect()
}

fn write_outputs(e: &Experiment, p: &Plan, r: &Rendered) -> Result<()> {
    let o = &e.output;
    let st = &r.stats;
    let quiet = o.quiet;
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    say(format!(
        "solid angle subtended by detector = {} steradian ( {}% sphere)",
        fmt_g(st.omega_sum / p.steps as f64),
        fmt_g(100.0 * st.omega_sum / p.steps as f64 / 4.0 / std::f64::consts::PI)
    ));
    if let Some(at) = r.interpolation_switched_at {
        say(format!(
            "WARNING: out of range for three point interpolation at pixel ({}, {}); nearest-neighbour F from there on",
            at % p.fpixels,
            at / p.fpixels
        ));
    }
    if o.printout {
        print_pixels(p, &r.image, o.printout_pixel);
    }
    write_atomic(&o.floatfile, &rawfloat::encode_float_image(&r.image))?;
    let (max_x, max_y) = max_position(p, st.max_i, st.max_at);
    say(format!("max_I = {}  at {} {}", fmt_g(st.max_i), fmt_g(max_x), fmt_g(max_y)));
    say(format!("mean= {} rms= {} rmsd= {}", fmt_g(st.mean), fmt_g(st.rms), fmt_g(st.rmsd)));
    let int_scale = if o.intfile_scale > 0.0 { o.intfile_scale } else if st.max_i > 0.0 { 55000.0 / st.max_i } else { 1.0 };
    say(format!("intfile_scale = {}", fmt_g(int_scale)));
    let header = smv_header(e);
    write_atomic(&o.intfile, &encode_smv(&header, &int_pixels(p, &r.image, int_scale, o.adc_offset)))?;
    if let Some(path) = &o.pgmfile {
        let scale = if o.pgm_scale > 0.0 { o.pgm_scale } else if st.rmsd > 0.0 { 250.0 / (5.0 * st.rmsd) } else { int_scale };
        say(format!("pgm_scale = {}", fmt_g(scale)));
        write_atomic(path, &pgm::encode_pgm(p.fpixels, p.spixels, &pgm_pixels(p, &r.image, scale), scale))?;
    }
    if let Some(path) = &o.pngfile {
        crate::io::png::write_png(path, p.fpixels, p.spixels, &r.image, &crate::io::png::PngOptions::from_output(o, |i| in_roi(p, i)))?;
    }
    if let Some(path) = &o.noisefile {
        let noise = rng::noise_image(&r.image, |i| in_roi(p, i), o.seed, o.adc_offset);
        say(format!("{:.0} photons on noise image ({} overloads)", noise.photons, noise.overloads));
        write_atomic(path, &encode_smv(&header, &noise.pixels))?;
    }
    Ok(())
}

/// `-printout`: every rendered pixel's value, or only the `-printout_pixel fast slow` one.
fn print_pixels(p: &Plan, image: &[f32], only: Option<(i64, i64)>) {
    for (idx, v) in image.iter().enumerate() {
        let (fast, slow) = (idx % p.fpixels, idx / p.fpixels);
        let selected = only.is_none_or(|(f, s)| f < 0 || (f as usize == fast && s as usize == slow));
        if selected && p.renders(fast, slow) {
            println!("{fast:4} {slow:4} : pixel {}", fmt_g(*v as f64));
        }
    }
}

/// C reports the brightest pixel at its last sub-pixel's detector coordinates (m).
fn max_position(p: &Plan, max_i: f64, at: usize) -> (f64, f64) {
    if max_i <= 0.0 {
        return (0.0, 0.0);
    }
    let os = p.oversample;
    let last = |pix: usize| p.subpixel_size * (pix * os + os - 1) as f64 + p.subpixel_size / 2.0;
    (last(at % p.fpixels), last(at / p.fpixels))
}
