//! Isolation between streams (docs/architecture.md "Streams"): each stream
//! may have a bounded number of requests in flight, and a circuit breaker
//! that opens after consecutive failures. A batch the gate does not let
//! through goes to the retry queue at once instead of waiting (parked when
//! the stream is busy or paused; failed without a request while its circuit
//! is open), so a slow or failing receiver never ties up the consumer that
//! serves every other stream. The state is per process (per Lambda
//! instance): each instance protects its own consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Requests in flight per stream. Below the consumer's capacity (the
/// embedded consumer handles up to 40 messages at once), so one stream can
/// never hold every slot.
pub const MAX_IN_FLIGHT: usize = 8;
/// Consecutive failed requests that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 5;
/// How long an open breaker parks the stream's batches before one probe.
pub const OPEN_FOR: Duration = Duration::from_secs(30);
/// When a parked batch is tried again, by why it was parked.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);
pub const PAUSED_WAIT: Duration = Duration::from_secs(60);

/// Why a batch was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parked {
    /// The stream has `MAX_IN_FLIGHT` requests in flight already.
    Busy,
    /// The breaker is open: the receiver failed `FAILURES_TO_OPEN` times in a row.
    CircuitOpen { retry_in: Duration },
    /// The stream is configured `enabled = false`.
    Paused,
}

impl Parked {
    /// When to try the batch again.
    pub fn wait(self) -> Duration {
        match self {
            Self::Busy => BUSY_WAIT,
            Self::CircuitOpen { retry_in } => retry_in.max(Duration::from_secs(1)),
            Self::Paused => PAUSED_WAIT,
        }
    }

    /// The reason as logs and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Paused => "paused",
        }
    }
}

#[derive(Default)]
struct StreamState {
    in_flight: usize,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    /// While half-open: the one probe is out.
    probing: bool,
    /// Woken when a request finishes, for a batch waiting for a slot.
    freed: Arc<Notify>,
}

/// The gates of every stream this process delivers to.
#[derive(Default)]
pub struct Gates {
    streams: Mutex<HashMap<(String, String), StreamState>>,
}

/// Leave to send one request; report how it went with [`Permit::finish`].
/// Dropped without finishing (a cancelled delivery), it frees its slot.
pub struct Permit {
    gates: Arc<Gates>,
    key: (String, String),
    probe: bool,
    finished: bool,
}

impl Gates {
    /// Whether the stream's breaker is open now (this process's view).
    pub fn is_open(&self, workspace: &str, stream: &str) -> bool {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .get(&(workspace.to_owned(), stream.to_owned()))
            .and_then(|s| s.open_until)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Lets one request of `stream` through, or says why not.
    pub fn enter(self: &Arc<Self>, workspace: &str, stream: &str) -> Result<Permit, Parked> {
        self.enter_at(workspace, stream, Instant::now())
    }

    /// [`Self::enter`], waiting up to `patience` for a slot while the
    /// stream is busy (woken as soon as one of its requests finishes).
    pub async fn enter_within(
        self: &Arc<Self>,
        workspace: &str,
        stream: &str,
        patience: Duration,
    ) -> Result<Permit, Parked> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let freed = self.freed(workspace, stream);
            // Registered before trying, so a slot freed in between still wakes it.
            let notified = freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.enter(workspace, stream) {
                Err(Parked::Busy) => {}
                entered => return entered,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Parked::Busy);
            }
        }
    }

    fn freed(&self, workspace: &str, stream: &str) -> Arc<Notify> {
        let key = (workspace.to_owned(), stream.to_owned());
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.entry(key).or_default().freed.clone()
    }

    fn enter_at(
        self: &Arc<Self>,
        workspace: &str,
        stream: &str,
        now: Instant,
    ) -> Result<Permit, Parked> {
        let key = (workspace.to_owned(), stream.to_owned());
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let state = streams.entry(key.clone()).or_default();
        let mut probe = false;
        if let Some(until) = state.open_until {
            if now < until {
                return Err(Parked::CircuitOpen {
                    retry_in: until - now,
                });
            }
            // Half-open: one probe decides.
            if state.probing {
                return Err(Parked::CircuitOpen {
                    retry_in: OPEN_FOR / 6,
                });
            }
            state.probing = true;
            probe = true;
        }
        if state.in_flight >= MAX_IN_FLIGHT {
            return Err(Parked::Busy);
        }
        state.in_flight += 1;
        Ok(Permit {
            gates: self.clone(),
            key,
            probe,
            finished: false,
        })
    }

    fn release(&self, key: &(String, String), probe: bool, outcome: Option<bool>, now: Instant) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = streams.get_mut(key) else {
            return;
        };
        state.in_flight = state.in_flight.saturating_sub(1);
        state.freed.notify_one();
        if probe {
            state.probing = false;
        }
        match outcome {
            Some(true) => {
                state.consecutive_failures = 0;
                state.open_until = None;
            }
            Some(false) => {
                state.consecutive_failures += 1;
                if probe || state.consecutive_failures >= FAILURES_TO_OPEN {
                    if state.open_until.is_none_or(|until| until <= now) {
                        tracing::warn!(workspace_id = %key.0, stream = %key.1,
                            failures = state.consecutive_failures, open_seconds = OPEN_FOR.as_secs(),
                            "stream circuit opened: its batches are parked on the retry queue");
                    }
                    state.open_until = Some(now + OPEN_FOR);
                }
            }
            None => {}
        }
    }
}

