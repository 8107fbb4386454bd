//! The one place the properties reach the system: [`call`] for every HTTP
//! request and [`firehose_direct`] for every direct Firehose invocation
//! (when the HTTP layer becomes an axum Router, only `call` changes), plus a
//! fresh SQLite backend per case ([`Env`]) and the checks every reply gets.

use std::future::Future;
use std::time::Duration;

use engage_bridge_tests::{Backend, basic, sqlite, workspace};
use http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value, json};
use shared::config::WorkspaceConfig;
use shared::error::RequestError as ApiError;
use shared::ports::{Queue, Received};
use shared::runtime::Services;
use shared::topology::QueueName;

pub const WS: &str = "acme";
pub const SECRET: &str = "acme-secret";

pub type Outcome = Result<(), TestCaseError>;

/// ~64 cases per property unless `PROPTEST_CASES` says otherwise. Failures
/// print their minimal input; no regression files are written (the known
/// failures have focused `#[test]`s instead).
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        max_shrink_time: 60_000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs one case's async body on its own runtime.
pub fn run<F: Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body)
}

/// Status and JSON body (`null` when the body is not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

/// THE call site of the HTTP API.
pub async fn call(
    services: &Services,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body).expect("a well-formed HTTP request");
    let response = engage_bridge_tests::call(services, request).await;
    Reply {
        status: response.status(),
        body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
    }
}

/// THE call site of Firehose as a direct Lambda invocation.
pub async fn firehose_direct(services: &Services, payload: Value) -> Result<Value, ApiError> {
    shared::mparticle::firehose_direct(services, payload).await
}

/// A body for failure messages: long strings cut.
pub fn brief(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(400) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text,
    }
}

/// `{"status":"error","error":<non-empty string>}`.
pub fn check_error_body(status: StatusCode, body: &Value) -> Outcome {
    prop_assert_eq!(&body["status"], "error", "{} {}", status, brief(body));
    prop_assert!(
        body["error"].as_str().is_some_and(|e| !e.trim().is_empty()),
        "{} without an error message: {}",
        status,
        brief(body)
    );
    Ok(())
}

impl Reply {
    /// Never a 5xx; a 4xx carries the error body; a 2xx says success.
    pub fn check(&self) -> Outcome {
        self.check_with(|body| {
            prop_assert_eq!(&body["status"], "success", "{}", brief(body));
            Ok(())
        })
    }

    /// Like [`Reply::check`], but a 2xx is the Firehose response message
    /// for `request_type` (interface §3: `x_request` → `x_response`).
    pub fn check_firehose(&self, request_type: &str) -> Outcome {
        self.check_with(|body| check_firehose_response(body, request_type))
    }

    fn check_with(&self, success: impl FnOnce(&Value) -> Outcome) -> Outcome {
        prop_assert!(
            !self.status.is_server_error(),
            "5xx: {} {}",
            self.status,
            brief(&self.body)
        );
        if self.status.is_client_error() {
            check_error_body(self.status, &self.body)?;
        } else {
            prop_assert!(self.status.is_success(), "{}", self.status);
            success(&self.body)?;
        }
        Ok(())
    }

    pub fn expect_success(&self) -> Outcome {
        self.check()?;
        prop_assert!(
            self.status.is_success(),
            "rejected: {} {}",
            self.status,
            brief(&self.body)
        );
        Ok(())
    }

    pub fn check_for(&self, target: Target<'_>) -> Outcome {
        match target {
            Target::Api(_) => self.check(),
            Target::Firehose(kind) | Target::Direct(kind) => self.check_firehose(kind),
        }
    }

    pub fn rejected(&self) -> bool {
        self.status.is_client_error()
    }
}

pub fn check_firehose_response(body: &Value, request_type: &str) -> Outcome {
    let expected = request_type.replace("_request", "_response");
    prop_assert_eq!(
        body["type"].as_str(),
        Some(expected.as_str()),
        "{}",
        brief(body)
    );
    Ok(())
}

/// A direct invocation's outcome as a reply: its answer, or the error that
/// fails the invocation (with the status the same error has over HTTP).
fn direct_reply(outcome: Result<Value, ApiError>) -> Reply {
    match outcome {
        Ok(body) => Reply {
            status: StatusCode::OK,
            body,
        },
        Err(error) => Reply {
            status: StatusCode::from_u16(error.http_status()).expect("a valid status"),
            body: json!({"status": "error", "error": error.to_string()}),
        },
    }
}

