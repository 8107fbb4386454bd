//! One read at a time per key, for the per-process caches of data that
//! many handlers ask for at once: the ten messages of a Lambda batch miss a
//! cold cache together, and without turns each would read the store
//! (BENCHMARKS.md "Cost per million streamed events on AWS"). The first
//! reads and fills the cache; the others wait their turn and find it filled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A turn per key (one small entry per workspace).
#[derive(Default)]
pub struct ReadTurns {
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ReadTurns {
    /// Waits for `key`'s turn; the read is this caller's until the guard drops.
    pub async fn take(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            turns.entry(key.to_owned()).or_default().clone()
        };
        turn.lock_owned().await
    }
}
