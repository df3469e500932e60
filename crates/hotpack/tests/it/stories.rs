//! The three stories of `examples/`, each run as a test on real modules.

use crate::{hot_deploy, plugin_folder, resident_data};

fn has(log: &[String], needle: &str) -> bool {
    log.iter().any(|l| l.contains(needle))
}

#[test]
fn resident_data_story_swaps_the_task_and_keeps_the_data() {
    let dir = hotpack_testkit::scratch();
    let v1 = hotpack_testkit::module("task-v1");
    let v2 = hotpack_testkit::module("task-v2");
    let log = resident_data::story(&v1, &v2, dir.path(), 1 << 20).expect("the story runs");
    assert!(has(&log, "result: v1: 65536 records"), "{log:#?}");
    assert!(has(&log, "reloaded task 2.0.0"), "{log:#?}");
    assert!(has(&log, "result: v2: top category"), "{log:#?}");
}

#[test]
fn plugin_folder_story_discovers_swaps_and_refuses() {
    let dir = hotpack_testkit::scratch();
    let log = plugin_folder::story(
        &hotpack_testkit::module("greeter-v1"),
        &hotpack_testkit::module("greeter-v2"),
        dir.path(),
    )
    .expect("the story runs");
    assert!(has(&log, "greet -> hello, plugin host (v1"), "{log:#?}");
    assert!(has(&log, "greet -> HELLO, PLUGIN HOST (v2"), "{log:#?}");
    assert!(has(&log, "refused "), "{log:#?}");
    assert_eq!(log.iter().filter(|l| l.contains("(v2")).count(), 2, "v2 kept serving after the refusal: {log:#?}");
    assert!(has(&log, "module greeter 2.0.0, last error: "), "{log:#?}");
}

#[test]
fn hot_deploy_story_never_fails_a_call_and_resumes_after_a_restart() {
    let dir = hotpack_testkit::scratch();
    let log =
        hot_deploy::story(&hotpack_testkit::module("greeter-v1"), &hotpack_testkit::module("greeter-v2"), dir.path())
            .expect("the story runs");
    assert!(has(&log, "deployed greeter 2.0.0 under traffic"), "{log:#?}");
    assert!(has(&log, "refused the broken bundle"), "{log:#?}");
    assert!(has(&log, "rolled back to 1.0.0"), "{log:#?}");
    assert!(has(&log, ", 0 wrong or failed"), "{log:#?}");
    assert!(has(&log, "after a restart: greeter 2.0.0 is serving again"), "{log:#?}");
    assert!(has(&log, "greet -> HELLO, RESTART (v2"), "{log:#?}");
}
