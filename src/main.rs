//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
    die_quietly_on_closed_pipe();
    quiet_headless_vulkan();
    init_logger();
    let args = match utf8_args() {
        Ok(args) => args,
        Err(e) => fail(e),
    };
    if let Some(code) = nanobragg::cli::run_subcommand(&args) {
        std::process::exit(code);
    }
    if args.is_empty() {
        // a run needs flags: the short usage, as a usage error (stderr, status 2); `-h` is
        // the full help, asked for (stdout, status 0)
        let _ = std::io::Write::write_all(&mut std::io::stderr(), nanobragg::cli::defs::usage_text().as_bytes());
        std::process::exit(2);
    }
    if args.iter().any(|a| a == "--version" || a == "-version") {
        nanobragg::outln!("nanobragg {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if args.iter().any(|a| a == "-quiet" || a == "--quiet") {
        // -quiet prints only errors: warnings are raised to the error level before the
        // arguments are even parsed, so that parsing's own warnings are silenced too
        log::set_max_level(log::LevelFilter::Error);
    }
    keep_running_on_closed_pipe();
    if let Err(e) = nanobragg::app::run(&args) {
        fail(e);
    }
}

/// Warnings read `nanobragg: warning: ...`, like the error line and without the module path
/// (`RUST_LOG` still chooses the levels; by default nanobragg's notes and everyone's warnings).
fn init_logger() {
    use std::io::Write;
    // notes (info) of nanobragg itself, warnings of everything else (wgpu and the drivers)
    let logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,nanobragg=info"))
        .format(|out, record| {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "note",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            writeln!(out, "nanobragg: {level}: {}", nanobragg::error::shown(&record.args().to_string()))
        })
        .build();
    let level = logger.filter();
    if log::set_boxed_logger(Box::new(HushAware(logger))).is_ok() {
        log::set_max_level(level);
    }
}

/// env_logger, less the notes and warnings of a thread that holds a `console::Hush` (errors
/// always pass).
struct HushAware(env_logger::Logger);

impl log::Log for HushAware {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.level() > log::Level::Error && nanobragg::console::hushed() {
            return;
        }
        self.0.log(record)
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" when the
/// instance probes its Wayland surface support on a headless machine. nanobragg never opens a
/// window, so point the variable at the temporary directory when it is missing. This runs
/// first in `main`, before any thread exists, which is what makes `set_var` sound.
fn quiet_headless_vulkan() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded at this point (start of main)
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

fn fail(e: nanobragg::error::Error) -> ! {
    // not eprintln!, which panics when stderr cannot be written
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "nanobragg: error: {e}");
    std::process::exit(e.exit_code());
}

/// The arguments after the program name; one that is not valid UTF-8 is refused by position
/// (`std::env::args` would panic on it).
fn utf8_args() -> nanobragg::error::Result<Vec<String>> {
    std::env::args_os()
        .skip(1)
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|raw| {
                nanobragg::error::Error::Usage(format!(
                    "argument {} ({}) is not valid UTF-8",
                    i + 1,
                    raw.to_string_lossy()
                ))
            })
        })
        .collect()
}

/// `nanobragg compare ... | head` closes stdout early; like other command-line tools, the
/// subcommands end quietly then instead of panicking in `println!` (Rust ignores SIGPIPE by
/// default).
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal at start-up, before any thread
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A simulation run is different: its report on stdout is a by-product, and `| head` must not
/// cost the images. SIGPIPE is ignored again, the report is printed through `outln!` (which
/// drops what a closed pipe refuses), and a FIFO output whose reader left is an error (EPIPE)
/// that removes the run's temporaries instead of a signal that leaves them behind.
fn keep_running_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: changing a signal disposition before the run starts any thread
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
