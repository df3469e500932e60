//! Compile-fail tests (trybuild): each hole the ABI closes stays closed.
//!
//! `TRYBUILD=overwrite cargo test -p hotpack-abi --test ui` rewrites the expected `.stderr`
//! files after a compiler upgrade; review the diff.

#[test]
fn the_abi_refuses_what_would_be_undefined_behaviour() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/forged_table.rs");
    t.compile_fail("tests/ui/forged_table_elsewhere.rs");
    t.compile_fail("tests/ui/dangling_sink.rs");
    t.compile_fail("tests/ui/owned_type.rs");
    t.compile_fail("tests/ui/reference_type.rs");
    t.compile_fail("tests/ui/not_repr_c.rs");
    t.compile_fail("tests/ui/owned_field.rs");
    t.compile_fail("tests/ui/several_mistakes.rs");
    t.compile_fail("tests/ui/str_handler.rs");
    t.pass("tests/ui/layout_change_changes_id.rs");
}
