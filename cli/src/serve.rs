//! `engage-bridge serve`: the routes of interface §3 over axum, plus the queue
//! consumers, on one process. Both call exactly the handlers the Lambda
//! functions call.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use axum::extract::State;
use shared::api::{self, ApiError, MAX_BODY_BYTES, RouteSet};
use shared::config::{ConfigFile, Secret, WorkspaceConfig};
use shared::domain::ids::random_id;
use shared::handlers::QueueHandler;
use shared::runtime::Services;
use shared::runtime::consumer::{self, ConsumerOptions};
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
        // The one secret engage-bridge ever prints (interface §6).
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

    let consumers: Vec<_> = QueueHandler::ALL
        .iter()
        .map(|&handler| {
            let services = services.clone();
            let shutdown = shutdown_rx.clone();
            let queue = handler.queue(&services);
            tokio::spawn(async move {
                let options = ConsumerOptions {
                    heartbeat: handler.sets_no_visibility(),
                    ..ConsumerOptions::default()
                };
                consumer::run(handler.name(), queue, options, shutdown, |event| {
                    handler.handle(&services, event)
                })
                .await
            })
        })
        .collect();

    let app = axum::Router::new()
        .fallback(proxy)
        .with_state(services.clone());
    let mut server_shutdown = shutdown_rx.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        })
        .await
        .context("HTTP server failed")?;
    for consumer in consumers {
        let _ = consumer.await;
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

/// Every request goes to the shared router as an `http::Request<Vec<u8>>`.
async fn proxy(
    State(services): State<Services>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let too_large = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES);
    let response = if too_large {
        ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        }
        .into_response()
    } else {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => {
                let request = http::Request::from_parts(parts, bytes.to_vec());
                api::handle(&services, RouteSet::All, request).await
            }
            Err(_) => ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
            .into_response(),
        }
    };
    let (parts, body) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}
