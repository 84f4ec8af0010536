//! The command line's use of the `Simulator`: command line → experiment → simulator → one
//! frame or a rotation series → output files, with the checks that make a bad run fail before
//! any output exists, the report lines, the progress bar and the writing.

use crate::cli::parse::{Command, parse};
use crate::cli::Resolve;
use crate::cli::raw::RawArgs;
use crate::dataset::series::Series;
use crate::dataset::shard::DatasetRun;
use crate::dataset::shots::ShotList;
use crate::dataset::files::Registry;
use crate::dataset::template;
use crate::engine::{EngineUsed, RenderedImage, plan::Plan};
use crate::engine::gpu::{DetectorResponse, NoisePixels, Recorded};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{SmvHeader, encode_smv, encode_smv_u32};
use crate::io::nexus::{FramePixels, NexusHeader, NexusWriter};
use crate::io::{OutputsToWrite, cbf, fdump, pgm, png, rawfloat};
use crate::model::Experiment;
use crate::output::Output;
use crate::progress::{self, ProgressDisplay, RenderControl};
use crate::response::record::Recorder;
use crate::simulator::{Frame, Simulator};
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
    let clock_seed = crate::cli::time_seed();
    let mut raw = match parse(args, clock_seed)? {
        Command::Help => {
            crate::out!("{}", crate::cli::defs::help_text());
            return Ok(());
        }
        Command::Run(raw) => raw,
    };
    // a resumed run takes the seed its manifest says the run drew from the clock (the clock
    // fills only -seed and -misset_seed when they are not typed), so that a run without
    // -seed can be resumed, and one with its printed seed typed is the same run
    let time_seed = match crate::dataset::shard::drawn_seed_to_reuse(&raw) {
        Some(drawn) => {
            let params = &mut raw.params;
            for seed in [&mut params.seed, &mut params.misset_seed] {
                if *seed == clock_seed {
                    *seed = -drawn;
                }
            }
            -drawn
        }
        None => clock_seed,
    };
    let source_date_epoch = source_date_epoch()?;
    // a shot list is a series of frames 1..N (raw.frames), each turned to its shot's experiment
    let mut shots = ShotList::from_command(&mut raw)?;
    let shared_int_scale = share_int_scale(&mut raw);
    check_series(&raw)?;
    // every file the run reads and writes, in one registry, before anything is read at length
    let manifest_path = crate::dataset::shard::manifest_path(&raw)?;
    let files = check_files(&raw, shots.as_ref(), manifest_path.as_deref())?;
    let budget = raw.budget();
    let (exp, inputs) = raw.resolve_within(&budget).map_err(|e| crate::cli::parse::with_input_flag(&raw, e))?;
    let templates = Output::of(&raw)?;
    if let Some(list) = shots.as_mut() {
        // one NeXus file describes one detector and beam: shots that change them cannot share it
        let frames = raw.frames.unwrap_or(1) as usize;
        let nexus = raw.nexusfile.as_ref().map(|_| NexusHeader::from_experiment(&exp, frames, raw.nexus_float));
        let differs = |header: &NexusHeader, shot: &Experiment| {
            // the clock's start time aside, what the file says about the detector and beam
            let mut of_shot = NexusHeader::from_experiment(shot, frames, raw.nexus_float);
            of_shot.start_time.clone_from(&header.start_time);
            of_shot != *header
        };
        list.check_every_shot((inputs, budget), |number, shot| match &nexus {
            Some(header) if differs(header, shot) => Err(Error::Usage(format!(
                "-nexusfile: shot {number} changes the detector or the beam, which one NeXus file describes once for the whole run; write such shots with -cbffile or -floatfile templates"
            ))),
            _ => Ok(()),
        })?;
    }
    let series = Series::new(&raw, &exp);
    // the shard, the frames a resume skips and the manifest: refused here, before any render
    let identity = crate::dataset::shard::Identity { inputs: input_files(&raw, shots.as_ref()), source_date_epoch };
    let dataset = DatasetRun::new(&raw, args, &series, time_seed, &identity)?;
    if raw.nexusfile.is_some() && (dataset.shard.count > 1 || raw.resume) {
        return Err(Error::Usage(
            "-nexusfile: one NeXus file holds the whole run, written when its last frame is done, so it cannot be split by -shard or continued by -resume; give sharded or resumable runs per-frame outputs (-cbffile, -floatfile templates)".into(),
        ));
    }
    let mut output = templates.clone();
    if series.count == 1 {
        // the one frame's names are the run's
        name_frame_outputs(&mut output, &templates, series.templated.then_some(series.first))?;
    }
    let mut sim = Simulator::new(exp, raw.engine, raw.gpu_options());
    crate::diagnostics::before_render(sim.experiment(), &output, sim.plan())?;
    if !output.quiet {
        print_setup(sim.experiment(), sim.plan());
        if let Some(list) = &shots {
            crate::outln!("{}", list.describe());
        } else if series.count > 1 {
            crate::outln!(
                "rotation series: frames {} to {}, frame k starting at phi {} + (k - {})*{} deg",
                series.first, series.last(), fmt_g(raw.phi_deg), series.first, fmt_g(sim.experiment().sampling.osc.to_degrees())
            );
        }
        if shared_int_scale {
            crate::outln!("int images: one scale for every frame, {} count per photon (-scale chooses another)", fmt_g(SERIES_INT_SCALE));
        }
        if let Some(line) = dataset.describe(&series) {
            crate::outln!("{line}");
        }
    }
    // the NeXus file holds the whole run: made (as a temporary) before the first frame
    let nexus = match &raw.nexusfile {
        Some(path) => Some(NexusWriter::create(path, NexusHeader::from_experiment(sim.experiment(), series.count as usize, raw.nexus_float))?),
        None => None,
    };
    if series.count == 1 && dataset.manifest.is_none() && shots.is_none() {
        render_one(&mut sim, &output, &series, &raw, control, nexus, &files)
    } else {
        render_series(&mut sim, &series, shots.as_ref(), &raw, templates, dataset, control, nexus)?;
        write_structure_factor_cache(&raw, sim.experiment(), &files);
        Ok(())
    }
}

