//! The environment the Lambda functions (and the CLI on the aws backend)
//! are configured by: the variables template.yaml sets
//! (docs/interface/config.md "On AWS").

use crate::config::{PrivateDestinations, RetrySchedule};
use crate::store::aws::AwsResources;

/// `[security] private_destinations` for the Lambda functions (the
/// template's `PrivateDestinations` parameter): `allow` or `deny` (default).
pub const PRIVATE_DESTINATIONS_ENV: &str = "ENGAGE_BRIDGE_PRIVATE_DESTINATIONS";
/// `[console] delivery_log_days` (the template's `DeliveryLogDays`).
pub const DELIVERY_LOG_DAYS_ENV: &str = "ENGAGE_BRIDGE_DELIVERY_LOG_DAYS";
/// `[retry] schedule_seconds`, comma-separated (the template's parameter).
pub const RETRY_SCHEDULE_ENV: &str = "ENGAGE_BRIDGE_RETRY_SCHEDULE";

/// A variable that is missing or wrong; a function that meets one cannot
/// start (it reports an init error).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {name} is not set (the aws backend needs {needs})")]
    Missing { name: &'static str, needs: String },
    #[error("environment variable {name}: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// What the aws backend is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsEnvironment {
    pub resources: AwsResources,
    pub retry_schedule: RetrySchedule,
    pub private_destinations: PrivateDestinations,
    pub delivery_log_days: u32,
}

impl AwsEnvironment {
    pub fn from_env() -> Result<Self, EnvError> {
        Self::read(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `var` (the process environment, or a test's).
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let required = |name: &'static str| {
            var(name).ok_or_else(|| EnvError::Missing {
                name,
                needs: AwsResources::ENV.join(", "),
            })
        };
        let [config, state, events, retry, dead_letter, cohort] = AwsResources::ENV;
        let resources = AwsResources {
            config_table: required(config)?,
            state_table: required(state)?,
            events_queue_url: required(events)?,
            retry_queue_url: required(retry)?,
            dead_letter_queue_url: required(dead_letter)?,
            cohort_queue_url: required(cohort)?,
        };
        let retry_schedule = match var(RETRY_SCHEDULE_ENV) {
            Some(text) => RetrySchedule::parse(&text).map_err(|e| EnvError::Invalid {
                name: RETRY_SCHEDULE_ENV,
                problem: e.to_string(),
            })?,
            None => RetrySchedule::default(),
        };
        let private_destinations = match var(PRIVATE_DESTINATIONS_ENV).as_deref() {
            Some("allow") => PrivateDestinations::Allow,
            Some("deny") | None => PrivateDestinations::Deny,
            Some(other) => {
                return Err(EnvError::Invalid {
                    name: PRIVATE_DESTINATIONS_ENV,
                    problem: format!("expected allow or deny, found {other:?}"),
                });
            }
        };
        let delivery_log_days = match var(DELIVERY_LOG_DAYS_ENV) {
            Some(text) => text
                .parse()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| EnvError::Invalid {
                    name: DELIVERY_LOG_DAYS_ENV,
                    problem: format!("expected 1 to 365 (days), found {text:?}"),
                })?,
            None => crate::delivery_log::DEFAULT_DAYS,
        };
        Ok(Self {
            resources,
            retry_schedule,
            private_destinations,
            delivery_log_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all: Vec<(String, String)> = AwsResources::ENV
            .iter()
            .map(|name| (name.to_string(), format!("value-of-{name}")))
            .collect();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        move |name| {
            all.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_deny_private_destinations_and_the_standard_schedule() {
        let env = AwsEnvironment::read(vars(&[])).unwrap();
        assert_eq!(env.private_destinations, PrivateDestinations::Deny);
        assert_eq!(env.retry_schedule, RetrySchedule::default());
        assert_eq!(env.delivery_log_days, 7);
        assert_eq!(
            env.resources.config_table,
            "value-of-ENGAGE_BRIDGE_CONFIG_TABLE"
        );
    }

    #[test]
    fn each_wrong_variable_is_named() {
        let missing = AwsEnvironment::read(|_| None).unwrap_err();
        assert!(matches!(
            missing,
            EnvError::Missing {
                name: "ENGAGE_BRIDGE_CONFIG_TABLE",
                ..
            }
        ));
        let schedule = AwsEnvironment::read(vars(&[(RETRY_SCHEDULE_ENV, "30,901")])).unwrap_err();
        assert!(matches!(schedule, EnvError::Invalid { name, .. } if name == RETRY_SCHEDULE_ENV));
        let policy =
            AwsEnvironment::read(vars(&[(PRIVATE_DESTINATIONS_ENV, "maybe")])).unwrap_err();
        assert!(
            matches!(policy, EnvError::Invalid { name, .. } if name == PRIVATE_DESTINATIONS_ENV)
        );
        assert!(policy.to_string().contains("\"maybe\""), "{policy}");
        let days = AwsEnvironment::read(vars(&[(DELIVERY_LOG_DAYS_ENV, "0")])).unwrap_err();
        assert!(matches!(days, EnvError::Invalid { name, .. } if name == DELIVERY_LOG_DAYS_ENV));
    }
}
