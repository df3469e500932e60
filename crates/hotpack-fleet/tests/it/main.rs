//! hotpack-fleet against real servers: etcd and an OCI registry on loopback (started by
//! `hotpack_testkit::servers`; the tests fail when they cannot start), five in-process hosts each
//! with its own `hotpack::Runtime`, real cdylibs packed into real bundles.

mod analysis;
mod hostile;
mod scenarios;
mod security;
mod support;
