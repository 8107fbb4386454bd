//! The `stream-dispatch` Lambda function: its row of the topology table
//! (shared/src/topology.rs), served by the shared Lambda edge.

/// Ingest and dispatch are allocation-bound (JSON trees, attribute maps):
/// mimalloc takes a third less time than glibc's allocator
/// (BENCHMARKS.md "mParticle ingest").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run(shared::topology::Function::StreamDispatch).await
}
