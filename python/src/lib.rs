//! nanobragg for Python: the extension module `nanobragg._nanobragg`, which the package
//! `nanobragg` (python/nanobragg/__init__.py) re-exports. The simulator of the library crates
//! (`nanobragg_gpu::Simulator`: the experiment, its plan, and on a GPU the device with its
//! compiled pipelines, pooled buffers and this simulator's structure factors) lives inside the
//! Python object; numpy arrays come in and go out without a copy on this side.
//!
//! A keyword argument goes to the core's builder method of the same name (`keywords`), an
//! argument list through the program's own flag table (`nanobragg_args`), so both forms refuse
//! the same values with the same words. Nothing is printed from here: the set-up's warnings
//! become Python warnings (`NanobraggWarning`), notes and the library's `log` records go to the
//! `nanobragg` logger of Python's `logging` (`say`).

mod keywords;
mod recorded;
mod say;
mod simulator;

use pyo3::create_exception;
use pyo3::exceptions::{PyUserWarning, PyValueError};
use pyo3::prelude::*;

create_exception!(
    nanobragg,
    Error,
    PyValueError,
    "A refusal of nanobragg's, with the command line's message: a bad value (naming the keyword or flag), an input file that cannot be read (naming the file and line), a GPU that cannot be used, an experiment that does not fit in memory."
);

create_exception!(
    nanobragg,
    NanobraggWarning,
    PyUserWarning,
    "What setting up an experiment warns of (the command line's `nanobragg: warning: ...` lines), through Python's warnings module."
);

/// The core's error as a Python exception: `nanobragg.Error` with the command line's message.
/// (An interrupted render becomes `KeyboardInterrupt` where the signal is seen: `simulator`.)
pub(crate) fn error(e: nanobragg_core::error::Error) -> PyErr {
    Error::new_err(e.to_string())
}

/// A refusal of the binding's own (a keyword's value, a table), as `nanobragg.Error`.
pub(crate) fn refuse(message: impl Into<String>) -> PyErr {
    Error::new_err(message.into())
}

/// The help of the command line (`nanobragg -h`): every flag by section, with units and
/// defaults. The keyword arguments of `Simulator` are these flags' names without the dash.
#[pyfunction]
fn help() -> String {
    nanobragg_args::defs::help_text()
}

#[pymodule]
fn _nanobragg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    say::install_logger();
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("NanobraggWarning", py.get_type::<NanobraggWarning>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<simulator::Simulator>()?;
    m.add_class::<simulator::Series>()?;
    m.add_class::<simulator::Shots>()?;
    m.add_class::<recorded::Stats>()?;
    m.add_class::<recorded::Recorded>()?;
    m.add_class::<recorded::NexusWriter>()?;
    m.add_function(wrap_pyfunction!(help, m)?)?;
    m.add_function(wrap_pyfunction!(simulator::gpu_devices, m)?)?;
    m.add_function(wrap_pyfunction!(keywords::keywords, m)?)?;
    Ok(())
}
