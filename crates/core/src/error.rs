//! One error type for every way a run can be refused. Each variant renders as a single
//! user-facing sentence; `main` prints it and exits non-zero (never a panic).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line: unknown flag, missing or non-numeric value, out-of-range number.
    #[error("{}", shown(.0))]
    Usage(String),
    /// A malformed input file; `location` is e.g. "line 12" or "header key SIZE1"; `flag` as
    /// for `Io`.
    #[error("{}{}: {location}: {}", flag_prefix(*.flag), shown(&path.display().to_string()), shown(message))]
    Parse { flag: Option<&'static str>, path: PathBuf, location: String, message: String },
    /// The operating system refused to read or write a file; `flag` names the flag that gave
    /// the path when it is known (`-hkl nothere.hkl: no such file`).
    #[error("{}{}: {}", flag_prefix(*.flag), shown(&path.display().to_string()), plain_reason(source))]
    Io { flag: Option<&'static str>, path: PathBuf, source: std::io::Error },
    /// The job does not fit (memory, GPU limits, absurd grid sizes).
    #[error("{}", shown(.0))]
    Resource(String),
    /// No usable GPU, device lost, GPU out of memory.
    #[error("GPU: {0}")]
    Gpu(String),
    /// The user stopped the run (Ctrl-C or a termination signal) before any output was written.
    #[error("interrupted: the render was stopped and no output file was written")]
    Interrupted,
    /// The user stopped a series after some of its frames were written: which (a sentence).
    #[error("interrupted: the render was stopped; {}", shown(.0))]
    Stopped(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Text as it appears in a message: control characters (a newline inside a typed value or a
/// file token, terminal escapes) are written as escapes, so every message is one line and
/// cannot drive the terminal.
pub fn shown(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn flag_prefix(flag: Option<&str>) -> String {
    flag.map(|f| format!("{f} ")).unwrap_or_default()
}

/// The operating system's reason in plain words, without the "(os error 2)" a person cannot
/// use: the common kinds get a fixed phrase, the others the system's text without its code.
pub fn plain_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let phrase = match e.kind() {
        NotFound => "no such file",
        PermissionDenied => "permission denied",
        IsADirectory => "is a directory",
        NotADirectory => "a folder in the path is not a directory",
        AlreadyExists => "already exists",
        StorageFull => "no space left on the device",
        ReadOnlyFilesystem => "the file system is read-only",
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            return shown(&text);
        }
    };
    phrase.to_string()
}

impl Error {
    pub fn parse(path: &Path, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Parse { flag: None, path: path.to_path_buf(), location: location.into(), message: message.into() }
    }
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { flag: None, path: path.to_path_buf(), source }
    }

    /// The same error naming `flag` as the one that gave its file (file errors only; the
    /// first flag attached is kept).
    pub fn from_flag(mut self, name: &'static str) -> Self {
        if let Error::Io { flag, .. } | Error::Parse { flag, .. } = &mut self {
            flag.get_or_insert(name);
        }
        self
    }

    /// The path of a file error.
    pub fn file_path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::Parse { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Process exit status: 2 for a bad command line, 130 (the shell's code for SIGINT) for
    /// an interrupted run, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Interrupted | Error::Stopped(_) => 130,
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

    #[test]
    fn file_errors_name_the_flag_in_plain_words() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = Error::io(Path::new("nothere.hkl"), missing).from_flag("-hkl");
        assert_eq!(e.to_string(), "-hkl nothere.hkl: no such file");
        #[cfg(unix)]
        {
            let os = std::io::Error::from_raw_os_error(libc::ENOENT);
            assert_eq!(Error::io(Path::new("x"), os).to_string(), "x: no such file");
        }
        let e = Error::parse(Path::new("a.mat"), "line 2", "expected 3 numbers").from_flag("-mat").from_flag("-hkl");
        assert_eq!(e.to_string(), "-mat a.mat: line 2: expected 3 numbers");
        assert_eq!(Error::Usage("u".into()).from_flag("-hkl").to_string(), "u");
    }
}
