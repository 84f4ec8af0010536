//! Stopping a render: through the shared cancel flag (no signal needed), and with a real SIGINT
//! sent to the binary in the middle of a long render. Either way the run ends with the
//! "interrupted" error and leaves no output and no temporary file.

use nanobragg::app::run_controlled;
use nanobragg::error::Error;
use nanobragg::progress::RenderControl;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OUTPUTS: [&str; 4] = ["float.bin", "int.img", "image.pgm", "noise.img"];

fn output_args(dir: &Path) -> Vec<String> {
    let flags = ["-floatfile", "-intfile", "-pgmfile", "-noisefile"];
    flags.iter().zip(OUTPUTS).flat_map(|(f, name)| [f.to_string(), dir.join(name).display().to_string()]).collect()
}

fn assert_no_files(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn cancelled_run_returns_interrupted_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> =
        "-cell 50 50 50 90 90 90 -N 2 -default_F 10 -detpixels 32 -engine cpu -quiet".split_whitespace().map(String::from).collect();
    args.extend(output_args(dir.path()));
    let control = Arc::new(RenderControl::default());
    control.cancel();
    let err = run_controlled(&args, &control).unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert_eq!(err.exit_code(), 130);
    assert_eq!(control.rows_done(), 0, "no pixel is rendered after the flag is set");
    assert_no_files(dir.path());
}

#[test]
fn uncancelled_run_counts_every_row_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> =
        "-cell 50 50 50 90 90 90 -N 2 -default_F 10 -detpixels_f 24 -detpixels_s 40 -engine cpu -quiet".split_whitespace().map(String::from).collect();
    args.extend(output_args(dir.path()));
    let control = Arc::new(RenderControl::default());
    run_controlled(&args, &control).unwrap();
    assert_eq!(control.rows_done(), 40);
    for name in OUTPUTS {
        assert!(dir.path().join(name).exists(), "{name} missing");
    }
}

/// Waits for `child` to end; kills it and fails the test if it does not stop within `limit`
/// (a guard against a hang, not a measurement).
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("nanobragg did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the binary on `args` with outputs in `dir`, waits until it renders, sends SIGINT and
/// returns the exit status and stderr.
#[cfg(unix)]
fn interrupt_mid_render(dir: &Path, args: &str) -> (std::process::ExitStatus, String) {
    let mut args: Vec<String> = args.split_whitespace().map(String::from).collect();
    args.extend(output_args(dir));
    let mut child = Command::new(env!("CARGO_BIN_EXE_nanobragg"))
        .args(&args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the set-up report is printed after the handler is installed and just before rendering
    // (the pipe stays open to the end: a closed one would make the child's next print fail)
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = stdout.by_ref().map_while(Result::ok).any(|l| l.starts_with("DETECTOR_PIX0_VECTOR"));
    assert!(started, "the run ended before rendering");
    let sent = Command::new("sh").args(["-c", &format!("kill -INT {}", child.id())]).status().unwrap();
    assert!(sent.success());
    let status = wait_or_kill(&mut child, Duration::from_secs(120));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[cfg(unix)]
fn assert_interrupted(status: std::process::ExitStatus, stderr: &str, dir: &Path) {
    assert_eq!(status.code(), Some(130), "stderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
    assert_eq!(errors, ["nanobragg: error: interrupted: the render was stopped and no output file was written"], "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "stderr:\n{stderr}");
    assert_no_files(dir);
}

#[cfg(unix)]
#[test]
fn sigint_stops_a_long_render_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // hours of work on two cores in short pixels: the engine notices the flag
    let (status, stderr) = interrupt_mid_render(
        dir.path(),
        "-cell 50 50 50 90 90 90 -N 10 -default_F 10 -detpixels 1024 -oversample 10 -mosaic 1 -mosaic_domains 50 -phisteps 10 -osc 1 -engine cpu",
    );
    assert_interrupted(status, &stderr, dir.path());
}

#[cfg(unix)]
#[test]
fn sigint_stops_a_render_stuck_in_one_pixel() {
    let dir = tempfile::tempdir().unwrap();
    // 10^10 sub-pixels in every pixel: no pixel ends soon, so the handler leaves by itself
    let (status, stderr) =
        interrupt_mid_render(dir.path(), "-cell 50 50 50 90 90 90 -N 2 -default_F 10 -detpixels 4 -oversample 100000 -engine cpu");
    assert_interrupted(status, &stderr, dir.path());
}
