//! The `mparticle-ingest` Lambda function: wires the AWS clients and hands every
//! invocation to the shared handlers.

use shared::lambda::{Function, serve};
use shared::runtime::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let services = Services::aws_from_env().await?;
    serve(services, Function::MparticleIngest).await
}