impl Permit {
    /// Records whether the receiver took the request (any answer but a
    /// failure of the whole request counts as taken).
    pub fn finish(self, succeeded: bool) {
        self.finish_at(succeeded, Instant::now());
    }

    fn finish_at(mut self, succeeded: bool, now: Instant) {
        self.finished = true;
        self.gates
            .release(&self.key, self.probe, Some(succeeded), now);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            self.gates
                .release(&self.key, self.probe, None, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_requests_are_bounded_per_stream() {
        let gates = Arc::new(Gates::default());
        let permits: Vec<Permit> = (0..MAX_IN_FLIGHT)
            .map(|_| gates.enter("ws", "slow").unwrap())
            .collect();
        assert_eq!(gates.enter("ws", "slow").err(), Some(Parked::Busy));
        // Other streams, and other workspaces, are not affected.
        assert!(gates.enter("ws", "other").is_ok());
        assert!(gates.enter("ws-2", "slow").is_ok());
        drop(permits);
        assert!(gates.enter("ws", "slow").is_ok());
    }

    #[tokio::test]
    async fn a_waiting_batch_enters_as_soon_as_a_slot_is_freed() {
        let gates = Arc::new(Gates::default());
        let mut permits: Vec<Permit> = (0..MAX_IN_FLIGHT)
            .map(|_| gates.enter("ws", "busy").unwrap())
            .collect();
        let patience = Duration::from_secs(3600);
        let waiting = {
            let gates = gates.clone();
            tokio::spawn(async move { gates.enter_within("ws", "busy", patience).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no slot yet");
        permits.pop().unwrap().finish(true);
        // An hour's patience, and it enters at once: woken, not polled.
        let entered = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken when the slot was freed")
            .unwrap();
        assert!(entered);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_finds_no_slot_within_its_patience_is_busy() {
        let gates = Arc::new(Gates::default());
        let _permits: Vec<Permit> = (0..MAX_IN_FLIGHT)
            .map(|_| gates.enter("ws", "busy").unwrap())
            .collect();
        let started = tokio::time::Instant::now();
        let entered = gates
            .enter_within("ws", "busy", Duration::from_millis(250))
            .await;
        assert_eq!(entered.err(), Some(Parked::Busy));
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_one_probe_closes_it() {
        let gates = Arc::new(Gates::default());
        let now = Instant::now();
        let fail = |at| gates.enter_at("ws", "s", at).unwrap().finish_at(false, at);
        for _ in 0..FAILURES_TO_OPEN - 1 {
            fail(now);
        }
        // A success in between resets the count.
        gates.enter_at("ws", "s", now).unwrap().finish_at(true, now);
        for _ in 0..FAILURES_TO_OPEN - 1 {
            fail(now);
        }
        assert!(gates.enter_at("ws", "s", now).is_ok());
        fail(now);
        assert!(matches!(
            gates.enter_at("ws", "s", now),
            Err(Parked::CircuitOpen { retry_in }) if retry_in == OPEN_FOR
        ));
        // After OPEN_FOR: one probe, and no second one while it is out.
        let later = now + OPEN_FOR;
        let probe = gates.enter_at("ws", "s", later).unwrap();
        assert!(gates.enter_at("ws", "s", later).is_err());
        probe.finish_at(true, later);
        assert!(gates.enter_at("ws", "s", later).is_ok());
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let gates = Arc::new(Gates::default());
        let now = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            gates
                .enter_at("ws", "s", now)
                .unwrap()
                .finish_at(false, now);
        }
        let later = now + OPEN_FOR;
        gates
            .enter_at("ws", "s", later)
            .unwrap()
            .finish_at(false, later);
        assert!(matches!(
            gates.enter_at("ws", "s", later),
            Err(Parked::CircuitOpen { .. })
        ));
    }
}
