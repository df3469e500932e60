//! Signature record parse + check: the input is the archive comment of a fixed valid
//! bundle. A comment without the record prefix is "not signed"; one with it either parses
//! (and then prints back as exactly the same bytes) or is refused as a bad record; the
//! check itself never panics, and a forged record never verifies.
#![no_main]

use std::sync::OnceLock;

use hotpack_archive::{
    Bundle, Hooks, InterfaceMeta, Limits, ModuleMeta, PackSpec, SIGNATURE_RECORD_PREFIX, SignatureStatus, SigningKey,
};
use libfuzzer_sys::fuzz_target;

/// A packed bundle up to (not including) its comment-length field, and its signing key.
fn base() -> &'static (Vec<u8>, SigningKey) {
    static BASE: OnceLock<(Vec<u8>, SigningKey)> = OnceLock::new();
    BASE.get_or_init(|| {
        let spec = PackSpec {
            meta: ModuleMeta {
                name: "greeter".into(),
                version: hotpack_archive::semver::Version::new(1, 0, 0),
                abi_version: 1,
                rustc: "rustc 1.88.0".into(),
                interfaces: vec![InterfaceMeta { name: "Greeter".into(), id: 0x0123_4567_89ab_cdef }],
                handlers: vec!["greet".into()],
                hooks: Hooks::default(),
            },
            target: "x86_64-unknown-linux-gnu".into(),
            library_name: "libgreeter.so".into(),
            library: b"\x7fELF not really".to_vec(),
            resources: vec![("data/hello.txt".into(), b"hello".to_vec())],
        };
        let mut bytes = hotpack_archive::pack(&spec).expect("packs");
        bytes.truncate(bytes.len() - 2); // no comment: drop the zero comment length
        (bytes, SigningKey::from_seed(&[7; 32]))
    })
}

fuzz_target!(|comment: &[u8]| {
    let (head, key) = base();
    let comment = &comment[..comment.len().min(usize::from(u16::MAX))];
    let mut bytes = head.clone();
    bytes.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    bytes.extend_from_slice(comment);
    let Ok(bundle) = Bundle::from_bytes(bytes, "fuzz.zip", &Limits::default()) else {
        return;
    };
    assert_eq!(bundle.archive_comment(), comment);
    let is_record = comment.starts_with(SIGNATURE_RECORD_PREFIX.as_bytes());
    match bundle.signature() {
        Ok(None) => assert!(!is_record),
        Ok(Some(sig)) => {
            assert!(is_record);
            assert_eq!(sig.to_record().as_bytes(), comment, "a parsed record prints back as itself");
            let status = bundle.check_signature(&[key.public_key()]).expect("a parsed record checks");
            if sig.key != key.public_key() {
                assert!(!status.is_trusted(), "only the trusted key is trusted");
            }
            if let SignatureStatus::Trusted(_) | SignatureStatus::Untrusted(_) = status {
                // It verified: the fuzzer found a valid signature. Only the real key's
                // signature over this exact message can do that.
                assert_eq!(sig.key, key.public_key(), "a signature verified under a key that never signed");
            }
        }
        Err(_) => assert!(is_record),
    }
});
