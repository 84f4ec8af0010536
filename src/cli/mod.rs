//! Command line: the flag table (`defs`), the raw values as typed (`raw`), the walk over the
//! arguments (`parse`), and the subcommands that are not a simulation run (`compare`,
//! `trace-diff`, `bench`), each with its own options and exit statuses.

pub mod compare_cmd;
pub mod defs;
pub mod manifest_cmd;
pub mod noisify_cmd;
pub mod nonbragg_cmd;
pub mod parse;
pub mod raw;
pub mod trace_diff_cmd;

/// Run the subcommand `args` starts with, if any; returns its exit status.
pub fn run_subcommand(args: &[String]) -> Option<i32> {
    match args.first()?.as_str() {
        "compare" => Some(compare_cmd::main(&args[1..])),
        "trace-diff" => Some(trace_diff_cmd::main(&args[1..])),
        "bench" => Some(crate::bench::main(&args[1..])),
        "noisify" => Some(noisify_cmd::main(&args[1..])),
        "manifest" => Some(manifest_cmd::main(&args[1..])),
        "nonBragg" | "nonbragg" => Some(nonbragg_cmd::main(&args[1..])),
        _ => None,
    }
}

/// A companion program's entry (`noisify`, `nonBragg`): `-h` prints its generated help, else
/// parse and run, an error reported as `nanobragg NAME: error: ...` with its exit status.
fn companion_main<O>(name: &str, args: &[String], help: fn() -> String, parse: fn(&[String]) -> crate::error::Result<O>, run: fn(&O) -> crate::error::Result<()>) -> i32 {
    if args.iter().any(|a| matches!(a.as_str(), "-h" | "--help" | "-help")) {
        crate::out!("{}", help());
        return 0;
    }
    match parse(args).and_then(|o| run(&o)) {
        Ok(()) => 0,
        Err(e) => {
            crate::console::errln(format_args!("nanobragg {name}: error: {e}"));
            e.exit_code()
        }
    }
}
