//! How every AWS client is configured (docs/architecture.md "Nothing
//! acknowledged is lost"): timeouts on each call, so a hung DynamoDB or SQS
//! call fails well inside the function's timeout (which stays well inside
//! the queue's visibility timeout: tests/template.rs checks both), and the
//! SDK's standard retries of throttling, 5xx, dropped connections and
//! timeouts, each retry counted and each give-up logged (observe.rs).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Connecting to an endpoint (in-region: milliseconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of a call; a slower answer is abandoned and the call
/// retried (an abandoned write may still have been applied: every write is
/// idempotent or checks whose it is, docs/architecture.md).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call, its retries and their backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of one call (the first and three retries).
pub const MAX_ATTEMPTS: u32 = 4;

/// The timeouts a client gets: those `sdk` sets, ours for the others.
pub fn timeouts(sdk: &aws_config::SdkConfig) -> TimeoutConfig {
    let ours = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT);
    match sdk.timeout_config() {
        Some(set) => set.to_builder().take_unset_from(ours).build(),
        None => ours.build(),
    }
}

/// The SDK's standard retry mode (exponential backoff with jitter and a
/// retry quota), [`MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Timeouts for a long poll of `wait`: the attempt and the call get the
/// wait on top of the usual bounds.
pub fn long_poll_timeouts(wait: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(ATTEMPT_TIMEOUT + wait)
        .operation_timeout(OPERATION_TIMEOUT + wait)
        .build()
}

/// The shared SDK configuration from the standard AWS environment
/// (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL` for local emulators),
/// with [`retry_config`] and the timeouts above.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_timeouts_are_ours_and_set_ones_are_kept() {
        let bare = aws_config::SdkConfig::builder().build();
        let t = timeouts(&bare);
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        let short = aws_config::SdkConfig::builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build();
        let t = timeouts(&short);
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
    }
}
