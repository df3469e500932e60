//! Processes as `/proc` shows them, for the containment tests: whether one lives, what a
//! process started, what is left of a session.

use std::time::{Duration, Instant};

/// `(state, ppid)` of `pid` (`None` when it is gone).
pub fn state_of(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    Some((f.next()?.chars().next()?, f.next()?.parse().ok()?))
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    state_of(pid).is_some_and(|(state, _)| state != 'Z')
}

/// Waits up to 20 s for `pid` to be gone; `false` if it is still there.
pub fn gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// Every descendant of `pid` now (children of any of its threads, their children, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = vec![pid];
    let mut out = Vec::new();
    while let Some(parent) = parents.pop() {
        // Each thread lists its own children (a worker's parent is the thread that spawned it).
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let Ok(children) = std::fs::read_to_string(task.path().join("children")) else { continue };
            for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                out.push(child);
                parents.push(child);
            }
        }
    }
    out
}

/// The pids whose parent is `parent` (from each process's stat, whatever thread started it).
pub fn children_of(parent: u32) -> Vec<u32> {
    pids().filter(|&pid| state_of(pid).is_some_and(|(_, ppid)| ppid == parent)).collect()
}

/// Live processes (not zombies) whose session is `sid`.
pub fn session_members(sid: u32) -> Vec<u32> {
    pids()
        .filter(|&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return false };
            let f: Vec<&str> = after.split_whitespace().collect();
            f.len() > 3 && f[3] == sid.to_string() && f[0] != "Z"
        })
        .collect()
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
}
