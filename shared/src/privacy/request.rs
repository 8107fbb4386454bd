//! Privacy requests as kept (docs/interface/privacy.md "Requests"): ids,
//! kinds, states and the keyed hashes of whom they are about — never an
//! identity in clear. The identities travel on the privacy queue's message
//! until the request is done.

use serde::{Deserialize, Serialize};

/// What a request asks for. OpenDSR's `portability` is an `access`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Erasure,
    Access,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erasure => "erasure",
            Self::Access => "access",
        }
    }
}

/// OpenDSR's request states; `cancelled` only from `pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    InProgress,
    Completed,
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// No further change happens.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

/// An identity a request names, in clear: only ever on the privacy queue
/// (and, for an access request's results, in its access subject).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Identity {
    /// The profile's `uid` (OpenDSR `controller_customer_id`).
    Uid(String),
    /// Matched against the profiles' `email` attribute.
    Email(String),
}

impl Identity {
    pub fn value(&self) -> &str {
        match self {
            Self::Uid(v) | Self::Email(v) => v,
        }
    }
}

/// What an OpenDSR controller sent besides the identities, and what it was
/// answered (docs/interface/privacy.md "OpenDSR").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenDsrDetails {
    pub received_time: String,
    pub expected_completion_time: String,
    #[serde(default)]
    pub status_callback_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// A privacy request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyRequest {
    /// A random uuid, or the OpenDSR `subject_request_id`.
    pub id: String,
    pub workspace_id: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    /// Keyed hashes of the identities named (docs/interface/privacy.md
    /// "Suppression": HMAC-SHA256 with the workspace's key).
    pub subject_hashes: Vec<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The states whose callbacks were queued (OpenDSR), so a redelivered
    /// job queues the missing ones and no others.
    #[serde(default)]
    pub announced: Vec<RequestStatus>,
    /// Keyed hashes of the profiles an erasure found, noted once before
    /// any is removed: a resumed erasure announces each `User Deleted`
    /// event exactly as the first run did (with `moengage_user_id` when
    /// there was a profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles_found: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opendsr: Option<OpenDsrDetails>,
}

impl PrivacyRequest {
    pub fn new(
        id: String,
        workspace_id: &str,
        kind: RequestKind,
        subject_hashes: Vec<String>,
        now_ms: i64,
    ) -> Self {
        Self {
            id,
            workspace_id: workspace_id.to_owned(),
            kind,
            status: RequestStatus::Pending,
            subject_hashes,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            announced: Vec::new(),
            profiles_found: None,
            opendsr: None,
        }
    }
}

/// One user an erasure removes: a uid (and its derived profile id), or a
/// profile without uid found by an identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub moengage_user_id: String,
}

/// What an access request's results are computed from: the identities and
/// the users they were resolved to, kept (in clear) only until the results
/// expire or one of those users is erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSubject {
    pub identities: Vec<Identity>,
    pub targets: Vec<Target>,
    /// Keyed hashes of every identity and resolved uid: what an erasure
    /// matches to forget this subject.
    pub hashes: Vec<String>,
    pub expires_at_ms: i64,
}

/// A suppressed uid as listed: its keyed hash and since when (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub hash: String,
    pub since_ms: i64,
}
