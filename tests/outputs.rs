//! Output files through the real binary: devices and FIFOs written through (never replaced),
//! temporaries that cannot collide or delete another run's file, names refused before the
//! render, read-only outputs refused and modes kept, a report on a broken stdout that costs
//! nothing, and the memory check under `ulimit -v`. Each case runs in its own scratch
//! directory; a refused run must leave the inputs and earlier outputs byte for byte.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Bytes planted in `float.bin` before each run.
const OLD_FLOAT: &[u8] = b"an earlier run's float image";
/// An input the run reads (a MOSFLM orientation matrix); it must never change.
const MATRIX: &str = "-0.0283771 -0.0030539 0.0253582\n-0.0287139 0.0101955 -0.0140005\n0.0105005 -0.0320944 -0.0103605\n";
/// 16 × 16 pixels: the raw float image is 1024 bytes.
const FLOAT_BYTES: usize = 16 * 16 * 4;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let case = Case { dir: tempfile::tempdir().expect("tempdir") };
        fs::write(case.path("float.bin"), OLD_FLOAT).unwrap();
        fs::write(case.path("in.mat"), MATRIX).unwrap();
        case
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The experiment, without output names: each test names its own.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = "-mat in.mat -N 2 -default_F 10 -lambda 1 -distance 100 -detpixels 16 -engine cpu -seed 1 -nonoise -nopgm"
            .split_whitespace()
            .map(String::from)
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nanobragg"));
        cmd.args(self.args(extra)).current_dir(self.dir.path()).env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
        cmd
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().expect("run nanobragg")
    }

    /// A refused run: exit status, exactly one error line holding `fragments`, nothing
    /// rendered (the set-up report comes after the output check, so stdout is empty), and no
    /// trace on disk.
    fn refused(&self, out: &Output, code: i32, fragments: &[&str]) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "stderr:\n{stderr}");
        no_panic(out);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("nanobragg: error:")).collect();
        assert_eq!(errors.len(), 1, "expected exactly one error line:\n{stderr}");
        for f in fragments {
            assert!(errors[0].contains(f), "error line lacks `{f}`:\n{stderr}");
        }
        assert!(out.stdout.is_empty(), "refused before the render, yet printed: {}", String::from_utf8_lossy(&out.stdout));
        self.untouched();
    }

    /// Inputs and earlier outputs byte for byte, no new image, no temporary.
    fn untouched(&self) {
        assert_eq!(fs::read(self.path("float.bin")).unwrap(), OLD_FLOAT, "float.bin was modified");
        assert_eq!(fs::read_to_string(self.path("in.mat")).unwrap(), MATRIX, "the input was modified");
        assert!(!self.path("int.img").exists(), "int.img was created");
        assert_eq!(temporaries(self.dir.path()), Vec::<String>::new());
    }
}

fn no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "panic:\n{stderr}");
}

fn succeeded(out: &Output) {
    no_panic(out);
    assert!(out.status.success(), "status {:?}; stderr:\n{}", out.status, String::from_utf8_lossy(&out.stderr));
}

fn temporaries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.contains("write-test"))
        .collect();
    names.sort();
    names
}

