//! The SDK clients of a process, built once from the standard AWS
//! environment and shared by every store and queue (connections are
//! reused), each with the timeouts of settings.rs and the observer of
//! observe.rs.

use aws_sdk_dynamodb::Client as DynamoDbClient;
use aws_sdk_sqs::Client as SqsClient;

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
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let timeouts = settings::timeouts(sdk);
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts.clone())
            .interceptor(Observer);
        let sqs = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .interceptor(Observer);
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
