//! The gauges `serve` keeps (docs/interface/observability.md "Metrics"):
//! each queue's depth and the dead letters per workspace and stream, read
//! every few seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use shared::observability::metrics;
use shared::runtime::Services;
use shared::streams::dlq;
use shared::topology::QueueName;
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(5);

pub async fn run(services: Services, mut shutdown: watch::Receiver<bool>) {
    let mut known: BTreeMap<(String, String), u64> = BTreeMap::new();
    loop {
        for queue in QueueName::ALL {
            if let Ok(depth) = services.queues.raw(queue).approximate_len().await {
                metrics::queue_depth(queue.as_str(), depth);
            }
        }
        if let Ok(counts) = dead_letters(&services).await {
            // A pair that had dead letters and has none now reads 0.
            for count in known.values_mut() {
                *count = 0;
            }
            known.extend(counts);
            for ((workspace_id, stream), count) in &known {
                metrics::dead_letter_depth(workspace_id, stream, *count);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn dead_letters(
    services: &Services,
) -> shared::ports::StoreResult<BTreeMap<(String, String), u64>> {
    let mut counts = BTreeMap::new();
    for letter in dlq::list(services, &dlq::Filter::default()).await? {
        *counts
            .entry((letter.workspace_id, letter.stream))
            .or_default() += 1;
    }
    Ok(counts)
}
