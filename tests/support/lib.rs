//! Test support: services on a fresh SQLite file or on fresh moto resources.
//!
//! The AWS side needs `moto_server` on 127.0.0.1; `scripts/test` starts it
//! and exports `ENGAGE_BRIDGE_TEST_MOTO_URL`. Without it the AWS tests fail
//! with a message saying so: they are never silently skipped.

pub mod faults;
pub mod ids;
pub mod oauth2;
pub mod receiver;
pub mod runtime_api;
pub mod tls;

use std::path::PathBuf;

use shared::config::{self, RetrySchedule, WorkspaceConfig};
use shared::ports::Received;
use shared::queue::batch::BatchOutcome;
use shared::runtime::Services;
use shared::store::aws::{AwsResources, provision};

pub const MOTO_ENV: &str = "ENGAGE_BRIDGE_TEST_MOTO_URL";

/// A backend under test; keeps its temporary directory alive.
pub struct Backend {
    pub services: Services,
    pub kind: &'static str,
    pub resources: Option<AwsResources>,
    /// The SQLite file (sqlite backend).
    pub path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// The SQLite file of an embedded backend.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|dir| dir.path().join("store.db"))
    }
}

impl std::ops::Deref for Backend {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Retries 1 s, 2 s and 3 s apart: the schedule's shape, quickly.
pub fn fast_schedule() -> RetrySchedule {
    RetrySchedule::try_from(vec![1, 2, 3]).expect("a valid schedule")
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let services = Services::sqlite(&path, fast_schedule()).expect("open sqlite");
    Backend {
        services,
        kind: "sqlite",
        resources: None,
        path: Some(path),
        _dir: Some(dir),
    }
}

pub fn moto_url() -> String {
    std::env::var(MOTO_ENV).unwrap_or_else(|_| {
        panic!(
            "{MOTO_ENV} is not set: the DynamoDB/SQS tests need moto_server. \
             Run the suite with scripts/test, which installs and starts it."
        )
    })
}

/// SDK config pointed at moto, with dummy credentials.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::store::aws::http::client(
            shared::store::aws::Trust::Amazon,
        ))
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        // moto's threaded server can answer 500 under concurrent transactional
        // writes; retry those rather than fail a test on the emulator's account.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8))
        // moto is far slower than DynamoDB (a TransactWriteItems copies the
        // table): the production timeouts (store/aws/settings.rs) would cut
        // its calls short. The fault suite sets its own.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .operation_timeout(std::time::Duration::from_secs(300))
                .build(),
        )
        .load()
        .await
}

/// The AWS backend on fresh moto resources, allowing private destinations:
/// the receivers of the tests listen on 127.0.0.1, which the aws backend
/// refuses by default (docs/interface/streams.md "Destinations";
/// [`aws_as_deployed`] keeps that default).
pub async fn aws() -> Backend {
    let mut backend = aws_as_deployed().await;
    backend.services = backend
        .services
        .with_private_destinations(config::PrivateDestinations::Allow);
    backend
}

/// The AWS backend on fresh moto resources with the defaults a deployed
/// function has (private destinations denied), but the fast schedule.
pub async fn aws_as_deployed() -> Backend {
    let sdk = moto_sdk_config().await;
    let resources = provision::create_resources(&sdk, &unique("eb"))
        .await
        .expect("create moto resources");
    Backend {
        services: Services::aws(&sdk, &resources, fast_schedule()),
        kind: "aws",
        resources: Some(resources),
        path: None,
        _dir: None,
    }
}

/// Runs the retry queue's consumer in the background, as `serve` or Lambda
/// would; stops when the sender says `true`.
pub fn run_retry_consumer(services: &Services) -> tokio::sync::watch::Sender<bool> {
    use shared::queue::consumer::{self, ConsumerOptions};
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let services = services.clone();
    let queue = services.queues.retry.raw().clone();
    tokio::spawn(async move {
        let options = ConsumerOptions {
            wait: std::time::Duration::from_millis(100),
            ..ConsumerOptions::default()
        };
        let retry = shared::topology::CONSUMERS
            .into_iter()
            .find(|c| c.queue == shared::topology::QueueName::Retry)
            .expect("the retry queue has a consumer");
        let handler = shared::consumers::handler(services, retry);
        consumer::run("retry", queue, options, stopped, handler).await
    });
    stop
}

/// A valid workspace with the given id and secret.
pub fn workspace(id: &str, secret: &str) -> WorkspaceConfig {
    let text =
        format!("[[workspaces]]\nid = {id:?}\nsecret = {secret:?}\napp_name = \"App {id}\"\n");
    config::parse(&text)
        .expect("valid workspace")
        .workspaces
        .remove(0)
}

/// The Python with the reference libraries the tests verify against
/// (`standardwebhooks`, `cryptography`): `ENGAGE_BRIDGE_TEST_PYTHON`, else
/// the repository's `.venv` (scripts/test installs them, pinned). Never
/// silently skipped.
pub fn python() -> PathBuf {
    if let Ok(path) = std::env::var("ENGAGE_BRIDGE_TEST_PYTHON") {
        return path.into();
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no {}: this test verifies with a Python reference library; run scripts/test \
         (it installs them) or set ENGAGE_BRIDGE_TEST_PYTHON",
        venv.display()
    );
    venv
}

