//! Benchmark: streams. Run with `cargo bench -p engage-bridge-tests --bench streams`.

fn main() {}
