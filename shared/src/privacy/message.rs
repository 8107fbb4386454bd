//! The privacy queue's message (docs/interface/privacy.md "Processing"):
//! a request as received, or one OpenDSR status callback. A plain value:
//! the queue carries it (queue/mod.rs), the consumer in job.rs acts on it.

use serde::{Deserialize, Serialize};

use super::request::{Identity, PrivacyRequest, RequestStatus};

/// A privacy-queue message. Only this message holds the identities of a
/// request (never its record), until the request is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum PrivacyJob {
    /// A request to carry out; the record is kept from it if absent.
    Received {
        workspace_id: String,
        request: Box<PrivacyRequest>,
        identities: Vec<Identity>,
    },
    /// One OpenDSR status callback to one URL.
    Callback {
        workspace_id: String,
        request_id: String,
        url: String,
        status: RequestStatus,
    },
}
