//! The bridge from a loaded module's descriptor to the archive's `PackSpec`.

use hotpack_loader::Module;

/// The [`PackSpec`](hotpack_archive::PackSpec) for a loaded module: name, version,
/// interfaces, handlers and hooks come from the module's own descriptor (stated once, in
/// code), the target from the host. `library_name` is the file name inside the bundle.
pub fn pack_spec(
    module: &Module,
    library_name: &str,
    library: Vec<u8>,
    resources: Vec<(String, Vec<u8>)>,
) -> hotpack_archive::PackSpec {
    let info = module.info();
    hotpack_archive::PackSpec {
        meta: hotpack_archive::ModuleMeta {
            name: info.name.clone(),
            version: info.version.clone(),
            abi_version: info.abi_version,
            rustc: info.rustc.clone(),
            interfaces: info
                .interfaces
                .iter()
                .map(|i| hotpack_archive::InterfaceMeta { name: i.name.clone(), id: i.id })
                .collect(),
            handlers: info.handlers.clone(),
            hooks: hotpack_archive::Hooks { init: info.has_init, state: info.has_state },
        },
        target: info.target.clone(),
        library_name: library_name.to_owned(),
        library,
        resources,
    }
}
