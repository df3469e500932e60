//! A sink cannot outlive the buffer it writes into.

fn main() {
    let sink = {
        let mut buf = Vec::new();
        hotpack_abi::Sink::for_vec(&mut buf)
    };
    drop(sink);
}
