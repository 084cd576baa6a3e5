//! Progress bars on stderr, drawn only when stderr is a terminal (never in a pipe or a CI log).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A counter for work of unknown length (users read while they are listed).
pub fn spinner(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg:28} {pos}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    ProgressBar::new_spinner()
        .with_style(style)
        .with_message(message)
}

/// A bar of `len` steps, or a hidden one when nobody is watching.
pub fn bar(len: usize, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len as u64)
        .with_style(style)
        .with_message(message)
}
