//! Bundle open + verify + entry read. Whatever hotpack accepts (open and `verify_all` both
//! succeed), the zip crate must read as the same entries, in the same order, with the same
//! bytes; signature checking must not panic on anything that opened.
#![no_main]

use std::io::Read;
use std::sync::Arc;

use hotpack_archive::{Bundle, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_entry_size = 4 << 20;
    limits.max_total_size = 16 << 20;
    let shared: Arc<[u8]> = Arc::from(data);
    let Ok(bundle) = Bundle::from_shared(Arc::clone(&shared), "fuzz.zip", &limits) else {
        return;
    };
    let _ = bundle.check_signature(&[]);
    for module in bundle.modules() {
        let manifest = module.manifest();
        for target in manifest.libraries.keys() {
            let _ = bundle.read_library(module.name(), target);
        }
    }
    if bundle.verify_all().is_err() {
        return;
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&shared[..]))
        .unwrap_or_else(|e| panic!("hotpack accepted a bundle the zip crate refuses: {e}"));
    let ours: Vec<_> = bundle.entries().collect();
    assert_eq!(zip.len(), ours.len(), "entry count");
    for (i, entry) in ours.iter().enumerate() {
        let mut file = zip.by_index(i).unwrap_or_else(|e| panic!("zip crate, entry {i} ({}): {e}", entry.name));
        assert_eq!(file.name_raw(), entry.name.as_bytes(), "entry {i} name");
        assert_eq!(file.is_dir(), entry.is_dir, "entry {i} kind");
        if entry.is_dir {
            continue;
        }
        let mut theirs = Vec::new();
        file.read_to_end(&mut theirs).unwrap_or_else(|e| panic!("zip crate reading `{}`: {e}", entry.name));
        let mut mine = Vec::new();
        bundle
            .open_entry(entry.name)
            .and_then(|mut r| r.read_to_end(&mut mine).map_err(|e| panic!("verified entry re-read: {e}")))
            .unwrap_or_else(|e| panic!("verified entry re-open: {e}"));
        assert_eq!(mine, theirs, "content of `{}`", entry.name);
        assert_eq!(mine.len() as u64, entry.size, "size of `{}`", entry.name);
    }
});
