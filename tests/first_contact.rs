//! What a new user meets first, through the binary: the frame lines that say how to render a
//! frame alone, header numbers as typed, the solid angle and `-osc 0`, the SMV header's
//! `DIALS_ORIGIN`, one int scale per series, the `-stol` fluence hint, messages that name the
//! file or the default output at fault in plain words, the subcommands in `-h`, the README's
//! commands, whole numbers written with a decimal point, and docs that claim only what exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nanobragg(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nanobragg")).args(args).current_dir(dir).env_remove("RUST_LOG").output().expect("run nanobragg")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn run(dir: &Path, s: &str) -> Output {
    nanobragg(dir, &words(s))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "status {:?}\nstderr:\n{}", o.status, stderr(o));
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
    stdout(o)
}

/// A refused run: the exit status, one error line holding every fragment; returns the line.
fn refused(o: &Output, code: i32, fragments: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{err}");
    for f in fragments {
        assert!(errors[0].contains(f), "the error lacks `{f}`: {}", errors[0]);
    }
    assert!(!err.contains("panicked") && !err.contains("os error"), "{err}");
    errors[0].to_string()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The SMV header text (to the closing brace) and the pixels after the 512-byte header.
fn smv(bytes: &[u8]) -> (String, Vec<u16>) {
    let end = bytes.iter().position(|&b| b == b'}').expect("an SMV header");
    let pixels = bytes[512..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    (String::from_utf8_lossy(&bytes[..end]).into_owned(), pixels)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A small experiment with several φ steps, mosaic domains and a misset: quick, and every
/// frame differs.
const SMALL: &str = "-cell 70 80 90 90 90 90 -default_F 100 -N 4 -lambda 1 -distance 80 -detpixels 32 -pixel 0.3 \
     -phisteps 3 -mosaic 0.5 -mosaic_dom 3 -oversample 2 -misset 10 20 30 -engine cpu";

// ---- a frame of a series, alone

/// docs/datasets.md: each frame's line names the words that render it alone. In the default
/// mode the frame number is part of every noise counter and the int scale is the series', so
/// those words are `-phi <start> -first_frame k -frames 1 -seed S` (`-phi <start> -seed S`
/// alone gives other noise); with `-c_parity`, as a loop of nanoBragg.c processes, the start
/// and the seed.
#[test]
fn each_frame_line_names_the_single_run_that_reproduces_it() {
    for mode in ["", "-c_parity"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let series = format!("{SMALL} {mode} -seed 5 -phi 1 -osc 0.7 -frames 3 -floatfile s_#.bin -intfile s_#.img -noisefile s_#.noise -nopgm");
        let out = ok(&run(d, &series));
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("frame ")).collect();
        assert_eq!(lines.len(), 3, "{out}");
        for (i, line) in lines.iter().enumerate() {
            let k = i + 1;
            let alone = if mode.is_empty() {
                let (_, words) = line.split_once("; alone: ").unwrap_or_else(|| panic!("no 'alone:' in {line}"));
                assert!(words.contains(&format!("-first_frame {k} -frames 1")) && words.ends_with("-seed 5"), "{line}");
                words.to_string()
            } else {
                // nanoBragg.c has no frames: a frame is the run at its start with the run's seed
                let start = line.split_whitespace().nth(3).unwrap();
                assert!(line.ends_with(", noise -seed 5"), "{line}");
                format!("-phi {start} -seed 5")
            };
            let single = format!("{SMALL} -osc 0.7 {mode} {alone} -floatfile a.bin -intfile a.img -noisefile a.noise -nopgm");
            ok(&run(d, &single));
            for (framed, own) in [(format!("s_{k}.bin"), "a.bin"), (format!("s_{k}.img"), "a.img"), (format!("s_{k}.noise"), "a.noise")] {
                assert!(read(d, &framed) == read(d, own), "{mode}: {framed} is not what `{alone}` renders");
            }
        }
        // the frames differ, so the comparison above could fail
        assert!(read(d, "s_1.noise") != read(d, "s_2.noise"));
    }
    // and the documentation says so, no longer promising that `-phi … -seed <printed>` does
    let docs = std::fs::read_to_string(repo("docs/datasets.md")).unwrap();
    assert!(docs.contains("-first_frame k -frames 1"), "docs/datasets.md does not name the single run of frame k");
    assert!(!docs.contains("Every other frame's seed is a hash"), "docs/datasets.md still describes hashed frame seeds");
}

// ---- header numbers as typed

/// CBF headers print the values as typed (the SMV header's `%g` does): frame 4 of a 2.5° series
/// starts at 7.5, not 7.499999999999999, and a 0.172 mm pixel is 0.000172 m, not
/// 0.00017199999999999998; the NeXus file records the same numbers.
#[test]
fn cbf_and_nexus_numbers_carry_no_binary_round_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = "-cell 70 80 90 90 90 90 -default_F 10 -N 2 -lambda 0.9768 -distance 231.27466 -detpixels 16 -pixel 0.172 -engine cpu \
                -phi 0 -osc 2.5 -frames 4 -floatfile f_#.bin -intfile i_#.img -nopgm -nonoise -cbffile c_#.cbf -nexusfile run.h5";
    ok(&run(d, args));
    let text = String::from_utf8_lossy(&read(d, "c_4.cbf")).into_owned();
    for line in ["# Start_angle 7.5 deg.", "# Angle_increment 2.5 deg.", "# Pixel_size 0.000172 m x 0.000172 m", "# Detector_distance 0.23127466 m", "# Wavelength 0.9768 A"] {
        assert!(text.contains(&format!("{line}\r\n")), "c_4.cbf lacks `{line}`:\n{}", &text[..text.find("_array_data.data").unwrap_or(text.len())]);
    }
    let file = rust_hdf5::H5File::open(d.join("run.h5")).unwrap();
    let value = |name: &str| file.dataset(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_raw::<f64>().unwrap();
    assert_eq!(value("entry/sample/transformations/omega"), [0.0, 2.5, 5.0, 7.5]);
    assert_eq!(value("entry/sample/transformations/omega_end"), [2.5, 5.0, 7.5, 10.0]);
    assert_eq!(value("entry/instrument/detector/x_pixel_size"), [0.000172]);
    assert_eq!(value("entry/instrument/detector/distance"), [0.23127466]);
    assert_eq!(value("entry/instrument/beam/incident_wavelength"), [0.9768]);
}

// ---- solid angle and -osc 0

/// The detector's solid angle from the report line.
fn solid_angle(out: &str) -> f64 {
    let line = out.lines().find(|l| l.starts_with("solid angle subtended by detector = ")).unwrap_or_else(|| panic!("{out}"));
    line["solid angle subtended by detector = ".len()..].split_whitespace().next().unwrap().parse().unwrap()
}

/// The default mode prints the detector's solid angle whatever the sampling (about
/// pixels·pixel²/distance² for a small flat detector far away); nanoBragg.c, and `-c_parity`,
/// divide it by the φ steps, mosaic domains and sources.
#[test]
fn the_solid_angle_is_the_detectors_and_c_parity_keeps_cs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "-cell 70 80 90 90 90 90 -default_F 10 -N 2 -lambda 1 -distance 100 -detpixels 64 -pixel 0.1 -engine cpu \
                -floatfile f.bin -intfile i.img -nopgm -nonoise";
    let sampled = "-osc 1 -phisteps 10 -mosaic 0.5 -mosaic_dom 3 -divergence 1 -divsteps 2 -oversample 2";
    let plain = solid_angle(&ok(&run(d, base)));
    let detector = 64.0 * 64.0 * 0.1f64.powi(2) / 100.0f64.powi(2);
    assert!((plain / detector - 1.0).abs() < 5e-3, "{plain} vs about {detector}");
    let many = solid_angle(&ok(&run(d, &format!("{base} {sampled}"))));
    // (each sub-pixel adds the solid angle worked out at the pixel's first one: equal to 1e-4)
    assert!((many / plain - 1.0).abs() < 1e-4, "the default mode's solid angle moved with the sampling: {many} vs {plain}");
    let c_plain = solid_angle(&ok(&run(d, &format!("{base} -c_parity"))));
    let c_many = solid_angle(&ok(&run(d, &format!("{base} {sampled} -c_parity"))));
    assert!((c_plain / plain - 1.0).abs() < 1e-5, "{c_plain} {plain}");
    // 10 φ steps × 3 domains × 4 sources (a 2 × 2 divergence grid)
    let out = ok(&run(d, &format!("{base} {sampled} -c_parity")));
    assert!(out.contains("  4 sources, 3 mosaic domains, 10 phi steps"), "{out}");
    assert!((c_many * 120.0 / many - 1.0).abs() < 1e-5, "-c_parity: {c_many}·120 vs {many}");
}

/// `-osc 0` with no step count: one φ step in the default mode (the image of a run without
/// -osc, byte for byte), nanoBragg.c's two with `-c_parity`.
#[test]
fn osc_0_is_one_phi_step_and_two_with_c_parity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "-cell 70 80 90 90 90 90 -default_F 10 -N 3 -lambda 1 -distance 100 -detpixels 32 -phi 10 -engine cpu -nopgm -nonoise";
    let out = ok(&run(d, &format!("{base} -osc 0 -floatfile a.bin -intfile a.img")));
    assert!(out.contains(" 1 phi steps"), "{out}");
    ok(&run(d, &format!("{base} -floatfile b.bin -intfile b.img")));
    assert!(read(d, "a.bin") == read(d, "b.bin"), "-osc 0 renders another image than no -osc");
    let out = ok(&run(d, &format!("{base} -osc 0 -c_parity -floatfile c.bin -intfile c.img")));
    assert!(out.contains(" 2 phi steps"), "{out}");
}

