//! The loader's error type: one variant per way a module can fail to load, bind or initialize.

use std::path::PathBuf;

/// Why a module could not be loaded, bound or initialized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path does not exist.
    #[error("{path}: no such file")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// An I/O operation failed.
    #[error("{path}: could not {op}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is too big to be a module.
    #[error("{path}: {size} bytes is over the {max}-byte limit for a library")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not a shared library.
    #[error("{path}: not a shared library: {fault}")]
    NotASharedLibrary {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        fault: ElfFault,
    },
    /// The file is shorter than its own headers say.
    #[error("{path}: truncated shared library: headers need {expected} bytes, the file has {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the headers require.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The library is for another machine.
    #[error("{path}: library is for {found}, this host is {expected}")]
    WrongArchitecture {
        /// The file.
        path: PathBuf,
        /// This host's architecture.
        expected: String,
        /// The library's.
        found: String,
    },
    /// Writing the bytes to their immutable path failed. The message quotes the cause (out
    /// of descriptors, a full disk): a refusal shown as one line keeps it.
    #[error("{path}: could not materialize the library at {}: {}", object.display(), hotpack_util::error::chain(source))]
    Materialize {
        /// Where the module came from.
        path: PathBuf,
        /// The object path being written.
        object: PathBuf,
        /// The file-system error, naming the file it failed on.
        #[source]
        source: hotpack_util::fs::FsError,
    },
    /// A library image handed over as a memfd is not one the loader can trust to stay
    /// as it is (not sealed against writes and resizing), or could not be mapped.
    #[error("{path}: the library memfd cannot be used: {source}")]
    Unsealed {
        /// Where the module came from.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not the ones the caller verified.
    #[error("{path}: blake3 is {}, expected {}: not the library that was checked", .found.to_hex(), .expected.to_hex())]
    HashMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// The hash the caller verified.
        expected: blake3::Hash,
        /// The hash of the bytes found.
        found: blake3::Hash,
    },
    /// `dlopen` refused the library.
    #[error("{path}: dlopen failed: {message}")]
    Dlopen {
        /// Where the module came from.
        path: PathBuf,
        /// The dynamic linker's message.
        message: String,
    },
    /// The descriptor section could not be read from the library's bytes (before anything
    /// was mapped or run).
    #[error("{path}: cannot read the module's descriptor section")]
    Describe {
        /// Where the module came from.
        path: PathBuf,
        /// What is wrong with the bytes.
        #[source]
        source: crate::DescribeError,
    },
    /// A module was handed a provider for an interface it does not require.
    #[error("{path}: module `{module}` requires no interface `{interface}`")]
    NotRequired {
        /// The dependent.
        path: PathBuf,
        /// The dependent's name.
        module: String,
        /// The interface named.
        interface: String,
    },
    /// A would-be provider does not provide the required interface.
    #[error("{path}: module `{module}` does not provide `{interface}`")]
    ProviderMissing {
        /// The provider.
        path: PathBuf,
        /// The provider's name.
        module: String,
        /// The interface.
        interface: String,
    },
    /// A would-be provider provides the interface with another id (another signature or
    /// layout) or table size.
    #[error(
        "{path}: module `{module}` provides `{interface}` as {found:#018x}, the dependent requires {expected:#018x}"
    )]
    ProviderMismatch {
        /// The provider.
        path: PathBuf,
        /// The provider's name.
        module: String,
        /// The interface.
        interface: String,
        /// The id the dependent requires.
        expected: u64,
        /// The id the provider has.
        found: u64,
    },
    /// The descriptor section in the file says something the live descriptor does not.
    #[error("{path}: module `{module}`: the descriptor section disagrees with the live descriptor on `{field}`")]
    DescriptorDisagrees {
        /// Where the module came from.
        path: PathBuf,
        /// The module name (live descriptor).
        module: String,
        /// The first field that differs.
        field: &'static str,
    },
    /// The library exports no hotpack descriptor.
    #[error("{path}: not a hotpack module: no `{symbol}` symbol (build it with hotpack_abi::module!)")]
    NoDescriptor {
        /// Where the module came from.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The descriptor function returned null.
    #[error("{path}: the descriptor function returned a null pointer")]
    NullDescriptor {
        /// Where the module came from.
        path: PathBuf,
    },
    /// The descriptor does not start with hotpack's magic.
    #[error("{path}: bad descriptor magic {found:#018x} (expected {expected:#018x})")]
    BadMagic {
        /// Where the module came from.
        path: PathBuf,
        /// [`hotpack_abi::MAGIC`].
        expected: u64,
        /// What was there.
        found: u64,
    },
    /// The descriptor layout is one this host does not know.
    #[error(
        "{path}: descriptor layout {found} (size {found_size}), this host reads layout {expected} (size {expected_size})"
    )]
    LayoutMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// This host's layout version.
        expected: u32,
        /// The module's.
        found: u32,
        /// This host's descriptor size.
        expected_size: usize,
        /// The module's.
        found_size: usize,
    },
    /// The module was built against another hotpack ABI.
    #[error(
        "{path}: module `{module}` uses hotpack ABI {found}, this host uses ABI {expected}; {fix}",
        fix = abi_fix(*.expected, *.found)
    )]
    AbiMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// The module's name (as far as readable).
        module: String,
        /// This host's ABI version.
        expected: u32,
        /// The module's.
        found: u32,
    },
    /// The module was built by another rustc (Rust has no stable ABI).
    #[error(
        "{path}: module `{module}` was built by `{found}`, this host by `{expected}`; rebuild the module with the host's compiler (a rust-toolchain.toml naming the same version in both crates keeps them together)"
    )]
    RustcMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// The module's name.
        module: String,
        /// This host's rustc.
        expected: String,
        /// The module's.
        found: String,
    },
    /// The module was built for another target triple.
    #[error("{path}: module `{module}` was built for `{found}`, this host is `{expected}`")]
    TargetMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// The module's name.
        module: String,
        /// This host's target.
        expected: String,
        /// The module's.
        found: String,
    },
    /// The module was built with `panic = "abort"`: its first panic would abort the host.
    #[error(
        "{path}: module `{module}` was built with panic = \"abort\", so its first panic would kill the host; build it with `panic = \"unwind\"` (set `[profile.release] panic = \"unwind\"` in the workspace's Cargo.toml, or drop `-C panic=abort`)"
    )]
    PanicAbort {
        /// Where the module came from.
        path: PathBuf,
        /// The module's name.
        module: String,
    },
    /// A descriptor field holds an invalid value.
    #[error("{path}: descriptor field `{field}` is invalid: {fault}")]
    BadDescriptor {
        /// Where the module came from.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        fault: DescriptorFault,
    },
    /// The module does not provide the interface asked for.
    #[error("{path}: module `{module}` provides no interface `{interface}`")]
    InterfaceMissing {
        /// Where the module came from.
        path: PathBuf,
        /// The module.
        module: String,
        /// The interface asked for.
        interface: &'static str,
    },
    /// The module provides the interface with another signature.
    #[error(
        "{path}: module `{module}` provides `{interface}` with id {found:016x} ({found_size} bytes), the host expects id {expected:016x} ({expected_size} bytes): the declarations differ"
    )]
    InterfaceMismatch {
        /// Where the module came from.
        path: PathBuf,
        /// The module.
        module: String,
        /// The interface.
        interface: &'static str,
        /// The host's id.
        expected: u64,
        /// The module's id.
        found: u64,
        /// The host's table size.
        expected_size: usize,
        /// The module's table size.
        found_size: usize,
    },
    /// The init hook returned an error.
    #[error("{path}: init of module `{module}` failed: {}", .error.message())]
    InitFailed {
        /// Where the module came from.
        path: PathBuf,
        /// The module.
        module: String,
        /// What the hook returned (its message is the module's own text). Not a `source`:
        /// the message above already quotes it.
        error: hotpack_abi::CallError,
    },
    /// The init hook panicked (caught inside the module).
    #[error("{path}: init of module `{module}` panicked: {}", .error.message())]
    InitPanicked {
        /// Where the module came from.
        path: PathBuf,
        /// The module.
        module: String,
        /// The caught panic (its message is the module's own text). Not a `source`: the
        /// message above already quotes it.
        error: hotpack_abi::CallError,
    },
}

