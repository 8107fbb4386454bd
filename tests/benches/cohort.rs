//! Benchmark: cohort. Run with `cargo bench -p engage-bridge-tests --bench cohort`.

fn main() {}