/// The repository root (for events/ samples).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A partner payload from tests/fixtures (provenance in its SOURCES.md).
pub fn fixture(path: &str) -> serde_json::Value {
    let file = repo_root().join("tests/fixtures").join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The events of events-queue messages, in order.
pub fn queued_events(messages: &[shared::ports::Received]) -> Vec<shared::domain::Event> {
    messages
        .iter()
        .flat_map(|m| {
            serde_json::from_str::<shared::domain::EventsMessage>(&m.body)
                .expect("an events-queue message")
                .events
        })
        .collect()
}

/// Answers `request` with the router `serve` runs (every route).
pub async fn call(services: &Services, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    use tower::ServiceExt;
    let router = shared::http::router(services.clone(), shared::topology::Route::ALL);
    let response = router
        .oneshot(request.map(axum::body::Body::from))
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a complete body");
    http::Response::from_parts(parts, bytes.to_vec())
}

/// The owned handler `queue`'s consumer runs (for `queue::consumer::run`).
pub fn consumer_handler(
    services: &Services,
    queue: shared::topology::QueueName,
) -> impl Fn(Vec<Received>) -> futures::future::BoxFuture<'static, BatchOutcome> + Send + Sync + 'static
{
    let consumer = shared::topology::CONSUMERS
        .into_iter()
        .find(|c| c.queue == queue)
        .expect("the queue has a consumer");
    shared::consumers::handler(services.clone(), consumer)
}

/// Handles one batch of `queue` as its consumer (Lambda or `serve`) does.
pub async fn consume(
    services: &Services,
    queue: shared::topology::QueueName,
    records: &[Received],
) -> BatchOutcome {
    let consumer = shared::topology::CONSUMERS
        .into_iter()
        .find(|c| c.queue == queue)
        .expect("the queue has a consumer");
    shared::consumers::handle(services, consumer, records).await
}

/// Invokes `function` with a raw payload, as the Lambda runtime does.
pub async fn invoke(
    services: &Services,
    function: shared::topology::Function,
    payload: serde_json::Value,
) -> Result<serde_json::Value, shared::lambda::FunctionError> {
    shared::lambda::Handler::new(services.clone(), function)
        .invoke(lambda_runtime::LambdaEvent::new(
            payload,
            lambda_runtime::Context::default(),
        ))
        .await
}

/// `Authorization: Basic` value for id:secret.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Runs the given async test bodies once against SQLite and once against moto.
#[macro_export]
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::sqlite()).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&$crate::aws().await).await
                }
            )*
        }
    };
}

/// Every events-queue message body, removing them, in queue order.
pub async fn drain_event_messages(services: &Services) -> Vec<serde_json::Value> {
    let mut bodies = Vec::new();
    loop {
        let messages = services
            .queues
            .events
            .receive(
                10,
                std::time::Duration::from_secs(60),
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
        if messages.is_empty() {
            return bodies;
        }
        for message in &messages {
            bodies.push(serde_json::from_str(&message.body).unwrap());
        }
        let handles: Vec<String> = messages.into_iter().map(|m| m.receipt_handle).collect();
        services.queues.events.delete(&handles).await.unwrap();
    }
}

/// Every event on the events queue, removing them, in queue order (at most
/// 100 per message, as producers pack them).
pub async fn drain_events(services: &Services) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for body in drain_event_messages(services).await {
        let batch = body["events"].as_array().expect("events array");
        assert!(batch.len() <= 100, "≤ 100 events per queue message");
        assert!(body["workspace_id"].is_string());
        events.extend(batch.iter().cloned());
    }
    events
}

/// Calls the queue's handler with `received` and deletes the successes,
/// like the event-source mapping.
pub async fn run_handler(
    services: &Services,
    name: shared::topology::QueueName,
    received: Vec<Received>,
) -> BatchOutcome {
    let queue = services.queues.raw(name);
    let outcome = consume(services, name, &received).await;
    let done: Vec<String> = received
        .iter()
        .filter(|m| !outcome.redeliver.contains(&m.message_id))
        .map(|m| m.receipt_handle.clone())
        .collect();
    queue.delete(&done).await.unwrap();
    outcome
}

/// Every message visible on `queue`, received (hidden for 60 s) until
/// none is left.
pub async fn take_all(queue: &dyn shared::ports::Queue) -> Vec<Received> {
    let mut all = Vec::new();
    loop {
        let got = queue
            .receive(
                10,
                std::time::Duration::from_secs(60),
                std::time::Duration::from_millis(200),
            )
            .await
            .unwrap();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// Runs stream-dispatch on everything on the events queue until it is
/// empty; the last answer.
pub async fn dispatch_queued(services: &Services) -> BatchOutcome {
    run_queued(services, shared::topology::QueueName::Events).await
}

/// Runs `name`'s consumer on everything on that queue until it is empty,
/// as the event-source mapping does; the last answer.
pub async fn run_queued(services: &Services, name: shared::topology::QueueName) -> BatchOutcome {
    let mut last = Default::default();
    loop {
        let received = services
            .queues
            .raw(name)
            .receive(
                10,
                std::time::Duration::from_secs(30),
                std::time::Duration::from_millis(200),
            )
            .await
            .unwrap();
        if received.is_empty() {
            return last;
        }
        last = run_handler(services, name, received).await;
    }
}

/// An HTTP client for tests, on the binaries' crypto provider (ring:
/// docs/architecture.md "TLS and trust").
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("an HTTP client")
}

/// [`http_client`]'s builder, for tests that set options.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    shared::outbound::use_ring();
    reqwest::Client::builder()
}

/// What `work` returns, and the DynamoDB requests `services` sent meanwhile
/// (None on the embedded backend, which counts none).
pub async fn dynamodb_requests<T>(
    services: &Services,
    work: impl std::future::Future<Output = T>,
) -> (T, Option<u64>) {
    let before = services.aws_request_counts();
    let out = work.await;
    let sent = before
        .zip(services.aws_request_counts())
        .map(|((before, _), (after, _))| after - before);
    (out, sent)
}
