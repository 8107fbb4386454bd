use std::path::Path;

use anyhow::{Context, anyhow};
use shared::domain::{Event, EventsMessage};

use crate::{CliResult, Failure, backend};

/// The file holds an array of events or `{"events": [...]}`.
fn read_events(file: &Path) -> Result<Vec<Event>, Failure> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {}", file.display()))
        .map_err(Failure::Usage)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", file.display()))
        .map_err(Failure::Usage)?;
    let list = match value {
        serde_json::Value::Array(_) => value,
        serde_json::Value::Object(mut map) => map.remove("events").ok_or_else(|| {
            Failure::Usage(anyhow!(
                "{}: expected an array or {{\"events\": [...]}}",
                file.display()
            ))
        })?,
        _ => {
            return Err(Failure::Usage(anyhow!(
                "{}: expected an array or {{\"events\": [...]}}",
                file.display()
            )));
        }
    };
    serde_path_to_error::deserialize::<_, Vec<Event>>(list).map_err(|e| {
        Failure::Usage(anyhow!(
            "{}: invalid event at events{}: {}",
            file.display(),
            prefix_path(&e.path().to_string()),
            e.inner()
        ))
    })
}

fn prefix_path(path: &str) -> String {
    if path.starts_with('[') {
        path.to_owned()
    } else {
        format!(".{path}")
    }
}

pub async fn send(config_path: &Path, workspace: &str, file: &Path) -> CliResult {
    let config = backend::load_config(config_path)?;
    let events = read_events(file)?;
    let services = backend::open_existing(&config).await?;
    if services
        .workspaces
        .get_workspace(workspace)
        .await?
        .is_none()
    {
        return Err(Failure::Usage(anyhow!(
            "workspace {workspace:?} is not in the backend (run `engage-bridge workspaces apply`)"
        )));
    }
    let messages = EventsMessage::pack(workspace, &events).map_err(|e| Failure::Usage(e.into()))?;
    let count = messages.len();
    services.queues.events.send_encoded(messages).await?;
    println!(
        "{}",
        serde_json::json!({"status": "success", "events": events.len(), "messages": count})
    );
    Ok(())
}
