//! The outside programs the tests talk to (Info-ZIP `zip`/`unzip`, python3, etcd, an OCI
//! registry), installed through apt when missing, so `cargo test --workspace` needs nothing
//! installed first on a Debian or Ubuntu machine.
//!
//! [`require`] installs a missing tool's Debian package when the test process may: as root,
//! or through `sudo -n` (never a password prompt), with `apt-get` present, and
//! `HOTPACK_TEST_NO_INSTALL` unset. It says on stderr what it installs. One install at a time
//! across test processes (a lock file under the target dir). When it may not, the test that
//! needs the tool fails with the package to install.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Whether `tool` is an executable file in a PATH directory.
pub fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Makes sure `tool` can be run: when it is not on PATH, installs Debian's `package` (see the
/// module doc for when it may). Returns whether the tool is there afterwards.
pub fn require(tool: &str, package: &str) -> bool {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    if on_path(tool) {
        return true;
    }
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if on_path(tool) {
        return true;
    }
    if std::env::var_os("HOTPACK_TEST_NO_INSTALL").is_some() || !on_path("apt-get") {
        return false;
    }
    let sudo: &[&str] = if is_root() {
        &[]
    } else if on_path("sudo") && quiet(Command::new("sudo").args(["-n", "true"])) {
        &["sudo", "-n"]
    } else {
        return false;
    };
    // Across test processes: one apt-get at a time (dpkg has its own lock, but a second
    // apt-get would fail on it rather than wait).
    let lock_path = crate::target_root().join("hotpack-apt.lock");
    let _ = std::fs::create_dir_all(crate::target_root());
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path);
    if let Ok(file) = &lock {
        let _ = file.lock();
    }
    if on_path(tool) {
        return true;
    }
    eprintln!("hotpack-testkit: `{tool}` is missing; installing Debian's `{package}` with apt-get");
    let apt = |args: &[&str]| {
        let mut cmd = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            cmd.args(&sudo[1..]).arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        quiet(&mut cmd)
    };
    if !apt(&["install", "-y", "-qq", "--no-install-recommends", package]) {
        // A fresh machine may have no package lists yet.
        let _ = apt(&["update", "-qq"]);
        let _ = apt(&["install", "-y", "-qq", "--no-install-recommends", package]);
    }
    on_path(tool)
}

/// [`require`], or a panic that names the package to install.
///
/// # Panics
///
/// When the tool is missing and could not be installed.
pub fn need(tool: &str, package: &str) {
    assert!(
        require(tool, package),
        "this test runs `{tool}`: install Debian's `{package}` (the test kit installs it itself as root or with \
         passwordless sudo, unless HOTPACK_TEST_NO_INSTALL is set)"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).status().is_ok_and(|s| s.success())
}