fn is_root() -> bool {
    // SAFETY: no arguments, no side effects
    unsafe { libc::geteuid() == 0 }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

/// The float image of the experiment, written to a regular file by a separate run.
fn reference_float() -> Vec<u8> {
    let case = Case::new();
    succeeded(&case.run(&["-quiet", "-floatfile", "ref.bin", "-intfile", "ref.img"]));
    let bytes = fs::read(case.path("ref.bin")).unwrap();
    assert_eq!(bytes.len(), FLOAT_BYTES);
    bytes
}

// ---- non-regular outputs are written through, never replaced

/// As an ordinary user, `/dev/null` is an output like any other (it used to be refused with
/// "cannot create files there", the probe file being created in /dev; as root the old code
/// even replaced /dev/null by a regular file).
#[test]
fn dev_null_takes_outputs_as_an_ordinary_user() {
    let case = Case::new();
    let outputs = ["-quiet", "-floatfile", "/dev/null", "-intfile", "/dev/null", "-pngfile", "out.png"];
    let mut cmd = case.command(&outputs);
    // held until the run is over: the copy of the binary nobody runs
    let mut _copy = None;
    if is_root() {
        // run as nobody, in a directory nobody may write
        fs::set_permissions(case.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(case.path("in.mat"), fs::Permissions::from_mode(0o644)).unwrap();
        match binary_for_others(case.dir.path()) {
            Ok((dir, binary)) => {
                cmd = Command::new(&binary);
                cmd.args(case.args(&outputs)).current_dir(case.dir.path()).env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
                std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
                std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
                _copy = Some(dir);
            }
            // the checks below still hold as root (the old code replaced /dev/null there)
            Err(why) => eprintln!("NOT run as an ordinary user: {why}; checked as root only"),
        }
    }
    let out = cmd.output().unwrap();
    succeeded(&out);
    assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null was replaced");
    assert!(case.path("out.png").exists());
    assert_eq!(fs::read(case.path("float.bin")).unwrap(), OLD_FLOAT);
    assert_eq!(temporaries(case.dir.path()), Vec::<String>::new());
}

/// A copy of the binary that another user can run, and its folder (removed when dropped): the
/// build's own binary may sit in a checkout under a 0700 home folder, which nobody may enter.
/// Refused, with the reason, when the copy or `case_dir` still cannot be reached by others
/// (a temporary folder under such a home).
fn binary_for_others(case_dir: &Path) -> Result<(tempfile::TempDir, PathBuf), String> {
    let dir = tempfile::Builder::new().prefix("nanobragg-bin").tempdir().map_err(|e| format!("no temporary folder: {e}"))?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("nanobragg");
    fs::copy(env!("CARGO_BIN_EXE_nanobragg"), &binary).map_err(|e| format!("cannot copy the binary: {e}"))?;
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    for path in [dir.path(), case_dir] {
        if let Some(closed) = path.ancestors().find(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 == 0)) {
            return Err(format!("{} is a folder others may not enter, so {} is out of their reach", closed.display(), path.display()));
        }
    }
    Ok((dir, binary))
}

/// As root, a null device node of our own (so a regression cannot damage the system's
/// /dev/null) stays a device, and may take several outputs.
#[test]
fn a_device_node_stays_a_device_as_root() {
    if !is_root() {
        eprintln!("not root: mknod is not allowed, skipping");
        return;
    }
    let case = Case::new();
    let node = case.path("null");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; creates the character device 1:3 (null)
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } != 0 {
        eprintln!("mknod refused here (nodev?), skipping");
        return;
    }
    succeeded(&case.run(&["-quiet", "-floatfile", "null", "-intfile", "null"]));
    assert!(fs::metadata(&node).unwrap().file_type().is_char_device(), "the device was replaced by a file");
    assert_eq!(temporaries(case.dir.path()), Vec::<String>::new());
}

/// `-floatfile /dev/stdout`: the image is the whole of stdout (with -quiet).
#[test]
fn dev_stdout_receives_the_image() {
    let case = Case::new();
    let out = case.run(&["-quiet", "-floatfile", "/dev/stdout", "-intfile", "int.img"]);
    succeeded(&out);
    assert_eq!(out.stdout, reference_float());
    assert!(case.path("int.img").exists());
    assert_eq!(temporaries(case.dir.path()), Vec::<String>::new());
}

