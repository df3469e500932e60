//! Shared code as its own module: dependents wired to a provider, swapped under them,
//! and the compatibility gate (missing provider, broken dependents, cycles, removal).

use hotpack_cache::{CacheError, Source};
use hotpack_loader::Module;
use hotpack_testkit::module;

fn load(f: &super::Fixture, package: &str) -> Module {
    f.cache.load_file(&module(package)).unwrap_or_else(|e| panic!("{package}: {e}"))
}

fn activate(f: &super::Fixture, m: &Module) -> Result<(), CacheError> {
    f.cache.activate(m, Source::File(m.source().to_path_buf()))
}

#[test]
fn a_provider_swap_is_seen_by_every_dependent_and_incompatible_ones_are_refused() {
    let f = super::fixture();
    let svc_a = load(&f, "svc-a");
    let svc_b = load(&f, "svc-b");
    // No provider yet: not made current, kept pending, named in the error.
    match activate(&f, &svc_a) {
        Err(CacheError::MissingProvider { name, interface, .. }) => {
            assert_eq!((name.as_str(), interface.as_str()), ("svc-a", "TextUtil"));
        }
        other => panic!("expected a missing provider, got {other:?}"),
    }
    assert!(f.cache.current("svc-a").is_none());
    assert_eq!(f.cache.pending().len(), 1);

    // The provider arrives: the waiting dependent becomes current by itself.
    let v1 = load(&f, "textutil-v1");
    activate(&f, &v1).expect("v1 activates");
    assert!(f.cache.pending().is_empty());
    activate(&f, &svc_b).expect("svc-b activates");
    let a = f.cache.hot_module("svc-a").expect("svc-a is current");
    let b = f.cache.hot_module("svc-b").expect("svc-b is current");
    assert_eq!(a.call("run", b"abc").expect("run"), b"a:ABC");
    assert_eq!(b.call("run", b"abc").expect("run"), b"b:ABC");
    assert_eq!(f.cache.dependents("textutil"), ["svc-a", "svc-b"]);
    let reqs = f.cache.requirements("svc-a");
    assert_eq!((reqs[0].interface.as_str(), reqs[0].provider.as_deref()), ("TextUtil", Some("textutil")));

    // v2: both see it on their next call; neither was reloaded.
    let (hash_a, hash_b) = (*svc_a.hash(), *svc_b.hash());
    let v2 = load(&f, "textutil-v2");
    activate(&f, &v2).expect("v2 activates");
    assert_eq!(a.call("run", b"abc").expect("run"), b"a:ABC!");
    assert_eq!(b.call("run", b"abc").expect("run"), b"b:ABC!");
    assert_eq!((*a.current().module().hash(), *b.current().module().hash()), (hash_a, hash_b));

    // v3 changed the interface: refused naming both dependents; v2 keeps serving.
    let v3 = load(&f, "textutil-v3");
    match activate(&f, &v3) {
        Err(CacheError::BreaksDependents { name, dependents, interface, .. }) => {
            assert_eq!((name.as_str(), interface.as_str()), ("textutil", "TextUtil"));
            assert_eq!(*dependents, ["svc-a".to_owned(), "svc-b".to_owned()]);
            let text = activate(&f, &v3).expect_err("refused again").to_string();
            assert!(text.contains("svc-a") && text.contains("svc-b"), "{text}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(f.cache.current("textutil").expect("current").version().major, 2);
    assert_eq!(a.call("run", b"abc").expect("run"), b"a:ABC!");

    // Rolling the provider back (a version that served) is seen by both too.
    f.cache.promote(&v1).expect("back to v1");
    assert_eq!(a.call("run", b"abc").expect("run"), b"a:ABC");
    assert_eq!(b.call("run", b"abc").expect("run"), b"b:ABC");
    // Taking the provider away is refused while dependents exist.
    match f.cache.check_removable("textutil") {
        Err(CacheError::HasDependents { dependents, .. }) => {
            assert_eq!(*dependents, ["svc-a".to_owned(), "svc-b".to_owned()]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(f.cache.check_removable("svc-a").is_ok());
}

#[test]
fn a_cycle_is_refused_naming_it() {
    let f = super::fixture();
    let y1 = load(&f, "fx-cycle-y1");
    activate(&f, &y1).expect("y1 needs nothing");
    let x = load(&f, "fx-cycle-x");
    activate(&f, &x).expect("x takes Y from y1");
    let y2 = load(&f, "fx-cycle-y2");
    match activate(&f, &y2) {
        Err(CacheError::Cycle { cycle, .. }) => {
            assert_eq!(*cycle, ["cycle-y".to_owned(), "cycle-x".to_owned(), "cycle-y".to_owned()])
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert_eq!(f.cache.current("cycle-y").expect("current").version().major, 1);
}

#[test]
fn two_new_modules_that_require_each_other_are_refused_as_a_cycle() {
    let f = super::fixture();
    let x = load(&f, "fx-cycle-x");
    assert!(matches!(activate(&f, &x), Err(CacheError::MissingProvider { .. })), "x waits for Y");
    let y2 = load(&f, "fx-cycle-y2");
    match activate(&f, &y2) {
        Err(CacheError::Cycle { cycle, .. }) => {
            assert_eq!(*cycle, ["cycle-y".to_owned(), "cycle-x".to_owned(), "cycle-y".to_owned()]);
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert!(f.cache.current("cycle-y").is_none() && f.cache.current("cycle-x").is_none());
}

#[test]
fn promote_exact_refuses_a_missing_provider_keeps_nothing_and_makes_nothing_else_current() {
    let f = super::fixture();
    let svc_a = load(&f, "svc-a");
    // Parked by the cache's own activate (the layer below the gates keeps it).
    assert!(matches!(activate(&f, &svc_a), Err(CacheError::MissingProvider { .. })));
    assert_eq!(f.cache.pending().len(), 1);
    let svc_b = load(&f, "svc-b");
    f.cache.register(svc_b.clone(), Source::File(svc_b.source().to_path_buf()));
    // The supervisor's promotion: refused the same way, and not kept.
    assert!(matches!(f.cache.promote_exact(&svc_b), Err(CacheError::MissingProvider { .. })));
    assert_eq!(f.cache.pending().len(), 1, "only what activate kept");
    // Promoting a provider exactly makes that provider current and nothing it would unblock.
    let v1 = load(&f, "textutil-v1");
    f.cache.register(v1.clone(), Source::File(v1.source().to_path_buf()));
    v1.init().expect("init");
    f.cache.promote_exact(&v1).expect("the provider promotes");
    assert!(f.cache.current("textutil").is_some());
    assert!(f.cache.current("svc-a").is_none(), "a kept dependent is not made current behind the caller's back");
    assert!(f.cache.current("svc-b").is_none());
}

#[test]
fn a_version_range_picks_the_provider_refuses_one_outside_it_and_waits_for_one_inside() {
    let f = super::fixture();
    let v1 = load(&f, "textutil-v1");
    activate(&f, &v1).expect("v1 activates");
    let ranged = load(&f, "fx-svc-ranged");
    let range = semver::VersionReq::parse(">=2, <3").expect("range");
    assert_eq!(ranged.requires()[0].range.as_ref(), Some(&range), "the range read from the section");
    // v1 provides the interface but is outside the range: it waits, as for a missing provider.
    match activate(&f, &ranged) {
        Err(e @ CacheError::MissingProvider { .. }) => {
            let text = e.to_string();
            assert!(text.contains("svc-ranged") && text.contains(">=2, <3"), "{text}");
            let CacheError::MissingProvider { range: got, .. } = e else { unreachable!() };
            assert_eq!(got.as_deref(), Some(&range));
        }
        other => panic!("expected it to wait, got {other:?}"),
    }
    assert!(f.cache.current("svc-ranged").is_none());
    // A version inside the range arrives: the waiting dependent becomes current by itself.
    let v2 = load(&f, "textutil-v2");
    activate(&f, &v2).expect("v2 activates");
    let r = f.cache.hot_module("svc-ranged").expect("svc-ranged is current");
    assert_eq!(r.call("run", b"abc").expect("run"), b"r:ABC!");
    let reqs = f.cache.requirements("svc-ranged");
    assert_eq!((reqs[0].range.as_ref(), reqs[0].provider.as_deref()), (Some(&range), Some("textutil")));
    let svc_a = load(&f, "svc-a");
    activate(&f, &svc_a).expect("svc-a takes any version");

    // Back to v1: same interface, outside svc-ranged's range; refused naming it and the range
    // (not svc-a, which takes any version).
    match f.cache.promote(&v1) {
        Err(e @ CacheError::OutsideRange { .. }) => {
            let text = e.to_string();
            assert!(text.contains("svc-ranged") && text.contains(">=2, <3") && !text.contains("svc-a"), "{text}");
            let CacheError::OutsideRange { dependents, range: got, .. } = e else { unreachable!() };
            assert_eq!((*dependents).to_vec(), ["svc-ranged".to_owned()]);
            assert_eq!(*got, range);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(f.cache.current("textutil").expect("current").version().major, 2);
    assert_eq!(r.call("run", b"abc").expect("run"), b"r:ABC!");
    // v3 loses the interface itself: that refusal names every dependent, with no range.
    let v3 = load(&f, "textutil-v3");
    match activate(&f, &v3) {
        Err(CacheError::BreaksDependents { dependents, .. }) => {
            assert_eq!(*dependents, ["svc-a".to_owned(), "svc-ranged".to_owned()]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn retiring_the_provider_dependents_take_is_refused_and_its_old_version_goes_quietly() {
    let f = super::fixture();
    let v1 = load(&f, "textutil-v1");
    activate(&f, &v1).expect("v1 activates");
    let svc_a = load(&f, "svc-a");
    activate(&f, &svc_a).expect("svc-a activates");
    let v2 = load(&f, "textutil-v2");
    activate(&f, &v2).expect("v2 activates");
    let a = f.cache.hot_module("svc-a").expect("svc-a is current");
    // The version svc-a is wired to cannot be retired (nor taken away: check_removable).
    assert!(matches!(f.cache.retire("textutil", v2.hash()), Err(CacheError::RetireCurrent { .. })));
    assert!(matches!(f.cache.check_removable("textutil"), Err(CacheError::HasDependents { .. })));
    // The old version no dependent takes goes, and svc-a keeps answering through v2.
    f.cache.retire("textutil", v1.hash()).expect("v1 is not what svc-a takes");
    assert_eq!(a.call("run", b"abc").expect("run"), b"a:ABC!");
    assert_eq!(f.cache.dependents("textutil"), ["svc-a"]);
}
