//! Property tests: hostile mutations of a valid bundle.

use std::collections::BTreeMap;

use hotpack_archive::{Bundle, Limits, pack};
use proptest::prelude::*;

use crate::common::{TARGET, spec};

struct Original {
    bytes: Vec<u8>,
    /// (module, relative path) -> content
    content: BTreeMap<(String, String), Vec<u8>>,
}

fn original() -> Original {
    let s = spec("greeter", "1.0.0", 3000);
    let mut content = BTreeMap::new();
    content.insert(("greeter".to_owned(), format!("lib/{TARGET}/libgreeter.so")), s.library.clone());
    for (path, data) in &s.resources {
        content.insert(("greeter".to_owned(), path.clone()), data.clone());
    }
    Original { bytes: pack(&s).expect("pack"), content }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random byte mutations and truncations of a valid bundle never panic (open,
    /// verify_all, read), and: if `verify_all` succeeds, every entry's content read back
    /// equals the original content (bytes outside content, such as timestamps or
    /// attributes, may legally change).
    #[test]
    fn mutations_never_panic_and_never_verify_changed_content(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in proptest::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let orig = original();
        let mut bytes = orig.bytes.clone();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if let Some(at) = truncate {
            bytes.truncate(at.index(bytes.len()));
        }
        if let Ok(bundle) = Bundle::from_bytes(bytes, "mutated.zip", &Limits::default()) {
            let verified = bundle.verify_all().is_ok();
            for ((module, path), data) in &orig.content {
                let read = bundle.read(module, path);
                if verified {
                    prop_assert_eq!(read.as_ref().ok(), Some(data), "{}:{} changed but verified", module, path);
                } else if let Ok(read) = read {
                    // Whatever reads successfully is still the original content.
                    prop_assert_eq!(&read, data);
                }
            }
        }
    }
}
