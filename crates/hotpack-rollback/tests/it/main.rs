//! hotpack-rollback against real cdylibs, real bundles and real journal files: every gate
//! failing in turn, panic budgets, rollback and pins, downgrade refusal, journals cut at
//! every byte, and a property over random operation sequences.

// The helpers pass `RollbackError` (128 bytes, its context fields inline) around by value.
#![allow(clippy::result_large_err)]

mod deps;
mod gates;
mod journal;
mod pipeline;
mod property;
mod rollback;
mod store;
mod watch;

use hotpack_archive::{Hooks, InterfaceMeta, ModuleMeta, PackSpec};
use hotpack_cache::{Cache, CacheView};
use hotpack_loader::{Loader, Module};
use hotpack_rollback::{Gate, Happened, Policy, RollbackError, Supervisor};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One loader for the whole test binary: the same bytes are mapped once, however many
/// caches and supervisors the tests build.
fn loader() -> Loader {
    static LOADER: OnceLock<(tempfile::TempDir, Loader)> = OnceLock::new();
    LOADER
        .get_or_init(|| {
            let dir = hotpack_testkit::scratch();
            let loader = Loader::new(dir.path().join("cache")).expect("loader");
            (dir, loader)
        })
        .1
        .clone()
}

/// A host: a fresh cache on the shared loader and a supervisor journaling into `dir`.
struct Host {
    dir: tempfile::TempDir,
    sup: Supervisor,
    /// The cache the supervisor was built on (the supervisor itself hands out a read-only view).
    raw: Cache,
}

impl Host {
    fn new(policy: Policy) -> Host {
        let dir = hotpack_testkit::scratch();
        let (sup, raw, _) = open_keeping(dir.path(), policy);
        Host { dir, sup, raw }
    }

    fn with_v1(policy: Policy) -> Host {
        let host = Host::new(policy);
        host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect("v1 deploys");
        assert_eq!(host.answer(), "1");
        host
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> CacheView {
        self.sup.cache()
    }

    /// What the serving greeter says its version is, through the cache's own hot handle.
    fn answer(&self) -> String {
        answer(&self.cache())
    }

    /// A bundle of `package` in this host's directory.
    fn bundle(&self, package: &str) -> PathBuf {
        bundle_of(self.path(), package)
    }

    /// Starts again: a new cache and supervisor on the same journal, then `restore`.
    fn restart(&mut self, policy: Policy) -> hotpack_rollback::RestoreReport {
        let (sup, raw, report) = open_keeping(self.path(), policy);
        assert!(report.is_loaded() || matches!(report.status, hotpack_rollback::JournalStatus::Missing), "{report}");
        self.sup = sup;
        self.raw = raw;
        self.sup.restore().expect("restore")
    }
}

fn open(dir: &Path, policy: Policy) -> (Supervisor, hotpack_rollback::JournalReport) {
    let (sup, _, report) = open_keeping(dir, policy);
    (sup, report)
}

/// As [`open`], keeping the cache the supervisor is built on.
fn open_keeping(dir: &Path, policy: Policy) -> (Supervisor, Cache, hotpack_rollback::JournalReport) {
    let cache = Cache::new(loader(), hotpack_archive::SearchPath::new());
    let (sup, report) = Supervisor::open(cache.clone(), policy, dir.join("state").join("journal.json")).expect("open");
    (sup, cache, report)
}

fn answer(cache: &CacheView) -> String {
    let hot = cache.hot_module("greeter").expect("greeter is active");
    String::from_utf8(hot.call("version", b"").expect("version answers")).expect("utf-8")
}

/// Loads a fixture (not registered anywhere) to read its descriptor.
fn load(package: &str) -> Module {
    loader().load_file(&hotpack_testkit::module(package)).expect("fixture loads")
}

fn meta_of(m: &Module) -> ModuleMeta {
    let info = m.info();
    ModuleMeta {
        name: info.name.clone(),
        version: info.version.clone(),
        abi_version: info.abi_version,
        rustc: info.rustc.clone(),
        interfaces: info.interfaces.iter().map(|i| InterfaceMeta { name: i.name.clone(), id: i.id }).collect(),
        handlers: info.handlers.clone(),
        hooks: Hooks { init: info.has_init, state: info.has_state },
    }
}

/// Packs `library` with `meta` into `<dir>/<file>`.
fn pack(dir: &Path, file: &str, meta: ModuleMeta, library: Vec<u8>) -> PathBuf {
    let spec = PackSpec {
        meta,
        target: hotpack_abi::TARGET.to_owned(),
        library_name: "libgreeter.so".to_owned(),
        library,
        resources: Vec::new(),
    };
    let out = dir.join(file);
    hotpack_archive::pack_to_file(&spec, &out).expect("pack");
    out
}

/// A bundle of a fixture that loads, its manifest taken from its own descriptor.
fn bundle_of(dir: &Path, package: &str) -> PathBuf {
    let meta = meta_of(&load(package));
    pack(dir, &format!("{package}.zip"), meta, hotpack_testkit::module_bytes(package))
}

/// Asserts `result` is a gate failure at `gate`, and the history and status say so.
fn assert_gate_failed<T: std::fmt::Debug>(sup: &Supervisor, result: Result<T, RollbackError>, gate: Gate) {
    match result {
        Err(RollbackError::GateFailed { gate: g, error, .. }) => {
            assert_eq!(g, gate, "failed at {g} ({error}), expected {gate}");
            assert!(!error.to_string().is_empty());
        }
        other => panic!("expected a {gate} gate failure, got {other:?}"),
    }
    let last = sup.history("greeter").pop().expect("a history entry");
    assert!(matches!(&last.happened, Happened::GateFailed { gate: g, .. } if *g == gate), "history: {last}");
    let status = sup.status("greeter").expect("status");
    let error = status.last_error.expect("last_error is set");
    assert!(error.contains(&format!("{gate} gate")), "last_error: {error}");
}
