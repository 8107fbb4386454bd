//! The load generator: N keep-alive connections posting the workload's
//! requests, flat out (closed loop) or at a fixed offered rate (open loop).
//!
//! Open loop: request `i` is scheduled at `t0 + i × interval` on a fixed
//! clock, whichever connection is free takes the next request, and its
//! latency is measured from the *scheduled* time, so a stall counts for
//! every request it delays (no coordinated omission). Flat out: each
//! connection sends its next request as soon as the previous one is
//! answered; latency is measured from the actual send.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;

use crate::http::Connection;
use crate::stats::Latencies;
use crate::workload::Workload;

#[derive(Clone, Debug)]
pub struct Options {
    pub connections: usize,
    /// Offered load in events/s (open loop); `None` = flat out.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// Stop after this many requests (whichever comes first).
    pub max_requests: Option<u64>,
    /// Request numbers start here (keeps probe and run ids apart).
    pub first_seq: u64,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub first_send: Option<Instant>,
    pub last_answer: Option<Instant>,
    pub requests: u64,
    /// 2xx answers and the events they carried.
    pub ok: u64,
    pub ok_events: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub first_failure: Option<String>,
    pub latencies: Latencies,
    pub body_bytes: u64,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.first_send = min_some(self.first_send, other.first_send);
        self.last_answer = max_some(self.last_answer, other.last_answer);
        self.requests += other.requests;
        self.ok += other.ok;
        self.ok_events += other.ok_events;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.first_failure = self.first_failure.take().or(other.first_failure);
        self.latencies.merge(other.latencies);
        self.body_bytes += other.body_bytes;
    }

    /// First send → last answer.
    pub fn elapsed(&self) -> Duration {
        match (self.first_send, self.last_answer) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        }
    }

    pub fn statuses_text(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        if self.transport_errors > 0 {
            parts.push(format!("transport errors: {}", self.transport_errors));
        }
        parts.join(", ")
    }
}

fn min_some(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

pub async fn run(addr: SocketAddr, workload: Arc<Workload>, options: &Options) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    // A short lead so every connection is open before the first slot.
    let t0 = Instant::now() + Duration::from_millis(100);
    let interval = options
        .rate
        .map(|rate| Duration::from_secs_f64(workload.events_per_request() as f64 / rate));
    let workers: Vec<_> = (0..options.connections.max(1))
        .map(|_| {
            let worker = Worker {
                addr,
                workload: workload.clone(),
                next: next.clone(),
                t0,
                interval,
                deadline: t0 + options.duration,
                max_requests: options.max_requests,
                first_seq: options.first_seq,
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        if let Ok(part) = worker.await {
            outcome.merge(part);
        }
    }
    outcome
}

struct Worker {
    addr: SocketAddr,
    workload: Arc<Workload>,
    next: Arc<AtomicU64>,
    t0: Instant,
    interval: Option<Duration>,
    deadline: Instant,
    max_requests: Option<u64>,
    first_seq: u64,
}

impl Worker {
    async fn run(self) -> Outcome {
        let mut out = Outcome::default();
        let mut connection: Option<Connection> = Connection::open(self.addr).await.ok();
        tokio::time::sleep_until(self.t0.into()).await;
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if self.max_requests.is_some_and(|max| i >= max) {
                break;
            }
            let scheduled = self.interval.map(|interval| self.t0 + interval * i as u32);
            if scheduled.unwrap_or_else(Instant::now) >= self.deadline {
                break;
            }
            // Built before the slot: body building is not on the clock.
            let request = self.workload.request(self.first_seq + i);
            let mut builder = hyper::Request::post(&request.path)
                .header(hyper::header::HOST, self.addr.to_string());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            out.body_bytes += request.body.len() as u64;
            let http_request = builder
                .body(Full::new(request.body))
                .expect("valid request");
            if let Some(at) = scheduled {
                tokio::time::sleep_until(at.into()).await;
            }
            let sent = scheduled.unwrap_or_else(Instant::now);
            out.first_send = min_some(out.first_send, Some(sent));
            let result = match connection.as_mut() {
                Some(c) => c.send(http_request).await,
                None => match Connection::open(self.addr).await {
                    Ok(mut c) => {
                        let result = c.send(http_request).await;
                        connection = Some(c);
                        result
                    }
                    Err(e) => Err(e),
                },
            };
            let answered = Instant::now();
            out.requests += 1;
            out.last_answer = max_some(out.last_answer, Some(answered));
            out.latencies
                .record(answered.saturating_duration_since(sent));
            match result {
                Ok((status, body)) => {
                    *out.statuses.entry(status.as_u16()).or_default() += 1;
                    if status.is_success() {
                        out.ok += 1;
                        out.ok_events += request.events;
                    } else if out.first_failure.is_none() {
                        let text = String::from_utf8_lossy(&body);
                        out.first_failure = Some(format!(
                            "{status}: {}",
                            text.chars().take(300).collect::<String>()
                        ));
                    }
                }
                Err(e) => {
                    out.transport_errors += 1;
                    connection = None;
                    if out.first_failure.is_none() {
                        out.first_failure = Some(format!("{e:#}"));
                    }
                }
            }
        }
        out
    }
}
