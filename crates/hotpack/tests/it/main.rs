//! Integration tests of the facade: the three stories of `examples/`, run against real
//! modules built by cargo, plus the runtime's own contract.

// Each example is compiled here as a module too, so its story runs as a test; its `main`
// is only used when it runs as an example. Each brings its own `mod support;` (the examples'
// shared helper), so that file is compiled once per story here.
#![allow(clippy::duplicate_mod)]
#[allow(dead_code)]
#[path = "../../examples/resident_data.rs"]
mod resident_data;

#[allow(dead_code)]
#[path = "../../examples/plugin_folder.rs"]
mod plugin_folder;

#[allow(dead_code)]
#[path = "../../examples/hot_deploy.rs"]
mod hot_deploy;

mod abi;
mod doors;
mod isolated;
mod names;
mod pipeline;
mod preflight;
mod runtime;
mod shared;
mod stories;

/// A runtime whose search path is the new folder `<dir>/plugins` (returned), with its cache
/// under `dir` and a 20 ms quiet window, for the tests that watch that folder.
fn watched_runtime(dir: &std::path::Path) -> (hotpack::Runtime, std::path::PathBuf) {
    let plugins = dir.join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let runtime = hotpack::Runtime::builder()
        .cache_dir(dir.join("cache"))
        .search_path(&plugins)
        .quiet(std::time::Duration::from_millis(20))
        .build()
        .expect("runtime");
    (runtime, plugins)
}
