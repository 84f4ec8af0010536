//! The run's report on standard output, printed so that it can never stop the run.
//!
//! `println!` panics when stdout cannot be written (`> /dev/full`, or a closed pipe once
//! SIGPIPE is ignored), which used to end a run with exit status 101 and no output files.
//! The report is a by-product; the images are the product. So `outln!`/`out!` write through
//! [`write_report`], which swallows write errors: a closed pipe (the reader of `| head` left)
//! silently drops the rest of the report, any other failure (disk full, I/O error) is said once
//! on stderr, and either way the render goes on and the outputs are written. The exit status
//! is that of the run (docs/robustness.md).

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set at the first failed write: later report lines are dropped without trying again.
static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

/// `println!` for the run's report: never panics (see the module comment).
#[macro_export]
macro_rules! outln {
    () => { $crate::console::write_report(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::write_report(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for the run's report: never panics (see the module comment).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::write_report(format_args!($($arg)*)) };
}

/// Writes `args` to stdout; after a failure, drops this and every later write.
pub fn write_report(args: Arguments<'_>) {
    write_report_to(&mut std::io::stdout().lock(), args);
}

fn write_report_to(w: &mut impl Write, args: Arguments<'_>) {
    if STDOUT_LOST.load(Ordering::Relaxed) {
        return;
    }
    // flush per call: stdout is line-buffered only on a terminal, and a failure must show up
    // here, not in a later flush at exit
    if let Err(e) = w.write_fmt(args).and_then(|()| w.flush()) {
        if !STDOUT_LOST.swap(true, Ordering::Relaxed) && e.kind() != ErrorKind::BrokenPipe {
            warn(&format!("standard output: {}; the rest of the report is dropped, the run goes on", crate::error::plain_reason(&e)));
        }
    }
}

/// Whether some report output was lost (stdout failed).
pub fn stdout_lost() -> bool {
    STDOUT_LOST.load(Ordering::Relaxed)
}

/// One line on stderr that cannot panic either (`eprintln!` panics when stderr fails).
pub fn warn(message: &str) {
    errln(format_args!("nanobragg: warning: {message}"));
}

/// `eprintln!` that cannot panic: for the messages of the subcommands (errors, notes).
pub fn errln(args: Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

thread_local! {
    /// How many `Hush` guards this thread holds.
    static HUSHED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Notes and warnings from this thread are silenced while a `Hush` lives (guards nest); other
/// threads' are not. For work that repeats a set-up whose warnings were already printed once
/// (a shot list resolves its command line again per shot). The CLI's logger asks
/// [`hushed`] before printing; a library user's logger may do the same.
pub struct Hush {
    // the count is this thread's: the guard must be dropped where it was made
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Hush {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Hush {
        HUSHED.with(|h| h.set(h.get() + 1));
        Hush { _not_send: std::marker::PhantomData }
    }
}

impl Drop for Hush {
    fn drop(&mut self) {
        HUSHED.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// Whether this thread's notes and warnings are silenced (a `Hush` lives on it).
pub fn hushed() -> bool {
    HUSHED.with(|h| h.get() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdout that always fails, as /dev/full does.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_stdout_is_remembered_not_fatal() {
        let mut buf = Vec::new();
        write_report_to(&mut buf, format_args!("line {}\n", 1));
        assert_eq!(buf, b"line 1\n");
        write_report_to(&mut Full, format_args!("lost\n"));
        assert!(stdout_lost());
        // later writes are dropped, even to a working writer
        write_report_to(&mut buf, format_args!("line 2\n"));
        assert_eq!(buf, b"line 1\n");
    }

    #[test]
    fn a_hush_silences_its_own_thread_only() {
        assert!(!super::hushed());
        {
            let _outer = super::Hush::new();
            {
                let _inner = super::Hush::new();
                assert!(super::hushed());
            }
            assert!(super::hushed(), "guards nest");
            assert!(!std::thread::spawn(super::hushed).join().unwrap(), "another thread is not hushed");
        }
        assert!(!super::hushed());
    }
}
