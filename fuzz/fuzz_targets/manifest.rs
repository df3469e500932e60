//! Manifest parse. What `Manifest::from_json` accepts is valid JSON to serde_json with the
//! same libraries and entries (no key twice, so no "last one wins"), and it round-trips:
//! the canonical JSON of the result parses back to the same manifest.
#![no_main]

use hotpack_archive::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_json(data) else {
        return;
    };
    let value: serde_json::Value =
        serde_json::from_slice(data).unwrap_or_else(|e| panic!("accepted a manifest serde_json refuses: {e}"));
    assert_eq!(value["name"].as_str(), Some(manifest.meta.name.as_str()));
    assert_eq!(value["libraries"].as_object().map(|o| o.len()), Some(manifest.libraries.len()));
    assert_eq!(value["entries"].as_object().map(|o| o.len()), Some(manifest.entries.len()));
    for (target, path) in &manifest.libraries {
        assert_eq!(value["libraries"][target].as_str(), Some(path.as_str()), "library for {target}");
    }
    let json = manifest.to_json();
    let again = Manifest::from_json(&json).unwrap_or_else(|e| panic!("the canonical form does not parse: {e}"));
    assert_eq!(again, manifest, "round trip");
    assert_eq!(again.to_json(), json, "the canonical form is a fixed point");
});
