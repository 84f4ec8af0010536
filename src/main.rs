//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    if let Err(e) = utf8_args().and_then(|args| nanobragg::app::run(&args)) {
        eprintln!("nanobragg: error: {e}");
        std::process::exit(e.exit_code());
    }
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
