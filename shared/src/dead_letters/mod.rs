//! Dead letters: built in one place ([`build`]), and kept saying so: every
//! dead letter is an ERROR line (id, workspace, stream, `moe_request_id`,
//! event count, reason) and a count of `engage_bridge_dead_letters_total`
//! (docs/interface/observability.md).

mod build;

pub use build::{Owner, Reason, batch, message};

use crate::domain::DeadLetter;
use crate::observability::metrics;
use crate::ports::{DeadLetterStore, StoreResult};

/// The workspace and stream a dead letter belongs to, as far as it says.
fn owner(letter: &DeadLetter) -> (String, String) {
    match letter {
        DeadLetter::Batch(batch) => (batch.workspace_id.clone(), batch.stream.clone()),
        DeadLetter::Message(message) => {
            #[derive(serde::Deserialize)]
            struct Envelope {
                workspace_id: String,
            }
            let workspace = serde_json::from_str::<Envelope>(&message.body)
                .map(|e| e.workspace_id)
                .unwrap_or_default();
            (workspace, String::new())
        }
    }
}

/// Keeps `letters` and reports each one.
pub async fn keep(store: &dyn DeadLetterStore, letters: &[DeadLetter]) -> StoreResult<()> {
    if letters.is_empty() {
        return Ok(());
    }
    let ids = store.put_dead_letters(letters).await?;
    for (id, letter) in ids.iter().zip(letters) {
        let (workspace_id, stream) = owner(letter);
        metrics::dead_letter(&workspace_id, &stream);
        match letter {
            DeadLetter::Batch(batch) => tracing::error!(
                id, workspace_id, stream, moe_request_id = %batch.moe_request_id,
                events = batch.events.len(), reason = %batch.reason,
                "stream batch dead-lettered"
            ),
            DeadLetter::Message(message) => tracing::error!(
                id, workspace_id, queue = %message.queue,
                receive_count = message.receive_count, reason = %message.reason,
                "queue message dead-lettered"
            ),
        }
    }
    Ok(())
}
