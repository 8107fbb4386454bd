//! `max_requests_per_second` (docs/interface/streams.md "Request rate"): a
//! stream's requests are spaced to its rate, per process (per Lambda
//! instance on AWS). A request takes the stream's next free slot; one whose
//! slot is further off than [`PATIENCE`] does not wait for it (that would
//! hold a consumer slot other streams' messages need): its batch is parked
//! on the retry queue without an attempt and comes back when its turn could
//! have come.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a request waits for its slot in hand.
pub const PATIENCE: Duration = Duration::from_secs(1);

/// One stream's spacing: the next free slot.
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Takes the next slot if it comes within `patience`, and says how long
    /// to wait for it; else takes nothing and says how far off it is.
    pub fn reserve(&self, patience: Duration) -> Result<Duration, Duration> {
        self.reserve_at(patience, Instant::now())
    }

    fn reserve_at(&self, patience: Duration, now: Instant) -> Result<Duration, Duration> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*next).max(now);
        let wait = slot - now;
        if wait > patience {
            return Err(wait);
        }
        *next = slot + self.interval;
        Ok(wait)
    }

    /// Waits for the next slot, at most `patience`; `Err(how far off)` when
    /// it is further.
    pub async fn turn(&self, patience: Duration) -> Result<(), Duration> {
        let wait = self.reserve(patience)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

/// The pacers of every rate-limited stream this process sends to.
#[derive(Default)]
pub struct Pacers {
    streams: Mutex<HashMap<(String, String), Arc<Pacer>>>,
}

impl Pacers {
    /// The pacer of a stream with this rate (a changed rate starts afresh).
    pub fn pacer(&self, workspace: &str, stream: &str, per_second: f64) -> Arc<Pacer> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let key = (workspace.to_owned(), stream.to_owned());
        let fresh = || Arc::new(Pacer::new(per_second));
        let pacer = streams.entry(key).or_insert_with(fresh);
        if pacer.interval != Duration::from_secs_f64(1.0 / per_second) {
            *pacer = fresh();
        }
        pacer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_to_the_rate_and_far_slots_are_not_taken() {
        let pacer = Pacer::new(4.0);
        let now = Instant::now();
        let quarter = Duration::from_millis(250);
        let waits: Vec<_> = (0..5).map(|_| pacer.reserve_at(PATIENCE, now)).collect();
        assert_eq!(
            waits,
            [
                Ok(Duration::ZERO),
                Ok(quarter),
                Ok(quarter * 2),
                Ok(quarter * 3),
                Ok(quarter * 4)
            ]
        );
        // The sixth is 1.25 s off: not taken, so it does not push the others.
        assert_eq!(pacer.reserve_at(PATIENCE, now), Err(quarter * 5));
        assert_eq!(pacer.reserve_at(PATIENCE, now + quarter), Ok(quarter * 4));
        // An idle stream does not bank slots.
        let later = now + Duration::from_secs(60);
        assert_eq!(pacer.reserve_at(PATIENCE, later), Ok(Duration::ZERO));
        assert_eq!(pacer.reserve_at(PATIENCE, later), Ok(quarter));
    }

    #[test]
    fn each_stream_has_its_pacer_and_a_new_rate_starts_afresh() {
        let pacers = Pacers::default();
        let a = pacers.pacer("ws", "a", 1.0);
        assert!(Arc::ptr_eq(&a, &pacers.pacer("ws", "a", 1.0)));
        assert!(!Arc::ptr_eq(&a, &pacers.pacer("ws", "b", 1.0)));
        assert!(!Arc::ptr_eq(&a, &pacers.pacer("ws", "a", 2.0)));
    }
}
