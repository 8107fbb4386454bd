//! Makes the SDK's own retries visible (docs/interface/observability.md):
//! an interceptor on every DynamoDB and SQS client counts each retried
//! attempt as `engage_bridge_aws_retries_total{service,operation}`, and
//! logs at ERROR each call that ends on a transient failure — throttling,
//! a 5xx, a dropped connection, a timeout — i.e. where the SDK gave up,
//! with the operation and AWS's request id. Answers a caller expects
//! (a failed condition, a cancelled transaction) are not give-ups.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

use super::errors::THROTTLING;
use crate::observability::metrics;

/// The interceptor; one per client.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observer;

/// (service label, operation) of the call being made.
fn call(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>().map_or_else(
        || ("unknown".to_owned(), "unknown".to_owned()),
        |m| (m.service().to_ascii_lowercase(), m.name().to_owned()),
    )
}

fn attempts(cfg: &ConfigBag) -> u32 {
    cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts())
}

/// The error code of a JSON-protocol error answer (`__type`, after `#`),
/// or SQS's `x-amzn-query-error` header.
fn error_code(response: &aws_smithy_runtime_api::http::Response) -> Option<String> {
    if let Some(query) = response.headers().get("x-amzn-query-error") {
        return query.split(';').next().map(str::to_owned);
    }
    let body: serde_json::Value = serde_json::from_slice(response.body().bytes()?).ok()?;
    let kind = body.get("__type")?.as_str()?;
    Some(kind.rsplit('#').next().unwrap_or(kind).to_owned())
}

impl Intercept for Observer {
    fn name(&self) -> &'static str {
        "Observer"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if attempts(cfg) > 1 {
            let (service, operation) = call(cfg);
            metrics::aws_retry(&service, &operation);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error() else {
            return Ok(());
        };
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let code = response.and_then(error_code);
        // No answer at all is a give-up only for the connection's or the
        // clock's sake (missing credentials are errors.rs's to say).
        let transient = error.is_timeout_error()
            || error.is_connector_error()
            || match status {
                None => false,
                Some(status) if status >= 500 => true,
                Some(_) => code.as_deref().is_some_and(|c| THROTTLING.contains(&c)),
            };
        if !transient {
            return Ok(());
        }
        let (service, operation) = call(cfg);
        let request_id = response
            .and_then(|r| {
                r.headers()
                    .get("x-amzn-requestid")
                    .or_else(|| r.headers().get("x-amz-request-id"))
            })
            .unwrap_or("none");
        let reason = match (status, code) {
            (_, Some(code)) => code,
            (Some(status), None) => format!("HTTP {status}"),
            (None, None) if error.is_timeout_error() => "timeout".to_owned(),
            (None, None) => "no answer (connection failed or dropped)".to_owned(),
        };
        tracing::error!(
            service,
            operation,
            aws_request_id = request_id,
            attempts = attempts(cfg),
            reason,
            "AWS call gave up after retries"
        );
        Ok(())
    }
}
