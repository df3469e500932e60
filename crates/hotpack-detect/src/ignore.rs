//! Names that never carry content a consumer waits for: editor swap, backup
//! and lock files and atomic-save temporaries (see
//! [`WatchConfig::ignore_temp_files`](field@crate::WatchConfig::ignore_temp_files)).
//!
//! Patterns match a file's name (its last path component), not its path:
//! `*` matches any run of characters (none included), `?` exactly one other
//! than `.` (so `sed??????` is `sed -i`'s temporary, never `sedate.rs`), any
//! other character itself.

use std::path::Path;

use crate::WatchConfig;

/// The temporary-file names ignored by default (with
/// [`WatchConfig::ignore_temp_files`](field@crate::WatchConfig::ignore_temp_files)),
/// after watchexec's default ignores for editor files:
///
/// | Pattern | Written by |
/// |---|---|
/// | `*.swp`, `*.swx`, `*.swo` | vim's swap files (`.a.txt.swp`) |
/// | `*~` | backups of vim, emacs, nano and others |
/// | `.#*` | emacs lock files |
/// | `#*#` | emacs auto-save files |
/// | `4913` | vim's probe for whether a directory is writable |
/// | `.*.kate-swp` | Kate's swap files |
/// | `.*.hotpack-tmp-*` | hotpack-util's `AtomicWrite` (`.<name>.hotpack-tmp-<unique>`) |
/// | `.tmp??????` | the `tempfile` crate's `NamedTempFile` (`.tmp` and six random characters) |
/// | `sed??????` | GNU `sed -i`'s temporary copy (`sed` and six random characters) |
/// | `.goutputstream-*` | GLib's atomic saves (gedit, GNOME apps) |
pub const DEFAULT_TEMP_PATTERNS: &[&str] = &[
    "*.swp",
    "*.swx",
    "*.swo",
    "*~",
    ".#*",
    "#*#",
    "4913",
    ".*.kate-swp",
    ".*.hotpack-tmp-*",
    ".tmp??????",
    "sed??????",
    ".goutputstream-*",
];

/// The name patterns a detector ignores.
#[derive(Clone, Debug)]
pub(crate) struct Ignore {
    patterns: Vec<Vec<u8>>,
}

impl Ignore {
    /// The patterns `config` asks for: its own plus, unless turned off, the
    /// [`DEFAULT_TEMP_PATTERNS`].
    pub(crate) fn new(config: &WatchConfig) -> Ignore {
        let defaults = DEFAULT_TEMP_PATTERNS.iter().filter(|_| config.ignore_temp_files).copied();
        let patterns =
            defaults.chain(config.ignore.iter().map(String::as_str)).map(|p| p.as_bytes().to_vec()).collect();
        Ignore { patterns }
    }

    /// True if `path`'s name matches a pattern.
    pub(crate) fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else {
            return false;
        };
        let name = name.as_encoded_bytes();
        self.patterns.iter().any(|p| glob(p, name))
    }
}

/// Match `name` against `pattern` (`*` any run, `?` one byte other than `.`).
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it was tried against.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if (c == b'?' && name[n] != b'.') || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more byte and try again.
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(name: &str) -> bool {
        Ignore::new(&WatchConfig::new()).matches(Path::new("/w").join(name).as_path())
    }

    #[test]
    fn editor_and_atomic_save_temporaries_are_ignored_by_default() {
        for name in [
            ".a.txt.swp",
            ".a.txt.swx",
            ".a.txt.swo",
            "a.txt~",
            ".#a.txt",
            "#a.txt#",
            "4913",
            ".a.txt.kate-swp",
            ".module.so.hotpack-tmp-123-0-7",
            ".tmpA1b2C3",
            "sedX1y2Z3",
            ".goutputstream-4JQ2Z2",
        ] {
            assert!(ignored(name), "{name} is a temporary name");
        }
    }

    #[test]
    fn real_files_are_not_ignored() {
        for name in [
            "a.txt",
            "module.so",
            ".env",
            ".config",
            "swp",
            "a.swp.txt",
            "49130",
            ".tmp",
            ".tmpfile.so",
            "sed.rs",
            "sedate.rs",
        ] {
            assert!(!ignored(name), "{name} is not a temporary name");
        }
    }

    #[test]
    fn defaults_can_be_turned_off_and_patterns_added() {
        let config = WatchConfig::new().ignore_temp_files(false).ignore("*.part");
        let ignore = Ignore::new(&config);
        assert!(!ignore.matches(Path::new("/w/.a.txt.swp")));
        assert!(ignore.matches(Path::new("/w/download.part")));
        assert!(!ignore.matches(Path::new("/w/download.part.so")));
    }

    #[test]
    fn glob_handles_stars_and_question_marks() {
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(glob(b"a*b*c", b"abcbc"));
        assert!(!glob(b"a*b*c", b"abcb"));
        assert!(glob(b"??", b"ab"));
        assert!(!glob(b"??", b"abc"));
        assert!(glob(b"**x", b"x"));
    }
}
