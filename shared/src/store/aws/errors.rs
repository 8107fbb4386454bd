//! An AWS SDK error as one line an operator can act on: missing
//! credentials, an endpoint that cannot be reached or does not answer, or
//! the service's own error code and message — not the SDK's whole chain
//! (docs/interface/observability.md "Errors").

use std::error::Error;
use std::fmt::Debug;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::ports::{StoreError, Unavailability};

/// The AWS services engage-bridge calls.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    DynamoDb,
    Sqs,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DynamoDb => "DynamoDB",
            Self::Sqs => "SQS",
        }
    }

    /// The `service` label of the metrics and logs.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::Sqs => "sqs",
        }
    }

    /// Where its requests go, as the SDK's standard variables say.
    fn endpoint(self) -> String {
        let specific = match self {
            Self::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            Self::Sqs => "AWS_ENDPOINT_URL_SQS",
        };
        let region = || {
            std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .map_or_else(|_| "no region set".to_owned(), |r| format!("region {r}"))
        };
        std::env::var(specific)
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| region())
    }
}

/// The store error for a failed SDK call: its kind decides what the caller
/// does (docs/architecture.md "Errors"); its message is [`describe`]'s line.
pub(crate) fn store_error<E>(service: Service, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let detail = describe(service, &error);
    let kind = match &error {
        _ if find::<CredentialsError>(&error).is_some() => Some(Unavailability::Unreachable),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Some(Unavailability::Timeout),
        SdkError::TimeoutError(_) => Some(Unavailability::Timeout),
        SdkError::DispatchFailure(_) => Some(Unavailability::Unreachable),
        SdkError::ResponseError(_) => Some(Unavailability::Failed),
        SdkError::ServiceError(failure) => {
            let code = failure.err().code().unwrap_or_default();
            if THROTTLING.contains(&code) {
                Some(Unavailability::Throttled)
            } else if failure.raw().status().is_server_error() {
                Some(Unavailability::Failed)
            } else {
                None
            }
        }
        _ => None,
    };
    let source = Some(Box::new(error) as crate::ports::BoxError);
    match kind {
        Some(kind) => StoreError::Unavailable {
            kind,
            detail,
            source,
        },
        None => StoreError::Refused { detail, source },
    }
}

/// The error codes by which DynamoDB and SQS ask a caller to slow down.
pub(crate) const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
];

pub(crate) fn describe<E, R>(service: Service, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug + 'static,
{
    let name = service.name();
    if let Some(credentials) = find::<CredentialsError>(error) {
        return format!(
            "no usable AWS credentials for {name}: {} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run with a role)",
            root_cause(credentials)
        );
    }
    match error {
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            format!("{name} at {} did not answer in time", service.endpoint())
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => format!(
            "cannot reach {name} at {}: {}",
            service.endpoint(),
            root_cause(error)
        ),
        SdkError::TimeoutError(_) => {
            format!("{name} at {} did not answer in time", service.endpoint())
        }
        SdkError::ServiceError(failure) => {
            let err = failure.err();
            format!(
                "{name} refused the request: {}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            )
        }
        _ => format!("{name} request failed: {}", root_cause(error)),
    }
}

/// The first error of type `T` in the chain.
fn find<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The first line of the innermost message of the chain (the OS's
/// "Connection refused", the provider chain's "no credentials found in
/// chain", whose list of providers tried follows on more lines).
fn root_cause(error: &(dyn Error + 'static)) -> String {
    let mut last = error;
    while let Some(source) = last.source() {
        last = source;
    }
    let text = last.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_end_matches("Attempted:").trim().to_owned()
}
