//! One read at a time per key, for the per-process caches of data that
//! many handlers ask for at once: the ten messages of a Lambda batch miss a
//! cold cache together, and without turns each would read the store
//! (BENCHMARKS.md "Cost per million streamed events on AWS"). The first
//! reads and fills the cache; the others wait their turn and find it filled.
//!
//! A turn is waited for at most [`WAIT`]: a read that hangs (until the
//! store's own timeouts end it) must not make the others queue behind it
//! one after another, so past the wait they read for themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

/// How long a reader waits for another's read of the same key.
pub const WAIT: Duration = Duration::from_secs(5);

/// A turn per key (one small entry per workspace).
#[derive(Default)]
pub struct ReadTurns {
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ReadTurns {
    /// Waits for `key`'s turn, at most [`WAIT`]; the read is this caller's
    /// until the guard drops. None: the wait ran out, read anyway.
    pub async fn take(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        let turn = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            turns.entry(key.to_owned()).or_default().clone()
        };
        tokio::time::timeout(WAIT, turn.lock_owned()).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_turn_held_too_long_lets_the_others_read() {
        let turns = ReadTurns::default();
        let held = turns.take("ws").await;
        assert!(held.is_some(), "a free turn is taken at once");
        let started = tokio::time::Instant::now();
        assert!(turns.take("ws").await.is_none(), "the wait runs out");
        assert_eq!(started.elapsed(), WAIT);
        assert!(turns.take("other").await.is_some(), "keys are apart");
        drop(held);
        assert!(turns.take("ws").await.is_some(), "free again once dropped");
    }
}
