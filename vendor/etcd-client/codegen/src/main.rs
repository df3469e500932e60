//! Generates etcd-client's gRPC code: `etcd-client-codegen PROTO_ROOT OUT_DIR` (what upstream's
//! build.rs did at every build; here once, by `cargo xtask etcd-proto`).

use std::path::PathBuf;

/// The protos upstream's build.rs compiled (the imports they name come along).
const PROTOS: [&str; 5] = [
    "etcd/api/authpb/auth.proto",
    "etcd/api/etcdserverpb/rpc.proto",
    "etcd/api/mvccpb/kv.proto",
    "etcd/server/etcdserver/api/v3election/v3electionpb/v3election.proto",
    "etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(root), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: etcd-client-codegen PROTO_ROOT OUT_DIR".into());
    };
    let root = PathBuf::from(root);
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    tonic_prost_build::configure()
        .build_server(false)
        .out_dir(PathBuf::from(out))
        .compile_protos(&protos, &[root])?;
    Ok(())
}
