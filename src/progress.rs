//! Progress and interruption of a render. The engines share one small `RenderControl` with the
//! rest of the program: they count finished detector rows into it and poll its cancel flag;
//! the Ctrl-C handler sets the flag, and the progress bar (terminals only) reads the count.

pub use nanobragg_core::control::RenderControl;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

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
                std::thread::sleep(GRACE);
                if control.cancelled() {
                    let e = control.interrupted();
                    say(format!("nanobragg: error: {e}"));
                    std::process::exit(e.exit_code());
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
