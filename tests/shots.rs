//! Shot lists (`-shots FILE`, `-shots N -random_orientation`) through the binary: a list equals
//! the single runs it prints, bit for bit, on both engines; a shot does not depend on the list
//! around it; bad lists are refused before anything is written, naming the line and the key.

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

fn asset(name: &str) -> String {
    format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A small experiment with structure factors read from a file (tricubic interpolation for
/// the thin crystal of shot 5), mosaic domains, several φ steps and oversampling.
fn experiment(engine: &str) -> String {
    format!(
        "-hkl {} -mat {} -nofdump -lambda 1 -N 4 -distance 80 -detpixels 40 -pixel 0.3 -osc 0.7 -phisteps 3 \
         -mosaic 0.5 -mosaic_dom 3 -oversample 2 -engine {engine} -seed 7",
        asset("demo.hkl"),
        asset("demo.mat")
    )
}

/// Six shots, each changing something else: orientation, crystal size, fluence, seeds, detector
/// distance, wavelength, shape, φ sampling, mosaic spread, the integer image's scale (part of
/// the shot's experiment: its `-intfile` is the single run's).
const LIST: &str = r#"# six stills of the demo crystal
{"misset": [10, 20, 30], "N": 7, "fluence": 2e22, "seed": 5}
{"N": 3, "mosaic_seed": 11}

{}
{"misset": "random", "misset_seed": 4, "distance": 90}
{"lambda": 1.1, "round_xtal": true, "Na": 2, "Nb": 1}
   # an indented comment
{"phi": 15, "osc": 0.3, "mosaic": 0.2, "printout_pixel": [3, 4], "scale": 0.5}
"#;

const KINDS: [(&str, &str); 5] = [("-floatfile", "bin"), ("-intfile", "img"), ("-pgmfile", "pgm"), ("-noisefile", "noise.img"), ("-pngfile", "png")];

fn outputs(stem: &str) -> Vec<String> {
    KINDS.iter().flat_map(|(flag, ext)| [flag.to_string(), format!("{stem}.{ext}")]).collect()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The words each shot printed (`shot k: <words>`), in shot order.
fn printed_words(stdout: &str) -> Vec<Vec<String>> {
    let mut shots: Vec<(u64, Vec<String>)> = stdout
        .lines()
        .filter_map(|l| {
            let (number, rest) = l.strip_prefix("shot ")?.split_once(": ")?;
            Some((number.parse().ok()?, words(rest)))
        })
        .collect();
    shots.sort_by_key(|(k, _)| *k);
    let numbers: Vec<u64> = shots.iter().map(|(k, _)| *k).collect();
    assert_eq!(numbers, (1..=shots.len() as u64).collect::<Vec<_>>(), "{stdout}");
    shots.into_iter().map(|(_, w)| w).collect()
}

/// Runs `list_flags` (a list) into `list_###.*`, then each shot alone with the base command and
/// the words the list printed for it, and compares every output byte for byte.
fn list_equals_single_runs(base: &str, list_flags: &str, shots: usize, dir: &Path) -> Vec<Vec<String>> {
    let mut args = words(base);
    args.extend(words(list_flags));
    args.extend(outputs("list_###"));
    let run = nanobragg(dir, &args);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "list failed: {}", String::from_utf8_lossy(&run.stderr));
    let printed = printed_words(&stdout);
    assert_eq!(printed.len(), shots, "{stdout}");
    for (i, shot) in printed.iter().enumerate() {
        let k = i + 1;
        let mut single = words(base);
        single.extend(shot.iter().cloned());
        single.extend(outputs(&format!("single_{k}")));
        let one = nanobragg(dir, &single);
        assert!(one.status.success(), "shot {k} alone failed: {}", String::from_utf8_lossy(&one.stderr));
        for (_, ext) in KINDS {
            let (listed, alone) = (format!("list_{k:03}.{ext}"), format!("single_{k}.{ext}"));
            assert!(read(dir, &listed) == read(dir, &alone), "{base} {list_flags}: {listed} differs from {alone} ({shot:?})");
        }
    }
    printed
}

fn shot_file_equals_single_runs(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shots.jsonl"), LIST).unwrap();
    let printed = list_equals_single_runs(&experiment(engine), "-shots shots.jsonl", 6, dir.path());
    // the line's keys come after the derived seeds, so an explicit seed wins
    assert_eq!(printed[0][..2], words("-seed 7"), "shot 1 keeps the run's noise seed");
    assert_eq!(printed[0][printed[0].len() - 2..], words("-seed 5"));
    assert!(printed[1].ends_with(&words("-N 3 -mosaic_seed 11")), "{:?}", printed[1]);
    // every shot has its own noise and mosaic seeds
    let seeds: std::collections::HashSet<&String> = printed.iter().map(|w| &w[3]).collect();
    assert_eq!(seeds.len(), 6, "{printed:?}");
    let d = dir.path();
    assert!(read(d, "list_002.bin") != read(d, "list_003.bin"), "shots differ");
    assert!(read(d, "list_003.noise.img") != read(d, "list_004.noise.img"), "noise differs");
}

#[test]
fn cpu_shot_list_equals_single_runs() {
    shot_file_equals_single_runs("cpu");
}

#[test]
fn gpu_shot_list_equals_single_runs() {
    if gpu_available("gpu_shot_list_equals_single_runs") {
        shot_file_equals_single_runs("gpu");
    }
}

#[test]
fn random_orientations_are_reproduced_by_their_printed_misset() {
    let dir = tempfile::tempdir().unwrap();
    let printed = list_equals_single_runs(&experiment("cpu"), "-shots 6 -random_orientation", 6, dir.path());
    let mut orientations = std::collections::HashSet::new();
    for shot in &printed {
        let at = shot.iter().position(|w| w == "-misset").unwrap_or_else(|| panic!("no -misset in {shot:?}"));
        let angles: Vec<f64> = shot[at + 1..at + 4].iter().map(|w| w.parse().unwrap()).collect();
        assert!(angles.iter().all(|a| a.abs() <= 180.0), "{angles:?}");
        orientations.insert(shot[at + 1..at + 4].join(" "));
    }
    assert_eq!(orientations.len(), 6, "{printed:?}");
}

/// `"misset": "random"` without its own `misset_seed`: the seed derives from (-seed, shot) and
/// is printed, so the printed words reproduce the shot, two such shots differ, and the list
/// run again (a second later, another clock) gives the same crystals.
#[test]
fn a_lines_random_misset_is_reproduced_by_its_printed_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("r.jsonl"), "{\"misset\": \"random\"}\n{\"misset\": \"random\", \"N\": 5}\n{}\n").unwrap();
    let printed = list_equals_single_runs(&experiment("cpu"), "-shots r.jsonl", 3, d);
    let seed_of = |w: &Vec<String>| w.iter().position(|x| x == "-misset_seed").map(|at| w[at + 1].clone());
    assert!(seed_of(&printed[0]).is_some() && seed_of(&printed[1]).is_some() && seed_of(&printed[0]) != seed_of(&printed[1]), "{printed:?}");
    assert_eq!(seed_of(&printed[2]), None, "a shot without a random misset prints no misset seed: {:?}", printed[2]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut again = words(&format!("{} -shots r.jsonl -quiet", experiment("cpu")));
    again.extend(outputs("again_#"));
    assert!(nanobragg(d, &again).status.success());
    for k in 1..=3 {
        assert!(read(d, &format!("list_{k:03}.bin")) == read(d, &format!("again_{k}.bin")), "shot {k} differs when the list runs again");
    }
}

/// Shot k's outputs are the same whether it is rendered in a list of 6 or of 3.
#[test]
fn a_shot_does_not_depend_on_the_list_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first_three: String = LIST.lines().filter(|l| l.starts_with('{')).take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(d.join("six.jsonl"), LIST).unwrap();
    std::fs::write(d.join("three.jsonl"), first_three).unwrap();
    let base = experiment("cpu");
    for (flags, stem) in [
        ("-shots six.jsonl", "six_#"),
        ("-shots three.jsonl", "three_#"),
        ("-shots 6 -random_orientation", "r6_#"),
        ("-shots 3 -random_orientation", "r3_#"),
    ] {
        let mut args = words(&format!("{base} {flags} -quiet"));
        args.extend(outputs(stem));
        let run = nanobragg(d, &args);
        assert!(run.status.success(), "{flags}: {}", String::from_utf8_lossy(&run.stderr));
    }
    for k in 1..=3 {
        for (_, ext) in KINDS {
            assert!(read(d, &format!("six_{k}.{ext}")) == read(d, &format!("three_{k}.{ext}")), "shot {k} .{ext}, file lists");
            assert!(read(d, &format!("r6_{k}.{ext}")) == read(d, &format!("r3_{k}.{ext}")), "shot {k} .{ext}, random orientations");
        }
    }
    assert!(d.join("six_6.bin").exists() && !d.join("three_4.bin").exists());
}

