//! A host: packs the built module into a bundle, deploys it, calls its byte handler and its
//! typed interface.
//!
//! ```sh
//! cargo build                      # the module and this host
//! cargo run -p host -- target/debug/libshout_module.so
//! ```

use std::path::PathBuf;

use shout_api::Shout;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let library: PathBuf = std::env::args_os().nth(1).map(PathBuf::from).ok_or("usage: host LIBSHOUT_MODULE.so")?;
    let dir = tempfile_dir()?;

    // A bundle: the library, its manifest and the blake3 of every entry.
    let bundle = dir.join("shout.zip");
    hotpack::pack_library(&library, &bundle, vec![])?;

    // A runtime with its own cache; deploy runs the gates (verify, load, ABI, init).
    let runtime = hotpack::Runtime::builder().cache_dir(dir.join("cache")).build()?;
    for deployed in runtime.deploy(&bundle)? {
        println!("deployed {} {}", deployed.name, deployed.version);
    }

    // A byte handler, by name.
    let out = runtime.call("shout", "run", b"hello")?;
    println!("run -> {}", String::from_utf8_lossy(&out));

    // The typed interface, through a hot handle (it follows future swaps).
    let hot = runtime.hot::<Shout>("shout")?;
    let shout = hot.get();
    println!("volume {}, marks(3) = {}", shout.volume()?, shout.marks(3)?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A fresh private directory under the system's temp dir.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("shout-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