// ---- SMV header

#[test]
fn the_dials_origin_line_ends_with_its_semicolon_and_c_parity_keeps_cs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "-cell 70 80 90 90 90 90 -default_F 10 -N 2 -detpixels 16 -engine cpu -nopgm -nonoise -floatfile f.bin";
    ok(&run(d, &format!("{base} -intfile a.img")));
    ok(&run(d, &format!("{base} -intfile c.img -c_parity")));
    let (fixed, _) = smv(&read(d, "a.img"));
    let keyed: Vec<&str> = fixed.lines().filter(|l| l.contains('=')).collect();
    assert!(keyed.len() > 20 && keyed.iter().all(|l| l.ends_with(';')), "a header line without its ';':\n{fixed}");
    assert!(keyed.iter().any(|l| l.starts_with("DIALS_ORIGIN=") && l.ends_with(';')), "{fixed}");
    let (c, _) = smv(&read(d, "c.img"));
    let dials = c.lines().find(|l| l.starts_with("DIALS_ORIGIN=")).unwrap();
    assert!(!dials.ends_with(';'), "-c_parity writes nanoBragg.c's header: {dials}");
}

// ---- one int scale per series

/// The printed `intfile_scale` of each frame, in order.
fn printed_scales(out: &str) -> Vec<f64> {
    out.lines().filter_map(|l| l.strip_prefix("intfile_scale = ")).map(|v| v.parse().unwrap()).collect()
}

