//! The live progress line on a terminal.
//!
//! Owns: the indicatif spinner, shown only when stderr is a terminal and `--quiet` is off.
//! Never: writes anything when it is hidden, and never touches stdout (the summary goes there).

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often the spinner redraws on its own.
const TICK: Duration = Duration::from_millis(200);

/// A progress line, or nothing.
#[derive(Debug)]
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A progress line if `wanted` and stderr is a terminal.
    pub(crate) fn new(wanted: bool) -> Progress {
        if !wanted || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(TICK);
        Progress(Some(bar))
    }

    /// True if the line is shown (callers skip building messages otherwise).
    pub(crate) fn shown(&self) -> bool {
        self.0.is_some()
    }

    /// Replaces the message.
    pub(crate) fn set(&self, msg: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(msg);
        }
    }

    /// Removes the line.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
