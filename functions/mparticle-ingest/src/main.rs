//! The `mparticle-ingest` Lambda function: its row of the topology table
//! (shared/src/topology.rs), served by the shared Lambda edge.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run(shared::topology::Function::MparticleIngest).await
}
