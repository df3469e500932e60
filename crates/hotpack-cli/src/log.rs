//! Printing text that came from outside (bundles, requests, file names) and the CLI's logger.
//!
//! [`escape`] is the one place that makes foreign text safe for a terminal: every control
//! character (ESC, CR, BEL, DEL, C1 controls, ...) becomes a visible escape, so a bundle entry
//! named `"ok\x1b[2K\rdeployed"` cannot rewrite a line or fake a success message. Every
//! subcommand prints such text through it (`inspect`, `verify`, `serve`'s logs).

use std::borrow::Cow;
use std::fmt;

/// `text` with every control character written as a visible escape (`\n`, `\r`, `\t`, `\\`
/// stay readable; the rest as `\u{1b}`). Text without control characters is returned as is.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\\' || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An error and its causes on one line, `outer: cause: root`, each cause printed once: a
/// cause whose text the message before it already contains (as `#[error("...: {source}")]`
/// does) is left out.
pub(crate) fn chain(err: &anyhow::Error) -> String {
    error_chain(err.as_ref())
}

/// A duration in the one format every hotpack tool prints (`1.23 ms`, `64.9 ms`, `3.08 s`).
pub(crate) fn duration(d: std::time::Duration) -> String {
    hotpack::util::duration::format_duration(d)
}

/// Unicode bidirectional overrides and isolates: not control characters by category, but
/// they reorder what a terminal shows.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// A path, escaped for printing (lossy for non-UTF-8 names).
pub(crate) fn path(path: &std::path::Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

/// [`escape`] as a `Display` value, for `format!` and `tracing` fields.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human line per event: timestamp, level, message, fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process-wide logger: one line per event on stderr, no colours (a log file
/// must not hold escape sequences either). `RUST_LOG`-style filtering is not offered: the
/// CLI logs only what an operator acts on, at `info` and above.
pub(crate) fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_max_level(tracing::Level::INFO);
    // A second init (tests calling twice) keeps the first logger.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// An error and its sources on one line (`hotpack_util::error::chain`).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    hotpack::util::error::chain(err)
}

#[cfg(test)]
mod tests {
    use super::{chain, escape};

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let text = io.to_string();
        // A typed error that already quotes its source, wrapped in a context.
        #[derive(Debug)]
        struct Quoting {
            source: std::io::Error,
        }
        impl std::fmt::Display for Quoting {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "read /tmp/x: {}", self.source)
            }
        }
        impl std::error::Error for Quoting {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let err = anyhow::Error::new(Quoting { source: io }).context("cannot pack lib.so");
        let line = chain(&err);
        assert_eq!(line, format!("cannot pack lib.so: read /tmp/x: {text}"));
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        // A source the message does not quote is kept.
        let err = anyhow::Error::new(std::io::Error::from_raw_os_error(2)).context("cannot read a.zip");
        assert!(chain(&err).starts_with("cannot read a.zip: No such file"), "{}", chain(&err));
    }

    #[test]
    fn control_characters_never_pass_through() {
        let cases = [
            ("plain name.so", "plain name.so"),
            ("a\x1b[2Kb", "a\\u{1b}[2Kb"),
            ("line\r\nnext", "line\\r\\nnext"),
            ("bell\x07", "bell\\u{7}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("back\\slash", "back\\\\slash"),
            ("rtl\u{202e}gpj.so", "rtl\\u{202e}gpj.so"),
            ("tab\there", "tab\\there"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape(input), expected, "{input:?}");
            assert!(!escape(input).chars().any(char::is_control), "{input:?}");
        }
    }
}
