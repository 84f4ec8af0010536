//! One simulation run: command line → experiment → plan → render → output files, with the
//! checks that make a bad run fail before any output exists.

use crate::cli::parse::{Command, parse};
use crate::cli::raw::RawArgs;
use crate::engine::{self, EngineUsed, Rendered, plan::Plan};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{SmvHeader, encode_smv};
use crate::io::{OutputTarget, OutputsToWrite, TempFile, cbf, fdump, output_target, pgm, png, rawfloat};
use crate::model::{Experiment, resolve};
use crate::progress::{self, ProgressDisplay, RenderControl};
use crate::rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Run the simulator for command-line `args` (without the program name); Ctrl-C stops it.
pub fn run(args: &[String]) -> Result<()> {
    let control = Arc::new(RenderControl::default());
    progress::cancel_on_ctrl_c(&control);
    let outcome = run_controlled(args, &control);
    control.finish();
    outcome
}

/// As `run`, stopped through `control` instead of a signal (for callers and tests).
pub fn run_controlled(args: &[String], control: &Arc<RenderControl>) -> Result<()> {
    let time_seed = -(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1));
    let raw = match parse(args, time_seed)? {
        Command::Help => {
            crate::out!("{}", crate::cli::defs::help_text());
            return Ok(());
        }
        Command::Run(raw) => raw,
    };
    check_outputs(&raw)?;
    let exp = resolve(&raw).map_err(|e| crate::cli::parse::with_input_flag(&raw, e))?;
    let plan = Plan::new(&exp);
    crate::diagnostics::before_render(&exp, &plan)?;
    if !exp.output.quiet {
        print_setup(&exp, &plan);
    }
    let rendered = render_with_progress(&exp, &plan, &raw, control)?;
    if let EngineUsed::Gpu { adapter, backend } = &rendered.engine
        && !exp.output.quiet
    {
        crate::outln!("GPU engine: {adapter} ({backend})");
    }
    check_finite(&plan, &rendered.image)?;
    let files = encode_outputs(&exp, &plan, &rendered)?;
    let named: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
    // opening a FIFO output waits for its reader; Ctrl-C still ends the run during that wait
    let outputs = OutputsToWrite::open(&named)?;
    control.begin_writing()?;
    outputs.write()?;
    write_structure_factor_cache(&raw, &exp);
    // after the outputs, so that a failing diagnostic never costs the rendered images
    crate::diagnostics::after_render(&exp, &plan, &rendered, raw.backend.as_deref())
}

/// The render, with a progress bar on a terminal that disappears however the render ends.
fn render_with_progress(exp: &Experiment, plan: &Plan, raw: &RawArgs, control: &Arc<RenderControl>) -> Result<Rendered> {
    let _display = progress::bar_wanted(exp.output.progress, exp.output.quiet)
        .then(|| ProgressDisplay::start(Arc::clone(control), plan.spixels));
    engine::render_watched_with(plan, raw.engine, &raw.gpu_options(), control)
}

/// nanoBragg.c caches the structure factors of every `-hkl` run in ./Fdump.bin; written after
/// the outputs, so a failed or interrupted run leaves no cache behind, and atomically, so a
/// reader never sees half a cache. Not written with `-nofdump`, when `-hkl` already names the
/// cache, or when the cache's path is another input (C would replace that input with the
/// binary cache). Failing to write it is not fatal (the images are done).
fn write_structure_factor_cache(raw: &RawArgs, exp: &Experiment) {
    let (Some(hkl), Some(sf)) = (&raw.hkl, &exp.crystal.structure_factors) else { return };
    if !raw.write_fdump || same_file(hkl, &raw.fdump) {
        return;
    }
    let cache = raw.fdump.display();
    if let Some((what, _)) = typed_inputs(raw).iter().find(|(_, p)| same_file(p, &raw.fdump)) {
        log::warn!("not writing the structure-factor cache {cache}: it is {what}");
        return;
    }
    if let Err(e) = fdump::write_fdump(&raw.fdump, sf) {
        log::warn!("unable to write dump file {cache}: {e}");
    }
}

/// The last guard, in both modes: whatever input led to it (c-parity renders what C renders),
/// an image holding NaN or infinite pixels is refused before any output is written, never
/// saved with a zero exit status.
fn check_finite(p: &Plan, image: &[f32]) -> Result<()> {
    let Some(first) = image.iter().position(|v| !v.is_finite()) else { return Ok(()) };
    let count = image.iter().filter(|v| !v.is_finite()).count();
    Err(Error::Usage(format!(
        "the rendered image has {count} pixel(s) that are not finite numbers (first: fast {} slow {} = {}); nothing was written: \
         check the beam, detector and crystal values and the input files",
        first % p.fpixels,
        first / p.fpixels,
        image[first]
    )))
}