/// `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds convention): the time CBF
/// headers carry, so that an image's bytes are a function of the run and the frame only;
/// unset, the Unix epoch itself. A value that is not a whole number of seconds is refused.
fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error::Usage(format!("SOURCE_DATE_EPOCH={v}: not a whole number of seconds since 1970 (the time CBF headers carry)"))),
        _ => Ok(None),
    }
}

/// The time the run's CBF headers carry (`source_date_epoch`, checked at the start).
fn run_time() -> std::time::SystemTime {
    let seconds = source_date_epoch().ok().flatten().unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

/// The SMV int-image scale of every frame of a series in the default mode: one count per
/// photon (plus the ADC offset), the noise image's scale without the noise.
pub const SERIES_INT_SCALE: f64 = 1.0;

/// nanoBragg.c scales each int image to its own brightest pixel (55000/max), so the frames of
/// a series, rendered by a loop of C processes, each get another scale and cannot be compared
/// count for count. The default mode gives a rotation series (`-frames`, `-first_frame`)
/// without `-scale` one scale, fixed before anything renders, so that each frame can be written
/// as soon as it is done, and a shard or a resumed run writes the same bytes as one process
/// (docs/datasets.md). `-c_parity` keeps C's per-image scale, and so do the stills of a shot
/// list, each of which its printed line reproduces as a single run. Returns whether it applies.
fn share_int_scale(raw: &mut RawArgs) -> bool {
    let shots = raw.shots_file.is_some() || raw.shots_count.is_some();
    let series = (raw.frames.is_some() || raw.first_frame.is_some()) && !shots;
    let applies = raw.mode == crate::cli::raw::Mode::Default && series && raw.intfile_scale <= 0.0;
    if applies {
        raw.intfile_scale = SERIES_INT_SCALE;
    }
    applies
}

/// A single image (the one-frame case): render, encode, write, then the diagnostics.
fn render_one(sim: &mut Simulator, output: &Output, series: &Series, raw: &RawArgs, control: &Arc<RenderControl>, mut nexus: Option<NexusWriter>, files: &Registry) -> Result<()> {
    let frame = series.frame(series.first);
    let rendered = {
        let _display = progress_bar(sim, output, 1, control);
        sim.render(&frame, control)?
    };
    if !output.quiet {
        report_engine(&rendered);
    }
    hint_background_fluence(raw, sim.experiment(), &rendered);
    if let Some(why) = non_finite(sim.plan(), &rendered.image) {
        return Err(Error::Usage(format!("{why}; nothing was written: check the beam, detector and crystal values and the input files")));
    }
    let recorded = sim.response().record(rendered, &frame)?;
    write_frame(sim.experiment(), output, sim.plan(), &recorded, control, true, nexus.as_mut())?;
    if let Some(nexus) = nexus {
        nexus.finish()?;
    }
    write_structure_factor_cache(raw, sim.experiment(), files);
    // after the outputs, so that a failing diagnostic never costs the rendered images
    crate::diagnostics::after_render(sim.experiment(), output, sim.plan(), &recorded.photons, &raw.gpu_options())
}

/// A rotation series: frame after frame rendered here while a writer thread encodes and
/// writes the frame before (a channel of one frame between them, so memory does not grow
/// with the number of frames). A frame whose render completed is written in full; Ctrl-C
/// stops the frame being rendered, which writes nothing, and no later frame is started.
///
/// `dataset` says which frames this process renders (its shard, less what a resume skips; by
/// position in the run) and where each written frame is recorded (the manifest line follows
/// the frame's files). A shot list (`shots`) is such a series whose frames each set up their
/// shot's experiment first; the writer gets that shot's encoding parts and report line with
/// its image. The writer hands the NeXus file back when every frame went in, to be finished
/// here once the series succeeded.
#[allow(clippy::too_many_arguments)]
fn render_series(
    sim: &mut Simulator,
    series: &Series,
    shots: Option<&ShotList>,
    raw: &RawArgs,
    templates: Output,
    mut dataset: DatasetRun,
    control: &Arc<RenderControl>,
    nexus: Option<NexusWriter>,
) -> Result<()> {
    let (light_exp, light_plan) = sim.encoding_parts();
    let response = sim.response();
    let _display = progress_bar(sim, &templates, dataset.to_render(series.count), control);
    let quiet = templates.quiet;
    let mut manifest = dataset.manifest.take();
    let osc_deg = sim.experiment().sampling.osc.to_degrees();
    // what the writer has put in place so far: (first, last, count) of the frame numbers
    let written: std::sync::Mutex<Option<(u64, u64, u64)>> = std::sync::Mutex::new(None);
    let contiguous = dataset.shard.count == 1 && !dataset.resumes();
    let summary = |w: Option<(u64, u64, u64)>| w.map(|w| written_summary(raw, series, shots.is_some(), contiguous, w));
    let (manifest, nexus) = std::thread::scope(|scope| {
        let (frames, received) = std::sync::mpsc::sync_channel::<(Frame, u64, RenderedImage, Option<Box<ShotParts>>)>(1);
        type Finished = (Option<crate::dataset::shard::PendingManifest>, Option<NexusWriter>);
        let written = &written;
        let writer = scope.spawn(move || -> Result<Finished> {
            let (mut exp, mut plan, mut response) = (light_exp, light_plan, response);
            let mut nexus = nexus;
            for (frame, position, rendered, shot) in received {
                let line = shot.map(|parts| {
                    let ShotParts { exp: e, plan: p, response: r, line } = *parts;
                    (exp, plan, response) = (e, p, r);
                    line
                });
                let outcome = write_series_frame(&mut exp, &plan, &response, &templates, series, &frame, rendered, line.as_deref(), control, nexus.as_mut())
                    .and_then(|(files, recorded)| {
                        // the frame's files are in place: what a stopped run reports from now on
                        if let Ok(mut w) = written.lock() {
                            let (first, _, count) = w.unwrap_or((frame.number, frame.number, 0));
                            *w = Some((first, frame.number, count + 1));
                            if let Some(note) = summary(*w) {
                                control.note_written(note);
                            }
                        }
                        match manifest.as_mut() {
                            Some(m) => {
                                let entry = crate::io::manifest::Entry::of(&frame, position, osc_deg, &files, &recorded.photons.image, recorded.overloads(), &m.folder());
                                m.append(&entry)
                            }
                            None => Ok(()),
                        }
                    });
                if let Err(e) = outcome {
                    // stop the render of the next frame: the series fails with this error
                    control.cancel();
                    return Err(e);
                }
            }
            Ok((manifest, nexus))
        });
        let mut outcome = Ok(());
        // the last two frames handed to the writer (still being written when the run stops)
        let mut recent: [Option<u64>; 2] = [None, None];
        // which frame or shot a failure is of, for its message
        let origin = |number: u64| match shots {
            Some(list) => list.origin(number),
            None => format!("frame {number}"),
        };
        for position in dataset.shard.positions(series.count) {
            let number = series.first + position;
            if !dataset.renders(position) {
                continue;
            }
            let (frame, shot) = match shots.map(|list| list.set_up(sim, number)) {
                None => (series.frame(number), None),
                Some(Ok((frame, line))) => {
                    let (exp, plan) = sim.encoding_parts();
                    (frame, Some(Box::new(ShotParts { exp, plan, response: sim.response(), line })))
                }
                Some(Err(e)) => {
                    outcome = Err(e);
                    break;
                }
            };
            let rendered = match sim.render(&frame, control) {
                Ok(r) => r,
                Err(Error::Interrupted) => {
                    outcome = Err(Error::Interrupted);
                    break;
                }
                Err(e) => {
                    outcome = Err(Error::Resource(format!("{}: {e}", origin(number))));
                    break;
                }
            };
            if recent[0].is_none() {
                if !quiet {
                    report_engine(&rendered);
                }
                hint_background_fluence(raw, sim.experiment(), &rendered);
            }
            if let Some(why) = non_finite(sim.plan(), &rendered.image) {
                outcome = Err(Error::Usage(format!(
                    "{}: {why}; it is not written: check the beam, detector and crystal values and the input files",
                    origin(number)
                )));
                break;
            }
            if frames.send((frame, position, rendered, shot)).is_err() {
                break; // the writer failed; its error is the series' outcome
            }
            recent = [Some(number), recent[0]];
        }
        drop(frames);
        if matches!(outcome, Err(Error::Interrupted)) {
            // the frames still queued finish writing; a FIFO output among them may wait for its
            // reader, which only the signal handler's own exit can end
            let queued = recent.iter().flatten();
            let fifo = queued.flat_map(|&n| frame_output_names(raw, series.templated.then_some(n)).unwrap_or_default()).any(|(_, p)| is_fifo(&p));
            if !fifo {
                control.cancel_honoured();
            }
        }
        let finished = writer.join().unwrap_or_else(|_| Err(Error::Usage("the thread writing the frames failed".into())));
        let so_far = summary(written.lock().ok().and_then(|w| *w));
        let (manifest, nexus) = finished.map_err(|e| with_written(e, so_far.as_deref()))?;
        match outcome {
            Err(Error::Interrupted) => {
                if let Some(path) = &raw.nexusfile {
                    log::warn!("stopped: the NeXus file {} holds the whole run and is not written", path.display());
                }
                Err(so_far.map_or(Error::Interrupted, Error::Stopped))
            }
            Err(e) => Err(with_written(e, so_far.as_deref())),
            Ok(()) => Ok((manifest, nexus)),
        }
    })?;
    if let Some(nexus) = nexus {
        nexus.finish()?;
    }
    if let Some(m) = manifest {
        m.finish()?;
    }
    Ok(())
}

/// What a series stopped or failed after `w` = (first, last, count) of its frames were put in
/// place has written, for its last message: the frames (or shots) and their files, named by
/// the first and last (devices left out).
fn written_summary(raw: &RawArgs, series: &Series, shots: bool, contiguous: bool, (first, last, count): (u64, u64, u64)) -> String {
    let noun = if shots { "shot" } else { "frame" };
    let names = |n: u64| frame_output_names(raw, series.templated.then_some(n)).unwrap_or_default();
    let files: Vec<String> = names(first)
        .into_iter()
        .zip(names(last))
        .filter(|((_, a), _)| !is_char_device(a))
        .map(|((_, a), (_, b))| if first == last { a.display().to_string() } else { format!("{} … {}", a.display(), b.display()) })
        .collect();
    let files = if files.is_empty() { String::new() } else { format!(" ({})", files.join(", ")) };
    match (count, contiguous) {
        (1, _) => format!("{noun} {first} is written{files}, later {noun}s are not"),
        (_, true) => format!("{noun}s {first} to {last} are written{files}, later {noun}s are not"),
        (n, false) => format!("{n} of this run's {noun}s, from {first} to {last}, are written{files}; later ones are not"),
    }
}

/// A series' error with what it had written before it (`so_far`), so that its message never
/// leaves the frames already in place unsaid; the exit status is the error's.
fn with_written(e: Error, so_far: Option<&str>) -> Error {
    match (e, so_far) {
        (e, None) => e,
        (Error::Usage(m), Some(w)) => Error::Usage(format!("{m}; {w}")),
        (Error::Interrupted, Some(w)) => Error::Stopped(w.to_string()),
        (e, Some(w)) => Error::Resource(format!("{e}; {w}")),
    }
}

/// A shot's experiment and plan for the writer (without the structure factors), its detector
/// response, and its report line: the words that reproduce it in a single run.
struct ShotParts {
    exp: Experiment,
    plan: Plan,
    response: DetectorResponse,
    line: String,
}

/// The writer thread's part for one frame: its values and names into the encoding copy of the
/// experiment, its report lines, its detector response (recorded here, while the next frame
/// renders), its files. The series' last frame is the point of no return, as a single image's
/// is; earlier frames are complete and written whatever happens next. Returns the files
/// written and the frame as recorded (for the manifest).
#[allow(clippy::too_many_arguments)]
fn write_series_frame(
    exp: &mut Experiment,
    plan: &Plan,
    response: &DetectorResponse,
    templates: &Output,
    series: &Series,
    frame: &Frame,
    rendered: RenderedImage,
    shot_line: Option<&str>,
    control: &RenderControl,
    nexus: Option<&mut NexusWriter>,
) -> Result<(Vec<(PathBuf, Vec<u8>)>, Recorded)> {
    frame.apply(exp);
    let mut output = templates.clone();
    name_frame_outputs(&mut output, templates, series.templated.then_some(frame.number))?;
    if let Some(line) = shot_line {
        if !output.quiet {
            crate::outln!("{line}");
        }
    } else if !output.quiet {
        let end = series.start_deg(frame.number + 1);
        let seed = if output.noisefile.is_some() { format!(" -seed {}", -frame.seed) } else { String::new() };
        let alone = match exp.mode {
            // the frame number is a word of every noise counter and the int scale is the
            // series' (docs/datasets.md): a single run reproduces the frame as frame k of a series
            crate::cli::raw::Mode::Default => format!("; alone: -phi {} -first_frame {} -frames 1{seed}", frame.phi_start_deg, frame.number),
            // as a loop of nanoBragg.c processes: the start and the run's seed
            crate::cli::raw::Mode::CParity if !seed.is_empty() => format!(", noise{seed}"),
            crate::cli::raw::Mode::CParity => String::new(),
        };
        crate::outln!("frame {}: phi {} to {} deg{alone}", frame.number, fmt_g(frame.phi_start_deg), fmt_g(end));
    }
    let recorded = response.record(rendered, frame)?;
    let files = write_frame(exp, &output, plan, &recorded, control, frame.number == series.last(), nexus)?;
    Ok((files, recorded))
}

/// Encodes a recorded frame and puts all its outputs in place at once. `point_of_no_return`:
/// a cancel request that comes before the files are open still stops the write (nothing is
/// written); after it, the files are finished. The frame goes into the run's NeXus file (a
/// temporary until the run ends) first, so that a failure there writes none of its files.
/// Returns the files written (for the manifest).
fn write_frame(
    e: &Experiment,
    o: &Output,
    p: &Plan,
    r: &Recorded,
    control: &RenderControl,
    point_of_no_return: bool,
    nexus: Option<&mut NexusWriter>,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let files = encode_outputs(e, o, p, r)?;
    if let Some(nexus) = nexus {
        let phi_start_deg = e.sampling.phi0.to_degrees();
        if nexus.float() {
            nexus.append(phi_start_deg, FramePixels::Photons(&r.photons.image))?;
        } else {
            // the same counts as the CBF image: a photon-counting detector's
            let counts = cbf::photon_counts(r.counts());
            nexus.append(phi_start_deg, FramePixels::Counts(&counts))?;
        }
    }
    let named: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
    // opening a FIFO output waits for its reader; Ctrl-C still ends the run during that wait
    let outputs = OutputsToWrite::open(&named)?;
    if point_of_no_return {
        control.begin_writing()?;
    }
    outputs.write()?;
    Ok(files)
}

/// A progress bar over the rows of `frames` frames on a terminal; it disappears when dropped.
fn progress_bar(sim: &Simulator, o: &Output, frames: u64, control: &Arc<RenderControl>) -> Option<ProgressDisplay> {
    progress::bar_wanted(o.progress, o.quiet).then(|| ProgressDisplay::start(Arc::clone(control), sim.plan().spixels * frames as usize))
}

/// nanoBragg.c's default fluence (1.26e29 photons/m²) is that of its crystal examples; the
/// amorphous sample of `-stol`, some 10¹⁶ molecules for the default 0.1 mm cube of water,
/// scatters ~10¹¹ photons into every pixel at that fluence, past any detector's range (every
/// noise-image pixel an overload), and nothing says why. When the beam was left at that
/// default and the image goes past 16 bits, say which flags set it.
fn hint_background_fluence(raw: &RawArgs, exp: &Experiment, rendered: &crate::engine::Rendered) {
    let default_beam = raw.fluence == crate::cli::raw::C_FLUENCE && raw.flux == 0.0;
    if exp.amorphous.is_some() && default_beam && rendered.stats.max_i > 65535.0 {
        log::warn!(
            "the -stol background is rendered at nanoBragg.c's default fluence ({} photons/m^2): the brightest pixel holds {} photons, \
             past a 16-bit detector's 65535; give the beam's -fluence (photons/m^2), or -flux with -exposure and -beamsize",
            fmt_g(crate::cli::raw::C_FLUENCE),
            fmt_g(rendered.stats.max_i)
        );
    }
}

fn report_engine(rendered: &RenderedImage) {
    if let EngineUsed::Gpu { adapter, backend } = &rendered.engine {
        crate::outln!("GPU engine: {adapter} ({backend})");
    }
}

/// Sets the output names of frame `number` (None: not a series, the names stay as typed)
/// from the templates: a run of `#` becomes the zero-padded frame number.
fn name_frame_outputs(o: &mut Output, templates: &Output, number: Option<u64>) -> Result<()> {
    let Some(number) = number else { return Ok(()) };
    let name = |flag: &str, t: &Path| template::expand(t, number).map_err(|why| Error::Usage(format!("{flag} {}: {why}", t.display())));
    o.floatfile = name("-floatfile", &templates.floatfile)?;
    o.intfile = name("-intfile", &templates.intfile)?;
    o.pgmfile = templates.pgmfile.as_deref().map(|t| name("-pgmfile", t)).transpose()?;
    o.noisefile = templates.noisefile.as_deref().map(|t| name("-noisefile", t)).transpose()?;
    o.pngfile = templates.pngfile.as_deref().map(|t| name("-pngfile", t)).transpose()?;
    o.cbffile = templates.cbffile.as_deref().map(|t| name("-cbffile", t)).transpose()?;
    Ok(())
}

/// nanoBragg.c caches the structure factors of every `-hkl` run in ./Fdump.bin; written after
/// the outputs, so a failed or interrupted run leaves no cache behind, and atomically, so a
/// reader never sees half a cache. Not written with `-nofdump`, when `-hkl` already names the
/// cache, or when the cache's path is another input, of the command line or of a shot line (C
/// would replace that input with the binary cache). Failing to write it is not fatal (the
/// images are done).
fn write_structure_factor_cache(raw: &RawArgs, exp: &Experiment, files: &Registry) {
    let (Some(hkl), Some(sf)) = (&raw.hkl, &exp.crystal.structure_factors) else { return };
    if !raw.write_fdump || crate::dataset::files::same_file(hkl, &raw.fdump) {
        return;
    }
    let cache = raw.fdump.display();
    if let Some(what) = files.input_at(&raw.fdump) {
        log::warn!("not writing the structure-factor cache {cache}: it is {what}");
        return;
    }
    if let Err(e) = fdump::write_fdump(&raw.fdump, sf) {
        log::warn!("unable to write dump file {cache}: {e}");
    }
}

/// The last guard, in both modes: whatever input led to it (c-parity renders what C renders),
/// an image holding NaN or infinite pixels is refused before any output is written, never
/// saved with a zero exit status. Says what is wrong (None: every pixel is finite).
fn non_finite(p: &Plan, image: &[f32]) -> Option<String> {
    let first = image.iter().position(|v| !v.is_finite())?;
    let count = image.iter().filter(|v| !v.is_finite()).count();
    Some(format!(
        "the rendered image has {count} pixel(s) that are not finite numbers (first: fast {} slow {} = {})",
        first % p.fpixels,
        first / p.fpixels,
        image[first]
    ))
}

/// The output files of a run with the flags that name them, in the order they are written
/// (for a series: the templates).
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

/// The output files of frame `number` (None: not a series, the names as typed).
fn frame_output_names(raw: &RawArgs, number: Option<u64>) -> Result<Vec<(&'static str, PathBuf)>> {
    let outputs = outputs_of(raw);
    let Some(number) = number else { return Ok(outputs) };
    outputs
        .into_iter()
        .map(|(flag, t)| match template::expand(&t, number) {
            Ok(p) => Ok((flag, p)),
            Err(why) => Err(Error::Usage(format!("{flag} {}: {why}", t.display()))),
        })
        .collect()
}

/// The series flags make sense together with the outputs: each name with `#` has one run of
/// them, a series of several frames names every file output through a template (a literal
/// name would be overwritten frame after frame; a character device such as /dev/null may
/// take them all), and the one-image diagnostics are asked of single frames only.
fn check_series(raw: &RawArgs) -> Result<()> {
    let templated = raw.frames.is_some() || raw.first_frame.is_some();
    let count = raw.frames.unwrap_or(1);
    if let (Some(first), Some(count)) = (raw.first_frame, raw.frames)
        && first + count - 1 > crate::dataset::MAX_FRAME_NUMBER
    {
        return Err(Error::Usage(format!(
            "-first_frame {first} -frames {count}: the last frame number would pass {}",
            crate::dataset::MAX_FRAME_NUMBER
        )));
    }
    if !templated {
        return Ok(());
    }
    for (flag, t) in outputs_of(raw) {
        let is_template = template::is_template(&t).map_err(|why| Error::Usage(format!("{flag} {}: {why}", t.display())))?;
        if count > 1 && !is_template && !is_char_device(&t) {
            let what = if raw.shots_file.is_some() || raw.shots_count.is_some() { format!("{count} shots") } else { format!("-frames {count}") };
            if let Some(hint) = default_output_hint(flag, &t) {
                // nobody typed this name: say where it comes from and how to change it
                return Err(Error::Usage(format!(
                    "{hint}: with {what} every frame would overwrite it; name it with a run of '#' for the frame number, as {flag} {}",
                    template_example(flag)
                ) + &switch_off(flag)));
            }
            return Err(Error::Usage(format!(
                "{flag} {}: with {what} the name needs a run of '#' for the frame number (e.g. img_####.img), \
                 or every frame would overwrite it",
                t.display()
            )));
        }
    }
    if count > 1 {
        let single = [("-trace_pixel", raw.trace_pixel.is_some()), ("-validate", raw.validate.is_some()), ("-preview", raw.preview)];
        if let Some((flag, _)) = single.iter().find(|(_, on)| *on) {
            return Err(Error::Usage(format!(
                "{flag} reports on one image: not with -frames {count} (run the frame alone, with -phi set to its start)"
            )));
        }
    }
    Ok(())
}

/// The outputs nanoBragg.c writes without being asked, under these names: for a refusal of
/// such a name, the words that say it is the default (None for a name that is not a default).
fn default_output_hint(flag: &str, name: &Path) -> Option<String> {
    let (what, default) = match flag {
        "-floatfile" => ("float image", "floatimage.bin"),
        "-intfile" => ("SMV int image", "intimage.img"),
        "-pgmfile" => ("PGM image", "image.pgm"),
        "-noisefile" => ("noise image", "noiseimage.img"),
        _ => return None,
    };
    (name == Path::new(default)).then(|| format!("the {what} is written by default, as {default} ({flag})"))
}

/// A template name for `flag`'s output, for a message.
fn template_example(flag: &str) -> &'static str {
    match flag {
        "-floatfile" => "img_####.bin",
        "-pgmfile" => "img_####.pgm",
        "-noisefile" => "noise_####.img",
        _ => "img_####.img",
    }
}

