//! Progress and interruption of a render. The engines share one small `RenderControl` with the
//! rest of the program: they count finished detector rows into it and poll its cancel flag;
//! the Ctrl-C handler sets the flag, and the progress bar (terminals only) reads the count.

use crate::error::{Error, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where a run is: a cancel request counts only while it renders; once it writes its outputs
/// it finishes them.
const RENDERING: u8 = 0;
const CANCELLED: u8 = 1;
const WRITING: u8 = 2;
const FINISHED: u8 = 3;

/// Shared between a render and whoever watches or stops it.
#[derive(Debug, Default)]
pub struct RenderControl {
    rows_done: AtomicUsize,
    state: AtomicU8,
}

impl RenderControl {
    /// An engine finished one more detector row (rows may finish in any order).
    pub fn row_done(&self) {
        self.rows_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rows_done(&self) -> usize {
        self.rows_done.load(Ordering::Relaxed)
    }

    /// Ask the render to stop; engines notice at their next pixel. False when it is too late
    /// (outputs being written, or the run over).
    pub fn cancel(&self) -> bool {
        self.state.compare_exchange(RENDERING, CANCELLED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    pub fn cancelled(&self) -> bool {
        self.state.load(Ordering::Relaxed) == CANCELLED
    }

    /// `Err(Interrupted)` once the render was asked to stop: what it produced is incomplete.
    pub fn stop_if_cancelled(&self) -> Result<()> {
        if self.cancelled() { Err(Error::Interrupted) } else { Ok(()) }
    }

    /// The render is complete and the outputs are about to be written: from here on a cancel
    /// request is refused, so no output is left half-written. `Err(Interrupted)` if the
    /// request came first.
    pub fn begin_writing(&self) -> Result<()> {
        match self.state.compare_exchange(RENDERING, WRITING, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Interrupted),
        }
    }

    /// A series stopped rendering for a cancel request and only finishes the frames it had
    /// already rendered: the request is honoured, so the signal handler need not end the
    /// process (which could cut a frame's write short). False when there was no request.
    pub fn cancel_honoured(&self) -> bool {
        self.state.compare_exchange(CANCELLED, WRITING, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// The run has returned, successfully or not.
    pub fn finish(&self) {
        self.state.store(FINISHED, Ordering::SeqCst);
    }

    fn still_cancelled_after(&self, grace: Duration) -> bool {
        std::thread::sleep(grace);
        self.cancelled()
    }
}

/// The run the signal handler stops; a weak link, so a finished run is simply not found.
static CURRENT: Mutex<Option<Weak<RenderControl>>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// How long an engine has to notice a cancel request before the process leaves anyway.
const GRACE: Duration = Duration::from_secs(3);

/// Route Ctrl-C (and SIGTERM/SIGHUP) to `control`. The process-wide handler is installed once;
/// later calls only retarget it, so a library caller may run several simulations in turn.
///
/// An engine that does not notice the request in time (one enormous pixel, a GPU dispatch) is
/// not waited for: the process exits with the "interrupted" error. That is clean because
/// nothing is written while a run renders, and a run already writing refuses the request.
pub fn cancel_on_ctrl_c(control: &Arc<RenderControl>) {
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            let target = CURRENT.lock().ok().and_then(|slot| slot.as_ref().and_then(Weak::upgrade));
            if let Some(control) = target
                && control.cancel()
            {
                // not eprintln!, which panics (here: kills the handler thread) if stderr fails
                let say = |line: String| {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                };
                say("\nnanobragg: stopping the render (interrupted)".into());
                if control.still_cancelled_after(GRACE) {
                    say(format!("nanobragg: error: {}", Error::Interrupted));
                    std::process::exit(Error::Interrupted.exit_code());
                }
            }
        });
        if let Err(e) = installed {
            // another handler owns the signal (e.g. an embedding program): it stays in charge
            let why = match &e {
                ctrlc::Error::System(io) => crate::error::plain_reason(io),
                other => other.to_string(),
            };
            log::warn!("Ctrl-C will not stop the render cleanly: {why}");
        }
    });
    if let Ok(mut slot) = CURRENT.lock() {
        *slot = Some(Arc::downgrade(control));
    }
}

/// Whether a progress bar belongs on stderr: asked for, not silenced, a terminal that a person
/// watches (not a pipe, a file or a CI log).
pub fn bar_wanted(requested: bool, quiet: bool) -> bool {
    requested && !quiet && std::env::var_os("CI").is_none() && std::io::stderr().is_terminal()
}

/// A progress bar over detector rows, redrawn by a small thread from `RenderControl`'s count.
pub struct ProgressDisplay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const REDRAW: Duration = Duration::from_millis(100);

impl ProgressDisplay {
    pub fn start(control: Arc<RenderControl>, rows: usize) -> ProgressDisplay {
        let bar = ProgressBar::with_draw_target(Some(rows as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} rendering [{bar:40}] {pos}/{len} rows  {elapsed} (eta {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let stop = Arc::new(AtomicBool::new(false));
        let watching = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !watching.load(Ordering::Relaxed) {
                bar.set_position(control.rows_done().min(rows) as u64);
                std::thread::sleep(REDRAW);
            }
            bar.finish_and_clear();
        });
        ProgressDisplay { stop, thread: Some(thread) }
    }
}

impl Drop for ProgressDisplay {
    /// The bar disappears when the render ends, however it ends.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cancels() {
        let c = RenderControl::default();
        c.row_done();
        c.row_done();
        assert_eq!(c.rows_done(), 2);
        assert!(c.stop_if_cancelled().is_ok());
        assert!(c.cancel());
        assert!(matches!(c.stop_if_cancelled(), Err(Error::Interrupted)));
        assert!(matches!(c.begin_writing(), Err(Error::Interrupted)));
    }

    #[test]
    fn writing_refuses_a_late_cancel() {
        let c = RenderControl::default();
        assert!(c.begin_writing().is_ok());
        assert!(!c.cancel());
        assert!(!c.cancelled());
        c.finish();
        assert!(!c.cancel());
    }

    #[test]
    fn no_bar_when_not_requested_or_quiet() {
        assert!(!bar_wanted(false, false));
        assert!(!bar_wanted(true, true));
    }

    #[test]
    fn display_stops_on_drop() {
        let control = Arc::new(RenderControl::default());
        let display = ProgressDisplay::start(Arc::clone(&control), 10);
        control.row_done();
        drop(display);
        // the drawing thread held the other reference and has ended
        assert_eq!(Arc::strong_count(&control), 1);
    }
}
