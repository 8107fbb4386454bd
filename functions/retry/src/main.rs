//! The `retry` Lambda function: its row of the topology table
//! (shared/src/topology.rs), served by the shared Lambda edge.

/// Ingest and dispatch are allocation-bound (JSON trees, attribute maps):
/// mimalloc takes a third less time than glibc's allocator
/// (BENCHMARKS.md "mParticle ingest").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: at the template's 256 MB a function gets a fraction of one
/// vCPU, so worker threads only cost start-up time and memory
/// (BENCHMARKS.md "Cold start and sizes": init −0.5 ms, CPU per warm
/// invocation −10 to −15 %). Blocking work still has tokio's blocking pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run(shared::topology::Function::Retry).await
}
