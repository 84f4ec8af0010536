//! The F(sin θ/λ) tables of `-stol`, `-4stol` and `-Q` (nonBragg.c's `-stol`), read from a file;
//! the parser is the core's (`StolTable::parse`).

use crate::error::Result;
use nanobragg_core::model::amorphous::{MAX_TABLE_BYTES, StolTable, StolUnit};
use std::path::Path;

/// Reads a table whose first column is in `unit` (`c_parity`: as nonBragg.c reads it).
pub fn read_stol(path: &Path, unit: StolUnit, c_parity: bool) -> Result<StolTable> {
    let bytes = crate::read_limited(path, MAX_TABLE_BYTES)?;
    StolTable::parse(path, &bytes, unit, c_parity)
}
