//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let args = match utf8_args() {
        Ok(args) => args,
        Err(e) => fail(e),
    };
    if let Some(code) = nanobragg::cli::run_subcommand(&args) {
        std::process::exit(code);
    }
    if let Err(e) = nanobragg::app::run(&args) {
        fail(e);
    }
}

fn fail(e: nanobragg::error::Error) -> ! {
    eprintln!("nanobragg: error: {e}");
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