/// How to switch a default output off, for a message ("" for outputs that are always written).
fn switch_off(flag: &str) -> String {
    match flag {
        "-pgmfile" => ", or switch it off with -nopgm".into(),
        "-noisefile" => ", or switch it off with -nonoise".into(),
        _ => String::new(),
    }
}

/// Every file the run reads, described for a refusal message; the structure-factor cache is
/// among them whenever the run may read it (c-parity without -hkl) or write it (-hkl): an
/// output there would be replaced by the cache, or read as one by the next run.
fn inputs_of(raw: &RawArgs) -> (Vec<(String, &Path)>, Option<(String, &Path)>) {
    let inputs: Vec<(String, &Path)> = typed_inputs(raw).into_iter().map(|(flag, p)| (format!("the {flag} input {}", p.display()), p)).collect();
    let cache_read = raw.hkl.is_none() && raw.mode == crate::cli::raw::Mode::CParity;
    let cache_written = raw.hkl.is_some() && raw.write_fdump;
    let cache = (cache_read || cache_written).then(|| (format!("{}, the structure-factor cache", raw.fdump.display()), raw.fdump.as_path()));
    (inputs, cache)
}

/// The input files named on the command line (or read from it: -img, -mask headers), by flag.
fn typed_inputs(raw: &RawArgs) -> Vec<(&'static str, &Path)> {
    let typed = [("-hkl", &raw.hkl), ("-mat", &raw.mat), ("-img", &raw.img), ("-mask", &raw.mask), ("-sourcefile", &raw.sourcefile), ("-stol", &raw.stolfile), ("-shots", &raw.shots_file)];
    typed.into_iter().filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p))).collect()
}

