//! Lambda edges: recognise what invoked the function (API Gateway HTTP API,
//! an SQS event-source mapping, or a direct invocation) and convert between
//! the AWS event types and the shared handlers' plain types.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::SqsEvent;
use lambda_http::request::LambdaRequest;
use serde_json::Value;

use crate::api::{ApiRequest, ApiResponse};

/// The three shapes a function's payload can take.
#[derive(Debug)]
pub enum Invocation {
    Http(Box<ApiGatewayV2httpRequest>),
    Sqs(SqsEvent),
    /// Anything else: e.g. mParticle Firehose invoking the function directly.
    Direct(Value),
}

#[derive(Debug, thiserror::Error)]
#[error("unrecognised {kind} payload: {source}")]
pub struct InvocationError {
    kind: &'static str,
    source: serde_json::Error,
}

pub fn classify(payload: Value) -> Result<Invocation, InvocationError> {
    let is_sqs = payload
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|records| records.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs");
    if is_sqs {
        return serde_json::from_value(payload)
            .map(Invocation::Sqs)
            .map_err(|source| InvocationError {
                kind: "SQS",
                source,
            });
    }
    if payload.pointer("/requestContext/http").is_some() {
        return serde_json::from_value(payload)
            .map(|r| Invocation::Http(Box::new(r)))
            .map_err(|source| InvocationError {
                kind: "API Gateway HTTP",
                source,
            });
    }
    Ok(Invocation::Direct(payload))
}

/// API Gateway v2 request → the API's request (lambda_http does the work:
/// base64 bodies, query strings, headers).
pub fn api_request(request: ApiGatewayV2httpRequest) -> ApiRequest {
    let request: http::Request<lambda_http::Body> = LambdaRequest::ApiGatewayV2(request).into();
    let (parts, body) = request.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    http::Request::from_parts(parts, bytes)
}

/// The API's response → API Gateway v2 response (JSON text bodies).
pub fn apigw_response(response: ApiResponse) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.body = Some(Body::Text(String::from_utf8_lossy(&body).into_owned()));
    out.is_base64_encoded = false;
    out
}

/// Initialises JSON logs for Lambda (CloudWatch's JSON log format).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// The four Lambda functions of template.yaml.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    CohortIngest,
    MparticleIngest,
    StreamDispatch,
    Retry,
}

#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("{function:?} does not accept {kind} invocations")]
    Unsupported {
        function: Function,
        kind: &'static str,
    },
    #[error("cannot encode the response: {0}")]
    Encode(#[from] serde_json::Error),
    /// A failure the caller should retry (rate limited, backend error).
    #[error("{0}")]
    Retriable(String),
}

impl Function {
    fn routes(self) -> Option<crate::api::RouteSet> {
        match self {
            Self::CohortIngest => Some(crate::api::RouteSet::CohortIngest),
            Self::MparticleIngest => Some(crate::api::RouteSet::MparticleIngest),
            Self::StreamDispatch | Self::Retry => None,
        }
    }

    fn queue_handler(self) -> Option<crate::handlers::QueueHandler> {
        crate::handlers::QueueHandler::ALL
            .iter()
            .copied()
            .find(|h| h.function() == self)
    }
}

/// Handles one invocation of `function` with the raw payload.
pub async fn invoke(
    services: &crate::runtime::Services,
    function: Function,
    payload: Value,
) -> Result<Value, FunctionError> {
    let unsupported = |kind| FunctionError::Unsupported { function, kind };
    match classify(payload)? {
        Invocation::Http(request) => {
            let routes = function.routes().ok_or_else(|| unsupported("HTTP"))?;
            let response = crate::api::handle(services, routes, api_request(*request)).await;
            Ok(serde_json::to_value(apigw_response(response))?)
        }
        Invocation::Sqs(event) => {
            let handler = function.queue_handler().ok_or_else(|| unsupported("SQS"))?;
            Ok(serde_json::to_value(handler.handle(services, event).await)?)
        }
        Invocation::Direct(payload) => match function {
            Function::MparticleIngest => crate::handlers::direct(services, payload)
                .await
                .map_err(|e| FunctionError::Retriable(e.to_string())),
            _ => Err(unsupported("direct")),
        },
    }
}

/// Runs the Lambda runtime loop for `function`, sharing `services` (and so
/// every client and connection) across invocations.
pub async fn serve(
    services: crate::runtime::Services,
    function: Function,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = &services;
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<Value>| async move {
            invoke(services, function, event.payload)
                .await
                .map_err(|e| lambda_http::Error::from(e.to_string()))
        },
    ))
    .await
}
