//! A local HTTP receiver (wiremock) that answers with a settable status and
//! records when each request arrived and what it carried.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::method};

#[derive(Clone)]
pub struct Recorder {
    status: Arc<Mutex<u16>>,
    retry_after: Arc<Mutex<Option<String>>>,
    delay: Arc<Mutex<Duration>>,
    arrivals: Arc<Mutex<Vec<(Instant, serde_json::Value)>>>,
}

impl Recorder {
    pub fn new(status: u16) -> Self {
        Self {
            status: Arc::new(Mutex::new(status)),
            retry_after: Arc::default(),
            delay: Arc::default(),
            arrivals: Arc::default(),
        }
    }

    /// Starts a server answering every POST through this recorder.
    pub async fn serve(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    pub fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    pub fn set_retry_after(&self, seconds: &str) {
        *self.retry_after.lock().unwrap() = Some(seconds.to_owned());
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn arrivals(&self) -> Vec<(Instant, serde_json::Value)> {
        self.arrivals.lock().unwrap().clone()
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.arrivals().into_iter().map(|(_, b)| b).collect()
    }
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = serde_json::from_slice(&request.body).unwrap_or_default();
        self.arrivals.lock().unwrap().push((Instant::now(), body));
        let mut response = ResponseTemplate::new(*self.status.lock().unwrap())
            .set_delay(*self.delay.lock().unwrap());
        if let Some(seconds) = self.retry_after.lock().unwrap().clone() {
            response = response.insert_header("retry-after", seconds);
        }
        response
    }
}

/// How early a store may let a timed thing through, measured on the
/// monotonic clock: stores keep times in whole milliseconds of the wall clock
/// (`domain::time::now_ms`, truncated), and the wall clock slews against the
/// monotonic one (NTP: at most 0.5 ms per second). Lower bounds ("not before
/// 1 s") subtract it; CI once saw an idempotency key free after 999.55 ms of
/// a 1 s TTL.
pub const CLOCK_GRAIN: Duration = Duration::from_millis(3);

/// Polls `check` every 100 ms until it holds; panics after `limit`.
pub async fn wait_for(check: impl AsyncFnMut() -> bool, limit: Duration) {
    wait_until_seen(check, limit).await;
}

/// [`wait_for`], returning the moment the check that held had finished:
/// what it saw was so at or before that moment, so a lower bound ("not
/// before 1 s") asserted on it cannot fail because the machine is slow.
pub async fn wait_until_seen(mut check: impl AsyncFnMut() -> bool, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