/// The input files whose contents identify the run in its manifest (`-resume` refuses a run
/// whose inputs changed): the command line's, the structure-factor cache when it is read, and
/// those the shot list's lines name.
fn input_files(raw: &RawArgs, shots: Option<&ShotList>) -> Vec<(String, PathBuf)> {
    let mut inputs: Vec<(String, PathBuf)> = typed_inputs(raw).into_iter().map(|(flag, p)| (flag.to_string(), p.to_path_buf())).collect();
    if raw.hkl.is_none() && raw.mode == crate::cli::raw::Mode::CParity && raw.fdump.is_file() {
        inputs.push(("the structure-factor cache".to_string(), raw.fdump.clone()));
    }
    if let Some(list) = shots {
        inputs.extend(list.inputs().into_iter().map(|(flag, p, at)| (format!("{flag} ({at})"), p)));
    }
    inputs
}

/// Every file the run touches in one registry (dataset::files): the outputs of every frame,
/// the NeXus file and the manifest must each be a distinct file, none of the inputs (the
/// command line's, the shot lines', the structure-factor cache), not a directory, a name the
/// file system can hold, not read-only, and (unless a device or FIFO, written through) in a
/// directory we can create files in; checked before the (possibly long) render, so that no
/// render is wasted on outputs that cannot be written. A series' templates are checked for all
/// of its frames at once, without enumerating them. Returns the registry (the cache consults
/// it after the render).
fn check_files(raw: &RawArgs, shots: Option<&ShotList>, manifest: Option<&Path>) -> Result<Registry> {
    let mut files = Registry::new();
    let (inputs, cache) = inputs_of(raw);
    for (what, path) in inputs {
        files.read(what, path);
    }
    if let Some((what, path)) = cache {
        files.cache(what, path);
    }
    if let Some(list) = shots {
        for (flag, path, at) in list.inputs() {
            files.read(format!("the {flag} input {} of {at}", path.display()), &path);
        }
    }
    let templated = raw.frames.is_some() || raw.first_frame.is_some();
    let first = raw.first_frame.unwrap_or(1);
    let last = first + raw.frames.unwrap_or(1) - 1;
    for (flag, out) in outputs_of(raw) {
        if templated {
            files.write_frames(flag, &out, first, last, last > first);
        } else {
            files.write(flag, &out);
        }
    }
    match &raw.nexusfile {
        Some(out) => {
            // one file for the whole run (no '#'), a regular file: HDF5 is written in place
            if let Some(why) = crate::io::nexus::refuse_name(out) {
                return Err(Error::Usage(format!("-nexusfile {}: {why}", out.display())));
            }
            files.write("-nexusfile", out);
            // the writer holds the goniometer angles and the chunk index of every frame
            let frames = raw.frames.unwrap_or(1);
            let what = format!("-nexusfile {}: the index of one file of {frames} frames", out.display());
            crate::limits::check_fits(&what, frames as f64 * NEXUS_BYTES_PER_FRAME)?;
        }
        None if raw.nexus_float => return Err(Error::Usage("-nexus_float chooses what -nexusfile holds: give -nexusfile NAME.h5 too".into())),
        None => {}
    }
    if let Some(path) = manifest {
        files.write("-manifest", path);
    }
    files.check()?;
    Ok(files)
}

