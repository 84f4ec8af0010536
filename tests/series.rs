//! Rotation series (`-frames`, `-first_frame`, output templates) through the binary: a series
//! equals the single-frame runs it stands for, bit for bit, on both engines and in both modes;
//! templates expand as documented; bad series are refused before anything is written.

mod gpu_support;

use gpu_support::gpu_available;
use std::path::Path;
use std::process::{Command, Output};

fn nanobragg(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(dir).output().expect("run nanobragg")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// A small experiment that still exercises every per-frame piece: several φ steps, mosaic
/// domains, oversampling, a misset; the frames cross φ = 0 (c-parity's carry-over).
const EXPERIMENT: &str = "-cell 70 80 90 90 90 90 -default_F 100 -N 4 -lambda 1 -distance 80 -detpixels 40 -pixel 0.3 \
     -osc 0.7 -phisteps 3 -mosaic 0.5 -mosaic_dom 3 -oversample 2 -misset 10 20 30";
const PHI: f64 = -1.4;
const OSC: f64 = 0.7;
const FRAMES: u64 = 6;
const KINDS: [(&str, &str); 5] = [("-floatfile", "bin"), ("-intfile", "img"), ("-pgmfile", "pgm"), ("-noisefile", "noise.img"), ("-pngfile", "png")];

fn outputs(stem: &str) -> Vec<String> {
    KINDS.iter().flat_map(|(flag, ext)| [flag.to_string(), format!("{stem}.{ext}")]).collect()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The words the series reports for each frame (`; alone: -phi 3 -first_frame 3 -frames 1
/// -seed 7` in the default mode, `, noise -seed 7` with -c_parity): what a single run adds to
/// reproduce it.
fn reported_noise_words(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("frame "))
        .map(|l| {
            let tail = l.split_once("; alone: ").or_else(|| l.split_once(", noise ")).unwrap_or_else(|| panic!("no noise words in '{l}'")).1;
            words(tail)
        })
        .collect()
}

/// Renders a 6-frame series and each frame alone (`-phi` its start, then the words the series
/// printed for its noise), and compares every output file byte for byte.
fn series_equals_single_runs(engine: &str, mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("{EXPERIMENT} -engine {engine} {mode} -seed 7");
    let mut args = words(&base);
    args.extend(words(&format!("-phi {PHI} -frames {FRAMES}")));
    args.extend(outputs("series_###"));
    let run = nanobragg(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "series failed: {}", String::from_utf8_lossy(&run.stderr));
    let noise = reported_noise_words(&stdout);
    assert_eq!(noise.len(), FRAMES as usize, "{stdout}");
    // every frame keeps the run's seed: c-parity as C would, the default mode because the
    // frame number is part of every noise counter (docs/realism.md), whence the frame number
    // among the words printed
    for (k, w) in noise.iter().enumerate() {
        let start = PHI + k as f64 * OSC;
        let expected = if mode.is_empty() { format!("-phi {start} -first_frame {} -frames 1 -seed 7", k + 1) } else { "-seed 7".to_string() };
        assert_eq!(w, &words(&expected), "frame {}", k + 1);
    }
    for k in 1..=FRAMES {
        let start = PHI + (k - 1) as f64 * OSC;
        let mut single = words(&base);
        // the frame alone: its start as -phi, and the words printed for its noise
        single.extend(words(&format!("-phi {start}")));
        single.extend(noise[k as usize - 1].iter().cloned());
        single.extend(outputs(&format!("single_{k}")));
        let one = nanobragg(dir.path(), &single);
        assert!(one.status.success(), "frame {k} alone failed: {}", String::from_utf8_lossy(&one.stderr));
        for (_, ext) in KINDS {
            let (framed, alone) = (format!("series_{k:03}.{ext}"), format!("single_{k}.{ext}"));
            assert!(read(dir.path(), &framed) == read(dir.path(), &alone), "{engine} {mode}: {framed} differs from {alone}");
        }
        let header = String::from_utf8_lossy(&read(dir.path(), &format!("series_{k:03}.img"))[..512]).into_owned();
        assert!(header.contains("OSC_START="), "{header}");
    }
    // the frames differ from each other (the crystal turns, the noise changes)
    assert!(read(dir.path(), "series_001.bin") != read(dir.path(), "series_002.bin"));
    assert!(read(dir.path(), "series_005.noise.img") != read(dir.path(), "series_006.noise.img"));
}

#[test]
fn cpu_series_equals_single_runs() {
    series_equals_single_runs("cpu", "");
}

#[test]
fn cpu_c_parity_series_equals_single_runs() {
    series_equals_single_runs("cpu", "-c_parity");
}

#[test]
fn gpu_series_equals_single_runs() {
    if gpu_available("gpu_series_equals_single_runs") {
        series_equals_single_runs("gpu", "");
    }
}

#[test]
fn gpu_c_parity_series_equals_single_runs() {
    if gpu_available("gpu_c_parity_series_equals_single_runs") {
        series_equals_single_runs("gpu", "-c_parity");
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

const SMALL: &str = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 8 -engine cpu -quiet -osc 1";

#[test]
fn templates_are_zero_padded_from_the_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let args = words(&format!("{SMALL} -first_frame 9 -frames 3 -floatfile img_###.bin -intfile img_#.img -nopgm -nonoise -pngfile p####.png"));
    let run = nanobragg(dir.path(), &args);
    // frame 10 needs two digits, -intfile's run has one
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("frame 10 needs 2 digits"), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(listing(dir.path()).is_empty());
    let args = words(&format!("{SMALL} -first_frame 9 -frames 3 -floatfile img_###.bin -intfile img_##.img -nopgm -nonoise -pngfile p####.png"));
    let run = nanobragg(dir.path(), &args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let expected = ["img_009.bin", "img_010.bin", "img_011.bin", "img_09.img", "img_10.img", "img_11.img", "p0009.png", "p0010.png", "p0011.png"];
    assert_eq!(listing(dir.path()), expected);
    // frame 10 starts one oscillation after the first frame
    let header = String::from_utf8_lossy(&read(dir.path(), "img_10.img")[..512]).into_owned();
    assert!(header.contains("PHI=1;") && header.contains("OSC_START=1;"), "{header}");
}

#[test]
fn a_single_frame_keeps_literal_names_and_first_frame_alone_expands() {
    let dir = tempfile::tempdir().unwrap();
    let run = nanobragg(dir.path(), &words(&format!("{SMALL} -floatfile a#.bin -intfile b.img -nopgm -nonoise")));
    assert!(run.status.success());
    assert_eq!(listing(dir.path()), ["a#.bin", "b.img"], "without -frames a name is used as typed, as nanoBragg.c does");
    let dir = tempfile::tempdir().unwrap();
    let run = nanobragg(dir.path(), &words(&format!("{SMALL} -first_frame 4 -floatfile a##.bin -intfile b.img -nopgm -nonoise")));
    assert!(run.status.success());
    assert_eq!(listing(dir.path()), ["a04.bin", "b.img"]);
}

/// Each refused command line: exit status 2, the message names the problem, nothing written.
#[test]
fn bad_series_are_refused_with_nothing_written() {
    let cases: &[(&str, &str)] = &[
        ("-frames 2 -floatfile a.bin -intfile b_#.img -nopgm -nonoise", "-floatfile a.bin: with -frames 2 the name needs a run of '#'"),
        ("-frames 2 -floatfile a_#.bin -intfile b_#.img", "the PGM image is written by default, as image.pgm (-pgmfile): with -frames 2"),
        ("-frames 2 -floatfile a_#.bin -intfile ./a_#.bin -nopgm -nonoise", "the same file is already the -floatfile output of frame 1"),
        // float frame 12 is a121.bin, int frame 21 too
        ("-first_frame 12 -frames 10 -floatfile a##1.bin -intfile a1##.bin -nopgm -nonoise", "-intfile a121.bin (frame 21): the same file is already the -floatfile output of frame 12"),
        ("-frames 2 -floatfile a#_#.bin -intfile b_#.img -nopgm -nonoise", "more than one run of '#'"),
        ("-frames 0 -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "-frames: value 0 must be from 1"),
        ("-frames -3 -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "-frames: value -3 must be from 1"),
        ("-frames two -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "-frames: value 'two' is not a whole number"),
        ("-first_frame -1 -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "-first_frame: value -1 must be from 0"),
        ("-first_frame 999999999 -frames 2 -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "the last frame number would pass"),
        ("-frames 2 -validate -floatfile a_#.bin -intfile b_#.img -nopgm -nonoise", "-validate reports on one image"),
    ];
    for (flags, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let run = nanobragg(dir.path(), &words(&format!("{SMALL} {flags}")));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{flags}: {stderr}");
        assert!(stderr.contains(message), "{flags}: expected '{message}' in: {stderr}");
        assert!(listing(dir.path()).is_empty(), "{flags}: wrote {:?}", listing(dir.path()));
    }
}

#[test]
fn a_character_device_takes_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let run = nanobragg(dir.path(), &words(&format!("{SMALL} -frames 3 -floatfile /dev/null -intfile i_#.img -nopgm -nonoise")));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(listing(dir.path()), ["i_1.img", "i_2.img", "i_3.img"]);
}

/// Stopping a series: the frames already written stay complete, the frame being rendered
/// writes nothing, no later frame starts, no temporary is left.
#[test]
fn a_stopped_series_keeps_whole_frames_only() {
    use nanobragg::progress::RenderControl;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    // frames long enough to stop one mid-render
    let args = words(&format!(
        "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 160 -oversample 4 -phisteps 8 -osc 1 -engine cpu -quiet -frames 40 \
         -floatfile {out}/f_##.bin -intfile {out}/i_##.img -nopgm -nonoise"
    ));
    let control = Arc::new(RenderControl::default());
    let watcher = {
        let (control, dir) = (Arc::clone(&control), dir.path().to_path_buf());
        std::thread::spawn(move || {
            while !dir.join("i_02.img").exists() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            control.cancel();
        })
    };
    let outcome = nanobragg::app::run_controlled(&args, &control);
    watcher.join().unwrap();
    let names = listing(dir.path());
    let frames = names.len() / 2;
    assert!((2..40).contains(&frames), "{names:?}");
    // the error says which frames are written (never "no output file was written")
    match &outcome {
        Err(e @ nanobragg::error::Error::Stopped(_)) => {
            let said = e.to_string();
            let last = format!("{}/i_{frames:02}.img", dir.path().display());
            assert!(said.contains(&format!("frames 1 to {frames} are written")) && said.contains(&last), "{said}");
            assert_eq!(e.exit_code(), 130);
        }
        other => panic!("{other:?}"),
    }
    let expected: Vec<String> = (1..=frames).flat_map(|k| [format!("f_{k:02}.bin"), format!("i_{k:02}.img")]).collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(names, expected, "whole frames, in order, nothing else");
    for k in 1..=frames {
        assert_eq!(std::fs::metadata(dir.path().join(format!("f_{k:02}.bin"))).unwrap().len(), 160 * 160 * 4);
    }
}
