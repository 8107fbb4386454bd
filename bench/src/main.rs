//! engage-bridge-bench: the load harness (BENCHMARKS.md).
//!
//! - `e2e`: a load generator (keep-alive connections, flat out or a fixed
//!   open-loop rate) → `engage-bridge serve` → a webhook stream → a local
//!   receiver, and, in the same run, the ceiling: the same generator
//!   against a minimal hyper echo server.
//! - `coldstart`: Lambda init time of each function beside a hello-world
//!   `lambda_runtime` binary, under an emulator of the Lambda Runtime API.
//! - `sizes`: the size of each Lambda binary.
//!
//! Speed lives here, not in tests: nothing here asserts a timing.

mod coldstart;
mod e2e;
mod echo;
mod generator;
mod http;
mod invocations;
mod locate;
mod moto;
mod procfs;
mod receiver;
mod runtime_api;
mod serve;
mod sizes;
mod stats;
mod workload;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "engage-bridge-bench",
    about = "engage-bridge load harness (BENCHMARKS.md)"
)]
struct Cli {
    /// Worker threads of the harness's runtime (generator and receiver).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Throughput end to end, ack latency and the loopback ceiling.
    E2e(e2e::Args),
    /// Lambda init time of each function beside a hello-world function.
    Coldstart(coldstart::Args),
    /// Size of each Lambda binary.
    Sizes(sizes::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    match cli.command {
        Command::E2e(args) => runtime.block_on(e2e::run(args)),
        Command::Coldstart(args) => runtime.block_on(coldstart::run(args)),
        Command::Sizes(args) => sizes::run(args),
    }
}
