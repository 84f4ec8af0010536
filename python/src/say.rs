//! What the library says, said in Python: the set-up's warnings (values, from `model::resolve`)
//! as `warnings.warn(..., NanobraggWarning)`, its notes and what reading the inputs says as
//! `logging` records of the `nanobragg` logger, and the `log` records of the Rust crates
//! likewise (a warning of nanobragg's own crates as a Python warning).
//!
//! `log` records can come from any thread (rayon's workers, wgpu's), and at any time, also when
//! no Python code runs; so the logger here only keeps them, and `flush` says them in Python from
//! the thread that called into the library, after each call, in the order they came. The
//! filter is the program's (`warn,nanobragg=info`).

use crate::NanobraggWarning;
use nanobragg_core::model::{Severity, Warning};
use pyo3::prelude::*;
use std::sync::Mutex;

/// How a kept record is said: a Python warning, or a `logging` record of this level.
#[derive(Clone, Copy)]
enum Kind {
    Warning,
    Log(u32),
}

/// Records kept until the next `flush`.
static KEPT: Mutex<Vec<(Kind, String)>> = Mutex::new(Vec::new());

/// More than this many records between two calls are dropped (a logger nobody drains must not
/// grow the process).
const MAX_KEPT: usize = 1000;

struct Keeper;

/// Whether a record is one the program would show: nanobragg's crates from `info`, others'
/// (wgpu, naga) from `warn`.
fn shown(metadata: &log::Metadata) -> bool {
    let floor = if metadata.target().starts_with("nanobragg") { log::Level::Info } else { log::Level::Warn };
    metadata.level() <= floor
}

impl log::Log for Keeper {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        shown(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !shown(record.metadata()) {
            return;
        }
        let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < MAX_KEPT {
            // a warning of nanobragg's crates becomes a Python warning, anything else a log
            // record at `logging`'s level (ERROR 40, WARNING 30, INFO 20, DEBUG 10)
            let ours = record.target().starts_with("nanobragg");
            let kind = match record.level() {
                log::Level::Error | log::Level::Warn if ours => Kind::Warning,
                log::Level::Error => Kind::Log(40),
                log::Level::Warn => Kind::Log(30),
                log::Level::Info => Kind::Log(20),
                log::Level::Debug | log::Level::Trace => Kind::Log(10),
            };
            kept.push((kind, record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// Makes the keeper the process's logger, unless another extension module set one first (then
/// that one gets the records).
pub fn install_logger() {
    if log::set_boxed_logger(Box::new(Keeper)).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// `logging.getLogger("nanobragg").log(level, message)`.
fn log_record(py: Python<'_>, level: u32, message: &str) -> PyResult<()> {
    let logger = py.import("logging")?.call_method1("getLogger", ("nanobragg",))?;
    logger.call_method1("log", (level, message))?;
    Ok(())
}

/// `warnings.warn(message, NanobraggWarning)`: a warning filter set to "error" raises it.
fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let category = py.get_type::<NanobraggWarning>();
    py.import("warnings")?.call_method1("warn", (message, category))?;
    Ok(())
}

/// Says the records kept since the last call, in order.
pub fn flush(py: Python<'_>) -> PyResult<()> {
    let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|p| p.into_inner()));
    for (kind, message) in kept {
        match kind {
            Kind::Warning => warn(py, &message)?,
            Kind::Log(level) => log_record(py, level, &message)?,
        }
    }
    Ok(())
}

/// Says what setting up an experiment says: notes (`reading Fs from ...`) as `info` records,
/// then the set-up's warnings (Python warnings) and notes (`info`), after what the logger kept.
pub fn setup(py: Python<'_>, notes: &[String], warnings: &[Warning]) -> PyResult<()> {
    flush(py)?;
    for note in notes {
        log_record(py, 20, note)?;
    }
    for w in warnings {
        match w.severity {
            Severity::Warning => warn(py, &w.message)?,
            Severity::Note => log_record(py, 20, &w.message)?,
        }
    }
    Ok(())
}
