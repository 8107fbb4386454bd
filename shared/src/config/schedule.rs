//! The retry schedule (docs/rules/retry.md): the delays before retries
//! 1..n, each 1..=900 s (a queue cannot hide a message longer), then a dead
//! letter. Validated once, wherever it comes from (file or environment).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest delay a queue can apply (SQS `DelaySeconds` and visibility
/// changes of the schedule), also the cap on a receiver's `Retry-After`.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(900);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u32>", into = "Vec<u32>")]
pub struct RetrySchedule(Vec<u32>);

impl RetrySchedule {
    /// The default schedule: 30 s, 60 s, 120 s (docs/rules/retry.md).
    pub const DEFAULT: [u32; 3] = [30, 60, 120];

    /// "30,60,120" (the template's `RetryScheduleSeconds`).
    pub fn parse(text: &str) -> Result<Self, BadSchedule> {
        let delays = text
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<u32>()
                    .map_err(|_| BadSchedule::NotSeconds(part.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::try_from(delays)
    }

    /// How many retries follow the first attempt.
    pub fn retries(&self) -> usize {
        self.0.len()
    }

    /// The wait before retry number `retries_done + 1`: the schedule's step,
    /// or longer if the receiver asked for it (`Retry-After`), capped at
    /// [`MAX_RETRY_DELAY`]; None once the schedule is exhausted.
    pub fn delay(&self, retries_done: usize, wait_at_least: Duration) -> Option<Duration> {
        let step = Duration::from_secs(u64::from(*self.0.get(retries_done)?));
        Some(step.max(wait_at_least).min(MAX_RETRY_DELAY))
    }
}

impl schemars::JsonSchema for RetrySchedule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RetrySchedule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_RETRY_DELAY.as_secs()},
            "minItems": 1,
            "default": RetrySchedule::DEFAULT,
            "description": "seconds before retries 1..n, then dead letter"
        })
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(Self::DEFAULT.to_vec())
    }
}

/// Why a schedule is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadSchedule {
    #[error("{0:?} is not a number of seconds")]
    NotSeconds(String),
    #[error("must list at least one delay")]
    Empty,
    #[error("[{index}] = {delay} is outside 1..{max} seconds", max = MAX_RETRY_DELAY.as_secs())]
    OutOfRange { index: usize, delay: u32 },
}

impl TryFrom<Vec<u32>> for RetrySchedule {
    type Error = BadSchedule;
    fn try_from(delays: Vec<u32>) -> Result<Self, BadSchedule> {
        if delays.is_empty() {
            return Err(BadSchedule::Empty);
        }
        let max = MAX_RETRY_DELAY.as_secs();
        if let Some((index, delay)) = delays
            .iter()
            .enumerate()
            .find(|(_, d)| !(1..=max).contains(&u64::from(**d)))
        {
            return Err(BadSchedule::OutOfRange {
                index,
                delay: *delay,
            });
        }
        Ok(Self(delays))
    }
}

impl From<RetrySchedule> for Vec<u32> {
    fn from(schedule: RetrySchedule) -> Self {
        schedule.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Duration = Duration::ZERO;

    #[test]
    fn steps_then_exhausted() {
        let s = RetrySchedule::default();
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(s.delay(0, NONE), secs(30));
        assert_eq!(s.delay(1, NONE), secs(60));
        assert_eq!(s.delay(2, NONE), secs(120));
        assert_eq!(s.delay(3, NONE), None);
        // A longer Retry-After is honoured, up to 900 s.
        assert_eq!(s.delay(0, Duration::from_secs(300)), secs(300));
        assert_eq!(s.delay(1, Duration::from_secs(5000)), secs(900));
    }

    #[test]
    fn parses_and_rejects_out_of_range() {
        assert_eq!(
            RetrySchedule::parse("30, 60,120").unwrap(),
            RetrySchedule::default()
        );
        assert_eq!(
            RetrySchedule::parse("30,901").unwrap_err(),
            BadSchedule::OutOfRange {
                index: 1,
                delay: 901
            }
        );
        assert!(RetrySchedule::parse("").is_err());
        assert!(RetrySchedule::parse("0").is_err());
        assert!(RetrySchedule::try_from(vec![]).is_err());
    }
}
