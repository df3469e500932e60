//! Modules that require other modules, under isolation. A dependent's worker also hosts the
//! current version of every provider it requires (transitively), loaded from the images the
//! host keeps; the worker's own cache wires the dependent's handles. When a provider's
//! version changes, its new image is pushed into every running worker that hosts it, and
//! that worker's cache rewires the dependent (nothing reloaded, its hash unchanged). The
//! compatibility gate (missing provider, broken dependents, cycles) runs on the host from
//! the static descriptors, with the cache's typed errors.

use super::candidate::{Candidate, Run};
use super::isolate::{IsoVersion, Running};
use super::*;
use hotpack_loader::InterfaceInfo;
use hotpack_worker::Worker;

/// A candidate refused for a missing provider, deployed again once one is promoted.
pub(super) struct IsoWaiting {
    pub(super) expect: Option<(String, semver::Version)>,
    pub(super) want: Option<String>,
    pub(super) bytes: Arc<[u8]>,
    pub(super) hash: blake3::Hash,
    pub(super) source: Source,
    pub(super) name: String,
    /// What it requires and provides (its static descriptor).
    pub(super) requires: Vec<InterfaceInfo>,
    pub(super) provides: Vec<InterfaceInfo>,
}

/// What a version requires and provides, read from its static descriptor (empty when the
/// bytes carry none: the worker's loader refuses them anyway).
pub(super) fn interfaces_of(bytes: &[u8]) -> (Vec<InterfaceInfo>, Vec<InterfaceInfo>) {
    match hotpack_loader::describe(bytes) {
        Ok(d) => (d.info.requires, d.info.interfaces),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// The version a waiting candidate's static descriptor states.
fn version_of(bytes: &[u8]) -> Option<semver::Version> {
    hotpack_loader::describe(bytes).ok().map(|d| d.info.version)
}

/// The current isolated versions, by name (a snapshot).
type Graph = Vec<(String, Arc<IsoVersion>)>;

/// Names with their version and what each requires and provides (for the cycle walk).
type Links = Vec<(String, semver::Version, Vec<InterfaceInfo>, Vec<InterfaceInfo>)>;

/// The provider of `want` among `graph` other than `except`: the smallest name, as in process.
fn provider_in<'a>(graph: &'a Graph, want: &InterfaceInfo, except: &str) -> Option<&'a (String, Arc<IsoVersion>)> {
    graph
        .iter()
        .filter(|(n, v)| n != except && want.met_by(&v.summary.version, &v.provides))
        .min_by(|a, b| a.0.cmp(&b.0))
}

impl Supervisor {
    fn iso_graph(&self) -> Graph {
        let iso = lock(&self.inner.iso);
        let mut g: Graph =
            iso.iter().filter_map(|(n, m)| m.current.as_ref().map(|r| (n.clone(), Arc::clone(&r.version)))).collect();
        g.sort_by(|a, b| a.0.cmp(&b.0));
        g
    }

    /// The compatibility gate for making `v` the current isolated version of `name`.
    pub(super) fn iso_check(&self, name: &str, v: &Arc<IsoVersion>) -> Result<(), CacheError> {
        let mut graph = self.iso_graph();
        let dependents = self.iso_dependents_of(&graph, name);
        graph.retain(|(n, _)| n != name);
        let version = &v.summary.version;
        // A cycle: walk providers from the candidate (as if current) back to its name;
        // a waiting candidate of a name with no current version counts as its provider (two
        // new modules that require each other would otherwise wait forever).
        let mut links: Links = graph
            .iter()
            .map(|(n, g)| (n.clone(), g.summary.version.clone(), g.requires.clone(), g.provides.clone()))
            .collect();
        links.push((name.to_owned(), version.clone(), v.requires.clone(), v.provides.clone()));
        for w in lock(&self.inner.iso_waiting).iter() {
            if !links.iter().any(|(n, ..)| *n == w.name) {
                let Some(wversion) = version_of(&w.bytes) else { continue };
                links.push((w.name.clone(), wversion, w.requires.clone(), w.provides.clone()));
            }
        }
        links.sort_by(|a, b| a.0.cmp(&b.0));
        let mut path = vec![name.to_owned()];
        if walk(&links, &mut path, &mut Vec::new(), name) {
            return Err(CacheError::Cycle { name: name.to_owned(), cycle: path.into() });
        }
        hotpack_cache::check_links(
            name,
            version,
            &v.requires,
            &v.provides,
            |want| provider_in(&graph, want, name).is_some(),
            dependents,
        )
    }

