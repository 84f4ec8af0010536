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
