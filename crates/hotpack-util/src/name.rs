//! The module-name rule, one for the whole workspace.
//!
//! A module name is 1-128 characters of `[A-Za-z0-9_.-]` and is neither `.` nor `..`: it
//! becomes a file-name component (cache directories, search-path lookups), so it must never
//! name a directory by itself.

/// The longest module name accepted.
pub const MAX_MODULE_NAME_LEN: usize = 128;

/// Why a module name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_MODULE_NAME_LEN`] bytes.
    TooLong,
    /// The name is `.` or `..`.
    DotName,
    /// The name contains a character outside `[A-Za-z0-9_.-]`.
    BadCharacter,
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "it is empty",
            NameProblem::TooLong => "it is longer than 128 characters",
            NameProblem::DotName => "`.` and `..` name directories",
            NameProblem::BadCharacter => "it contains a character outside [A-Za-z0-9_.-]",
        })
    }
}

/// A module name that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module name `{name}` is invalid: {problem} (expected 1-128 characters of [A-Za-z0-9_.-], not `.` or `..`)")]
#[non_exhaustive]
pub struct NameError {
    /// The name refused (as given).
    pub name: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

/// Check `name` against the module-name rule.
///
/// # Errors
/// [`NameError`] naming the name and the problem.
pub fn check_module_name(name: &str) -> Result<(), NameError> {
    let problem = if name.is_empty() {
        NameProblem::Empty
    } else if name.len() > MAX_MODULE_NAME_LEN {
        NameProblem::TooLong
    } else if name == "." || name == ".." {
        NameProblem::DotName
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        NameProblem::BadCharacter
    } else {
        return Ok(());
    };
    Err(NameError { name: name.to_owned(), problem })
}

/// `true` when `name` follows the module-name rule (see [`check_module_name`]).
pub fn is_valid_module_name(name: &str) -> bool {
    check_module_name(name).is_ok()
}

/// `a, b, c`, or `(none)`: names in a message.
pub fn list(names: &[String]) -> String {
    if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Option<NameProblem>) {
        assert_eq!(check_module_name(name).err().map(|e| e.problem), expected, "name {name:?}");
    }

    #[test]
    fn the_rule() {
        check("greeter", None);
        check("a.b-c_D9", None);
        check("...", None);
        check(".hidden", None);
        check(&"x".repeat(128), None);
        check("", Some(NameProblem::Empty));
        check(&"x".repeat(129), Some(NameProblem::TooLong));
        check(".", Some(NameProblem::DotName));
        check("..", Some(NameProblem::DotName));
        check("a/b", Some(NameProblem::BadCharacter));
        check("a b", Some(NameProblem::BadCharacter));
        check("naïve", Some(NameProblem::BadCharacter));
        check("a\0", Some(NameProblem::BadCharacter));
    }

    #[test]
    fn the_message_names_the_name_and_the_problem() {
        let err = check_module_name("..").expect_err("refused");
        assert_eq!(
            err.to_string(),
            "module name `..` is invalid: `.` and `..` name directories \
             (expected 1-128 characters of [A-Za-z0-9_.-], not `.` or `..`)"
        );
    }
}
