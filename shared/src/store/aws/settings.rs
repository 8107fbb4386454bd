//! How every AWS client is configured (docs/architecture.md "Nothing
//! acknowledged is lost"): timeouts on each call, so a hung DynamoDB or SQS
//! call fails well inside the function's timeout (which stays well inside
//! the queue's visibility timeout: tests/template.rs checks both), and the
//! SDK's standard retries of throttling, 5xx, dropped connections and
//! timeouts, each retry counted and each give-up logged (observe.rs).

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_types::SdkConfig;

use super::http::{self, Trust};

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
pub fn timeouts(sdk: &SdkConfig) -> TimeoutConfig {
    let ours = timeout_config().to_builder();
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

/// The timeouts above, for a whole SDK configuration.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The shared SDK configuration from the variables Lambda sets (region and
/// the execution role's credentials; `AWS_ENDPOINT_URL` for local
/// emulators), with [`retry_config`], the timeouts above and the HTTP
/// client of http.rs: a function's. No configuration chain is linked
/// (docs/architecture.md "TLS and trust"); the CLI builds its own with
/// aws-config, [`http::client`], [`retry_config`] and [`timeout_config`].
pub fn sdk_config() -> SdkConfig {
    from_environment(|name| std::env::var(name).ok())
}

/// [`sdk_config`] without the chain, reading variables with `var`.
pub fn from_environment(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_types::region::Region;

    let mut sdk = SdkConfig::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(http::client(Trust::Amazon))
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        sdk.set_region(Some(Region::new(region)));
    }
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials =
            Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        sdk.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials)));
    }
    sdk.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    sdk.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_timeouts_are_ours_and_set_ones_are_kept() {
        let bare = SdkConfig::builder().build();
        let t = timeouts(&bare);
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        let short = SdkConfig::builder()
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

    #[test]
    fn a_function_reads_region_credentials_and_endpoint_from_its_environment() {
        use aws_credential_types::provider::ProvideCredentials;
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let sdk = from_environment(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]));
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(sdk.http_client().is_some(), "the client on ring");
        assert_eq!(
            sdk.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
        let credentials = futures::executor::block_on(
            sdk.credentials_provider()
                .expect("credentials from the environment")
                .provide_credentials(),
        )
        .unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("session"));

        let sdk = from_environment(env(&[("AWS_DEFAULT_REGION", "us-east-1")]));
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert!(
            sdk.credentials_provider().is_none(),
            "no credentials made up"
        );
        assert_eq!(sdk.endpoint_url(), None);
    }
}
