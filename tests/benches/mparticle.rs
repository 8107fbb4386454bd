//! Benchmark: mparticle. Run with `cargo bench -p engage-bridge-tests --bench mparticle`.

fn main() {}
