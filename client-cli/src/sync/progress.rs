//! The progress display of `between sync` when much moves.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::driver::Mode;

/// More bundles than this moving in one `between sync` shows a progress bar.
const PROGRESS_AFTER: u64 = 50;

/// Progress on standard error once more than [`PROGRESS_AFTER`] bundles move in one
/// `between sync` (never while watching, nor when standard error is not a terminal): a bar
/// for the bundles being sent (their number is known) and a count of those received (the
/// relay does not say in advance how many there are).
pub(crate) struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    /// Whether the bar is styled for sending (`None`: not styled yet).
    sending: Option<bool>,
    received: u64,
    queued: u64,
    acked: u64,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Self {
        Self {
            enabled: mode == Mode::Once && std::io::stderr().is_terminal(),
            bar: None,
            sending: None,
            received: 0,
            queued: 0,
            acked: 0,
        }
    }

    pub(crate) fn received(&mut self, n: u64) {
        self.received += n;
        self.update();
    }

    pub(crate) fn queued(&mut self, n: u64) {
        self.queued += n;
        self.update();
    }

    pub(crate) fn acked(&mut self, n: u64) {
        self.acked += n;
        self.update();
    }

    fn update(&mut self) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.received + self.queued > PROGRESS_AFTER {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            self.bar = Some(bar);
        }
        let Some(bar) = &self.bar else {
            return;
        };
        let sending = self.queued > 0;
        if self.sending != Some(sending) {
            self.sending = Some(sending);
            let template = if sending {
                "{spinner} sending [{bar:30}] {pos}/{len} bundles; {msg}"
            } else {
                "{spinner} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
        }
        bar.set_length(self.queued);
        bar.set_position(self.acked);
        bar.set_message(format!("received {} bundles", self.received));
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
