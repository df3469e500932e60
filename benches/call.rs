//! The call path: a typed call through a hot handle vs the same module shim through a plain
//! table reference, a plain `extern "C"` function pointer, a byte handler through a
//! `HotModule`, and hot-lib-reloader's shape (read lock + `dlsym` on every call).
//!
//! `call_overhead_ratio` = `call/hot_typed` / `call/raw_table`: both run the same shim in the
//! same library (catch_unwind, out-pointer, error sink) through a function pointer that came
//! from the library's one `dlsym`; the hot handle adds its atomic load and one indirection.
//!
//! `call_vs_plain_extern_c_ratio` = `call/typed_same_lib` / `call/plain_extern_c`: the fixture
//! `fx-call-floor` provides `Greeter::add` (a typed, panic-catching call) and a plain
//! `extern "C" fn(u64, u64) -> u64` doing the same work in the same library: what the typed
//! ABI costs over the floor of calling into a module at all.
//!
//! `dependent_call_ns` = `call/relay_via` - `call/relay_local`: the fixture `fx-relay` is a
//! dependent whose `via` calls its provider's (`fx-call-floor`) `Greeter::add` through its
//! requirement handle and whose `local` does the sum itself; the difference is the cost of a
//! dependent's call to its provider (the handle's atomic load and the provider's typed
//! shim), set beside `call/typed_same_lib` (a host's typed call into a module).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use greeter_api::Greeter;
use hotpack_cache::{Cache, Source};
use hotpack_loader::{Loader, baseline::DlsymPerCall};
use std::hint::black_box;
use std::sync::RwLock;

hotpack_abi::interface! {
    /// The host's view of `fx-relay`'s interface (the same declaration).
    pub struct Relay / trait RelayImpl {
        /// `Greeter::add(a, b)` of the provider.
        fn via(a: u64, b: u64) -> u64;
        /// `a + b`, in the dependent.
        fn local(a: u64, b: u64) -> u64;
    }
}

hotpack_abi::interface! {
    /// The host's view of `fx-call-floor`'s second interface (the same declaration).
    pub struct Floor / trait FloorImpl {
        /// `plain_add`, as a plain `extern "C"` function pointer.
        fn plain_add() -> extern "C" fn(u64, u64) -> u64;
    }
}

fn call(c: &mut Criterion) {
    let dir = common::scratch("call");
    let cache = Cache::new(Loader::new(&dir).expect("scratch dir is writable"), hotpack_archive::SearchPath::new());
    let path = hotpack_testkit::module("greeter-v1");
    let module = cache.load_file(&path).expect("greeter-v1 loads");
    cache.activate(&module, Source::File(path)).expect("greeter-v1 activates");
    let hot = cache.hot::<Greeter>("greeter").expect("greeter is current");
    let hot_module = cache.hot_module("greeter").expect("greeter is current");
    let table: &'static Greeter = module.interface().expect("greeter-v1 provides Greeter");
    let locked: RwLock<&'static Greeter> = RwLock::new(table);
    let per_call = DlsymPerCall::new(&module).expect("the library opens again");
    assert_eq!(hot.get().add(1, 2), Ok(3));
    assert_eq!(per_call.interface::<Greeter>().map(|g| g.add(1, 2)), Some(Ok(3)));
    let floor = cache.load_file(&hotpack_testkit::module("fx-call-floor")).expect("fx-call-floor loads");
    let same_lib: &'static Greeter = floor.interface().expect("fx-call-floor provides Greeter");
    let plain = floor.interface::<Floor>().expect("fx-call-floor provides Floor").plain_add().expect("no panic");
    assert_eq!((same_lib.add(1, 2), plain(1, 2)), (Ok(3), 3));
    let relay_module = cache.load_file(&hotpack_testkit::module("fx-relay")).expect("fx-relay loads");
    relay_module.provide("Greeter", &floor).expect("fx-call-floor provides Greeter");
    let relay: &'static Relay = relay_module.interface().expect("fx-relay provides Relay");
    assert_eq!((relay.via(1, 2), relay.local(1, 2)), (Ok(3), Ok(3)));

    let mut g = c.benchmark_group("call");
    g.bench_function("hot_typed", |b| b.iter(|| hot.get().add(black_box(1), black_box(2))));
    g.bench_function("raw_table", |b| b.iter(|| black_box(table).add(black_box(1), black_box(2))));
    g.bench_function("typed_same_lib", |b| b.iter(|| black_box(same_lib).add(black_box(1), black_box(2))));
    g.bench_function("relay_via", |b| b.iter(|| black_box(relay).via(black_box(1), black_box(2))));
    g.bench_function("relay_local", |b| b.iter(|| black_box(relay).local(black_box(1), black_box(2))));
    g.bench_function("plain_extern_c", |b| b.iter(|| black_box(plain)(black_box(1), black_box(2))));
    g.bench_function("rwlock_table", |b| {
        b.iter(|| {
            let guard = locked.read().expect("never poisoned");
            guard.add(black_box(1), black_box(2))
        })
    });
    g.bench_function("rwlock_dlsym_per_call", |b| {
        b.iter(|| per_call.interface::<Greeter>().expect("provided").add(black_box(1), black_box(2)))
    });
    g.bench_function("hot_module_handler", |b| b.iter(|| hot_module.call("version", black_box(b""))));
    g.finish();
}

criterion_group!(benches, call);
criterion_main!(benches);