const SMALL: &str = "-cell 50 50 50 90 90 90 -default_F 10 -N 3 -detpixels 8 -engine cpu -osc 1 -floatfile f_#.bin -intfile i_#.img -nopgm -nonoise";

/// Each bad list is refused with one message naming the file, line and key, and nothing is
/// written (the good shots before the bad line are not rendered either).
#[test]
fn bad_lists_are_refused_before_anything_is_written() {
    let good = "{\"N\": 2}\n{}\n";
    let cases: &[(&str, &str, &str)] = &[
        ("-shots l.jsonl", "{\"N\": }", "-shots l.jsonl: line 3: not a JSON object of flag overrides"),
        ("-shots l.jsonl", "[1, 2, 3]", "l.jsonl: line 3: not a JSON object"),
        ("-shots l.jsonl", "{\"N\": 1, \"N\": 2}", "line 3: not a JSON object of flag overrides: the key \"N\" is written twice"),
        ("-shots l.jsonl", "{\"fluence\": 1e20, \"bogus\": 1}", "-shots l.jsonl: line 3, key \"bogus\": no flag -bogus"),
        ("-shots l.jsonl", "{\"distence\": 90}", "line 3, key \"distence\": no flag -distence (did you mean \"distance\"?)"),
        ("-shots l.jsonl", "{\"N\": \"seven\"}", "line 3, key \"N\": -N: value 'seven' is not a whole number"),
        ("-shots l.jsonl", "{\"N\": [1, 2]}", "line 3, key \"N\": -N takes one value"),
        ("-shots l.jsonl", "{\"misset\": [1, 2]}", "line 3, key \"misset\": -misset takes"),
        ("-shots l.jsonl", "{\"distance\": -5}", "line 3, key \"distance\": -distance: value -5 must be greater than zero"),
        ("-shots l.jsonl", "{\"round_xtal\": false}", "line 3, key \"round_xtal\": -round_xtal is a switch"),
        ("-shots l.jsonl", "{\"floatfile\": \"x.bin\"}", "line 3, key \"floatfile\": -floatfile chooses the output files"),
        ("-shots l.jsonl", "{\"frames\": 3}", "line 3, key \"frames\": -frames sets up the list itself"),
        ("-shots l.jsonl", "{\"engine\": \"gpu\"}", "line 3, key \"engine\": -engine applies to the whole run"),
        ("-shots l.jsonl", "{\"hkl\": \"a.hkl\"}", "line 3, key \"hkl\": -hkl names an input the list reads once"),
        // keys of the whole run, refused by name (they used to be accepted and ignored)
        ("-shots l.jsonl", "{\"nexusfile\": \"x.h5\"}", "line 3, key \"nexusfile\": -nexusfile chooses the output files"),
        ("-shots l.jsonl", "{\"nexus_float\": true}", "line 3, key \"nexus_float\": -nexus_float chooses the output files"),
        ("-shots l.jsonl", "{\"manifest\": \"m.jsonl\"}", "line 3, key \"manifest\": -manifest applies to the whole run"),
        ("-shots l.jsonl", "{\"resume\": true}", "line 3, key \"resume\": -resume applies to the whole run"),
        ("-shots l.jsonl", "{\"shard\": \"0/2\"}", "line 3, key \"shard\": -shard applies to the whole run"),
        ("-shots l.jsonl", "{\"gpu_index\": 0}", "line 3, key \"gpu_index\": -gpu_index applies to the whole run"),
        ("-shots l.jsonl", "{\"-N\": 3}", "line 3, key \"-N\": keys are flag names without the dash"),
        // values each flag accepts, but no experiment: refused before the first shot renders
        ("-shots l.jsonl", "{\"detpixels\": 100000}", "-shots l.jsonl line 3: a 100000 × 100000 detector"),
        ("-shots l.jsonl -frames 3", "{}", "-shots and -frames"),
        ("-shots l.jsonl -misset 1 2 3 -random_orientation", "{}", "-misset and -random_orientation"),
        ("-shots l.jsonl -trace_pixel 1 1", "{}", "-trace_pixel reports on one image"),
        ("-random_orientation", "{}", "-random_orientation draws each shot's orientation: it needs -shots"),
        ("-shots 0", "{}", "-shots: value 0 must be from 1"),
        ("-shots nothere.jsonl", "{}", "-shots nothere.jsonl"),
        ("-shots l.jsonl -floatfile f.bin", "{}", "-floatfile f.bin: with 3 shots the name needs a run of '#'"),
    ];
    for (flags, third, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("l.jsonl"), format!("{good}{third}\n")).unwrap();
        let run = nanobragg(dir.path(), &words(&format!("{SMALL} {flags}")));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{flags} / {third}: succeeded");
        assert!(run.status.code().is_some_and(|c| c == 1 || c == 2), "{flags} / {third}: {:?}", run.status);
        assert!(stderr.contains(message), "{flags} / {third}: expected '{message}' in: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one message: {stderr}");
        assert_eq!(listing(dir.path()), ["l.jsonl"], "{flags} / {third}: wrote files");
    }
    // a list of comments only
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l.jsonl"), "# nothing\n\n").unwrap();
    let run = nanobragg(dir.path(), &words(&format!("{SMALL} -shots l.jsonl")));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no shots"), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(listing(dir.path()), ["l.jsonl"]);
    // an output that would replace the list itself (shot 1's -floatfile is s1.jsonl)
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s1.jsonl"), "{}\n").unwrap();
    let run = nanobragg(dir.path(), &words(&format!("{SMALL} -shots s1.jsonl -floatfile s#.jsonl")));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("-floatfile s1.jsonl: refusing to overwrite the -shots input"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("s1.jsonl")).unwrap(), "{}\n");
    assert_eq!(listing(dir.path()), ["s1.jsonl"]);
}