/// A series' int images share one scale in the default mode, one count per photon, so counts
/// compare across frames (and a frame alone, as frame k, has the same); `-c_parity` and a
/// single image keep nanoBragg.c's 55000/max of each image.
#[test]
fn a_series_int_images_share_one_scale_and_c_parity_keeps_cs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let series = format!("{SMALL} -phi 0 -osc 0.7 -frames 3 -floatfile s_#.bin -intfile s_#.img -nopgm -nonoise");
    let out = ok(&run(d, &series));
    assert_eq!(printed_scales(&out), [1.0, 1.0, 1.0], "{out}");
    assert!(out.contains("int images: one scale for every frame, 1 count per photon"), "{out}");
    for k in 1..=3 {
        let image = floats(&read(d, &format!("s_{k}.bin")));
        let (_, ints) = smv(&read(d, &format!("s_{k}.img")));
        for (v, n) in image.iter().zip(&ints) {
            let want = ((f64::from(*v) + 40.0).clamp(0.0, 65535.0) + 0.5) as f32 as u16;
            assert_eq!(*n, want, "frame {k}: {v} photons");
        }
    }
    // nanoBragg.c's: each frame scaled to its own brightest pixel
    let out = ok(&run(d, &format!("{series} -c_parity")));
    let scales = printed_scales(&out);
    assert_eq!(scales.len(), 3, "{out}");
    for (k, scale) in scales.iter().enumerate() {
        let max = floats(&read(d, &format!("s_{}.bin", k + 1))).iter().fold(0.0f64, |m, &v| m.max(f64::from(v)));
        assert!((scale * max / 55000.0 - 1.0).abs() < 1e-5, "frame {}: scale {scale}, max {max}", k + 1);
    }
    assert!(scales[0] != scales[1] && scales[1] != scales[2], "{scales:?}");
    // a single image keeps C's scale in the default mode too
    let out = ok(&run(d, &format!("{SMALL} -floatfile one.bin -intfile one.img -nopgm -nonoise")));
    let max = floats(&read(d, "one.bin")).iter().fold(0.0f64, |m, &v| m.max(f64::from(v)));
    assert!((printed_scales(&out)[0] * max / 55000.0 - 1.0).abs() < 1e-5, "{out}");
}

