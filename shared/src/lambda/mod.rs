//! The Lambda edge (docs/architecture.md "Two ways to run"): one invocation
//! is an API Gateway HTTP request (served by the same axum router as
//! `serve`, through lambda_http), a batch from the function's SQS event
//! source (the same batch loop as `serve`'s consumers), or, for
//! `mparticle-ingest` only, a direct Firehose invocation.

mod errors;
mod init_error;
pub mod sqs;

use axum::Router;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, LambdaEvent, Service};
use serde_json::Value;
use tower::ServiceExt;

pub use errors::FunctionError;

use crate::observability;
use crate::runtime::Services;
use crate::topology::Function;

/// What invoked the function.
enum Invocation {
    Http(Box<LambdaRequest>),
    Sqs(aws_lambda_events::sqs::SqsEvent),
    Direct(Value),
}

fn classify(payload: Value) -> Result<Invocation, FunctionError> {
    let is_sqs = payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs");
    if is_sqs {
        return serde_json::from_value(payload)
            .map(Invocation::Sqs)
            .map_err(|e| FunctionError::InvalidInvocation(format!("SQS event: {e}")));
    }
    if payload.pointer("/requestContext/http").is_some() {
        return serde_json::from_value(payload)
            .map(|r| Invocation::Http(Box::new(r)))
            .map_err(|e| FunctionError::InvalidInvocation(format!("API Gateway request: {e}")));
    }
    Ok(Invocation::Direct(payload))
}

/// One function's handlers over shared services and one router.
#[derive(Clone)]
pub struct Handler {
    services: Services,
    function: Function,
    router: Router,
}

impl Handler {
    pub fn new(services: Services, function: Function) -> Self {
        let router = crate::http::router(services.clone(), function.routes())
            .layer(axum::middleware::map_request(request_id_from_context));
        Self {
            services,
            function,
            router,
        }
    }

    /// Handles one invocation's payload.
    pub async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let unsupported = |kind| FunctionError::Unsupported {
            function: self.function.name(),
            kind,
        };
        match classify(event.payload)? {
            Invocation::Http(request) => {
                if self.function.routes().next().is_none() {
                    return Err(unsupported("HTTP"));
                }
                let mut adapter = Adapter::from(self.router.clone());
                let Ok(ready) = adapter.ready().await;
                let Ok(response) = ready.call(LambdaEvent::new(*request, event.context)).await;
                Ok(serde_json::to_value(response)?)
            }
            Invocation::Sqs(batch) => {
                let consumer = self.function.consumer().ok_or_else(|| unsupported("SQS"))?;
                let records = sqs::records(batch);
                let outcome = crate::consumers::handle(&self.services, consumer, &records).await;
                Ok(serde_json::to_value(sqs::response(outcome))?)
            }
            Invocation::Direct(payload) if self.function.accepts_direct_invocations() => {
                Ok(crate::mparticle::firehose_direct(&self.services, payload).await?)
            }
            Invocation::Direct(_) => Err(unsupported("direct")),
        }
    }
}

/// The request id of the access log and the `x-request-id` answer is API
/// Gateway's own, so a log line can be found from either side.
async fn request_id_from_context(mut request: axum::extract::Request) -> axum::extract::Request {
    let id = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    if let Some(value) = id.and_then(|id| id.parse().ok()) {
        request.headers_mut().insert(crate::http::REQUEST_ID, value);
    }
    request
}

/// Runs the Lambda runtime loop for `function`, sharing one set of services
/// (and so every client and connection) across invocations. A function that
/// cannot start (a missing `ENGAGE_BRIDGE_*` variable) reports an init error
/// to the runtime API, as Lambda expects, before it exits.
pub async fn run(function: Function) -> Result<(), lambda_runtime::Error> {
    observability::logging::init_lambda();
    let metrics = observability::metrics::emf();
    let settings = crate::runtime::AwsEnvironment::from_env()
        .map_err(|e| e.to_string())
        .and_then(|environment| {
            crate::privacy::settings::PrivacySettings::from_env()
                .map(|privacy| (environment, privacy))
                .map_err(|e| e.to_string())
        });
    let services = match settings {
        Ok((environment, privacy)) => {
            Services::aws_from(&environment, &crate::store::aws::sdk_config()).with_privacy(privacy)
        }
        Err(message) => {
            tracing::error!(error = %message, "cannot start");
            init_error::report("ConfigurationError", &message).await;
            return Err(message.into());
        }
    };
    let handler = Handler::new(services, function);
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| async move {
            let result = handler.invoke(event).await;
            if let Err(e) = &result {
                errors::log(e);
            }
            // The invocation's delivery-log entries, before Lambda freezes
            // the process (a recording never fails the invocation).
            handler
                .services
                .delivery_log
                .flush(std::time::Duration::from_secs(2))
                .await;
            // The invocation's metrics, as EMF lines beside its logs.
            if let Some(collector) = metrics
                && let Err(e) = collector.flush(std::io::stdout())
            {
                tracing::warn!(error = %e, "could not write the invocation's metrics");
            }
            result
        },
    ))
    .await
}
