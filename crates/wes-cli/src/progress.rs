//! A one-line progress display on stderr, for work long enough to look stuck: shown only when
//! stderr is a terminal (never in pipes, files or CI logs, where it would be noise), redrawn in
//! place and erased when the work is done.

use std::io::{IsTerminal, Write};

/// The progress line of one piece of work; erased when dropped.
pub(crate) struct Progress {
    shown: bool,
}

impl Progress {
    /// A progress display, live only when stderr is a terminal.
    pub(crate) fn new() -> Progress {
        Progress { shown: std::io::stderr().is_terminal() }
    }

    /// Replaces the line with `message`.
    pub(crate) fn update(&self, message: &str) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            // Carriage return, the message, then clear to the end of the line.
            let _ = write!(err, "\r{message}\x1b[K");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