/// Memory the NeXus writer holds per frame of the run, whatever the detector: the omega start
/// and end angles it fills frame by frame and its chunk index (measured: 38 B at 10⁶ and
/// 4·10⁶ frames of 8 × 8 pixels; a run of 10⁹ frames used to grow to 21 GB and die).
const NEXUS_BYTES_PER_FRAME: f64 = 64.0;

fn is_fifo(path: &Path) -> bool {
    crate::io::special_file(path) == Some(crate::io::SpecialFile::Fifo)
}

fn is_char_device(path: &Path) -> bool {
    crate::io::special_file(path) == Some(crate::io::SpecialFile::CharDevice)
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

/// Whether a pixel lies in the ROI (C's output loops test only the ROI, not the mask).
fn in_roi(p: &Plan, idx: usize) -> bool {
    let (fast, slow) = (idx % p.fpixels, idx / p.fpixels);
    let [x0, x1, y0, y1] = p.roi;
    fast >= x0 && fast <= x1 && slow >= y0 && slow <= y1
}

/// Every output file's bytes, printing nanoBragg.c's report lines on the way; nothing is
/// written here, so the caller can put all files in place at once. The values come recorded
/// (`r`: the photons, the integer image, the noise image); this only reports and encodes them.
fn encode_outputs(e: &Experiment, o: &Output, p: &Plan, r: &Recorded) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let photons = &r.photons;
    let st = &photons.stats;
    let quiet = o.quiet;
    let say = |s: String| {
        if !quiet {
            crate::outln!("{s}");
        }
    };
    // omega_sum adds the pixel's solid angle once per sub-pixel and sensor layer; nanoBragg.c
    // divides it by its `steps`, which also count the sources, mosaic domains and φ steps, so
    // it prints the detector's solid angle divided by those (docs/behaviours.md). The default
    // mode prints the detector's solid angle.
    let omega_terms = match e.mode {
        crate::cli::raw::Mode::CParity => p.steps as f64,
        crate::cli::raw::Mode::Default => (p.oversample * p.oversample * p.thicksteps) as f64,
    };
    say(format!(
        "solid angle subtended by detector = {} steradian ( {}% sphere)",
        fmt_g(st.omega_sum / omega_terms),
        fmt_g(100.0 * st.omega_sum / omega_terms / 4.0 / std::f64::consts::PI)
    ));
    if let Some(at) = photons.interpolation_switched_at {
        say(format!(
            "WARNING: out of range for three point interpolation at pixel ({}, {}); nearest-neighbour F from there on",
            at % p.fpixels,
            at / p.fpixels
        ));
    }
    if o.printout {
        print_pixels(p, &photons.image, o.printout_pixel);
    }
    let mut files = vec![(o.floatfile.clone(), rawfloat::encode_float_image(&photons.image))];
    // on its panel's grid (nanoBragg.c's one panel: the detector's)
    let (panel, row) = p.panel_of(st.max_at / p.fpixels);
    let (max_x, max_y) = st.max_position(p.fpixels, &p.subpixel_grid(panel), row);
    say(format!("max_I = {}  at {} {}", fmt_g(st.max_i), fmt_g(max_x), fmt_g(max_y)));
    say(format!("mean= {} rms= {} rmsd= {}", fmt_g(st.mean), fmt_g(st.rms), fmt_g(st.rmsd)));
    say(format!("intfile_scale = {}", fmt_g(r.int_scale)));
    let adc = e.response.adc_offset;
    if e.mode == crate::cli::raw::Mode::Default && st.max_i * r.int_scale + adc > 65535.0 {
        // a given (or a series') scale can take the brightest pixels past the 16-bit range
        let clipped = photons.image.iter().enumerate().filter(|&(i, &v)| in_roi(p, i) && f64::from(v) * r.int_scale + adc > 65535.0).count();
        log::warn!("{} int image: {clipped} pixel(s) above 65535 counts at intfile_scale {} are clipped (-scale sets the scale)", o.intfile.display(), fmt_g(r.int_scale));
    }
    let header = SmvHeader::from_experiment(e);
    files.push((o.intfile.clone(), encode_smv(&header, &r.int_image)));
    if let Some(path) = &o.pgmfile {
        let scale = Recorder::pgm_scale(o.pgm_scale, st, r.int_scale);
        say(format!("pgm_scale = {}", fmt_g(scale)));
        let grey = Recorder::of(e).pgm_image(&photons.image, scale, false);
        files.push((path.clone(), pgm::encode_pgm(p.fpixels, p.spixels, &grey, scale)));
    }
    if let Some(path) = &o.pngfile {
        let opts = png::PngOptions::new(o.pngscale, o.png_log, o.png_colormap, |i| in_roi(p, i));
        files.push((path.clone(), png::png_bytes(p.fpixels, p.spixels, &photons.image, &opts)?));
    }
    if let (Some(path), Some(noise)) = (&o.noisefile, &r.noise) {
        noise.report().into_iter().for_each(&say);
        let bytes = match &noise.pixels {
            NoisePixels::Bits16(pixels) => encode_smv(&header, pixels),
            NoisePixels::Bits32(pixels) => encode_smv_u32(&header, pixels),
        };
        files.push((path.clone(), bytes));
    }
    if let Some(path) = &o.cbffile {
        // a photon-counting detector's image: the noisy counts when there are any, unclipped
        let counts = cbf::photon_counts(r.counts());
        files.push((path.clone(), cbf::encode_cbf(&cbf::CbfHeader::from_experiment(e, run_time()), &counts)));
    }
    Ok(files)
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

