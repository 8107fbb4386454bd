//! A Lambda runtime API emulator: the four endpoints a function's runtime
//! loop calls (next invocation, its response or error, the init error), so
//! a real function binary can be driven and what Lambda would record
//! (`errorType`, `errorMessage`) checked.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Notify;

/// What the function reported for an invocation, or for its start.
#[derive(Clone, Debug)]
pub enum Reported {
    Response {
        id: String,
        body: Value,
    },
    Error {
        id: String,
        /// The `Lambda-Runtime-Function-Error-Type` header.
        header: Option<String>,
        body: Value,
    },
    InitError {
        header: Option<String>,
        body: Value,
    },
}

#[derive(Default)]
struct Inner {
    pending: Mutex<VecDeque<(String, Value)>>,
    invoked: Notify,
    reported: Mutex<Vec<Reported>>,
    report_arrived: Notify,
    next_id: Mutex<u64>,
}

pub struct RuntimeApi {
    address: String,
    inner: Arc<Inner>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, inner }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues an invocation; returns its request id.
    pub fn invoke(&self, payload: Value) -> String {
        let id = {
            let mut next = self.inner.next_id.lock().unwrap();
            *next += 1;
            format!("invocation-{next}")
        };
        self.inner
            .pending
            .lock()
            .unwrap()
            .push_back((id.clone(), payload));
        self.inner.invoked.notify_one();
        id
    }

    /// Waits for the first report matching `wanted`.
    pub async fn wait_for(
        &self,
        wanted: impl Fn(&Reported) -> bool,
        limit: Duration,
    ) -> Option<Reported> {
        tokio::time::timeout(limit, async {
            loop {
                let arrived = self.inner.report_arrived.notified();
                if let Some(found) = self
                    .inner
                    .reported
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|r| wanted(r))
                {
                    return found.clone();
                }
                arrived.await;
            }
        })
        .await
        .ok()
    }

    /// What the function reported for invocation `id`.
    pub async fn outcome(&self, id: &str) -> Reported {
        let id = id.to_owned();
        self.wait_for(
            move |r| match r {
                Reported::Response { id: i, .. } | Reported::Error { id: i, .. } => *i == id,
                Reported::InitError { .. } => false,
            },
            Duration::from_secs(20),
        )
        .await
        .expect("the function reported the invocation within 20 s")
    }

    pub async fn init_error(&self, limit: Duration) -> Option<Reported> {
        self.wait_for(|r| matches!(r, Reported::InitError { .. }), limit)
            .await
    }

    fn report(inner: &Inner, reported: Reported) {
        inner.reported.lock().unwrap().push(reported);
        inner.report_arrived.notify_waiters();
    }
}

/// A real function binary polling `api`, with the environment a deployed
/// function has (AWS being moto) plus `env`; killed on drop.
pub struct FunctionProcess {
    child: Option<Child>,
}

impl FunctionProcess {
    pub fn start(bin: &str, name: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(bin);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", crate::moto_url())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.envs(env.iter().copied());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { child: Some(child) }
    }

    /// Whether the process has exited (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().unwrap()
    }

    /// Stops the function; returns its stdout and stderr.
    pub fn stop(mut self) -> (String, String) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every stdout line of a function: a JSON log record (`timestamp`, `level`
/// and `message` at the top level) or an EMF metrics record.
pub fn check_lines(stdout: &str) -> Vec<Value> {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        if line.get("_aws").is_some() {
            continue;
        }
        for key in ["timestamp", "level", "message"] {
            assert!(line.get(key).is_some(), "{key} at the top level: {line}");
        }
    }
    lines
}

/// The EMF records of `metric` among a function's lines.
pub fn emf_records<'a>(lines: &'a [Value], metric: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == metric)
        .collect()
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    let (id, payload) = loop {
        let invoked = inner.invoked.notified();
        if let Some(found) = inner.pending.lock().unwrap().pop_front() {
            break found;
        }
        invoked.await;
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    (
        [
            ("lambda-runtime-aws-request-id", id),
            (
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:test".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            ),
        ],
        payload.to_string(),
    )
        .into_response()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    RuntimeApi::report(
        &inner,
        Reported::Response {
            id,
            body: json(&body),
        },
    );
    StatusCode::ACCEPTED
}

async fn error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = error_type(&headers);
    RuntimeApi::report(
        &inner,
        Reported::Error {
            id,
            header,
            body: json(&body),
        },
    );
    StatusCode::ACCEPTED
}

async fn init_error(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = error_type(&headers);
    RuntimeApi::report(
        &inner,
        Reported::InitError {
            header,
            body: json(&body),
        },
    );
    StatusCode::ACCEPTED
}