// ---- the -stol fluence hint

/// A short amorphous table (sin θ/λ, F) for the `-stol` runs.
const STOL: &str = "0 2.57\n0.05 2.4\n0.1 2.0\n0.2 1.6\n0.3 2.3\n0.4 1.9\n0.5 1.2\n1 0.8\n";

#[test]
fn a_stol_run_at_the_default_fluence_names_the_flags_that_set_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("w.stol"), STOL).unwrap();
    let base = "-cell 50 50 50 90 90 90 -default_F 0 -detpixels 16 -engine cpu -stol w.stol -floatfile f.bin -intfile i.img -nopgm -nonoise";
    let o = run(d, base);
    ok(&o);
    let hint = stderr(&o);
    assert!(hint.contains("default fluence") && hint.contains("-fluence") && hint.contains("-flux"), "no hint:\n{hint}");
    // a beam of the user's own: no hint
    let o = run(d, &format!("{base} -fluence 1e20"));
    ok(&o);
    assert!(!stderr(&o).contains("fluence"), "{}", stderr(&o));
    // nonBragg, the same table and default beam
    let o = run(d, "nonBragg -stol w.stol -detpixels 16 -floatfile nb.bin -intfile nb.img -pgmfile nb.pgm -nonoise -noprogress");
    ok(&o);
    assert!(stderr(&o).contains("-fluence") && stderr(&o).contains("-flux"), "{}", stderr(&o));
}

// ---- messages that name what is at fault

#[test]
fn a_missing_hkl_file_without_a_cell_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for extra in ["", "-default_F 0", "-c_parity"] {
        let o = run(d, &format!("-hkl missing.hkl -detpixels 16 -engine cpu {extra}"));
        let line = refused(&o, 1, &["-hkl missing.hkl: no such file"]);
        assert!(!line.contains("unit cell"), "{line}");
    }
    assert!(listing(d).is_empty(), "{:?}", listing(d));
}

