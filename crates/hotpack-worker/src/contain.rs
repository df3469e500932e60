//! Containment: what keeps a worker (and everything it starts) from outliving its end or
//! reaching its host.
//!
//! Host side: the host is a child subreaper, so a worker's orphans become the host's children
//! instead of init's; workers are spawned from one long-lived thread (a parent-death signal
//! follows the *thread* that spawned the child); when a worker ends, every process of its
//! session is killed and reaped ([`sweep_session`]).
//!
//! Worker side ([`enter`]): its own session (so its session id, which no process in it can
//! change because `setsid` is denied below, names every process it ever started, including
//! ones that were reparented), `SIGKILL` when the host dies, the address-space cap, and a
//! seccomp filter (with `no_new_privs`) denying `kill`/`tgkill`/`rt_sigqueueinfo` towards any
//! pid but its own, `tkill`, `pidfd_send_signal`, `pidfd_open`, `pidfd_getfd`, `ptrace`,
//! `process_vm_readv`/`writev`, `setsid`, and `seccomp`-filter removal is impossible by design.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock, mpsc};

/// Makes the host a child subreaper (once per process): a worker's orphans are reparented
/// to the host, where the session sweep finds and reaps them.
pub(crate) fn become_subreaper() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    });
}

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from the host's one spawner thread, which lives as long as the process: the
/// worker's parent-death signal fires when the thread that spawned it ends, so spawning from
/// a short-lived thread (a tokio blocking thread, a test thread) would kill the worker with it.
pub(crate) fn spawn(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        let spawned = std::thread::Builder::new().name("hotpack-worker-spawner".into()).spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        if spawned.is_err() {
            // No thread: every spawn below reports the error.
        }
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    hotpack_util::sync::lock(sender)
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("the worker spawner thread is gone"))?;
    rx.recv().map_err(|_| std::io::Error::other("the worker spawner thread is gone"))?
}

