//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
    quiet_headless_vulkan();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = nanobragg::cli::run_subcommand(&args) {
        std::process::exit(code);
    }
    if let Err(e) = nanobragg::app::run(&args) {
        eprintln!("nanobragg: error: {e}");
        std::process::exit(match e {
            nanobragg::error::Error::Usage(_) => 2,
            _ => 1,
        });
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
