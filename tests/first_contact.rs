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

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
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
}

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
