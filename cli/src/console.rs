//! `engage-bridge console` (docs/interface/console.md): the console alone,
//! on the operator's machine, against the configured backend (on AWS with
//! the operator's own credentials: no public admin surface).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use engage_bridge_console::{Console, ConsoleOptions, LiveSource};

use crate::serve::{http_server, wait_for_signal};
use crate::{CliResult, Failure, backend};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

pub async fn run(config_path: &Path, listen: Option<String>) -> CliResult {
    let config = backend::load_config(config_path)?;
    let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Failure::Usage(anyhow!("--listen: not a socket address: {listen:?}")))?;
    let services = backend::open_existing(&config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let options =
        ConsoleOptions::from_config(&config, !local.ip().is_loopback(), LiveSource::DeliveryLog);
    let app = engage_bridge_console::router(Console::new(services, options));
    println!("engage-bridge console on http://{local}/console");
    http_server::serve(listener, app, wait_for_signal(), Duration::from_secs(5)).await;
    Ok(())
}
