//! A stream's operator state (docs/interface/streams.md "Pause, resume and
//! 410 Gone"): paused by an operator, or disabled after a `410 Gone`. Kept
//! in the store apart from the workspace configuration, so it survives
//! restarts and `workspaces apply`; `enabled = false` in the configuration
//! is the third way a stream waits.

use serde::{Deserialize, Serialize};

/// What the store keeps per (workspace, stream); the default (neither) is
/// not kept at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// Paused by an operator (console Pause, `streams pause`): when (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<String>,
    /// Disabled after the endpoint answered `410 Gone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
}

/// When a stream was disabled, and why (the endpoint and its answer; never
/// a credential).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    pub at: String,
    pub reason: String,
}

/// One change of a stream's state, applied atomically by the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateChange {
    /// An operator pauses the stream (at, RFC 3339).
    Pause { at: String },
    /// The endpoint answered `410 Gone`.
    Disable(Disabled),
    /// An operator resumes it: both the pause and the disabled state end.
    Resume,
}

impl StreamState {
    /// The state after `change`.
    pub fn apply(mut self, change: &StateChange) -> Self {
        match change {
            StateChange::Pause { at } => {
                self.paused_at.get_or_insert_with(|| at.clone());
            }
            StateChange::Disable(disabled) => {
                self.disabled.get_or_insert_with(|| disabled.clone());
            }
            StateChange::Resume => self = Self::default(),
        }
        self
    }

    /// Neither paused nor disabled: nothing to keep.
    pub fn is_active(&self) -> bool {
        self.paused_at.is_none() && self.disabled.is_none()
    }
}

/// Why a stream's batches wait instead of being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// `enabled = false` in the configuration.
    Config,
    /// Paused by an operator.
    Operator,
    /// Disabled after a `410 Gone`.
    Gone,
}

impl Hold {
    /// The status the console and the CLI show, and logs name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config | Self::Operator => "paused",
            Self::Gone => "disabled",
        }
    }

    /// The hold, if any, of a stream configured `enabled` with `state`; the
    /// configuration's pause first, then a 410, then the operator's pause.
    pub fn of(enabled: bool, state: Option<&StreamState>) -> Option<Self> {
        if !enabled {
            return Some(Self::Config);
        }
        let state = state?;
        if state.disabled.is_some() {
            Some(Self::Gone)
        } else if state.paused_at.is_some() {
            Some(Self::Operator)
        } else {
            None
        }
    }
}

/// The key a stream's held batches are sent under on the retry queue, so
/// that a resume can make them due at once where the queue can (the
/// embedded one).
pub fn hold_key(workspace: &str, stream: &str) -> String {
    // A JSON pair: unambiguous whatever the names hold.
    serde_json::json!([workspace, stream]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disabled(at: &str) -> Disabled {
        Disabled {
            at: at.into(),
            reason: "HTTP 410".into(),
        }
    }

    #[test]
    fn pause_and_disable_keep_their_first_time_and_resume_ends_both() {
        let state = StreamState::default()
            .apply(&StateChange::Pause { at: "t1".into() })
            .apply(&StateChange::Pause { at: "t2".into() })
            .apply(&StateChange::Disable(disabled("t3")))
            .apply(&StateChange::Disable(disabled("t4")));
        assert_eq!(state.paused_at.as_deref(), Some("t1"));
        assert_eq!(state.disabled, Some(disabled("t3")));
        assert!(!state.is_active());
        assert!(state.apply(&StateChange::Resume).is_active());
    }

    #[test]
    fn the_hold_names_the_first_reason() {
        let paused = StreamState::default().apply(&StateChange::Pause { at: "t".into() });
        let gone = StreamState::default().apply(&StateChange::Disable(disabled("t")));
        assert_eq!(Hold::of(false, Some(&gone)), Some(Hold::Config));
        assert_eq!(
            Hold::of(
                true,
                Some(&paused.clone().apply(&StateChange::Disable(disabled("t"))))
            ),
            Some(Hold::Gone)
        );
        assert_eq!(Hold::of(true, Some(&paused)), Some(Hold::Operator));
        assert_eq!(Hold::of(true, Some(&StreamState::default())), None);
        assert_eq!(Hold::of(true, None), None);
    }
}