    /// Current modules whose requirement `name` provides now, with that requirement.
    fn iso_dependents_of(&self, graph: &Graph, name: &str) -> Vec<(String, InterfaceInfo)> {
        let mut out = Vec::new();
        for (d, v) in graph.iter().filter(|(d, _)| d != name) {
            for want in &v.requires {
                if provider_in(graph, want, d).is_some_and(|(p, _)| p == name) {
                    out.push((d.clone(), want.clone()));
                }
            }
        }
        out
    }

    /// The providers `requires` reaches (transitively, not `name` itself), deepest first.
    fn iso_providers(&self, graph: &Graph, name: &str, requires: &[InterfaceInfo]) -> Vec<(String, Arc<IsoVersion>)> {
        let mut out: Vec<(String, Arc<IsoVersion>)> = Vec::new();
        let mut todo: Vec<InterfaceInfo> = requires.to_vec();
        let mut from = vec![name.to_owned(); todo.len()];
        while let (Some(want), Some(at)) = (todo.pop(), from.pop()) {
            let Some((p, v)) = provider_in(graph, &want, &at) else { continue };
            if p == name || out.iter().any(|(n, _)| n == p) {
                continue;
            }
            out.push((p.clone(), Arc::clone(v)));
            for w in &v.requires {
                todo.push(w.clone());
                from.push(p.clone());
            }
        }
        out.reverse();
        out
    }

    /// Loads and inits into `worker` the current version of every provider `name` (running
    /// `requires`) needs; the worker's cache wires the dependent's handles when it is promoted
    /// there (or parks it until they arrive, so the order does not matter).
    pub(super) fn iso_host_providers(
        &self,
        worker: &Worker,
        name: &str,
        requires: &[InterfaceInfo],
    ) -> Result<(), Box<(Gate, GateError)>> {
        if requires.is_empty() {
            return Ok(());
        }
        let graph = self.iso_graph();
        for (p, v) in self.iso_providers(&graph, name, requires) {
            worker.load(&v.image).map_err(|e| Box::new((Gate::Load, GateError::Worker(e))))?;
            worker.init(&p).map_err(|e| Box::new((Gate::Init, GateError::WorkerCall(e))))?;
        }
        Ok(())
    }

    /// After `name` changed version to `v`: pushes `v` into every running worker that hosts
    /// `name` for a dependent (load and init there: its cache rewires the dependent).
    pub(super) fn iso_push_provider(&self, name: &str, v: &IsoVersion) {
        if v.provides.is_empty() {
            return;
        }
        let graph = self.iso_graph();
        let running: Vec<(String, Arc<Running>)> = {
            let iso = lock(&self.inner.iso);
            iso.iter()
                .filter(|(n, _)| n.as_str() != name)
                .filter_map(|(n, m)| m.current.clone().map(|r| (n.clone(), r)))
                .collect()
        };
        for (d, r) in running {
            let hosts = self.iso_providers(&graph, &d, &r.version.requires).iter().any(|(p, _)| p == name);
            if hosts && r.worker.load(&v.image).is_ok() {
                // A failure leaves the dependent on the provider version it had.
                let _ = r.worker.init(name);
            }
        }
    }

    /// A call of `name` failed in its worker: the panics the providers hosted there caught
    /// in their typed shims (the worker reports them with the reply) count against those
    /// providers' current versions, as in process. Only names `name` actually requires
    /// (transitively) are believed, and at most the budget plus one per call.
    pub(super) fn iso_charge_providers(&self, name: &str, running: &Running) {
        let charged = running.worker.take_provider_panics();
        if charged.is_empty() {
            return;
        }
        let graph = self.iso_graph();
        let providers = self.iso_providers(&graph, name, &running.version.requires);
        let budget = u64::from(self.inner.policy.panic_budget) + 1;
        for (provider, count) in charged {
            let Some((_, v)) = providers.iter().find(|(p, _)| *p == provider) else { continue };
            for _ in 0..count.min(budget) {
                self.panicked(&provider, v.summary.hash);
            }
        }
    }

