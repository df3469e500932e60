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
