//! Modules that require other modules: the host hands a dependent its provider's table and
//! swaps it without reloading the dependent.

use hotpack_loader::{CallError, LoadError};
use hotpack_testkit::module;

#[test]
fn a_dependent_calls_whichever_provider_it_was_handed() {
    let (_dir, loader) = super::loader();
    let svc_a = loader.load_file(&module("svc-a")).expect("svc-a loads");
    let svc_b = loader.load_file(&module("svc-b")).expect("svc-b loads");
    let v1 = loader.load_file(&module("textutil-v1")).expect("v1 loads");
    let v2 = loader.load_file(&module("textutil-v2")).expect("v2 loads");
    let v3 = loader.load_file(&module("textutil-v3")).expect("v3 loads");
    assert_eq!(svc_a.requires().len(), 1);
    assert_eq!(svc_a.requires()[0].name, "TextUtil");
    assert!(v1.satisfies(&svc_a.requires()[0]) && v2.satisfies(&svc_a.requires()[0]));
    assert!(!v3.satisfies(&svc_a.requires()[0]), "v3 changed the interface");
    let described = hotpack_loader::describe(&hotpack_testkit::module_bytes("svc-a")).expect("describe");
    assert_eq!(described.info.requires, svc_a.requires());

    // No provider yet: a typed error from the module, not a crash.
    match svc_a.call("run", b"abc") {
        Err(CallError::Failed { message }) => assert!(message.contains("TextUtil"), "{message}"),
        other => panic!("expected no provider, got {other:?}"),
    }
    svc_a.provide("TextUtil", &v1).expect("v1 provides");
    svc_b.provide("TextUtil", &v1).expect("v1 provides");
    assert_eq!(svc_a.call("run", b"abc").expect("run"), b"a:ABC");
    assert_eq!(svc_b.call("run", b"abc").expect("run"), b"b:ABC");
    // Swap the provider: the next call sees it, the dependent is the same library.
    let hash = *svc_a.hash();
    svc_a.provide("TextUtil", &v2).expect("v2 provides");
    assert_eq!(svc_a.call("run", b"abc").expect("run"), b"a:ABC!");
    assert_eq!(*svc_a.hash(), hash);
    // A provider with another id is refused; the dependent keeps the one it had.
    match svc_a.provide("TextUtil", &v3) {
        Err(LoadError::ProviderMismatch { interface, .. }) => assert_eq!(interface, "TextUtil"),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(matches!(svc_a.provide("TextUtil", &svc_b), Err(LoadError::ProviderMissing { .. })));
    assert!(matches!(svc_a.provide("Greeter", &v1), Err(LoadError::NotRequired { .. })));
    assert_eq!(svc_a.call("run", b"abc").expect("run"), b"a:ABC!");
    assert!(svc_a.unprovide("TextUtil"));
    assert!(svc_a.call("run", b"abc").is_err());
}
