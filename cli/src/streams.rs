//! `streams test` (docs/interface/cli.md): one "Email Sent" test event
//! straight to a stream, exit 0 only if the endpoint accepted it; `streams
//! pause|resume`: the operator's state of a stream, in the store.

use std::path::Path;

use anyhow::anyhow;
use shared::config::SinkConfig;
use shared::domain::ids::request_id;
use shared::outbound::HttpClient;
use shared::streams::control::{self, ControlError};
use shared::streams::deliver::deliver_to_stream;
use shared::streams::enrich::Profiles;
use shared::streams::sink::amplitude::endpoint;

use crate::{CliResult, Failure, backend};

pub async fn test(config_path: &Path, workspace_id: &str, stream_name: &str) -> CliResult {
    let config = backend::load_config(config_path)?;
    let workspace = config
        .workspaces
        .iter()
        .find(|w| w.id == workspace_id)
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "no workspace {workspace_id:?} in {}",
                config_path.display()
            ))
        })?;
    let stream = workspace
        .streams
        .iter()
        .find(|s| s.name == stream_name)
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "workspace {workspace_id:?} has no stream {stream_name:?}"
            ))
        })?;
    let http = HttpClient::new(config.private_destinations());
    // A destination the streams may not reach is said so before sending.
    let url = match &stream.sink {
        SinkConfig::Webhook(webhook) => webhook.url.as_str(),
        SinkConfig::Amplitude(amplitude) => endpoint(amplitude),
    };
    if let Err(why) = http.check(url).await {
        return Err(Failure::Runtime(anyhow!(
            "stream {stream_name:?} cannot be tested: {why}"
        )));
    }
    let event = shared::streams::test_event::event();
    let events = vec![event.clone()];
    let id = request_id(&workspace.id, &stream.name, &events);
    let outcome =
        deliver_to_stream(&http, workspace, stream, &Profiles::default(), &id, &events).await;
    if outcome.delivered == 1 {
        println!(
            "{}",
            serde_json::json!({"status": "success", "stream": stream.name, "event_uuid": event.event_uuid})
        );
        return Ok(());
    }
    let why = outcome
        .retry
        .first()
        .map(|r| r.attempt.error.clone())
        .or_else(|| outcome.dead.first().map(|d| d.reason.to_string()))
        .unwrap_or_else(|| "the event was not sent (no user_id or device_id for Amplitude)".into());
    Err(Failure::Runtime(anyhow!(
        "stream {stream_name:?} refused the test event: {why}"
    )))
}

/// What `streams pause|resume` does.
#[derive(Clone, Copy)]
pub enum Control {
    Pause,
    Resume,
}

/// Pauses or resumes a stream in the configured store (which must exist);
/// prints the stream's status as one JSON line.
pub async fn control(
    config_path: &Path,
    workspace_id: &str,
    stream_name: &str,
    what: Control,
) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    let done = match what {
        Control::Pause => control::pause(&services, workspace_id, stream_name).await,
        Control::Resume => control::resume(&services, workspace_id, stream_name).await,
    };
    let status = done.map_err(|e| match e {
        ControlError::Store(e) => Failure::Runtime(e.into()),
        unknown => Failure::Usage(unknown.into()),
    })?;
    println!("{}", serde_json::to_string(&status)?);
    if matches!(what, Control::Resume) && !status.enabled {
        eprintln!(
            "note: stream {stream_name:?} stays paused: it is configured enabled = false \
             (enable it in the config file and run `engage-bridge workspaces apply`)"
        );
    }
    Ok(())
}
