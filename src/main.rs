//! Thin entry point: run, print one clear message on error, exit non-zero.

fn main() {
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