/// Why a file is not a shared library this host can load (checked on its bytes, before
/// the dynamic linker sees them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElfFault {
    /// Not a regular file (a directory, a device, a socket).
    #[error("not a regular file")]
    NotRegularFile,
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The file does not start with `\x7fELF`.
    #[error("no ELF magic at the start of the file")]
    NoMagic,
    /// An ELF file that is not a shared object (an executable, a relocatable object).
    #[error("ELF type {e_type} is not a shared object (ET_DYN)")]
    NotSharedObject {
        /// The `e_type` found.
        e_type: u16,
    },
    /// Program header entries smaller than an ELF64 program header.
    #[error("program header entries are too small")]
    ProgramHeadersTooSmall,
}

/// What is wrong with a field of a module's descriptor ([`LoadError::BadDescriptor`] names
/// the field).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorFault {
    /// A string field is not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// The descriptor's address is not aligned for a descriptor.
    #[error("address {address:#x} is not aligned for a descriptor")]
    Misaligned {
        /// The address.
        address: usize,
    },
    /// The module name breaks the name rule.
    #[error("{0}")]
    Name(#[source] hotpack_util::name::NameError),
    /// `panic_strategy` is neither unwind nor abort.
    #[error("unknown panic strategy {value}")]
    UnknownPanicStrategy {
        /// The value found.
        value: u32,
    },
    /// The version is not a semantic version.
    #[error("`{version}` is not semver: {source}")]
    NotSemver {
        /// The text found.
        version: String,
        /// The semver crate's error.
        #[source]
        source: semver::Error,
    },
    /// An array pointer is misaligned, or its length is out of range.
    #[error("array pointer is misaligned or its length is out of range")]
    BadArray,
    /// An interface's function table is null.
    #[error("null table for `{interface}`")]
    NullTable {
        /// The interface.
        interface: String,
    },
    /// An interface is listed twice.
    #[error("`{name}` listed twice")]
    ListedTwice {
        /// The interface.
        name: String,
    },
    /// A required interface's slot is null or misaligned.
    #[error("null or misaligned slot for `{interface}`")]
    BadSlot {
        /// The interface.
        interface: String,
    },
    /// The panic counter is null or misaligned.
    #[error("null or misaligned panic counter")]
    BadPanicCounter,
    /// A handler name is empty or appears twice.
    #[error("empty or duplicate handler name `{name}`")]
    BadHandlerName {
        /// The name.
        name: String,
    },
}

