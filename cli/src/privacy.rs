//! `users delete|export`, `suppressions list|lift` and `dlq purge`
//! (docs/interface/cli.md, docs/interface/privacy.md).

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use shared::domain::page::{MAX_LIMIT, PageRequest};
use shared::domain::time::{now_ms, rfc3339_ms};
use shared::privacy::request::RequestStatus;
use shared::privacy::{self, access, retention, suppression};
use shared::queue::consumer::{self, ConsumerOptions};
use shared::runtime::Services;
use shared::topology::{CONSUMERS, QueueName};
use tokio::sync::watch;

use crate::{CliResult, Failure, backend};

/// How long `users delete` waits for the erasure to complete.
const ERASURE_WAIT: Duration = Duration::from_secs(60);

async fn open(config_path: &Path, workspace: &str) -> Result<Services, Failure> {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    if services.workspaces.get(workspace).await?.is_none() {
        return Err(Failure::Usage(anyhow!(
            "no workspace {workspace:?} in the store"
        )));
    }
    Ok(services)
}

/// Erases `uid`, then works the privacy queue (beside `serve` or the
/// Lambda consumer, if they run) until the erasure completes.
pub async fn delete(config_path: &Path, workspace: &str, uid: &str) -> CliResult {
    let services = open(config_path, workspace).await?;
    let request = privacy::erase_user(&services, workspace, uid)
        .await
        .map_err(|e| Failure::Usage(e.into()))?;
    eprintln!("erasure {} accepted; carrying it out", request.id);
    let (stop, stopped) = watch::channel(false);
    let worker = {
        let services = services.clone();
        let consumer = CONSUMERS
            .into_iter()
            .find(|c| c.queue == QueueName::Privacy)
            .expect("the privacy queue has a consumer");
        let queue = services.queues.raw(QueueName::Privacy).clone();
        tokio::spawn(async move {
            let options = ConsumerOptions {
                batch_size: consumer.batch_size,
                heartbeat: true,
                in_flight: consumer.embedded_in_flight,
                ..ConsumerOptions::default()
            };
            let handler = shared::consumers::handler(services, consumer);
            consumer::run("privacy", queue, options, stopped, handler).await
        })
    };
    let deadline = tokio::time::Instant::now() + ERASURE_WAIT;
    let status = loop {
        let now = privacy::find_request(&services, workspace, &request.id).await?;
        if now.status.is_final() || tokio::time::Instant::now() >= deadline {
            break now.status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(true);
    let _ = worker.await;
    println!(
        "{}",
        serde_json::json!({"status": "success", "request_id": request.id,
                           "request_status": status})
    );
    if status != RequestStatus::Completed {
        return Err(Failure::Runtime(anyhow!(
            "the erasure is {} after {} s; it completes when the privacy queue is consumed \
             (serve, or the mparticle-ingest function)",
            status.as_str(),
            ERASURE_WAIT.as_secs()
        )));
    }
    Ok(())
}

/// Prints everything held for `uid` as one JSON document.
pub async fn export(config_path: &Path, workspace: &str, uid: &str) -> CliResult {
    let services = open(config_path, workspace).await?;
    privacy::check_uid(uid).map_err(|e| Failure::Usage(e.into()))?;
    let export = access::export_user(&services, workspace, uid)
        .await?
        .ok_or_else(|| Failure::Runtime(anyhow!("nothing is held for this uid")))?;
    let mut document = serde_json::to_value(export)?;
    document["status"] = "success".into();
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

/// One line per suppression: its keyed hash and since when (never a uid:
/// none is kept).
pub async fn list(config_path: &Path, workspace: &str) -> CliResult {
    let services = open(config_path, workspace).await?;
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let found = services
            .privacy
            .suppressions
            .list_suppressions(workspace, &page)
            .await?;
        for s in &found.items {
            println!(
                "{}",
                serde_json::json!({"hash": s.hash, "since": rfc3339_ms(s.since_ms)})
            );
        }
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => return Ok(()),
        }
    }
}

/// Lifts `uid`'s suppression (exit 1 when it was not suppressed).
pub async fn lift(config_path: &Path, workspace: &str, uid: &str) -> CliResult {
    let services = open(config_path, workspace).await?;
    privacy::check_uid(uid).map_err(|e| Failure::Usage(e.into()))?;
    if !suppression::lift(&services, workspace, uid).await? {
        return Err(Failure::Runtime(anyhow!("this uid is not suppressed")));
    }
    println!(
        "{}",
        serde_json::json!({"status": "success", "lifted": true})
    );
    Ok(())
}

/// `dlq purge --older-than DAYS [--workspace ID] [--dry-run]`.
pub async fn purge(
    config_path: &Path,
    older_than_days: u32,
    workspace: Option<&str>,
    dry_run: bool,
) -> CliResult {
    let config = backend::load_config(config_path)?;
    let services = backend::open_existing(&config).await?;
    let cutoff = now_ms() - i64::from(older_than_days) * 24 * 3600 * 1000;
    let purged = retention::purge_dead_letters(&services, cutoff, workspace, dry_run).await?;
    if dry_run {
        for letter in &purged {
            println!("{}", serde_json::to_string(letter)?);
        }
        println!(
            "{}",
            serde_json::json!({"status": "success", "dry_run": true, "would_purge": purged.len()})
        );
    } else {
        println!(
            "{}",
            serde_json::json!({"status": "success", "purged": purged.len()})
        );
    }
    Ok(())
}
