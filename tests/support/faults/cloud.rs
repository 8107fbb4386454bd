//! A small AWS for the fault suite: moto behind a [`FaultProxy`], the
//! functions as handlers (each instance with its own clients, caches and
//! gates, as a Lambda instance has), and the SQS event sources emulated the
//! way Lambda's event-source mapping works: receive, invoke, delete what
//! the function did not report failed, leave the rest to reappear after the
//! visibility timeout. The emulation and every check talk to moto
//! directly: only the functions' own calls pass through the faults.

use std::io::Write;
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use serde_json::Value;
use shared::lambda::Handler;
use shared::ports::Received;
use shared::runtime::Services;
use shared::store::aws::AwsResources;
use shared::topology::{Function, QueueName};

use super::{FaultProxy, Plan};
use crate::{Backend, fast_schedule, moto_url};

/// The clients' attempt timeout in the suite (production's is longer): a
/// slow answer ([`Plan::slow`]) outlasts it.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);

pub struct Cloud {
    pub proxy: FaultProxy,
    /// Services straight on moto: set-up, checks and the event sources.
    pub direct: Backend,
    pub resources: AwsResources,
    sdk: aws_config::SdkConfig,
}

/// SDK settings for clients that reach moto through `endpoint`: the
/// production retries (`attempts` per call if given: fewer, as when the
/// SDK's retry quota runs low in a long incident), shorter timeouts.
pub async fn sdk_config(endpoint: &str, attempts: Option<u32>) -> aws_config::SdkConfig {
    let mut retry = shared::store::aws::settings::retry_config();
    if let Some(attempts) = attempts {
        retry = retry.with_max_attempts(attempts);
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::store::aws::http::client(
            shared::store::aws::Trust::Amazon,
        ))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .retry_config(retry)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await
}

impl Cloud {
    /// The functions' calls get production's retries.
    pub async fn start(plan: Plan) -> Self {
        Self::with_attempts(plan, None).await
    }

    /// The functions' calls get `attempts` each, if given.
    pub async fn with_attempts(plan: Plan, attempts: Option<u32>) -> Self {
        let direct = crate::aws().await;
        let resources = direct.resources.clone().expect("moto resources");
        let proxy = FaultProxy::start(&moto_url(), plan).await;
        let sdk = sdk_config(proxy.url(), attempts).await;
        Self {
            proxy,
            direct,
            resources,
            sdk,
        }
    }

    /// Stores the workspaces of a config file's text (directly on moto).
    pub async fn apply_config(&self, text: &str) {
        let config = shared::config::parse(text).expect("a valid test config");
        self.direct
            .workspaces
            .apply(&config.workspaces)
            .await
            .expect("workspaces stored");
    }

    /// A new function instance's services, through the faults.
    pub fn services(&self) -> Services {
        Services::aws(&self.sdk, &self.resources, fast_schedule())
            .with_private_destinations(shared::config::PrivateDestinations::Allow)
    }

    /// A new instance of `function`, through the faults.
    pub fn instance(&self, function: Function) -> Handler {
        Handler::new(self.services(), function)
    }

    /// One poll of `queue`'s event source: up to 10 messages, hidden for
    /// `visibility`, handed to `handler`; what it did not report failed is
    /// deleted. Returns how many were received.
    pub async fn poll(&self, handler: &Handler, queue: QueueName, visibility: Duration) -> Polled {
        let source = self.direct.queues.raw(queue);
        let received = source
            .receive(10, visibility, Duration::ZERO)
            .await
            .expect("the event source receives from moto");
        let mut polled = Polled {
            received: received.len(),
            ..Polled::default()
        };
        if received.is_empty() {
            return polled;
        }
        let payload = sqs_event(&received, &source.source_arn());
        let answer = handler
            .invoke(lambda_runtime::LambdaEvent::new(
                payload,
                lambda_runtime::Context::default(),
            ))
            .await;
        // A failed invocation leaves the whole batch (Lambda's rule).
        let Ok(answer) = answer else {
            polled.failed = received.len();
            return polled;
        };
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .expect("a partial batch response")
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        let done: Vec<String> = received
            .iter()
            .filter(|m| !failed.contains(&m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        polled.failed = received.len() - done.len();
        source
            .delete(&done)
            .await
            .expect("the event source deletes on moto");
        polled
    }

    /// Messages on `queue`: visible, in flight and delayed.
    pub async fn depth(&self, queue: QueueName) -> u64 {
        self.direct
            .queues
            .raw(queue)
            .approximate_len()
            .await
            .expect("queue depth from moto")
    }

    /// Runs each consumer's event source until every consumed queue is
    /// empty, or panics after `limit`.
    pub async fn settle(
        &self,
        consumers: &[(QueueName, &Handler)],
        visibility: Duration,
        limit: Duration,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            let mut received = 0;
            for (queue, handler) in consumers {
                received += self.poll(handler, *queue, visibility).await.received;
            }
            if received == 0 {
                let mut depth = 0;
                for (queue, _) in consumers {
                    depth += self.depth(*queue).await;
                }
                if depth == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(
                Instant::now() < deadline,
                "the queues did not drain within {limit:?}"
            );
        }
    }
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Polled {
    pub received: usize,
    /// Left on the queue (reported failed, or the invocation failed).
    pub failed: usize,
}

/// The SQS event Lambda's event source invokes a function with.
pub fn sqs_event(received: &[Received], source_arn: &str) -> Value {
    let records: Vec<Value> = received
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_at_ms.to_string(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": source_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Writes a line of figures past the test harness's output capture, so it
/// is in the output of every run, passing or not.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The JSON of an API Gateway (HTTP API, payload 2.0) request, as the
/// functions receive it.
pub fn api_request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Value {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), Value::from(*value));
    }
    header_map.insert("content-type".into(), "application/json".into());
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "faults",
            "domainName": "faults.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "faults"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795341600000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Invokes an HTTP route of `handler`; (status, JSON body).
pub async fn http(handler: &Handler, request: Value) -> (u16, Value) {
    let answer = handler
        .invoke(lambda_runtime::LambdaEvent::new(
            request,
            lambda_runtime::Context::default(),
        ))
        .await
        .expect("an HTTP invocation answers");
    let status = answer["statusCode"].as_u64().unwrap_or(0) as u16;
    let body = answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}