/// A FIFO, and a link to another FIFO, each read by a thread: both receive their image and
/// stay FIFOs.
#[test]
fn fifos_and_links_to_them_are_written_through() {
    let case = Case::new();
    mkfifo(&case.path("float.fifo"));
    mkfifo(&case.path("int.fifo"));
    std::os::unix::fs::symlink("int.fifo", case.path("int.link")).unwrap();
    let read_all = |p: PathBuf| std::thread::spawn(move || fs::read(p).unwrap());
    let float_reader = read_all(case.path("float.fifo"));
    let int_reader = read_all(case.path("int.link"));
    let out = case.run(&["-quiet", "-floatfile", "float.fifo", "-intfile", "int.link"]);
    succeeded(&out);
    assert_eq!(float_reader.join().unwrap(), reference_float());
    let smv = int_reader.join().unwrap();
    assert!(smv.starts_with(b"{\nHEADER_BYTES="), "not an SMV image: {:?}", &smv[..smv.len().min(20)]);
    assert_eq!(smv.len(), 512 + 16 * 16 * 2);
    for name in ["float.fifo", "int.fifo"] {
        assert!(fs::metadata(case.path(name)).unwrap().file_type().is_fifo(), "{name} was replaced");
    }
    assert!(fs::symlink_metadata(case.path("int.link")).unwrap().file_type().is_symlink());
    assert_eq!(temporaries(case.dir.path()), Vec::<String>::new());
}

/// A FIFO whose reader leaves without reading: the run fails with a message (not killed by
/// SIGPIPE), and no regular output is changed or left half-made.
#[test]
fn a_fifo_whose_reader_leaves_fails_cleanly() {
    let case = Case::new();
    mkfifo(&case.path("out.fifo"));
    let fifo = case.path("out.fifo");
    // opens the FIFO for reading (which lets the writer's open return) and closes it at once
    let reader = std::thread::spawn(move || drop(fs::File::open(fifo).unwrap()));
    let out = case.run(&["-quiet", "-floatfile", "float.bin", "-intfile", "int.img", "-pngfile", "out.fifo"]);
    reader.join().unwrap();
    no_panic(&out);
    // the reader may close before or after the 1 KiB fit into the pipe buffer: either the
    // write fails with EPIPE (status 1, nothing changed), or it succeeded in full
    if out.status.success() {
        assert!(case.path("int.img").exists());
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("out.fifo"));
        case.untouched();
    }
}

// ---- symbolic links to regular files, modes, read-only files

