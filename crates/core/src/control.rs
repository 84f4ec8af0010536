//! Progress and interruption of a render: the engines count finished detector rows into a
//! `RenderControl` and poll its cancel flag; whoever runs the render (a progress bar, a signal
//! handler, a Python thread, a browser's stop button) reads the count and sets the flag.

use crate::error::{Error, Result};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

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
    /// what a series has written so far (a sentence), for the message of a signal that ends
    /// the process: never "no output was written" after frames were
    written: Mutex<Option<String>>,
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

    /// A series put more frames in place: `what` says which, for an interruption's message.
    pub fn note_written(&self, what: String) {
        if let Ok(mut w) = self.written.lock() {
            *w = Some(what);
        }
    }

    /// The error of a run stopped now: what it has written, if anything.
    pub fn interrupted(&self) -> Error {
        match self.written.lock().ok().and_then(|w| w.clone()) {
            Some(what) => Error::Stopped(what),
            None => Error::Interrupted,
        }
    }

    /// The run has returned, successfully or not.
    pub fn finish(&self) {
        self.state.store(FINISHED, Ordering::SeqCst);
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
}