    /// The worker of `name` died under a call, and its crash handler noted a provider's code
    /// as the crash site (`Worker::crash_site`): the crash is that provider's. Its current
    /// version is demoted (journaled first, as any crash; its last good version answers and
    /// is what dependents' workers load), and `name` comes back on the same version in a
    /// fresh worker. Only a (transitive) provider of `name` is believed, as with panics: a
    /// module that lies in the note can blame nobody but its own providers. `None` (the
    /// crash is `name`'s) when the note names no such provider, or `name` cannot start again
    /// (for example: its provider has no good version left).
    pub(super) fn iso_charge_provider_crash(
        &self,
        name: &str,
        running: &Arc<Running>,
        crash: &crate::Crash,
    ) -> Option<crate::CrashedProvider> {
        let site = running.worker.crash_site().filter(|site| site != name)?;
        let graph = self.iso_graph();
        let (provider, v) =
            self.iso_providers(&graph, name, &running.version.requires).into_iter().find(|(p, _)| *p == site)?;
        let still_current = self.iso_running(name).is_some_and(|r| Arc::ptr_eq(&r, running));
        if still_current {
            self.record_crash(&provider, v.summary.hash, crash.clone());
            if !self.iso_start_retained(name, &running.version.summary.hash, true) {
                return None;
            }
        }
        // Another call that died with the same worker already charged it and restarted `name`.
        Some(crate::CrashedProvider { name: provider, version: v.summary.version.clone(), crash: crash.clone() })
    }

    /// Deploys again every isolated candidate that waited for a provider, now that one was
    /// promoted (a success retries the rest itself).
    pub(super) fn iso_retry_waiting(&self, iso: &Isolation) {
        let waiting = std::mem::take(&mut *lock(&self.inner.iso_waiting));
        let graph = self.iso_graph();
        let mut rest = Vec::new();
        for w in waiting {
            if w.requires.iter().all(|want| provider_in(&graph, want, &w.name).is_some()) {
                // Its plan resumes at the worker start (a fresh worker: the one that waited
                // was killed); a failure is recorded as any deploy's.
                let plan = if w.expect.is_some() { Plan::IsolatedBundle } else { Plan::IsolatedFile };
                let candidate = Candidate::Verified {
                    bytes: w.bytes,
                    hash: w.hash,
                    source: w.source,
                    expect: w.expect,
                    want: w.want,
                };
                let run = Run::choose(plan, plan, Some(iso.clone()), candidate);
                let _ = self.run_plan_from(run, Some(crate::Step::StartWorker));
            } else {
                rest.push(w);
            }
        }
        lock(&self.inner.iso_waiting).extend(rest);
    }

    /// Under isolation: the requirements of the version of `name` serving in a worker, with
    /// their providers (`None` when `name` does not run in a worker).
    pub fn isolated_requirements(&self, name: &str) -> Option<Vec<hotpack_cache::Requirement>> {
        let graph = self.iso_graph();
        let (_, v) = graph.iter().find(|(n, _)| n == name)?;
        Some(
            v.requires
                .iter()
                .map(|want| hotpack_cache::Requirement {
                    interface: want.name.clone(),
                    id: want.id,
                    range: want.range.clone(),
                    provider: provider_in(&graph, want, name).map(|(p, _)| p.clone()),
                })
                .collect(),
        )
    }

    /// Under isolation: the modules serving in workers that take an interface from `name`.
    pub fn isolated_dependents(&self, name: &str) -> Vec<String> {
        let graph = self.iso_graph();
        let mut out: Vec<String> = self.iso_dependents_of(&graph, name).into_iter().map(|(d, _)| d).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Depth-first from the last name in `path` through providers; `true` (with `path` the
/// cycle) when it comes back to `start`.
fn walk(graph: &Links, path: &mut Vec<String>, seen: &mut Vec<String>, start: &str) -> bool {
    let Some(at) = path.last().cloned() else { return false };
    let Some((_, _, requires, _)) = graph.iter().find(|(n, ..)| *n == at) else { return false };
    for want in requires {
        let provider = graph
            .iter()
            .filter(|(n, version, _, provides)| *n != at && want.met_by(version, provides))
            .min_by(|a, b| a.0.cmp(&b.0));
        let Some((next, ..)) = provider else { continue };
        if next == start {
            path.push(next.clone());
            return true;
        }
        if seen.contains(next) {
            continue;
        }
        seen.push(next.clone());
        path.push(next.clone());
        if walk(graph, path, seen, start) {
            return true;
        }
        path.pop();
    }
    false
}
