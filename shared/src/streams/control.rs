//! Pausing, resuming and disabling streams (docs/interface/streams.md
//! "Pause, resume and 410 Gone"): the operator's state lives in the store
//! (`StreamStateStore`), apart from the workspace configuration. A waiting
//! stream's batches are held on the retry queue under the stream's key
//! (`hold_key`); a resume makes them due at once where the queue can be
//! woken (the embedded one), else they are sent at their next look, within
//! `outbound::gate::PAUSED_WAIT`.
//!
//! Prompt resume without a race: a resume writes the state, then wakes the
//! held batches; a batch held on a stale view of the state is, once held,
//! checked against a fresh read, and woken if the stream runs again. Either
//! the wake finds the batch, or the fresh read sees the resume.

use serde::Serialize;

use super::follow_up::FollowUps;
use crate::config::source::display_url;
use crate::config::{SinkConfig, StreamConfig, WorkspaceConfig};
use crate::domain::stream_state::hold_key;
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::domain::{Disabled, Hold, StateChange, StreamState};
use crate::observability::metrics;
use crate::ports::{StoreError, StoreResult};
use crate::runtime::Services;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no workspace {0:?} in the store (`workspaces apply` loads the config file's)")]
    UnknownWorkspace(String),
    #[error("workspace {workspace:?} has no stream {stream:?}")]
    UnknownStream { workspace: String, stream: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a stream sends, as the console and `streams pause|resume` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Paused,
    Disabled,
}

/// A stream's status and what it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamStatus {
    pub workspace_id: String,
    pub stream: String,
    pub status: Status,
    /// `enabled` in the configuration.
    pub enabled: bool,
    /// Paused by an operator: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// Disabled after a `410 Gone`: when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

impl StreamStatus {
    fn of(workspace: &str, stream: &StreamConfig, state: StreamState) -> Self {
        let status = match Hold::of(stream.enabled, Some(&state)) {
            None => Status::Active,
            Some(Hold::Gone) => Status::Disabled,
            Some(Hold::Config | Hold::Operator) => Status::Paused,
        };
        let (disabled_at, disabled_reason) = match state.disabled {
            Some(d) => (Some(d.at), Some(d.reason)),
            None => (None, None),
        };
        Self {
            workspace_id: workspace.to_owned(),
            stream: stream.name.clone(),
            status,
            enabled: stream.enabled,
            paused_at: state.paused_at,
            disabled_at,
            disabled_reason,
        }
    }
}

/// The stream's configuration and state, read now.
async fn fresh(
    services: &Services,
    workspace: &str,
    stream: &str,
) -> Result<(StreamConfig, StreamState), ControlError> {
    let (config, states) = services
        .fresh_workspace(workspace)
        .await?
        .ok_or_else(|| ControlError::UnknownWorkspace(workspace.to_owned()))?;
    let stream_config = config
        .streams
        .iter()
        .find(|s| s.name == stream)
        .cloned()
        .ok_or_else(|| ControlError::UnknownStream {
            workspace: workspace.to_owned(),
            stream: stream.to_owned(),
        })?;
    Ok((
        stream_config,
        states.get(stream).cloned().unwrap_or_default(),
    ))
}

/// A stream's status, read now.
pub async fn state(
    services: &Services,
    workspace: &str,
    stream: &str,
) -> Result<StreamStatus, ControlError> {
    let (config, state) = fresh(services, workspace, stream).await?;
    Ok(StreamStatus::of(workspace, &config, state))
}

/// Pauses a stream: its batches wait on the retry queue, without an
/// attempt counted, until it is resumed.
pub async fn pause(
    services: &Services,
    workspace: &str,
    stream: &str,
) -> Result<StreamStatus, ControlError> {
    change(
        services,
        workspace,
        stream,
        StateChange::Pause {
            at: rfc3339_ms(now_ms()),
        },
    )
    .await
}

/// Resumes a paused or disabled stream; its waiting batches are sent at
/// once (the embedded queue) or at their next look (SQS, within
/// `outbound::gate::PAUSED_WAIT`). A stream configured `enabled = false` stays paused.
pub async fn resume(
    services: &Services,
    workspace: &str,
    stream: &str,
) -> Result<StreamStatus, ControlError> {
    let status = change(services, workspace, stream, StateChange::Resume).await?;
    services
        .queues
        .retry
        .wake(&hold_key(workspace, stream))
        .await?;
    Ok(status)
}

/// Makes the waiting batches of these (workspace, stream)s due now, where
/// the queue can be woken (streams enabled in the configuration).
pub async fn wake(services: &Services, streams: &[(String, String)]) -> StoreResult<()> {
    for (workspace, stream) in streams {
        services
            .queues
            .retry
            .wake(&hold_key(workspace, stream))
            .await?;
    }
    Ok(())
}

async fn change(
    services: &Services,
    workspace: &str,
    stream: &str,
    change: StateChange,
) -> Result<StreamStatus, ControlError> {
    // The stream must exist (an operator's typo is an error, not a record).
    fresh(services, workspace, stream).await?;
    let before = services
        .stream_states
        .change_stream_state(workspace, stream, &change)
        .await?;
    tracing::info!(
        workspace_id = workspace,
        stream,
        change = ?ChangeName(&change),
        was = ?Hold::of(true, Some(&before)),
        "stream state changed"
    );
    state(services, workspace, stream).await
}

/// The change's name for the log line.
struct ChangeName<'a>(&'a StateChange);