/// `(state, ppid, session)` of process `pid` (or `"self"`) from its `/proc/<pid>/stat`.
///
/// Read from /proc rather than asked of the kernel with `getsid`: in a pid namespace whose
/// session leader lives outside it (a container started by a runner, `unshare -p`), the
/// session id is 0, which `rustix::process::getsid` cannot represent (it asserts a positive
/// pid and panics).
fn stat_of(pid: &str) -> Option<(char, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp session ...`: comm may hold anything, so split after its
    // last `)`.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some((state, ppid, session))
}

/// `(pid, ppid, session)` of every process this host can see in /proc.
fn processes() -> Vec<(i32, i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(pid) = name.parse::<i32>() else { continue };
        if let Some((_, ppid, session)) = stat_of(&name) {
            out.push((pid, ppid, session));
        }
    }
    out
}

/// Pids of the live processes of session `sid` and of the subtree under `root` (by ppid
/// links), other than the host.
pub(crate) fn members(sid: i32, root: Option<i32>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let procs = processes();
    let mut found: Vec<i32> = procs.iter().filter(|(p, _, s)| *s == sid && *p != me).map(|(p, _, _)| *p).collect();
    // Descendants by ppid links (a process that somehow left the session is still caught
    // while its ancestors live).
    let mut frontier: Vec<i32> = found.clone();
    frontier.extend(root);
    let by_parent: BTreeMap<i32, Vec<i32>> = procs.iter().fold(BTreeMap::new(), |mut m, (p, pp, _)| {
        m.entry(*pp).or_insert_with(Vec::new).push(*p);
        m
    });
    while let Some(p) = frontier.pop() {
        for child in by_parent.get(&p).into_iter().flatten() {
            if *child != me && !found.contains(child) {
                found.push(*child);
                frontier.push(*child);
            }
        }
    }
    found
}

/// Kills every process of the worker's session `sid` (and every descendant of `root`) and
/// reaps the ones that were reparented to this host; repeats until none is left (a process
/// can only fork before it is killed, and its children are found in the next round).
///
/// Never touches the host's own session.
pub(crate) fn sweep_session(sid: i32, root: Option<i32>) {
    let me = std::process::id() as i32;
    if stat_of("self").is_none_or(|(_, _, own)| own == sid) || sid == me || sid <= 1 {
        return;
    }
    for _ in 0..1000 {
        let found = members(sid, root);
        let live: Vec<i32> = found.into_iter().filter(|p| !is_zombie(*p) || is_child_of_me(*p)).collect();
        if live.is_empty() {
            return;
        }
        for pid in &live {
            if let Some(p) = rustix::process::Pid::from_raw(*pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        for pid in &live {
            if is_child_of_me(*pid)
                && let Some(p) = rustix::process::Pid::from_raw(*pid)
            {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn is_zombie(pid: i32) -> bool {
    stat_of(&pid.to_string()).is_none_or(|(s, _, _)| s == 'Z' || s == 'X')
}

fn is_child_of_me(pid: i32) -> bool {
    stat_of(&pid.to_string()).is_some_and(|(_, ppid, _)| ppid == std::process::id() as i32)
}

// ----- worker side -------------------------------------------------------------------------

/// What went wrong while a worker contained itself.
#[derive(Debug)]
pub(crate) struct EnterError(pub(crate) String);

/// Worker side, first thing: own session, `SIGKILL` on the host's death (and exit if the host
/// is already gone).
pub(crate) fn detach(host_pid: u32) -> Result<(), EnterError> {
    rustix::process::setsid().map_err(|e| EnterError(format!("setsid: {e}")))?;
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| EnterError(format!("PR_SET_PDEATHSIG: {e}")))?;
    // The host may have died before the death signal was armed.
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if parent != Some(host_pid) {
        return Err(EnterError(format!("the host {host_pid} is gone (parent is {parent:?})")));
    }
    Ok(())
}

/// Caps the worker's address space at what it has mapped now (its binary, the resident data)
/// plus `budget` bytes.
pub(crate) fn cap_memory(budget: u64) -> Result<u64, EnterError> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|e| EnterError(format!("/proc/self/status: {e}")))?;
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| EnterError("no VmSize in /proc/self/status".into()))?;
    let limit = (vm_kib * 1024).saturating_add(budget);
    let lim = rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) };
    rustix::process::setrlimit(rustix::process::Resource::As, lim)
        .map_err(|e| EnterError(format!("RLIMIT_AS: {e}")))?;
    Ok(limit)
}

/// Installs the seccomp filter on every thread of the worker (and so on everything it starts).
pub(crate) fn seal_syscalls() -> Result<(), EnterError> {
    use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};
    let me = u64::from(std::process::id());
    let not_me = || -> Result<Vec<SeccompRule>, EnterError> {
        let cond = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, me)
            .map_err(|e| EnterError(format!("seccomp condition: {e}")))?;
        Ok(vec![SeccompRule::new(vec![cond]).map_err(|e| EnterError(format!("seccomp rule: {e}")))?])
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for sys in [libc::SYS_kill, libc::SYS_tgkill, libc::SYS_rt_sigqueueinfo, libc::SYS_rt_tgsigqueueinfo] {
        rules.insert(sys, not_me()?);
    }
    for sys in [
        libc::SYS_tkill,
        libc::SYS_pidfd_send_signal,
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_getfd,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_setsid,
    ] {
        rules.insert(sys, Vec::new());
    }
    let arch = std::env::consts::ARCH.try_into().map_err(|e| EnterError(format!("seccomp arch: {e}")))?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| EnterError(format!("seccomp filter: {e}")))?;
    let program: seccompiler::BpfProgram =
        filter.try_into().map_err(|e| EnterError(format!("seccomp compile: {e}")))?;
    seccompiler::apply_filter_all_threads(&program).map_err(|e| EnterError(format!("seccomp: {e}")))?;
    Ok(())
}