/// The output files of a run with the flags that name them, in the order they are written.
fn outputs_of(raw: &RawArgs) -> Vec<(&'static str, PathBuf)> {
    let mut outputs = vec![("-floatfile", raw.floatfile.clone()), ("-intfile", raw.intfile.clone())];
    if raw.write_pgm {
        outputs.push(("-pgmfile", raw.pgmfile.clone()));
    }
    if raw.calculate_noise {
        outputs.push(("-noisefile", raw.noisefile.clone()));
    }
    outputs.extend(raw.pngfile.clone().map(|p| ("-pngfile", p)));
    if raw.preview {
        outputs.push(("-preview", crate::preview::preview_path(&raw.floatfile)));
    }
    outputs.extend(raw.cbffile.clone().map(|p| ("-cbffile", p)));
    outputs
}

/// Every file the run reads, described for a refusal message; the structure-factor cache is
/// among them whenever the run may read it (c-parity without -hkl) or write it (-hkl).
fn inputs_of(raw: &RawArgs) -> Vec<(String, &Path)> {
    let mut inputs = typed_inputs(raw);
    let cache_read = raw.hkl.is_none() && raw.mode == crate::cli::raw::Mode::CParity;
    let cache_written = raw.hkl.is_some() && raw.write_fdump;
    if cache_read || cache_written {
        inputs.push((format!("{}, the structure-factor cache", raw.fdump.display()), raw.fdump.as_path()));
    }
    inputs
}

/// The input files named on the command line (or read from it: -img, -mask headers).
fn typed_inputs(raw: &RawArgs) -> Vec<(String, &Path)> {
    let typed = [("-hkl", &raw.hkl), ("-mat", &raw.mat), ("-img", &raw.img), ("-mask", &raw.mask), ("-sourcefile", &raw.sourcefile), ("-stol", &raw.stolfile)];
    typed.into_iter().filter_map(|(flag, p)| p.as_deref().map(|p| (format!("the {flag} input"), p))).collect()
}

/// Every output must be a distinct file, not one of the inputs, not a directory, a name the
/// file system can hold, not read-only, and (unless it is a device or FIFO, written through) in
/// a directory we can create files in; checked before the (possibly long) render, so that no
/// render is wasted on outputs that cannot be written.
fn check_outputs(raw: &RawArgs) -> Result<()> {
    let inputs = inputs_of(raw);
    let outputs = outputs_of(raw);
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let refuse = |why: String| Err(Error::Usage(format!("{flag} {}: {why}", out.display())));
        let target = match output_target(out) {
            Ok(t) => t,
            Err(why) => return refuse(why),
        };
        // a character device (/dev/null) may take several outputs, and may be an input too:
        // nothing written there can be read back
        let shared_device = is_char_device(out);
        if let Some((what, _)) = inputs.iter().find(|(_, p)| !shared_device && same_file(p, out)) {
            return refuse(format!("refusing to overwrite {what}"));
        }
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| !shared_device && same_file(p, out)) {
            return refuse(format!("the same file is already the {other} output"));
        }
        if let OutputTarget::Replace { file, mode } = &target
            && let Err(e) = probe_directory(file, *mode)
        {
            return refuse(format!("cannot create files there: {e}"));
        }
    }
    Ok(())
}

/// Creates (and, on drop, removes) a temporary exactly as the write at the end of the run will:
/// same directory, same kind of name, same mode. The surest test that it will be allowed.
fn probe_directory(file: &Path, mode: Option<u32>) -> std::io::Result<()> {
    TempFile::beside(file, mode).map(drop)
}

fn is_char_device(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Whether two paths name the same file, also when neither exists yet ("x" and "./x").
fn same_file(a: &Path, b: &Path) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(p: &Path) -> PathBuf {
    if let Ok(full) = p.canonicalize() {
        return full;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), p.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => p.to_path_buf(),
    }
}