/// A link to a regular file: the file it names is replaced (atomically), the link kept.
#[test]
fn a_link_to_a_regular_file_is_kept() {
    let case = Case::new();
    fs::create_dir(case.path("data")).unwrap();
    fs::write(case.path("data/float.bin"), OLD_FLOAT).unwrap();
    std::os::unix::fs::symlink("data/float.bin", case.path("link.bin")).unwrap();
    succeeded(&case.run(&["-quiet", "-floatfile", "link.bin", "-intfile", "int.img"]));
    assert!(fs::symlink_metadata(case.path("link.bin")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(case.path("data/float.bin")).unwrap(), reference_float());
    assert_eq!(temporaries(&case.path("data")), Vec::<String>::new());
}

/// Replacing an output keeps its permission bits (the rename would otherwise install the
/// temporary's 0644 or 0600).
#[test]
fn a_replaced_output_keeps_its_mode() {
    let case = Case::new();
    fs::set_permissions(case.path("float.bin"), fs::Permissions::from_mode(0o640)).unwrap();
    succeeded(&case.run(&["-quiet", "-floatfile", "float.bin", "-intfile", "int.img"]));
    assert_eq!(fs::read(case.path("float.bin")).unwrap(), reference_float());
    assert_eq!(fs::metadata(case.path("float.bin")).unwrap().permissions().mode() & 0o777, 0o640);
}

/// nanoBragg.c cannot open a read-only output; neither do we replace one (not even as root,
/// where the permission bits, not access(2), decide).
#[test]
fn a_read_only_output_is_refused() {
    let case = Case::new();
    fs::set_permissions(case.path("float.bin"), fs::Permissions::from_mode(0o444)).unwrap();
    case.refused(&case.run(&["-floatfile", "float.bin", "-intfile", "int.img"]), 2, &["-floatfile float.bin", "read-only", "0444"]);
    assert_eq!(fs::metadata(case.path("float.bin")).unwrap().permissions().mode() & 0o777, 0o444);
}

// ---- names checked before the render

#[test]
fn an_empty_output_name_is_refused() {
    let case = Case::new();
    case.refused(&case.run(&["-floatfile", "", "-intfile", "int.img"]), 2, &["-floatfile", "empty"]);
}

#[test]
fn an_output_name_ending_in_slash_is_refused() {
    let case = Case::new();
    case.refused(&case.run(&["-floatfile", "float.bin", "-intfile", "new/"]), 2, &["-intfile new/", "directory"]);
    assert!(!case.path("new").exists());
}

/// 256 bytes do not fit a file name; refused before the render (it used to fail after it,
/// and a 242-byte name failed too because the temporary's name added the pid and a counter).
#[test]
fn a_name_too_long_for_the_file_system_is_refused_and_the_longest_works() {
    let case = Case::new();
    let too_long = "f".repeat(256);
    case.refused(&case.run(&["-floatfile", "float.bin", "-intfile", &too_long]), 2, &["-intfile", "too long"]);
    let longest = "f".repeat(255);
    succeeded(&case.run(&["-quiet", "-floatfile", "float.bin", "-intfile", &longest]));
    assert!(case.path(&longest).exists());
    assert_eq!(temporaries(case.dir.path()), Vec::<String>::new());
}

// ---- temporaries

/// Files that look like temporaries of other runs (killed ones, or running in another
/// container) neither block a run nor are deleted by it.
#[test]
fn other_runs_temporaries_are_left_alone() {
    let case = Case::new();
    let foreign = [".nanobragg-0123456789abcdef.tmp", ".float.bin.1.0.tmp", ".nanobragg-write-test-1"];
    for name in foreign {
        fs::write(case.path(name), name).unwrap();
    }
    succeeded(&case.run(&["-quiet", "-floatfile", "float.bin", "-intfile", "int.img"]));
    for name in foreign {
        assert_eq!(fs::read_to_string(case.path(name)).unwrap(), name, "{name} was touched");
    }
    let mut expected: Vec<String> = foreign.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(temporaries(case.dir.path()), expected);
}

/// Two runs in separate PID namespaces (both pid 1) writing into one directory at once: with
/// the pid in the temporary's name they collided (measured: both failed in 7 of 20 rounds,
/// and one deleted the other's temporary). Needs `unshare` and the right to use it (root).
#[test]
fn runs_in_separate_pid_namespaces_share_a_directory() {
    let probe = Command::new("unshare").args(["--pid", "--fork", "true"]).stderr(Stdio::null()).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("unshare --pid is not available here, skipping");
        return;
    }
    let case = Case::new();
    let bin = env!("CARGO_BIN_EXE_nanobragg");
    for round in 0..20 {
        let runs: Vec<_> = ["a", "b"]
            .iter()
            .map(|who| {
                let mut cmd = Command::new("unshare");
                cmd.args(["--pid", "--fork", bin]).args(case.args(&["-quiet", "-floatfile", &format!("{who}.bin"), "-intfile", &format!("{who}.img")]));
                cmd.current_dir(case.dir.path()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert_eq!(temporaries(case.dir.path()), Vec::<String>::new(), "round {round}");
    }
    assert_eq!(fs::read(case.path("a.bin")).unwrap(), fs::read(case.path("b.bin")).unwrap());
}

// ---- a broken stdout costs the report, never the images

/// stdout on a full device: the run completes, every output is written, one warning on
/// stderr, status 0 (the images are the product; the report is not).
#[test]
fn stdout_on_a_full_device_still_writes_the_outputs() {
    let case = Case::new();
    let Ok(full) = fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full here, skipping");
        return;
    };
    let out = case.command(&["-floatfile", "float.bin", "-intfile", "int.img"]).stdout(full).output().unwrap();
    succeeded(&out);
    assert_eq!(fs::read(case.path("float.bin")).unwrap(), reference_float());
    assert!(case.path("int.img").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().filter(|l| l.contains("warning: standard output")).count(), 1, "{stderr}");
}

/// stdout a pipe whose reader has gone (`| head` after its lines): no panic, no signal death,
/// no warning, and the outputs are written.
#[test]
fn stdout_a_closed_pipe_still_writes_the_outputs() {
    let case = Case::new();
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    };
    drop(reader);
    let out = case.command(&["-floatfile", "float.bin", "-intfile", "int.img"]).stdout(Stdio::from(writer)).output().unwrap();
    succeeded(&out);
    assert_eq!(fs::read(case.path("float.bin")).unwrap(), reference_float());
    assert!(case.path("int.img").exists());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
}

// ---- the memory check honours RLIMIT_AS

/// `ulimit -v 800000` (about 780 MiB of address space) and an 8192 × 8192 detector: refused
/// before the render with the memory message (it used to abort after the render), while a
/// small run under the same limit works.
#[test]
fn an_address_space_limit_is_honoured() {
    let case = Case::new();
    let bin = env!("CARGO_BIN_EXE_nanobragg");
    let under_limit = |extra: &[&str]| {
        let args = case.args(extra).join(" ");
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 800000 && exec '{bin}' {args}"))
            .current_dir(case.dir.path())
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap()
    };
    let out = under_limit(&["-detpixels", "8192", "-floatfile", "float.bin", "-intfile", "int.img"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    no_panic(&out);
    assert!(stderr.contains("8192 × 8192") && stderr.contains("memory") && stderr.contains("address space"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("solid angle"), "refused after the render");
    case.untouched();
    succeeded(&under_limit(&["-quiet", "-floatfile", "small.bin", "-intfile", "small.img"]));
    assert!(case.path("small.bin").exists());
}

/// Both standard streams on a full device: a refused run still ends with its status (not a
/// panic's 101), and a good run still writes its outputs.
#[test]
fn stdout_and_stderr_on_a_full_device() {
    let open_full = || fs::OpenOptions::new().write(true).open("/dev/full");
    let (Ok(out1), Ok(err1), Ok(out2), Ok(err2)) = (open_full(), open_full(), open_full(), open_full()) else {
        eprintln!("no /dev/full here, skipping");
        return;
    };
    let case = Case::new();
    let refused = case.command(&["-floatfile", "", "-intfile", "int.img"]).stdout(out1).stderr(err1).status().unwrap();
    assert_eq!(refused.code(), Some(2));
    case.untouched();
    let good = case.command(&["-floatfile", "float.bin", "-intfile", "int.img"]).stdout(out2).stderr(err2).status().unwrap();
    assert_eq!(good.code(), Some(0));
    assert_eq!(fs::read(case.path("float.bin")).unwrap(), reference_float());
    assert!(case.path("int.img").exists());
}

/// A FIFO output nobody reads: the run waits for a reader (as nanoBragg.c), and Ctrl-C still
/// ends that wait — exit status 130, no output changed, no temporary (the wait comes before
/// any temporary is made and before the point where a cancel request is refused).
#[test]
fn ctrl_c_ends_the_wait_for_a_fifo_reader() {
    let case = Case::new();
    mkfifo(&case.path("nobody.fifo"));
    let mut child = case
        .command(&["-quiet", "-floatfile", "float.bin", "-intfile", "int.img", "-pngfile", "nobody.fifo"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // let it render and reach the FIFO (if it has not yet, the SIGINT stops the render: the
    // same outcome)
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling our own child
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // a hang detector, not a timing assertion: the run exits within its 3 s grace
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still waiting for the FIFO's reader after SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    no_panic(&out);
    case.untouched();
    assert!(fs::metadata(case.path("nobody.fifo")).unwrap().file_type().is_fifo());
}