/// What to do about an ABI mismatch: which side to rebuild or upgrade.
fn abi_fix(host: u32, module: u32) -> String {
    if module > host {
        format!(
            "the module is newer than this host: upgrade the host to a hotpack with ABI {module}, or rebuild the module \
             against the host's hotpack-abi (ABI {host})"
        )
    } else {
        format!(
            "rebuild the module against this host's hotpack-abi (ABI {host}: the hotpack-abi version the host was built \
             with) and pack it again"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptor exhaustion behind a failed materialization is in the one-line message
    /// (it was only in `source()`, and a refusal printed as `to_string()` lost it).
    #[test]
    fn a_materialize_refusal_names_its_cause() {
        let emfile = std::io::Error::from_raw_os_error(24);
        let object = PathBuf::from("/cache/objects/x.so");
        let error = LoadError::Materialize {
            path: PathBuf::from("/plugins/lib.so"),
            object: object.clone(),
            source: hotpack_util::fs::FsError::Io { path: object, op: "create a temporary file", source: emfile },
        };
        let text = error.to_string();
        assert!(text.contains("could not materialize") && text.contains("Too many open files"), "{text}");
    }

    /// An ABI mismatch says which side to rebuild or upgrade.
    #[test]
    fn an_abi_mismatch_names_the_fix() {
        let newer =
            LoadError::AbiMismatch { path: "m.so".into(), module: "m".into(), expected: 2, found: 3 }.to_string();
        assert!(newer.contains("upgrade the host") && newer.contains("ABI 3"), "{newer}");
        let older =
            LoadError::AbiMismatch { path: "m.so".into(), module: "m".into(), expected: 2, found: 1 }.to_string();
        assert!(older.contains("rebuild the module against this host's hotpack-abi (ABI 2"), "{older}");
    }
}