fn print_setup(e: &Experiment, p: &Plan) {
    let d = &e.detector;
    let c = &e.crystal;
    crate::outln!("nanobragg {} ({:?} mode)", env!("CARGO_PKG_VERSION"), e.mode);
    crate::outln!("{:?} convention, pivot {:?}", d.convention, d.pivot);
    crate::outln!(
        "Unit Cell: {} {} {} {} {} {}",
        fmt_g(c.cell[0]), fmt_g(c.cell[1]), fmt_g(c.cell[2]), fmt_g(c.cell[3]), fmt_g(c.cell[4]), fmt_g(c.cell[5])
    );
    if let Some(m) = c.misset {
        crate::outln!("misset angles: {} {} {} deg", fmt_g(m[0].to_degrees()), fmt_g(m[1].to_degrees()), fmt_g(m[2].to_degrees()));
    }
    crate::outln!("  {}x{}x{} cells, {:?} shape", c.n[0], c.n[1], c.n[2], c.shape);
    crate::outln!("  {} sources, {} mosaic domains, {} phi steps, {}x{} oversample", p.sources.len(), p.domains, p.phisteps, p.oversample, p.oversample);
    crate::outln!(
        "  distance={} detsize={}x{} pixel={} meters ({}x{} pixels)",
        fmt_g(d.distance), fmt_g(d.detsize_f), fmt_g(d.detsize_s), fmt_g(d.pixel_size), d.fpixels, d.spixels
    );
    crate::outln!("DETECTOR_PIX0_VECTOR {:.15} {:.15} {:.15}", d.pix0[0], d.pix0[1], d.pix0[2]);
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
/// Row by row (no index division per pixel); the value is never below ½, so truncating is
/// that floor.
pub fn int_pixels(p: &Plan, image: &[f32], scale: f64, adc: f64) -> Vec<u16> {
    let [x0, x1, y0, y1] = p.roi;
    let mut out = vec![0u16; image.len()];
    for (slow, (row, pixels)) in out.chunks_mut(p.fpixels).zip(image.chunks(p.fpixels)).enumerate() {
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

/// PGM bytes: value·scale truncated, capped at 255.
pub fn pgm_pixels(p: &Plan, image: &[f32], scale: f64) -> Vec<u8> {
    image.iter().enumerate().map(|(i, &v)| if in_roi(p, i) { (v as f64 * scale).min(255.0) as u8 } else { 0 }).collect()
}

/// Every output file's bytes, printing nanoBragg.c's report lines on the way; nothing is
/// written here, so the caller can put all files in place at once.
fn encode_outputs(e: &Experiment, p: &Plan, r: &Rendered) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let o = &e.output;
    let st = &r.stats;
    let quiet = o.quiet;
    let say = |s: String| {
        if !quiet {
            crate::outln!("{s}");
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
    let mut files = vec![(o.floatfile.clone(), rawfloat::encode_float_image(&r.image))];
    let (max_x, max_y) = max_position(p, st.max_i, st.max_at);
    say(format!("max_I = {}  at {} {}", fmt_g(st.max_i), fmt_g(max_x), fmt_g(max_y)));
    say(format!("mean= {} rms= {} rmsd= {}", fmt_g(st.mean), fmt_g(st.rms), fmt_g(st.rmsd)));
    let int_scale = if o.intfile_scale > 0.0 { o.intfile_scale } else if st.max_i > 0.0 { 55000.0 / st.max_i } else { 1.0 };
    say(format!("intfile_scale = {}", fmt_g(int_scale)));
    let header = smv_header(e);
    files.push((o.intfile.clone(), encode_smv(&header, &int_pixels(p, &r.image, int_scale, o.adc_offset))));
    if let Some(path) = &o.pgmfile {
        let scale = if o.pgm_scale > 0.0 { o.pgm_scale } else if st.rmsd > 0.0 { 250.0 / (5.0 * st.rmsd) } else { int_scale };
        say(format!("pgm_scale = {}", fmt_g(scale)));
        files.push((path.clone(), pgm::encode_pgm(p.fpixels, p.spixels, &pgm_pixels(p, &r.image, scale), scale)));
    }
    if let Some(path) = &o.pngfile {
        let opts = png::PngOptions::from_output(o, |i| in_roi(p, i));
        files.push((path.clone(), png::png_bytes(p.fpixels, p.spixels, &r.image, &opts)?));
    }
    let mut noise_counts = None;
    if let Some(path) = &o.noisefile {
        let noise = rng::noise_image(&r.image, |i| in_roi(p, i), o.seed, o.adc_offset);
        say(format!("{:.0} photons on noise image ({} overloads)", noise.photons, noise.overloads));
        files.push((path.clone(), encode_smv(&header, &noise.pixels)));
        noise_counts = Some(noise.counts);
    }
    if let Some(path) = &o.cbffile {
        // a photon-counting detector's image: the noisy counts when there are any, unclipped
        let counts = cbf::photon_counts(noise_counts.as_deref().unwrap_or(&r.image));
        files.push((path.clone(), cbf::encode_cbf(&cbf_header(e), &counts)));
    }
    Ok(files)
}

/// miniCBF header values; the beam position is where the beam meets the detector, in pixels
/// along the fast and slow axes from the first pixel's corner (dxtbx's simple detector model).
fn cbf_header(e: &Experiment) -> cbf::CbfHeader {
    let d = &e.detector;
    cbf::CbfHeader {
        fpixels: d.fpixels,
        spixels: d.spixels,
        pixel_size_m: d.pixel_size,
        distance_m: d.distance,
        wavelength_a: e.beam.lambda0 * 1e10,
        beam_xy_px: (d.fbeam / d.pixel_size, d.sbeam / d.pixel_size),
        start_angle_deg: e.sampling.phi0.to_degrees(),
        angle_increment_deg: e.sampling.osc.to_degrees(),
        exposure_s: e.beam.exposure,
        silicon_thickness_m: (d.thick > 0.0).then_some(d.thick),
        timestamp: cbf::timestamp(std::time::SystemTime::now()),
    }
}

/// `-printout`: every rendered pixel's value, or only the `-printout_pixel fast slow` one.
fn print_pixels(p: &Plan, image: &[f32], only: Option<(i64, i64)>) {
    for (idx, v) in image.iter().enumerate() {
        let (fast, slow) = (idx % p.fpixels, idx / p.fpixels);
        let selected = only.is_none_or(|(f, s)| f < 0 || (f as usize == fast && s as usize == slow));
        if selected && p.renders(fast, slow) {
            crate::outln!("{fast:4} {slow:4} : pixel {}", fmt_g(*v as f64));
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
