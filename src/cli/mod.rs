//! Command line: the flag table (`defs`), the raw values as typed (`raw`) and the walk over the
//! arguments (`parse`), which live in the `nanobragg-args` crate (the Python package's
//! `Simulator.from_args` takes the same); here the printing of what resolving a command line
//! says (`Resolve`), and the subcommands that are not a simulation run (`compare`,
//! `trace-diff`, `bench`), each with its own options and exit statuses.

pub mod compare_cmd;
pub mod manifest_cmd;
pub mod noisify_cmd;
pub mod nonbragg_cmd;
pub mod trace_diff_cmd;

pub use nanobragg_args::{defs, parse, raw};

use crate::model::{Experiment, Inputs};
use nanobragg_core::budget::Budget;
use raw::{RawArgs, Said};

/// A command line's experiment as the program resolves it: `RawArgs::load_and_resolve` with
/// what it says said on the way — what reading the inputs says printed unless `-quiet`, the
/// set-up's warnings through the logger (`raw::report`) — also before a refusal.
pub trait Resolve {
    /// Within the budget of this machine and the command line's engine (`RawArgs::budget`).
    fn resolve(&self) -> crate::error::Result<(Experiment, Inputs)>;
    /// `resolve` within `budget`.
    fn resolve_within(&self, budget: &Budget) -> crate::error::Result<(Experiment, Inputs)>;
}

impl Resolve for RawArgs {
    fn resolve(&self) -> crate::error::Result<(Experiment, Inputs)> {
        self.resolve_within(&self.budget())
    }

    fn resolve_within(&self, budget: &Budget) -> crate::error::Result<(Experiment, Inputs)> {
        let mut said = Said::default();
        let outcome = self.load_and_resolve(budget, &mut said);
        if !self.quiet {
            for note in &said.notes {
                crate::outln!("{note}");
            }
        }
        raw::report(&said.warnings);
        outcome
    }
}

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
/// its options (`initial` in the mode asked for, then the flags) are run; an error is reported as
/// `nanobragg NAME: error: ...` with its exit status.
fn companion_main<O>(program: &defs::Program<O>, args: &[String], initial: fn(raw::Mode) -> O, run: fn(&O) -> crate::error::Result<()>) -> i32 {
    let outcome = parse::parse_program(program, args, initial).and_then(|options| match options {
        Some(options) => run(&options),
        None => {
            crate::out!("{}", program.help_text());
            Ok(())
        }
    });
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            crate::console::errln(format_args!("{}: error: {e}", program.invocation));
            e.exit_code()
        }
    }
}

/// The seed a run draws its noise from when none is typed: nanoBragg.c's, nonBragg.c's and
/// noisify.c's `seed = -time(0)`, from the clock's seconds now (a clock before 1970 counts as
/// second 1).
pub fn time_seed() -> i64 {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() as i64);
    crate::rng::seed_of_time(seconds)
}