/// `-shots N` without a file: N shots of the command line, each with its own seeds, numbered
/// through the templates; the structure-factor cache is written once.
#[test]
fn a_count_of_shots_renders_numbered_frames() {
    let dir = tempfile::tempdir().unwrap();
    let args = words(&format!(
        "-hkl {} -mat {} -N 3 -distance 80 -detpixels 16 -pixel 0.3 -engine cpu -mosaic 1 -mosaic_dom 4 -shots 3 -floatfile f_#.bin -intfile i_#.img -nopgm -nonoise",
        asset("demo.hkl"),
        asset("demo.mat")
    ));
    let run = nanobragg(dir.path(), &args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("shot list: 3 shots"), "{stdout}");
    assert_eq!(printed_words(&stdout).len(), 3);
    assert_eq!(listing(dir.path()), ["Fdump.bin", "f_1.bin", "f_2.bin", "f_3.bin", "i_1.img", "i_2.img", "i_3.img"]);
    // each shot has its own mosaic domains
    assert!(read(dir.path(), "f_1.bin") != read(dir.path(), "f_2.bin"));
}

/// The command line's set-up warnings are printed once, not again for every shot that
/// resolves it anew (`console::Hush`, on the rendering thread only).
#[test]
fn set_up_warnings_are_printed_once_per_list() {
    let dir = tempfile::tempdir().unwrap();
    let args = words(&format!(
        "-hkl {} -mat {} -nofdump -lambda 1 -N 40 -distance 80 -detpixels 20 -pixel 0.3 -oversample 1 -engine cpu \
         -shots 3 -random_orientation -floatfile s_###.bin -intfile s_###.img -nopgm -nonoise",
        asset("demo.hkl"),
        asset("demo.mat")
    ));
    let out = nanobragg(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("warning: intensity may vary significantly across a pixel").count(), 1, "{stderr}");
    assert_eq!(printed_words(&String::from_utf8_lossy(&out.stdout)).len(), 3);
}
