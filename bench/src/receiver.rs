//! The local webhook receiver a stream delivers to: counts the events of
//! each request (the length of its `events` array, parsed without building
//! the events) and answers 200 at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::http::{self, Server};

/// Counters, with times as nanoseconds since `base` (0 = never).
pub struct Counts {
    base: Instant,
    pub events: AtomicU64,
    pub requests: AtomicU64,
    pub unreadable: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl Counts {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            events: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            first_ns: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
        }
    }

    fn record(&self, events: u64) {
        let now = (self.base.elapsed().as_nanos() as u64).max(1);
        self.events.fetch_add(events, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .first_ns
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_ns.fetch_max(now, Ordering::Relaxed);
    }

    /// Starts counting afresh (after a probe).
    pub fn reset(&self) {
        self.events.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.unreadable.store(0, Ordering::Relaxed);
        self.first_ns.store(0, Ordering::Relaxed);
        self.last_ns.store(0, Ordering::Relaxed);
    }

    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn last(&self) -> Option<Instant> {
        match self.last_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.base + Duration::from_nanos(ns)),
        }
    }

    /// Waits until `expected` events arrived, or no new event arrived for
    /// `idle`; returns the count then.
    pub async fn wait_for(&self, expected: u64, idle: Duration) -> u64 {
        let mut seen = self.events();
        let mut since = Instant::now();
        while seen < expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.events();
            if now != seen {
                seen = now;
                since = Instant::now();
            } else if since.elapsed() >= idle {
                break;
            }
        }
        seen
    }
}

#[derive(Deserialize)]
struct Batch {
    events: Vec<IgnoredAny>,
}

pub struct Receiver {
    pub server: Server,
    pub counts: Arc<Counts>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let counts = Arc::new(Counts::new());
        let c = counts.clone();
        let server = http::serve(move |request| {
            let counts = c.clone();
            async move {
                let body = http::read_body(request).await;
                match serde_json::from_slice::<Batch>(&body) {
                    Ok(batch) => counts.record(batch.events.len() as u64),
                    Err(_) => {
                        counts.unreadable.fetch_add(1, Ordering::Relaxed);
                    }
                }
                http::response(StatusCode::OK, &b"{}"[..])
            }
        })
        .await?;
        Ok(Self { server, counts })
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.server.addr)
    }
}
