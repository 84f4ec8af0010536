//! The command line's use of the `Simulator`: command line → experiment → simulator → one
//! frame or a rotation series → output files, with the checks that make a bad run fail before
//! any output exists, the report lines, the progress bar and the writing.

use crate::cli::parse::{Command, parse};
use crate::cli::raw::RawArgs;
use crate::dataset::series::Series;
use crate::dataset::shard::DatasetRun;
use crate::dataset::shots::ShotList;
use crate::dataset::template;
use crate::engine::{EngineUsed, RenderedImage, plan::Plan};
use crate::error::{Error, Result};
use crate::io::cfmt::fmt_g;
use crate::io::smv::{SmvHeader, encode_smv, encode_smv_u32};
use crate::io::nexus::{FramePixels, NexusHeader, NexusWriter};
use crate::io::{OutputTarget, OutputsToWrite, TempFile, cbf, fdump, output_target, pgm, png, rawfloat};
use crate::model::Experiment;
use crate::output::Output;
use crate::progress::{self, ProgressDisplay, RenderControl};
use crate::rng;
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
    let time_seed = -(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(1));
    let mut raw = match parse(args, time_seed)? {
        Command::Help => {
            crate::out!("{}", crate::cli::defs::help_text());
            return Ok(());
        }
        Command::Run(raw) => raw,
    };
    // a shot list is a series of frames 1..N (raw.frames), each turned to its shot's experiment
    let mut shots = ShotList::from_command(&mut raw)?;
    check_series(&raw)?;
    check_outputs(&raw)?;
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
    let dataset = DatasetRun::new(&raw, args, &series, time_seed)?;
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
        render_one(&mut sim, &output, &series, &raw, control, nexus)
    } else {
        render_series(&mut sim, &series, shots.as_ref(), &raw, templates, dataset, control, nexus)?;
        write_structure_factor_cache(&raw, sim.experiment());
        Ok(())
    }
}

