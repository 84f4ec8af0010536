//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
    die_quietly_on_closed_pipe();
    quiet_headless_vulkan();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let args = match utf8_args() {
        Ok(args) => args,
        Err(e) => fail(e),
    };
    if let Some(code) = nanobragg::cli::run_subcommand(&args) {
        std::process::exit(code);
    }
    keep_running_on_closed_pipe();
    if let Err(e) = nanobragg::app::run(&args) {
        fail(e);
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
