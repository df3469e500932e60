//! Entry-name rules: every name in a bundle, and every path in a manifest, is a normal,
//! relative, `/`-separated path.

use crate::error::PathProblem;

/// Check one relative path (an entry name without a trailing `/`, or a manifest path).
pub(crate) fn check_relative(name: &str) -> Result<(), PathProblem> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(PathProblem::Empty);
    }
    // One pass, in the order the problems are reported: characters first (a control
    // character or backslash anywhere wins), then the shape of the path.
    let mut shape: Option<PathProblem> = None;
    let mut component = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        // C0 controls and DEL are single bytes; C1 controls (U+0080..U+009F) are C2 80..C2 9F.
        if b < 0x20 || b == 0x7f || (b == 0xc2 && matches!(bytes.get(i + 1), Some(0x80..=0x9f))) {
            return Err(PathProblem::ControlCharacter);
        }
        if b == b'\\' {
            return Err(PathProblem::Backslash);
        }
        if b == b'/' {
            if shape.is_none() {
                shape = component_problem(&bytes[component..i]);
            }
            component = i + 1;
        }
    }
    if bytes[0] == b'/' {
        return Err(PathProblem::Absolute);
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathProblem::DriveLetter);
    }
    // The first `..`, empty or `.` component decides, as a left-to-right walk would.
    match shape.or_else(|| component_problem(&bytes[component..])) {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

fn component_problem(c: &[u8]) -> Option<PathProblem> {
    match c {
        b".." => Some(PathProblem::ParentDir),
        b"" | b"." => Some(PathProblem::NotNormal),
        _ => None,
    }
}

/// Check a raw zip entry name; directory entries end in `/`.
pub(crate) fn check_entry_name(raw: &[u8]) -> Result<(&str, bool), (String, PathProblem)> {
    let name =
        std::str::from_utf8(raw).map_err(|_| (String::from_utf8_lossy(raw).into_owned(), PathProblem::NotUtf8))?;
    let (body, is_dir) = match name.strip_suffix('/') {
        Some(body) => (body, true),
        None => (name, false),
    };
    check_relative(body).map_err(|p| (name.to_owned(), p))?;
    Ok((name, is_dir))
}

/// Normalise a module directory: `""` stays `""`, anything else gets one trailing `/`.
#[cfg_attr(not(feature = "pack"), allow(dead_code))]
pub(crate) fn normalise_dir(dir: &str) -> Result<String, PathProblem> {
    let trimmed = dir.strip_suffix('/').unwrap_or(dir);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check_relative(trimmed)?;
    Ok(format!("{trimmed}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let cases: &[(&str, Result<(), PathProblem>)] = &[
            ("a", Ok(())),
            ("lib/x86_64-unknown-linux-gnu/libg.so", Ok(())),
            ("", Err(PathProblem::Empty)),
            ("/etc/passwd", Err(PathProblem::Absolute)),
            ("a/../b", Err(PathProblem::ParentDir)),
            ("..", Err(PathProblem::ParentDir)),
            ("a//b", Err(PathProblem::NotNormal)),
            ("./a", Err(PathProblem::NotNormal)),
            ("a\\b", Err(PathProblem::Backslash)),
            ("C:/x", Err(PathProblem::DriveLetter)),
            ("c:x", Err(PathProblem::DriveLetter)),
            ("a\0b", Err(PathProblem::ControlCharacter)),
        ];
        for (input, expected) in cases {
            assert_eq!(check_relative(input), *expected, "{input:?}");
        }
    }

    /// The straightforward form the one-pass check replaced.
    fn reference(name: &str) -> Result<(), PathProblem> {
        if name.is_empty() {
            return Err(PathProblem::Empty);
        }
        let bytes = name.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b < 0x20 || b == 0x7f || (b == 0xc2 && matches!(bytes.get(i + 1), Some(0x80..=0x9f))) {
                return Err(PathProblem::ControlCharacter);
            }
            if b == b'\\' {
                return Err(PathProblem::Backslash);
            }
        }
        if name.starts_with('/') {
            return Err(PathProblem::Absolute);
        }
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(PathProblem::DriveLetter);
        }
        for component in name.split('/') {
            match component {
                ".." => return Err(PathProblem::ParentDir),
                "" | "." => return Err(PathProblem::NotNormal),
                _ => {}
            }
        }
        Ok(())
    }

    #[test]
    fn one_pass_agrees_with_the_reference_on_every_short_name() {
        let alphabet = ["a", ".", "/", "\\", ":", "C", "\0", "\u{85}"];
        let mut names = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> =
                names.iter().flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}"))).collect();
            names.extend(longer);
            names.dedup();
        }
        for name in &names {
            assert_eq!(check_relative(name), reference(name), "{name:?}");
        }
    }

    #[test]
    fn entry_names() {
        assert_eq!(check_entry_name(b"dir/").expect("ok"), ("dir/", true));
        assert_eq!(check_entry_name(b"f").expect("ok"), ("f", false));
        assert_eq!(check_entry_name(b"/").expect_err("bad").1, PathProblem::Empty);
        assert_eq!(check_entry_name(b"\xff").expect_err("bad").1, PathProblem::NotUtf8);
    }

    #[test]
    fn dirs() {
        assert_eq!(normalise_dir("").expect("ok"), "");
        assert_eq!(normalise_dir("/").expect("ok"), "");
        assert_eq!(normalise_dir("a/b").expect("ok"), "a/b/");
        assert_eq!(normalise_dir("a/b/").expect("ok"), "a/b/");
        assert!(normalise_dir("../a").is_err());
    }
}
