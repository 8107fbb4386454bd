//! Bounded, jittered rounds for what an AWS call leaves undone
//! (docs/architecture.md "Nothing acknowledged is lost"): BatchWriteItem's
//! `UnprocessedItems`, BatchGetItem's `UnprocessedKeys`, SendMessageBatch's
//! and DeleteMessageBatch's `Failed` entries, cancelled TransactWriteItems.
//! The SDK retries a call that fails; these calls succeed with part of
//! their work undone, so every adapter resends that part through here:
//! each round counted as a retry, then, once the rounds are spent, an ERROR
//! line and an error — never a silent success.

use std::time::Duration;

use rand::Rng;

use super::errors::Service;
use crate::observability::metrics;
use crate::ports::{StoreError, StoreResult, Unavailability};

/// Rounds after the first call.
pub const MAX_ROUNDS: u32 = 8;
/// The backoff before round n is drawn from 0..=min(CAP, BASE × 2ⁿ) (full
/// jitter: concurrent callers spread out instead of retrying in step).
const BASE: Duration = Duration::from_millis(25);
const CAP: Duration = Duration::from_secs(1);

/// The rounds of one call.
pub struct Rounds {
    service: Service,
    operation: &'static str,
    /// What the error says once the rounds are spent.
    kind: Unavailability,
    done: u32,
}

impl Rounds {
    /// For what a batch call left undone (unprocessed, failed entries).
    pub fn new(service: Service, operation: &'static str) -> Self {
        Self {
            service,
            operation,
            kind: Unavailability::Partial,
            done: 0,
        }
    }

    /// For a transaction cancelled by concurrent writers.
    pub fn contended(service: Service, operation: &'static str) -> Self {
        Self {
            kind: Unavailability::Contended,
            ..Self::new(service, operation)
        }
    }

    /// The call left `left` entries undone (`why`, AWS's `request_id`):
    /// waits before the next round and counts it, or gives up.
    pub async fn again(
        &mut self,
        left: usize,
        request_id: Option<&str>,
        why: &str,
    ) -> StoreResult<()> {
        self.done += 1;
        let (service, operation) = (self.service.label(), self.operation);
        if self.done > MAX_ROUNDS {
            tracing::error!(
                service,
                operation,
                aws_request_id = request_id.unwrap_or("none"),
                attempts = self.done,
                left,
                reason = why,
                "AWS call gave up after retries"
            );
            let detail = format!(
                "{} {operation} left {left} entries undone after {MAX_ROUNDS} retries: {why}",
                self.service.name()
            );
            return Err(StoreError::unavailable(self.kind, detail, None));
        }
        metrics::aws_retry(service, operation);
        tokio::time::sleep(backoff(self.done)).await;
        Ok(())
    }
}

fn backoff(round: u32) -> Duration {
    let ceiling = CAP.min(BASE * 2u32.saturating_pow(round.min(16)));
    let millis = rand::rng().random_range(0..=ceiling.as_millis() as u64);
    Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_within_a_growing_capped_ceiling() {
        for round in 1..=MAX_ROUNDS {
            let ceiling = CAP.min(BASE * 2u32.pow(round));
            let draws: Vec<Duration> = (0..200).map(|_| backoff(round)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "round {round}");
            assert!(
                draws.iter().any(|d| *d != draws[0]),
                "round {round}: jittered"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_are_bounded() {
        let mut rounds = Rounds::new(Service::DynamoDb, "BatchWriteItem");
        for _ in 0..MAX_ROUNDS {
            rounds.again(3, Some("req"), "unprocessed").await.unwrap();
        }
        let error = rounds
            .again(3, Some("req"), "unprocessed")
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("BatchWriteItem left 3 entries undone"),
            "{error}"
        );
    }
}
