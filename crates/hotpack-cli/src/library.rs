//! Plain module libraries given where a bundle is expected (`inspect`, `verify`): recognised
//! by their ELF magic, read as data through their descriptor section, never run.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use hotpack::loader::StaticDescriptor;

/// Whether the file at `path` starts with the ELF magic (a library, not a bundle).
pub(crate) fn is_library(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// The descriptor of the library at `path`, read from its bytes (nothing is run).
pub(crate) fn describe(path: &Path) -> anyhow::Result<StaticDescriptor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", crate::log::path(path)))?;
    hotpack::loader::describe(&bytes).with_context(|| format!("cannot inspect {}", crate::log::path(path)))
}
