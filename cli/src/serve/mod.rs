//! `engage-bridge serve`: the shared router and every queue consumer of the
//! topology in one process (docs/interface/cli.md "serve"). Both call exactly
//! the handlers the Lambda functions call.

mod http_server;
mod parse_errors;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use shared::config::{ConfigFile, Secret, WorkspaceConfig};
use shared::domain::ids::random_id;
use shared::queue::consumer::{self, ConsumerOptions};
use shared::topology::{CONSUMERS, Route};
use tokio::sync::watch;

use crate::{CliResult, Failure, backend};

pub async fn run(config_path: Option<PathBuf>, listen: Option<String>) -> CliResult {
    let (config, demo_secret) = match &config_path {
        Some(path) => (backend::load_config(path)?, None),
        None => embedded_default(),
    };
    let listen = listen.unwrap_or_else(|| config.server.listen.clone());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Failure::Usage(anyhow!("--listen: not a socket address: {listen:?}")))?;
    let services = backend::open(&config).await?;
    // The config's workspaces are the source of truth.
    services
        .apply_workspaces(&config.workspaces)
        .await
        .context("cannot load the workspaces into the store")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;

    println!("engage-bridge listening on http://{local}");
    if let Some(secret) = demo_secret {
        // The one secret engage-bridge ever prints (docs/interface/cli.md "serve").
        println!("demo workspace: id=demo secret={}", secret.expose());
        println!(
            "try: curl -u demo:{} http://{local}/v1/segments",
            secret.expose()
        );
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new requests; finishing in-flight work");
        let _ = shutdown_tx.send(true);
    });

    // Every event source of the topology, as Lambda's SQS mapping would run it.
    let consumers: Vec<_> = CONSUMERS
        .into_iter()
        .map(|c| {
            let services = services.clone();
            let shutdown = shutdown_rx.clone();
            let queue = services.queues.raw(c.queue).clone();
            tokio::spawn(async move {
                let options = ConsumerOptions {
                    batch_size: c.batch_size,
                    heartbeat: !c.handler_sets_visibility,
                    workers: c.embedded_workers,
                    ..ConsumerOptions::default()
                };
                consumer::run(c.queue.as_str(), queue, options, shutdown, move |event| {
                    let services = services.clone();
                    async move { shared::consumers::handle(&services, c, event).await }
                })
                .await
            })
        })
        .collect();

    let app = shared::http::router(services.clone(), Route::ALL);
    let grace = Duration::from_secs(u64::from(config.server.shutdown_grace_seconds));
    let mut server_shutdown = shutdown_rx.clone();
    http_server::serve(
        listener,
        app,
        async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        },
        grace,
    )
    .await;
    // Consumers stopped receiving with the signal; what they still handle gets
    // the rest of the grace period. Unfinished messages stay queued and come
    // back after their visibility timeout: nothing acknowledged is lost.
    let finishing = futures::future::join_all(consumers);
    if tokio::time::timeout(grace, finishing).await.is_err() {
        tracing::warn!("queue work still running at the end of the grace period stays queued");
    }
    tracing::info!("stopped");
    Ok(())
}

/// No `--config`: SQLite under ./.engage-bridge/ and a `demo` workspace
/// with a freshly generated secret.
fn embedded_default() -> (ConfigFile, Option<Secret>) {
    let secret = Secret::new(format!("{}{}", random_id(), random_id()).replace('-', ""));
    let config = ConfigFile {
        workspaces: vec![WorkspaceConfig::demo(secret.clone())],
        ..ConfigFile::default()
    };
    (config, Some(secret))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
