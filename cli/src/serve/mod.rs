//! `engage-bridge serve`: the shared router and every queue consumer of the
//! topology in one process (docs/interface/cli.md "serve"). Both call exactly
//! the handlers the Lambda functions call.

mod background;
mod demo;
mod gauges;
pub mod http_server;
mod parse_errors;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::json;
use shared::queue::consumer::{self, ConsumerOptions};
use shared::topology::CONSUMERS;
use tokio::sync::watch;

use crate::{CliResult, Failure, backend, output};

pub async fn run(config_path: Option<PathBuf>, listen: Option<String>) -> CliResult {
    let (config, demo) = match &config_path {
        Some(path) => (backend::load_config(path)?, None),
        None => {
            let (config, demo) = demo::embedded_default().map_err(Failure::Runtime)?;
            (config, Some(demo))
        }
    };
    output::init_serve(&config);
    // Before anything counts: the recorder `GET /metrics` renders.
    shared::observability::metrics::prometheus();
    let listen = listen.unwrap_or_else(|| config.server.listen.clone());
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Failure::Usage(anyhow!("--listen: not a socket address: {listen:?}")))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let mut config = config;
    if demo.is_some() {
        // The demo workspace sends to a receiver of its own, so a newcomer
        // can follow events to a receiver in the console.
        demo::add_receiver_stream(&mut config, local);
    }
    let services = backend::open(&config).await?;
    // The config's workspaces are the source of truth (`workspaces apply --prune`).
    let plan = services
        .workspaces
        .apply(&config.workspaces)
        .await
        .context("cannot load the workspaces into the store")?;
    for id in &plan.removed {
        tracing::warn!(workspace_id = %id, "workspace removed: it is no longer in the config file");
    }
    shared::streams::control::wake(&services, &plan.enabled_streams)
        .await
        .context("cannot wake the batches of the streams enabled")?;
    let url = format!("http://{local}");
    let listening = format!("engage-bridge listening on {url}");
    output::announce(&listening, &listening, json!({ "url": url }));
    let console = format!("console: {url}/console");
    output::announce(
        &console,
        &console,
        json!({ "console": format!("{url}/console") }),
    );
    if let Some(demo) = &demo {
        demo::announce(demo, &url);
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new requests; finishing in-flight work");
        let _ = shutdown_tx.send(true);
    });

    // From the signal on, the HTTP server and every consumer get `grace` to
    // finish what they have in hand.
    let grace = Duration::from_secs(u64::from(config.server.shutdown_grace_seconds));
    // Every event source of the topology, as Lambda's SQS mapping would run
    // it, on a runtime of its own (`background`).
    let background = background::runtime().context("cannot start the consumers' runtime")?;
    let consumers: Vec<_> = CONSUMERS
        .into_iter()
        .map(|c| {
            let services = services.clone();
            let shutdown = shutdown_rx.clone();
            let queue = services.queues.raw(c.queue).clone();
            background.spawn(async move {
                let options = ConsumerOptions {
                    batch_size: c.batch_size,
                    heartbeat: !c.handler_sets_visibility,
                    in_flight: c.embedded_in_flight,
                    shutdown_grace: grace,
                    ..ConsumerOptions::default()
                };
                let handler = shared::consumers::handler(services, c);
                consumer::run(c.queue.as_str(), queue, options, shutdown, handler).await
            })
        })
        .collect();
    tokio::spawn(gauges::run(services.clone(), shutdown_rx.clone()));
    // Retention sweeps and, after erasures, compaction (docs/interface/privacy.md).
    tokio::spawn(shared::privacy::retention::run_sweeper(
        services.clone(),
        shutdown_rx.clone(),
    ));

    let console = engage_bridge_console::Console::new(
        services.clone(),
        engage_bridge_console::ConsoleOptions::from_config(
            &config,
            !local.ip().is_loopback(),
            engage_bridge_console::LiveSource::Dispatch,
        ),
    );
    let mut app =
        shared::http::serve_router(services.clone()).merge(engage_bridge_console::router(console));
    if demo.is_some() {
        app = app.merge(demo::receiver());
    }
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
    // Consumers stopped receiving with the signal and release what they have
    // not finished by the deadline: nothing acknowledged is lost.
    futures::future::join_all(consumers).await;
    // What the last deliveries recorded, before the process ends; the log's
    // writer was started by a consumer, on their runtime, so it is stopped
    // only after.
    services.delivery_log.flush(Duration::from_secs(2)).await;
    background.shutdown_background();
    tracing::info!("stopped");
    Ok(())
}

pub async fn wait_for_signal() {
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