/// A single image (the one-frame case): render, encode, write, then the diagnostics.
fn render_one(sim: &mut Simulator, output: &Output, series: &Series, raw: &RawArgs, control: &Arc<RenderControl>, mut nexus: Option<NexusWriter>) -> Result<()> {
    let frame = series.frame(series.first);
    let rendered = {
        let _display = progress_bar(sim, output, 1, control);
        sim.render(&frame, control)?
    };
    if !output.quiet {
        report_engine(&rendered);
    }
    check_finite(sim.plan(), &rendered.image)?;
    write_frame(sim.experiment(), output, sim.plan(), &rendered, frame.noise_counter, &raw.gpu_options(), control, true, nexus.as_mut())?;
    if let Some(nexus) = nexus {
        nexus.finish()?;
    }
    write_structure_factor_cache(raw, sim.experiment());
    // after the outputs, so that a failing diagnostic never costs the rendered images
    crate::diagnostics::after_render(sim.experiment(), output, sim.plan(), &rendered, raw.backend.as_deref())
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
    let gpu = raw.gpu_options();
    let _display = progress_bar(sim, &templates, dataset.to_render(series.count), control);
    let quiet = templates.quiet;
    let mut manifest = dataset.manifest.take();
    let osc_deg = sim.experiment().sampling.osc.to_degrees();
    let (manifest, nexus) = std::thread::scope(|scope| {
        let (frames, received) = std::sync::mpsc::sync_channel::<(Frame, u64, RenderedImage, Option<Box<ShotParts>>)>(1);
        type Finished = (Option<crate::dataset::shard::PendingManifest>, Option<NexusWriter>);
        let writer = scope.spawn(move || -> Result<Finished> {
            let (mut exp, mut plan) = (light_exp, light_plan);
            let mut nexus = nexus;
            for (frame, position, rendered, shot) in received {
                let line = shot.map(|parts| {
                    let ShotParts { exp: e, plan: p, line } = *parts;
                    (exp, plan) = (e, p);
                    line
                });
                let written = write_series_frame(&mut exp, &plan, &templates, series, &frame, &rendered, line.as_deref(), &gpu, control, nexus.as_mut())
                    .and_then(|(files, overloads)| match manifest.as_mut() {
                        Some(m) => m.append(&crate::io::manifest::Entry::of(&frame, position, osc_deg, &files, &rendered.image, overloads)),
                        None => Ok(()),
                    });
                if let Err(e) = written {
                    // stop the render of the next frame: the series fails with this error
                    control.cancel();
                    return Err(e);
                }
            }
            Ok((manifest, nexus))
        });
        let mut outcome = Ok(());
        let mut sent: Vec<u64> = Vec::new();
        for (position, number) in series.numbers().enumerate() {
            let position = position as u64;
            if !dataset.renders(position) {
                continue;
            }
            let (frame, shot) = match shots.map(|list| list.set_up(sim, number)) {
                None => (series.frame(number), None),
                Some(Ok((frame, line))) => {
                    let (exp, plan) = sim.encoding_parts();
                    (frame, Some(Box::new(ShotParts { exp, plan, line })))
                }
                Some(Err(e)) => {
                    outcome = Err(e);
                    break;
                }
            };
            let rendered = match sim.render(&frame, control) {
                Ok(r) => r,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            if sent.is_empty() && !quiet {
                report_engine(&rendered);
            }
            if let Err(e) = check_finite(sim.plan(), &rendered.image) {
                outcome = Err(Error::Usage(format!("frame {number}: {e}")));
                break;
            }
            if frames.send((frame, position, rendered, shot)).is_err() {
                break; // the writer failed; its error is the series' outcome
            }
            sent.push(number);
        }
        drop(frames);
        if matches!(outcome, Err(Error::Interrupted)) {
            // the frames still queued finish writing; a FIFO output among them may wait for its
            // reader, which only the signal handler's own exit can end
            let queued = sent.iter().rev().take(2);
            let fifo = queued.flat_map(|&n| frame_output_names(raw, Some(n)).unwrap_or_default()).any(|(_, p)| is_fifo(&p));
            if !fifo {
                control.cancel_honoured();
            }
        }
        let written = writer.join().unwrap_or_else(|_| Err(Error::Usage("the thread writing the frames failed".into())));
        let (manifest, nexus) = written?;
        if matches!(outcome, Err(Error::Interrupted)) {
            if let Some(path) = &raw.nexusfile {
                log::warn!("stopped: the NeXus file {} holds the whole run and is not written", path.display());
            }
            match (sent.first(), sent.last()) {
                (Some(&first), Some(last)) if first == series.first && dataset.shard.count == 1 => {
                    log::warn!("stopped: frames {first} to {last} are written, later frames are not")
                }
                // a shard, or a resumed run: not every frame in between is this process's
                (Some(first), Some(last)) => log::warn!("stopped: this run's frames from {first} to {last} are written, later ones are not"),
                _ => log::warn!("stopped: no frame was written"),
            }
        }
        outcome.map(|()| (manifest, nexus))
    })?;
    if let Some(nexus) = nexus {
        nexus.finish()?;
    }
    if let Some(m) = manifest {
        m.finish()?;
    }
    Ok(())
}

/// A shot's experiment and plan for the writer (without the structure factors), and its report
/// line: the words that reproduce it in a single run.
struct ShotParts {
    exp: Experiment,
    plan: Plan,
    line: String,
}

/// The writer thread's part for one frame: its values and names into the encoding copy of the
/// experiment, its report lines, its files. The series' last frame is the point of no return,
/// as a single image's is; earlier frames are complete and written whatever happens next.
#[allow(clippy::too_many_arguments)]
fn write_series_frame(
    exp: &mut Experiment,
    plan: &Plan,
    templates: &Output,
    series: &Series,
    frame: &Frame,
    rendered: &RenderedImage,
    shot_line: Option<&str>,
    gpu: &crate::engine::gpu::GpuOptions,
    control: &RenderControl,
    nexus: Option<&mut NexusWriter>,
) -> Result<(Vec<(PathBuf, Vec<u8>)>, Option<u64>)> {
    frame.apply(exp);
    let mut output = templates.clone();
    name_frame_outputs(&mut output, templates, series.templated.then_some(frame.number))?;
    if let Some(line) = shot_line {
        if !output.quiet {
            crate::outln!("{line}");
        }
    } else if !output.quiet {
        let end = series.start_deg(frame.number + 1);
        let seed = if output.noisefile.is_some() { format!(", noise -seed {}", -frame.seed) } else { String::new() };
        crate::outln!("frame {}: phi {} to {} deg{seed}", frame.number, fmt_g(frame.phi_start_deg), fmt_g(end));
    }
    write_frame(exp, &output, plan, rendered, frame.noise_counter, gpu, control, frame.number == series.last(), nexus)
}

/// Encodes a rendered frame and puts all its outputs in place at once. `point_of_no_return`:
/// a cancel request that comes before the files are open still stops the write (nothing is
/// written); after it, the files are finished. The frame goes into the run's NeXus file (a
/// temporary until the run ends) first, so that a failure there writes none of its files.
/// `frame` is the frame number the default mode's noise counters hold. Returns the files
/// written (for the manifest) and the noise image's overloads.
#[allow(clippy::too_many_arguments)]
fn write_frame(
    e: &Experiment,
    o: &Output,
    p: &Plan,
    r: &RenderedImage,
    frame: u64,
    gpu: &crate::engine::gpu::GpuOptions,
    control: &RenderControl,
    point_of_no_return: bool,
    nexus: Option<&mut NexusWriter>,
) -> Result<(Vec<(PathBuf, Vec<u8>)>, Option<u64>)> {
    let (files, overloads, noise_counts) = encode_outputs(e, o, p, r, frame, gpu)?;
    if let Some(nexus) = nexus {
        let phi_start_deg = e.sampling.phi0.to_degrees();
        if nexus.float() {
            nexus.append(phi_start_deg, FramePixels::Photons(&r.image))?;
        } else {
            // the same counts as the CBF image: a photon-counting detector's
            let counts = cbf::photon_counts(noise_counts.as_deref().unwrap_or(&r.image));
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
    Ok((files, overloads))
}

/// A progress bar over the rows of `frames` frames on a terminal; it disappears when dropped.
fn progress_bar(sim: &Simulator, o: &Output, frames: u64, control: &Arc<RenderControl>) -> Option<ProgressDisplay> {
    progress::bar_wanted(o.progress, o.quiet).then(|| ProgressDisplay::start(Arc::clone(control), sim.plan().spixels * frames as usize))
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
    let typed = [("-hkl", &raw.hkl), ("-mat", &raw.mat), ("-img", &raw.img), ("-mask", &raw.mask), ("-sourcefile", &raw.sourcefile), ("-stol", &raw.stolfile), ("-shots", &raw.shots_file)];
    typed.into_iter().filter_map(|(flag, p)| p.as_deref().map(|p| (format!("the {flag} input"), p))).collect()
}

/// Every output must be a distinct file, not one of the inputs, not a directory, a name the
/// file system can hold, not read-only, and (unless it is a device or FIFO, written through) in
/// a directory we can create files in; checked before the (possibly long) render, so that no
/// render is wasted on outputs that cannot be written. For a series the rules hold for every
/// frame's names, across all frames (two templates that give the same file are refused).
fn check_outputs(raw: &RawArgs) -> Result<()> {
    let inputs = inputs_of(raw);
    let templated = raw.frames.is_some() || raw.first_frame.is_some();
    let first = raw.first_frame.unwrap_or(1);
    let numbers = first..first + raw.frames.unwrap_or(1);
    let series = raw.frames.is_some_and(|n| n > 1);
    // (normalized name) → (flag, frame) of the output that already takes it
    let mut taken: std::collections::HashMap<PathBuf, (&'static str, u64)> = std::collections::HashMap::new();
    // directories already probed, with the mode the temporaries get
    let mut probed: std::collections::HashSet<(PathBuf, Option<u32>)> = std::collections::HashSet::new();
    for number in numbers {
        for (flag, out) in frame_output_names(raw, templated.then_some(number))? {
            let at = if series { format!(" (frame {number})") } else { String::new() };
            let refuse = |why: String| Err(Error::Usage(format!("{flag} {}{at}: {why}", out.display())));
            let target = match output_target(&out) {
                Ok(t) => t,
                Err(why) => return refuse(why),
            };
            // a character device (/dev/null) may take several outputs, and may be an input too:
            // nothing written there can be read back
            if is_char_device(&out) {
                continue;
            }
            if let Some((what, _)) = inputs.iter().find(|(_, p)| same_file(p, &out)) {
                return refuse(format!("refusing to overwrite {what}"));
            }
            match taken.entry(normalized(&out)) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    let (other, frame) = *o.get();
                    let whose = if series { format!("the {other} output of frame {frame}") } else { format!("the {other} output") };
                    return refuse(format!("the same file is already {whose}"));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((flag, number));
                }
            }
            if let OutputTarget::Replace { file, mode } = &target
                && probed.insert((normalized(file).parent().map(Path::to_path_buf).unwrap_or_default(), *mode))
                && let Err(e) = probe_directory(file, *mode)
            {
                return refuse(format!("cannot create files there: {e}"));
            }
        }
    }
    match &raw.nexusfile {
        Some(out) => check_nexus_output(out, &inputs, &taken)?,
        None if raw.nexus_float => return Err(Error::Usage("-nexus_float chooses what -nexusfile holds: give -nexusfile NAME.h5 too".into())),
        None => {}
    }
    Ok(())
}

/// The `-nexusfile` name: one file for the whole run (no `#`), a regular file (HDF5 is written
/// in place), not an input nor another output, in a directory we can create files in.
fn check_nexus_output(out: &Path, inputs: &[(String, &Path)], taken: &std::collections::HashMap<PathBuf, (&'static str, u64)>) -> Result<()> {
    let refuse = |why: String| Err(Error::Usage(format!("-nexusfile {}: {why}", out.display())));
    if let Some(why) = crate::io::nexus::refuse_name(out) {
        return refuse(why);
    }
    if let Some((what, _)) = inputs.iter().find(|(_, p)| same_file(p, out)) {
        return refuse(format!("refusing to overwrite {what}"));
    }
    if let Some((other, _)) = taken.get(&normalized(out)) {
        return refuse(format!("the same file is already the {other} output"));
    }
    if let Ok(OutputTarget::Replace { file, mode }) = output_target(out)
        && let Err(e) = probe_directory(&file, mode)
    {
        return refuse(format!("cannot create files there: {e}"));
    }
    Ok(())
}

/// Creates (and, on drop, removes) a temporary exactly as the write at the end of the run will:
/// same directory, same kind of name, same mode. The surest test that it will be allowed.
fn probe_directory(file: &Path, mode: Option<u32>) -> std::io::Result<()> {
    TempFile::beside(file, mode).map(drop)
}

fn is_fifo(path: &Path) -> bool {
    crate::io::special_file(path) == Some(crate::io::SpecialFile::Fifo)
}

fn is_char_device(path: &Path) -> bool {
    crate::io::special_file(path) == Some(crate::io::SpecialFile::CharDevice)
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
/// written here, so the caller can put all files in place at once. Also the noise image's
/// overloads and its photon counts (None without one). `frame` is the frame number, which the
/// default mode's noise counters hold; after a GPU render the noise model runs on the same
/// device (`gpu`: the render's options).
fn encode_outputs(
    e: &Experiment,
    o: &Output,
    p: &Plan,
    r: &RenderedImage,
    frame: u64,
    gpu: &crate::engine::gpu::GpuOptions,
) -> Result<(Vec<(PathBuf, Vec<u8>)>, Option<u64>, Option<Vec<f32>>)> {
    let response = &e.response;
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
    files.push((o.intfile.clone(), encode_smv(&header, &int_pixels(p, &r.image, int_scale, response.adc_offset))));
    if let Some(path) = &o.pgmfile {
        let scale = if o.pgm_scale > 0.0 { o.pgm_scale } else if st.rmsd > 0.0 { 250.0 / (5.0 * st.rmsd) } else { int_scale };
        say(format!("pgm_scale = {}", fmt_g(scale)));
        files.push((path.clone(), pgm::encode_pgm(p.fpixels, p.spixels, &pgm_pixels(p, &r.image, scale), scale)));
    }
    if let Some(path) = &o.pngfile {
        let opts = png::PngOptions::new(o.pngscale, o.png_log, o.png_colormap, |i| in_roi(p, i));
        files.push((path.clone(), png::png_bytes(p.fpixels, p.spixels, &r.image, &opts)?));
    }
    let mut noise_counts = None;
    let mut overloads = None;
    if let Some(path) = &o.noisefile {
        if e.mode == crate::cli::raw::Mode::CParity {
            // nanoBragg.c's own noise: its serial generator, pixel after pixel
            let noise = rng::noise_image(&r.image, |i| in_roi(p, i), response.seed, response.adc_offset);
            say(format!("{:.0} photons on noise image ({} overloads)", noise.photons, noise.overloads));
            files.push((path.clone(), encode_smv(&header, &noise.pixels)));
            noise_counts = Some(noise.counts);
            overloads = Some(noise.overloads);
        } else {
            // the detector model with counter-based noise (docs/realism.md)
            let gpu_noise = match r.engine {
                crate::engine::EngineUsed::Gpu { .. } => {
                    let fits = crate::engine::gpu::response::noise_stages_fit(gpu, p.pixels())?;
                    if !fits {
                        log::info!("the noise image is larger than one GPU storage binding: its noise stages run on the CPU (the same counts)");
                    }
                    fits
                }
                crate::engine::EngineUsed::Cpu => false,
            };
            let noise = if gpu_noise {
                let model = response.noise.model(e.detector.pixel_size, response.seed, response.adc_offset, frame)?;
                crate::engine::gpu::response::noise_image_on_gpu(gpu, crate::engine::gpu::response::Photons::of(r), p.fpixels, p.spixels, p.roi, &model, response.noise.bits32)?
            } else {
                response.noise.frame_noise(&r.image, p.fpixels, p.spixels, p.roi, e.detector.pixel_size, response.seed, response.adc_offset, frame)?
            };
            crate::response::detector::report(&noise).into_iter().for_each(&say);
            let bytes = if response.noise.bits32 { encode_smv_u32(&header, &noise.image.int32) } else { encode_smv(&header, &noise.image.int16) };
            files.push((path.clone(), bytes));
            overloads = Some(noise.overloads);
            noise_counts = Some(noise.counts);
        }
    }
    if let Some(path) = &o.cbffile {
        // a photon-counting detector's image: the noisy counts when there are any, unclipped
        let counts = cbf::photon_counts(noise_counts.as_deref().unwrap_or(&r.image));
        files.push((path.clone(), cbf::encode_cbf(&cbf_header(e), &counts)));
    }
    Ok((files, overloads, noise_counts))
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
    let last = |pixel: usize| p.subpixel_coordinate(pixel, p.oversample - 1);
    (last(at % p.fpixels), last(at / p.fpixels))
}
