//! Random operation sequences against real libraries.

use super::*;
use hotpack_rollback::VersionRef;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    DeployV1,
    DeployV2,
    /// One of the broken (or panicking) `greeter` builds.
    DeployBad(usize),
    PanicBurst,
    Rollback,
    Pin(bool),
    Unpin,
    Restart,
}

const BAD: [&str; 4] =
    ["fx-greeter-init-error", "fx-greeter-init-panic", "fx-greeter-bad-state", "fx-greeter-v3-panics"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::DeployV1),
        3 => Just(Op::DeployV2),
        3 => (0..BAD.len()).prop_map(Op::DeployBad),
        2 => Just(Op::PanicBurst),
        2 => Just(Op::Rollback),
        1 => any::<bool>().prop_map(Op::Pin),
        1 => Just(Op::Unpin),
        2 => Just(Op::Restart),
    ]
}

fn policy() -> Policy {
    Policy { panic_budget: 2, retain: 3, ..Policy::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// For any sequence of deploys (good, broken, panicking), panic bursts, rollbacks, pins,
    /// unpins and restarts: the version serving has passed every gate (it is v1, v2, the build
    /// that passes its gates and panics later, or the build whose state import fails when it
    /// came with no state to import; never a build that failed a gate), the
    /// supervisor's view agrees with the cache's, and a restart resumes exactly the last good
    /// version before it (or nothing, when there was none) — never a failed one.
    #[test]
    fn the_active_version_passed_every_gate_and_restarts_resume_the_last_good(ops in proptest::collection::vec(op(), 1..=12)) {
        let mut host = Host::new(policy());
        let v1 = host.bundle("greeter-v1");
        let v2 = host.bundle("greeter-v2");
        let mut passing: Vec<blake3::Hash> = ["greeter-v1", "greeter-v2", "fx-greeter-v3-panics"]
            .iter()
            .map(|p| blake3::hash(&hotpack_testkit::module_bytes(p)))
            .collect();
        for op in ops {
            let before = host.sup.status("greeter");
            let nothing_serves = host.cache().current("greeter").is_none();
            match &op {
                Op::DeployV1 => { let _ = host.sup.deploy_bundle(&v1); }
                Op::DeployV2 => { let _ = host.sup.deploy_bundle(&v2); }
                Op::DeployBad(i) => {
                    // With nothing serving there is no state to import: the state gate passes.
                    if BAD[*i] == "fx-greeter-bad-state" && nothing_serves {
                        passing.push(blake3::hash(&hotpack_testkit::module_bytes(BAD[*i])));
                    }
                    let _ = host.sup.deploy_file(&hotpack_testkit::module(BAD[*i]));
                }
                Op::PanicBurst => {
                    for _ in 0..3 {
                        let _ = host.sup.call("greeter", "version", b"");
                    }
                }
                Op::Rollback => { let _ = host.sup.rollback("greeter"); }
                Op::Pin(first) => {
                    let to = if *first { "1.0.0" } else { "2.0.0" };
                    let _ = host.sup.pin("greeter", VersionRef::Version(to.parse().expect("semver")));
                }
                Op::Unpin => host.sup.unpin("greeter"),
                Op::Restart => {
                    let last_good = before.as_ref().and_then(|s| s.last_good.as_ref()).map(|v| v.hash);
                    host.restart(policy());
                    let serving = host.cache().current("greeter").map(|m| *m.hash());
                    prop_assert_eq!(serving, last_good, "a restart resumes the last good version");
                }
            }
            let serving = host.cache().current("greeter").map(|m| *m.hash());
            if let Some(h) = serving {
                prop_assert!(passing.contains(&h), "after {:?}: {} serves, which failed a gate", op, h);
            }
            let status = host.sup.status("greeter");
            let active = status.as_ref().and_then(|s| s.active.as_ref()).map(|a| a.hash);
            prop_assert_eq!(active, serving, "after {:?}: the supervisor and the cache agree", op);
            if let Some(s) = &status
                && let Some(lg) = &s.last_good
            {
                prop_assert!(!s.failed.iter().any(|f| f.hash == lg.hash), "the last good version never failed");
            }
        }
    }
}
