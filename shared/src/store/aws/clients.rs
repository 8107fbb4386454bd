//! The SDK clients of a process, built once from the standard AWS
//! environment and shared by every store and queue (connections are
//! reused), each with the timeouts of settings.rs and the observer of
//! observe.rs.

use aws_sdk_dynamodb::Client as DynamoDbClient;
use aws_sdk_sqs::Client as SqsClient;

use super::http::{self, Trust};
use super::observe::Observer;
use super::settings;

/// One DynamoDB and one SQS client.
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: DynamoDbClient,
    pub sqs: SqsClient,
    /// Requests sent by each (benchmarks report them).
    #[cfg(feature = "test-support")]
    pub requests: (RequestCounter, RequestCounter),
}

impl Clients {
    /// Clients for `sdk`; on the HTTP client of http.rs when `sdk` has
    /// none, and at `AWS_ENDPOINT_URL_DYNAMODB` / `_SQS` when set (the SDK's
    /// own service-specific variables, which the configuration chain reads
    /// and a function's environment-only configuration does not).
    pub fn new(sdk: &aws_types::SdkConfig) -> Self {
        let timeouts = settings::timeouts(sdk);
        let http_client = sdk
            .http_client()
            .unwrap_or_else(|| http::client(Trust::Amazon));
        let endpoint = |name| std::env::var(name).ok();
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .http_client(http_client.clone())
            .timeout_config(timeouts.clone())
            .interceptor(Observer);
        if let Some(url) = endpoint("AWS_ENDPOINT_URL_DYNAMODB") {
            dynamodb = dynamodb.endpoint_url(url);
        }
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .http_client(http_client)
            .timeout_config(timeouts)
            .interceptor(Observer);
        if let Some(url) = endpoint("AWS_ENDPOINT_URL_SQS") {
            sqs = sqs.endpoint_url(url);
        }
        #[cfg(feature = "test-support")]
        let (requests, dynamodb, sqs) = {
            let requests = (RequestCounter::default(), RequestCounter::default());
            let dynamodb = dynamodb.interceptor(requests.0.clone());
            let sqs = sqs.interceptor(requests.1.clone());
            (requests, dynamodb, sqs)
        };
        Self {
            dynamodb: DynamoDbClient::from_conf(dynamodb.build()),
            sqs: SqsClient::from_conf(sqs.build()),
            #[cfg(feature = "test-support")]
            requests,
        }
    }
}

#[cfg(feature = "test-support")]
pub use counter::RequestCounter;

#[cfg(feature = "test-support")]
mod counter {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

    /// Counts the requests an SDK client sends (retries included).
    #[derive(Clone, Debug, Default)]
    pub struct RequestCounter(Arc<AtomicU64>);

    impl RequestCounter {
        pub fn get(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    impl Intercept for RequestCounter {
        fn name(&self) -> &'static str {
            "RequestCounter"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _components: &RuntimeComponents,
            _cfg: &mut ConfigBag,
        ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
            tracing::trace!(
                target: "engage_bridge::aws_requests",
                operation = ?context.request().headers().get("x-amz-target"),
                "AWS request"
            );
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
}
