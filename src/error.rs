//! One error type for every way a run can be refused. Each variant renders as a single
//! user-facing sentence; `main` prints it and exits non-zero (never a panic).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line: unknown flag, missing or non-numeric value, out-of-range number.
    #[error("{}", shown(.0))]
    Usage(String),
    /// A malformed input file; `location` is e.g. "line 12" or "header key SIZE1".
    #[error("{}: {location}: {}", shown(&path.display().to_string()), shown(message))]
    Parse { path: PathBuf, location: String, message: String },
    /// The operating system refused to read or write a file.
    #[error("{}: {source}", shown(&path.display().to_string()))]
    Io { path: PathBuf, source: std::io::Error },
    /// The job does not fit (memory, GPU limits, absurd grid sizes).
    #[error("{}", shown(.0))]
    Resource(String),
    /// No usable GPU, device lost, GPU out of memory.
    #[error("GPU: {0}")]
    Gpu(String),
    /// The user stopped the run (Ctrl-C or a termination signal) before any output was written.
    #[error("interrupted: the render was stopped and no output file was written")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Text as it appears in a message: control characters (a newline inside a typed value or a
/// file token, terminal escapes) are written as escapes, so every message is one line and
/// cannot drive the terminal.
pub fn shown(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

impl Error {
    pub fn parse(path: &Path, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Parse { path: path.to_path_buf(), location: location.into(), message: message.into() }
    }
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }

    /// Process exit status: 2 for a bad command line, 130 (the shell's code for SIGINT) for
    /// an interrupted run, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Interrupted => 130,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line() {
        let e = Error::Usage("-distance: value 'a\nb\x1b[31m' is not a number".into());
        assert_eq!(e.to_string(), "-distance: value 'a\\nb\\u{1b}[31m' is not a number");
        let e = Error::parse(Path::new("x\ny.hkl"), "line 2", "`\r` is not a number");
        assert_eq!(e.to_string(), "x\\ny.hkl: line 2: `\\r` is not a number");
        assert_eq!(shown("Å 1.5 ok"), "Å 1.5 ok");
    }
}
