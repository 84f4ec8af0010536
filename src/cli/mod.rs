//! Command line: the flag table (`defs`), the raw values as typed (`raw`) and the walk over
//! the arguments (`parse`).

pub mod defs;
pub mod parse;
pub mod raw;