impl std::fmt::Debug for ChangeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            StateChange::Pause { .. } => "pause",
            StateChange::Disable(_) => "disable",
            StateChange::Resume => "resume",
        })
    }
}

/// Disables a stream whose endpoint answered `410 Gone` (Standard
/// Webhooks' advice): its batches wait as when paused until an operator
/// resumes it. The first disable is logged at ERROR and counted
/// (`engage_bridge_streams_disabled_total`); this process sees it at once.
pub async fn disable(
    services: &Services,
    workspace: &str,
    stream: &str,
    reason: String,
) -> StoreResult<()> {
    let change = StateChange::Disable(Disabled {
        at: rfc3339_ms(now_ms()),
        reason: reason.clone(),
    });
    let before = services
        .stream_states
        .change_stream_state(workspace, stream, &change)
        .await?;
    services.fresh_stream_states(workspace).await?;
    if before.disabled.is_none() {
        tracing::error!(
            workspace_id = workspace,
            stream,
            reason,
            "stream disabled: its endpoint answered 410 Gone; its batches wait on the retry \
             queue until it is resumed (engage-bridge streams resume, or the console)"
        );
        metrics::stream_disabled(workspace, stream);
    }
    Ok(())
}

/// Why `stream` waits, if it does, as this process last read its state.
pub async fn hold(
    services: &Services,
    workspace: &str,
    stream: &StreamConfig,
) -> StoreResult<Option<Hold>> {
    if !stream.enabled {
        return Ok(Some(Hold::Config));
    }
    let states = services.cached_stream_states(workspace).await?;
    Ok(Hold::of(true, states.get(&stream.name)))
}

/// Before a held batch is looked at (the retry queue): if this process's
/// view holds the stream, reads its configuration and state again, so a
/// resume is seen now rather than after the cache period.
pub async fn refresh_if_held(
    services: &Services,
    workspace: &str,
    stream: &str,
) -> StoreResult<()> {
    let Some(config) = services.workspaces.get(workspace).await? else {
        return Ok(());
    };
    let Some(stream) = config.streams.iter().find(|s| s.name == stream) else {
        return Ok(());
    };
    if hold(services, workspace, stream).await?.is_some() {
        services.fresh_workspace(workspace).await?;
    }
    Ok(())
}

/// Carries out follow-ups: disables first, then `FollowUps::carry_out`; then, where the queue
/// can be woken, wakes the batches just held for a stream that a fresh read
/// finds running: it was resumed while they were being held.
pub async fn carry_out(services: &Services, follow_ups: FollowUps) -> StoreResult<()> {
    // Disabled before the batches are held, so a wake below sees it.
    for (workspace, stream) in follow_ups.disabled_streams() {
        disable_gone(services, &workspace, &stream).await;
    }
    let held = follow_ups.held_streams();
    let retry = &services.queues.retry;
    follow_ups
        .carry_out(retry, services.dead_letters.as_ref())
        .await?;
    if !retry.can_wake() {
        return Ok(());
    }
    for (workspace, stream) in held {
        if runs_now(services, &workspace, &stream).await? {
            retry.wake(&hold_key(&workspace, &stream)).await?;
        }
    }
    Ok(())
}

/// A stream whose endpoint answered `410 Gone` is disabled; a failure to
/// record it is logged (its batches wait all the same, and the next 410
/// tries again).
async fn disable_gone(services: &Services, workspace: &str, stream: &str) {
    let endpoint = match services.workspaces.get(workspace).await {
        Ok(Some(config)) => config
            .streams
            .iter()
            .find(|s| s.name == stream)
            .and_then(|s| match &s.sink {
                SinkConfig::Webhook(webhook) => reqwest::Url::parse(&webhook.url).ok(),
                SinkConfig::Amplitude(_) => None,
            })
            .map(|url| display_url(&url)),
        _ => None,
    };
    let endpoint = endpoint.unwrap_or_else(|| "the endpoint".to_owned());
    let reason = format!("{endpoint} answered 410 Gone");
    if let Err(e) = disable(services, workspace, stream, reason).await {
        tracing::warn!(workspace_id = %workspace, stream = %stream, error = %e,
            "could not record the stream as disabled");
    }
}

/// Whether a fresh read finds the stream configured and not held.
async fn runs_now(services: &Services, workspace: &str, stream: &str) -> StoreResult<bool> {
    let Some((config, states)) = services.fresh_workspace(workspace).await? else {
        return Ok(false);
    };
    Ok(config
        .streams
        .iter()
        .find(|s| s.name == stream)
        .is_some_and(|s| Hold::of(s.enabled, states.get(stream)).is_none()))
}

/// The workspaces' streams that wait, with why (`dlq list`'s note).
pub async fn held_streams(
    services: &Services,
    workspace: &WorkspaceConfig,
) -> StoreResult<Vec<(String, Hold)>> {
    let states = services.fresh_stream_states(&workspace.id).await?;
    Ok(workspace
        .streams
        .iter()
        .filter_map(|s| Some((s.name.clone(), Hold::of(s.enabled, states.get(&s.name))?)))
        .collect())
}