/// Percent-encodes one path segment.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Longest path `http::Uri` takes comfortably; longer uids are looked up
/// through the profile port instead of `GET /v1/users/{uid}`.
const MAX_PATH: usize = 16 * 1024;

/// What a rejected request must not have changed: the segment list, the
/// queue lengths and the profile of every uid the request names.
#[derive(Debug, PartialEq)]
pub struct Snapshot(Value);

impl Snapshot {
    /// The parts in which `self` differs from `before`, briefly.
    pub fn changes_from(&self, before: &Snapshot) -> Option<String> {
        let parts: Vec<String> = ["segments", "queues", "users"]
            .into_iter()
            .filter(|part| self.0[part] != before.0[part])
            .map(|part| {
                format!(
                    "{part}: {} → {}",
                    brief(&before.0[part]),
                    brief(&self.0[part])
                )
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// An authenticated `POST` to this path.
    Api(&'a str),
    /// `POST /v1/mparticle/firehose` of a request of this type.
    Firehose(&'a str),
    /// A direct Firehose invocation of a request of this type.
    Direct(&'a str),
}

/// A fresh SQLite backend with workspace `acme`.
pub struct Env {
    pub backend: Backend,
    auth: String,
}

impl Env {
    pub async fn new(configure: impl FnOnce(&mut WorkspaceConfig)) -> Self {
        let backend = sqlite();
        let mut ws = workspace(WS, SECRET);
        configure(&mut ws);
        backend.workspaces.apply(&[ws]).await.expect("workspace");
        Self {
            backend,
            auth: basic(WS, SECRET),
        }
    }

    pub fn services(&self) -> &Services {
        &self.backend
    }

    /// An authenticated request.
    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> Reply {
        call(
            self.services(),
            method,
            path,
            &[("authorization", &self.auth)],
            body,
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        self.send("POST", path, body).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, body.to_string().into_bytes()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, Vec::new()).await
    }

    /// Firehose over HTTP: it authenticates itself (account settings).
    /// Firehose over HTTP: authenticated by the request's account settings,
    /// else by the Basic credentials sent along.
    pub async fn firehose_http(&self, body: Vec<u8>) -> Reply {
        self.post("/v1/mparticle/firehose", body).await
    }

    pub async fn firehose_direct(&self, payload: Value) -> Result<Value, ApiError> {
        firehose_direct(self.services(), payload).await
    }

    pub async fn segments(&self) -> Value {
        let reply = self.get("/v1/segments?limit=1000").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", brief(&reply.body));
        reply.body["segments"].clone()
    }

    pub async fn segment(&self, id: &str) -> Reply {
        self.get(&format!("/v1/segments/{}", segment(id))).await
    }

    /// The profile of `uid`: the `GET /v1/users/{uid}` reply, or for uids
    /// too long for a URL whether the profile store knows it.
    pub async fn user(&self, uid: &str) -> Value {
        let path = format!("/v1/users/{}", segment(uid));
        if path.len() <= MAX_PATH {
            let reply = self.get(&path).await;
            return json!([reply.status.as_u16(), reply.body]);
        }
        let found = self
            .backend
            .profiles
            .find_by_uids(WS, &[uid.to_owned()])
            .await
            .expect("find_by_uids");
        json!(found.get(uid))
    }

    pub async fn queue_lengths(&self) -> [u64; 4] {
        let q = &self.backend.queues;
        let mut out = [0; 4];
        for (slot, name) in out.iter_mut().zip(QueueName::ALL) {
            let queue = q.raw(name);
            *slot = queue.approximate_len().await.expect("queue length");
        }
        out
    }

    pub async fn snapshot(&self, uids: &[String]) -> Snapshot {
        let mut users = serde_json::Map::new();
        for uid in uids {
            users.insert(uid.clone(), self.user(uid).await);
        }
        Snapshot(json!({
            "segments": self.segments().await,
            "queues": self.queue_lengths().await,
            "users": users,
        }))
    }

    pub async fn submit(&self, target: Target<'_>, body: Vec<u8>) -> Reply {
        match target {
            Target::Api(path) => self.post(path, body).await,
            Target::Firehose(_) => self.firehose_http(body).await,
            Target::Direct(_) => {
                let payload = serde_json::from_slice(&body).expect("a JSON payload");
                direct_reply(self.firehose_direct(payload).await)
            }
        }
    }

    /// Sends a mutated version of `valid`: the reply must be well-formed;
    /// when it is a rejection, nothing may have changed and `valid` itself
    /// must then be accepted (its reply is returned).
    pub async fn mutated(
        &self,
        target: Target<'_>,
        valid: &Value,
        mutated: Vec<u8>,
    ) -> Result<Option<Reply>, TestCaseError> {
        let mut names = uids(valid);
        if let Ok(parsed) = serde_json::from_slice::<Value>(&mutated) {
            names.extend(uids(&parsed));
        }
        if matches!(target, Target::Direct(_)) && serde_json::from_slice::<Value>(&mutated).is_err()
        {
            // Not a JSON value: the Lambda runtime refuses it before us.
            return Ok(None);
        }
        let before = self.snapshot(&names).await;
        let reply = self.submit(target, mutated).await;
        reply.check_for(target)?;
        if !reply.rejected() {
            return Ok(None);
        }
        let after = self.snapshot(&names).await;
        if let Some(changes) = after.changes_from(&before) {
            return Err(TestCaseError::fail(format!(
                "rejected ({} {}) but changed {changes}",
                reply.status,
                brief(&reply.body)
            )));
        }
        let again = self.submit(target, valid.to_string().into_bytes()).await;
        again.check_for(target)?;
        prop_assert!(
            again.status.is_success(),
            "the valid request was refused after a rejected mutation: {} {}",
            again.status,
            brief(&again.body)
        );
        Ok(Some(again))
    }

    /// Runs the cohort-queue consumer over everything staged, like the SQS
    /// trigger (batches of ≤ 10); returns the number of messages handled.
    pub async fn apply_staged(&self) -> usize {
        let queue = self.backend.queues.cohort.clone();
        let messages = take_all(queue.as_ref()).await;
        for batch in messages.chunks(10) {
            let outcome =
                engage_bridge_tests::consume(self.services(), QueueName::Cohort, batch).await;
            assert!(outcome.redeliver.is_empty(), "staged apply failed");
        }
        messages.len()
    }

    /// Every event on the events queue, removed from it.
    pub async fn drain_events(&self) -> Vec<Value> {
        let messages = take_all(self.backend.queues.events.as_ref()).await;
        messages
            .iter()
            .flat_map(|m| {
                let body: Value = serde_json::from_str(&m.body).expect("events message");
                body["events"].as_array().cloned().unwrap_or_default()
            })
            .collect()
    }
}

/// Every message on `queue`, removed from it.
async fn take_all(queue: &dyn Queue) -> Vec<Received> {
    let mut out = Vec::new();
    loop {
        let batch = queue
            .receive(10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("receive");
        if batch.is_empty() {
            let handles: Vec<String> = out
                .iter()
                .map(|m: &Received| m.receipt_handle.clone())
                .collect();
            queue.delete(&handles).await.expect("delete");
            return out;
        }
        out.extend(batch);
    }
}

/// Every uid a request body names: Amplitude `user_id`s and `userIds`,
/// mParticle `customer_id` identities (array, map and Firehose forms).
pub fn uids(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_uids(body, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_uids(value: &Value, out: &mut Vec<String>) {
    let push = |v: Option<&Value>, out: &mut Vec<String>| {
        if let Some(text) = v.and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
            out.push(text.to_owned());
        }
    };
    match value {
        Value::Object(map) => {
            push(map.get("user_id"), out);
            push(map.get("customer_id"), out);
            if map.get("identity_type").and_then(Value::as_str) == Some("customer_id") {
                push(map.get("identity"), out);
            }
            if map.get("type").and_then(Value::as_str) == Some("customer") {
                push(map.get("value"), out);
            }
            if let Some(Value::Array(ids)) = map.get("userIds") {
                ids.iter().for_each(|id| push(Some(id), out));
            }
            map.values().for_each(|v| collect_uids(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_uids(v, out)),
        _ => {}
    }
}