/// `-frames 3` without `-nopgm`: the message says that the PGM image is written by default as
/// image.pgm, and how to name it or switch it off, instead of blaming a `-pgmfile` nobody typed.
#[test]
fn a_series_over_a_default_output_names_the_default_and_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("image.pgm"), "an earlier PGM").unwrap();
    let base = "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 8 -engine cpu -frames 3 -floatfile f_#.bin -intfile i_#.img";
    let line = refused(&run(d, base), 2, &["PGM image is written by default", "image.pgm", "-pgmfile img_####.pgm", "-nopgm", "-frames 3"]);
    assert!(!line.contains("-pgmfile image.pgm:"), "{line}");
    refused(&run(d, &format!("{base} -nopgm")), 2, &["noise image is written by default", "noiseimage.img", "-noisefile", "-nonoise"]);
    refused(&run(d, "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 8 -engine cpu -frames 2 -nopgm -nonoise"), 2, &["float image is written by default", "floatimage.bin", "-floatfile img_####.bin"]);
    // a name the user typed is still named as typed
    refused(&run(d, &format!("{base} -pgmfile p.pgm")), 2, &["-pgmfile p.pgm: with -frames 3 the name needs a run of '#'"]);
    assert_eq!(listing(d), ["image.pgm"]);
    assert_eq!(read(d, "image.pgm"), b"an earlier PGM");
}

/// File errors give the system's reason without its number (`(os error 2)`).
#[test]
fn no_os_error_numbers_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 8 -engine cpu -nopgm -nonoise -intfile i.img";
    refused(&run(d, &format!("{base} -floatfile nodir/x.bin")), 2, &["-floatfile nodir/x.bin: cannot create files there: no such folder"]);
    let long = "a".repeat(300);
    refused(&run(d, &format!("{base} -floatfile {long}.bin")), 2, &["-floatfile", "name too long"]);
    std::fs::write(d.join("a.txt"), "x").unwrap();
    refused(&run(d, &format!("{base} -floatfile a.txt/x.bin")), 2, &["-floatfile a.txt/x.bin"]);
    refused(&run(d, "trace-diff nothere.log nothere2.log"), 2, &["nothere.log: no such file"]);
    refused(&run(d, "noisify -floatfile nothere.bin"), 1, &["-floatfile nothere.bin: no such file"]);
    assert_eq!(listing(d), ["a.txt"]);
    // `manifest check` of a run whose frame file is gone
    let series = "-cell 50 50 50 90 90 90 -default_F 10 -detpixels 8 -engine cpu -nopgm -nonoise -frames 2 -floatfile f_#.bin -intfile i_#.img -manifest m.jsonl";
    ok(&run(d, series));
    std::fs::remove_file(d.join("f_2.bin")).unwrap();
    refused(&run(d, "manifest check m.jsonl"), 1, &["f_2.bin (frame 2): no such file"]);
}

// ---- help

#[test]
fn help_lists_every_subcommand_and_each_answers_its_own_help() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(&run(dir.path(), "-h"));
    for sub in ["noisify", "nonBragg", "compare", "trace-diff", "bench", "manifest"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("nanobragg {sub} "))), "-h does not list {sub}:\n{help}");
        let own = run(dir.path(), &format!("{sub} -h"));
        assert!(own.status.success() && !own.stdout.is_empty(), "nanobragg {sub} -h: {:?} {}", own.status, stderr(&own));
    }
}

// ---- the README

/// The README's commands, continuation lines joined and comments dropped; the ones with `...`
/// (an experiment's flags left out) are placeholders.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(repo("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = match line.find(" #") {
            Some(at) if line[at..].starts_with(" # ") || line[at + 1..].starts_with("# ") => line[..at].trim_end(),
            _ => line.trim_end(),
        };
        match code.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(code);
                if !current.trim().is_empty() {
                    commands.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                }
                current.clear();
            }
        }
    }
    commands
}

