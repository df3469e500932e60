//! The one runner, watched: every way a version is offered (a bundle, a plain library, a
//! module the host loaded, a restore and the retained versions after it, a candidate that
//! waited for a provider) runs its plan's steps through the runner, and the step observer
//! sees them run, in order, with the host's own callbacks (preflight, probe) running inside
//! their steps. A refusal ends the run at its step.

use super::*;
use hotpack_rollback::{Plan, StepEnd, StepSeen};
use std::sync::{Arc, Mutex};

/// What ran, in order: each step the observer saw (`"plan/step"`, with `!` when it refused
/// and `=` when it ended the run without a refusal), and each host callback as it was called.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().expect("log").push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("log"))
    }

    /// Watches every step `sup` runs, and its preflight and greeter probe.
    fn watch(sup: &Supervisor) -> Log {
        let log = Log::default();
        let l = log.clone();
        sup.observe_steps(Some(Arc::new(move |s: &StepSeen| l.push(line(s)))));
        let l = log.clone();
        sup.set_preflight(Some(Arc::new(move |_: &hotpack_rollback::PreflightCandidate<'_>| {
            l.push("preflight called".to_owned());
            Ok(())
        })));
        let l = log.clone();
        sup.set_probe(
            "greeter",
            Arc::new(move |_: &Module| {
                l.push("probe called".to_owned());
                Ok(())
            }),
        );
        log
    }
}

fn line(s: &StepSeen) -> String {
    let end = match s.end {
        StepEnd::Passed => "",
        StepEnd::Stopped => "=",
        StepEnd::Refused => "!",
        _ => "?",
    };
    format!("{}/{:?}{end} {}", plan_name(s.plan), s.step, s.module)
}

fn plan_name(p: Plan) -> &'static str {
    match p {
        Plan::Bundle => "bundle",
        Plan::File => "file",
        Plan::Loaded => "loaded",
        Plan::Restore => "restore",
        Plan::Retain => "retain",
        _ => "other",
    }
}

/// `steps` of `plan` for `module`, all passed.
fn ran(plan: &str, module: &str, steps: &[&str]) -> Vec<String> {
    steps.iter().map(|s| format!("{plan}/{s} {module}")).collect()
}

const DEPLOYED_BUNDLE: &[&str] = &[
    "Signature",
    "Verify",
    "Admit",
    "Preflight",
    "Load",
    "Bindings",
    "Requires",
    "Init",
    "State",
    "Probe",
    "Store",
    "Promote",
];

#[test]
fn a_bundle_deploy_runs_every_step_with_the_preflight_and_probe_inside_theirs() {
    let host = Host::new(Policy::default());
    let log = Log::watch(&host.sup);
    host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect("v1 deploys");
    let mut want = ran("bundle", "greeter", DEPLOYED_BUNDLE);
    want.insert(3, "preflight called".to_owned());
    want.insert(10, "probe called".to_owned());
    assert_eq!(log.take(), want);
    assert_eq!(host.answer(), "1");

    // The same bytes again: the run ends at Admit, unchanged.
    host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect("unchanged");
    assert_eq!(log.take(), ["bundle/Signature greeter", "bundle/Verify greeter", "bundle/Admit= greeter"]);
}

#[test]
fn a_refused_step_ends_the_run_and_nothing_after_it_runs() {
    let host = Host::with_v1(Policy::default());
    let log = Log::watch(&host.sup);
    host.sup.set_probe("greeter", Arc::new(|_: &Module| Err("not ready".into())));
    let err = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect_err("the probe refuses");
    assert!(matches!(err, RollbackError::GateFailed { gate: Gate::Probe, .. }), "{err}");
    let mut want = ran("bundle", "greeter", &DEPLOYED_BUNDLE[..9]);
    want.insert(3, "preflight called".to_owned());
    want.push("bundle/Probe! greeter".to_owned());
    assert_eq!(log.take(), want, "no Store, no Promote");
    assert_eq!(host.answer(), "1");
}

#[test]
fn a_plain_library_is_admitted_once_its_load_named_it() {
    let host = Host::new(Policy::default());
    let log = Log::watch(&host.sup);
    let path = hotpack_testkit::module("greeter-v1");
    host.sup.deploy_file(&path).expect("a plain library deploys");
    let label = path.display().to_string();
    let mut want: Vec<String> = ["Signature", "Verify", "Preflight", "Load"]
        .iter()
        .map(|s| format!("file/{s} {}", if *s == "Load" { "greeter" } else { &label }))
        .collect();
    want.insert(2, "preflight called".to_owned());
    want.extend(ran("file", "greeter", &["Admit", "Bindings", "Requires", "Init", "State"]));
    want.push("probe called".to_owned());
    want.extend(ran("file", "greeter", &["Probe", "Store", "Promote"]));
    assert_eq!(log.take(), want);
    assert_eq!(host.answer(), "1");
}

