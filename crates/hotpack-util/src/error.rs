//! The one way an error and its causes become one line of text.

/// An error and its sources on one line, `outer: cause: root`, each cause printed once: a
/// source whose text the line already holds (as `#[error("...: {source}")]` quotes it) is
/// left out.
///
/// ```
/// let io = std::io::Error::from_raw_os_error(2);
/// assert_eq!(hotpack_util::error::chain(&io), io.to_string());
/// ```
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        next = e.source();
    }
    line
}

/// Text another process wrote, where the host needs an error value: a worker's or a
/// preflight child's refusal, a failure an earlier run of the host recorded in its journal.
/// Only bytes cross a process boundary (or a restart), so text is all there is to keep; the
/// host shows it and decides nothing from its words (what it decides on, it checks itself).
///
/// ```
/// let e = hotpack_util::error::ReportedError::new("no such symbol");
/// assert_eq!(e.to_string(), "no such symbol");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReportedError {
    /// The text as reported (lossily decoded where it was not UTF-8). A `String`: it came from
    /// another process, where the error value it described stayed.
    message: String,
}

impl ReportedError {
    /// The report `message`.
    pub fn new(message: impl Into<String>) -> ReportedError {
        ReportedError { message: message.into() }
    }

    /// The text as reported.
    pub fn message(&self) -> &str {
        &self.message
    }
}