/// Every command of the README that is not a placeholder runs from the repository as shipped:
/// the demo (its first line, through the binary instead of `cargo run`) and the quick start
/// name only files in `assets/`.
#[test]
fn the_readme_commands_run_with_the_shipped_files() {
    let commands = readme_commands();
    assert!(commands[0].starts_with("cargo run --release -- ") && commands[1] == "cargo test --release", "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::os::unix::fs::symlink(repo("assets"), d.join("assets")).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    let mut ran = 0;
    for command in &commands {
        let args = if let Some(rest) = command.strip_prefix("cargo run --release -- ") {
            rest
        } else if let Some(rest) = command.strip_prefix("nanobragg ") {
            rest
        } else {
            continue;
        };
        if args.contains("...") {
            continue;
        }
        let o = run(d, &format!("{args} -engine cpu"));
        assert!(o.status.success(), "README: `{command}` fails:\n{}", stderr(&o));
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} README commands ran: {commands:?}");
    assert!(d.join("out/demo.png").exists());
}

// ---- whole numbers written with a decimal point

/// nanoBragg.c reads whole numbers with atoi, so `-N 6.0` is 6: taken in both modes, the same
/// image as `-N 6`. `-N 6.5` (atoi's 6, not the number written) is refused by default, naming
/// the value atoi reads, and read as 6 with `-c_parity`.
#[test]
fn whole_numbers_with_a_decimal_point_are_read_as_nanobragg_c_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "-cell 50 50 50 90 90 90 -default_F 10 -lambda 1 -distance 100 -engine cpu -nopgm -nonoise";
    ok(&run(d, &format!("{base} -N 6 -detpixels 24 -phisteps 2 -osc 1 -floatfile a.bin -intfile a.img")));
    ok(&run(d, &format!("{base} -N 6.0 -detpixels 24.0 -phisteps 2. -osc 1 -floatfile b.bin -intfile b.img")));
    assert!(read(d, "a.bin") == read(d, "b.bin"));
    refused(&run(d, &format!("{base} -N 6.5 -detpixels 24 -floatfile x.bin -intfile x.img")), 2, &["-N", "'6.5'", "read it as 6", "-c_parity"]);
    assert!(!d.join("x.bin").exists());
    for (mode, name) in [("", "c"), ("-c_parity", "d")] {
        let o = run(d, &format!("{base} -N 6 -detpixels 24 {mode} -floatfile {name}.bin -intfile {name}.img"));
        ok(&o);
    }
    let o = run(d, &format!("{base} -N 6.5 -detpixels 24 -c_parity -floatfile e.bin -intfile e.img"));
    ok(&o);
    assert!(stderr(&o).contains("-N 6.5: read as 6"), "{}", stderr(&o));
    assert!(read(d, "e.bin") == read(d, "d.bin"), "-c_parity -N 6.5 is not -N 6");
    // the companion programs read their whole numbers the same way
    std::fs::write(d.join("w.stol"), STOL).unwrap();
    ok(&run(d, "nonBragg -stol w.stol -detpixels 12.0 -fluence 1e20 -floatfile nb.bin -intfile nb.img -pgmfile nb.pgm -nonoise -noprogress"));
    assert_eq!(read(d, "nb.bin").len(), 12 * 12 * 4);
    std::fs::write(d.join("in.bin"), vec![0u8; 4 * 6 * 4]).unwrap();
    ok(&run(d, "noisify -floatfile in.bin -detpixels_x 6.0 -seed 3.0 -intfile nz.img -pgmfile nz.pgm -noisefile nzn.img"));
    assert_eq!(read(d, "nz.img").len(), 512 + 24 * 2);
}

// ---- docs claim only what exists

#[test]
fn the_docs_promise_no_browser_build() {
    let mut texts = vec![("README.md".to_string(), std::fs::read_to_string(repo("README.md")).unwrap())];
    for e in std::fs::read_dir(repo("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            texts.push((e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()));
        }
    }
    for (name, text) in texts {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        // (the core's wasm32-unknown-unknown build exists and is tested: tests/architecture.rs)
        // (the Python package exists and is tested: tests/python.rs)
        for claim in ["wasm-bindgen", "webassembly", "the browser"] {
            assert!(!flat.contains(claim), "{name} mentions a {claim}, which does not exist");
        }
    }
}