#[test]
fn a_module_the_host_loaded_runs_the_steps_after_its_load() {
    let host = Host::new(Policy::default());
    let log = Log::watch(&host.sup);
    let path = hotpack_testkit::module("greeter-v1");
    let module = load("greeter-v1");
    host.sup.deploy(module, hotpack_rollback::Source::File(path)).expect("deploys");
    let mut want = ran("loaded", "greeter", &["Signature", "Admit", "Load", "Bindings", "Requires", "Init", "State"]);
    want.push("probe called".to_owned());
    want.extend(ran("loaded", "greeter", &["Probe", "Store", "Promote"]));
    assert_eq!(log.take(), want);
}

#[test]
fn a_restart_restores_through_the_restore_plan_and_loads_the_retained_through_the_retain_plan() {
    let host = Host::with_v1(Policy::default());
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    // A restart: a new cache and supervisor on the same journal, watched before it restores.
    let (sup, _raw, report) = open_keeping(host.path(), Policy::default());
    assert!(report.is_loaded(), "{report}");
    let log = Log::watch(&sup);
    let restored = sup.restore().expect("restore");
    assert!(restored.problems.is_empty(), "{restored:?}");
    let mut want = ran("restore", "greeter", &["Signature", "Verify", "Load", "Bindings", "Requires", "Init"]);
    want.push("probe called".to_owned());
    want.extend(ran("restore", "greeter", &["Probe", "Promote"]));
    want.extend(ran("retain", "greeter", &["Signature", "Verify", "Load"]));
    assert_eq!(log.take(), want, "v2 restored, v1 loaded for rollback (no init, no probe)");
    assert_eq!(answer(&sup.cache()), "2");
    sup.rollback("greeter").expect("v1 is reachable");
    assert_eq!(answer(&sup.cache()), "1");
    assert!(log.take().is_empty(), "a rollback selects a version that already passed: no plan runs");
}

#[test]
fn a_candidate_waiting_for_its_provider_resumes_its_plan_when_the_provider_is_promoted() {
    let host = Host::new(Policy::default());
    let log = Log::watch(&host.sup);
    let err = host.sup.deploy_bundle(&host.bundle("svc-a")).expect_err("its provider is missing");
    assert!(matches!(err, RollbackError::GateFailed { gate: Gate::Requires, .. }), "{err}");
    let mut want = ran("bundle", "svc-a", &DEPLOYED_BUNDLE[..6]);
    want.insert(3, "preflight called".to_owned());
    want.push("bundle/Requires! svc-a".to_owned());
    assert_eq!(log.take(), want);

    host.sup.deploy_bundle(&host.bundle("textutil-v1")).expect("the provider deploys");
    let mut want = ran("bundle", "textutil", &DEPLOYED_BUNDLE[..5]);
    want.insert(3, "preflight called".to_owned());
    want.extend(ran("bundle", "textutil", &DEPLOYED_BUNDLE[5..11]));
    // Its promotion resumes the waiting candidate where it stopped, admitted again first (a
    // pin, a failure mark or a newer version may have come while it waited).
    want.extend(ran("bundle", "svc-a", &DEPLOYED_BUNDLE[2..3]));
    want.extend(ran("bundle", "svc-a", &DEPLOYED_BUNDLE[5..]));
    want.push("bundle/Promote textutil".to_owned());
    assert_eq!(log.take(), want);
    assert!(host.sup.cache().current("svc-a").is_some(), "svc-a serves");
}

#[test]
fn under_trusted_keys_an_unsigned_candidate_stops_at_the_signature_step() {
    let key = hotpack_archive::SigningKey::from_seed(&[9; 32]);
    let host = Host::new(Policy { trusted_keys: vec![key.public_key()], ..Policy::default() });
    let log = Log::watch(&host.sup);
    host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect_err("unsigned");
    assert_eq!(log.take(), ["bundle/Signature! greeter"]);
    let path = hotpack_testkit::module("greeter-v1");
    host.sup.deploy_file(&path).expect_err("a plain library cannot be signed");
    assert_eq!(log.take(), [format!("file/Signature! {}", path.display())], "refused unread");
    host.sup.deploy(load("greeter-v1"), hotpack_rollback::Source::File(path)).expect_err("host-loaded");
    assert_eq!(log.take(), ["loaded/Signature! greeter"]);
    assert!(host.sup.cache().current("greeter").is_none());
}
