//! The privacy ports (docs/interface/privacy.md), each with a SQLite and a
//! DynamoDB adapter (`store/*/privacy.rs`) and one contract suite
//! (tests/contract/privacy.rs).

use std::collections::HashMap;

use async_trait::async_trait;

use super::request::{AccessSubject, PrivacyRequest, RequestStatus, Suppression};
use crate::domain::{DeadLetter, Page, PageRequest};
use crate::ports::StoreResult;
use crate::topology::QueueName;

/// The suppression list: keyed hashes of erased uids, and each workspace's
/// key. The key is made on first use, once: concurrent first users agree
/// on it.
#[async_trait]
pub trait SuppressionStore: Send + Sync {
    /// The workspace's HMAC key, created (32 random bytes) if absent.
    async fn suppression_key(&self, workspace: &str) -> StoreResult<Vec<u8>>;
    /// Suppresses `hash` from `since_ms`; an existing suppression keeps its
    /// time. Returns the time in effect.
    async fn suppress(&self, workspace: &str, hash: &str, since_ms: i64) -> StoreResult<i64>;
    /// Lifts a suppression; false when there was none.
    async fn lift(&self, workspace: &str, hash: &str) -> StoreResult<bool>;
    /// hash → since for those of `hashes` that are suppressed (one batched read).
    async fn suppressed(
        &self,
        workspace: &str,
        hashes: &[String],
    ) -> StoreResult<HashMap<String, i64>>;
    /// A page of the workspace's suppressions, by hash; `next_after` only
    /// when more follow (the suppression check relies on it).
    async fn list_suppressions(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>>;
}

/// Privacy requests and access subjects.
#[async_trait]
pub trait PrivacyRequestStore: Send + Sync {
    /// Keeps `request` unless one with its id exists; returns the one kept.
    async fn create_request(&self, request: &PrivacyRequest) -> StoreResult<PrivacyRequest>;
    async fn get_request(&self, workspace: &str, id: &str) -> StoreResult<Option<PrivacyRequest>>;
    /// Replaces the stored request if its status is still `expected`;
    /// false otherwise (another writer moved it on).
    async fn update_request(
        &self,
        request: &PrivacyRequest,
        expected: RequestStatus,
    ) -> StoreResult<bool>;
    async fn put_access_subject(
        &self,
        workspace: &str,
        request_id: &str,
        subject: &AccessSubject,
    ) -> StoreResult<()>;
    /// The subject, unless absent or expired.
    async fn access_subject(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> StoreResult<Option<AccessSubject>>;
    /// Forgets the subjects that name `hash`; how many.
    async fn forget_access_subjects(&self, workspace: &str, hash: &str) -> StoreResult<usize>;
}

/// What a queued message becomes when a user's data is taken out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rewrite {
    Unchanged,
    Replace(String),
    Remove,
}

/// Erasing a user's data where the other ports keep it: the adapters know
/// their layouts (docs/interface/privacy.md "Erasure").
#[async_trait]
pub trait UserDataStore: Send + Sync {
    /// Profiles whose `email` attribute is `email`: (moengage_user_id, uid).
    async fn find_by_email(
        &self,
        workspace: &str,
        email: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>>;
    /// Removes the profile and its anonymous-id index entries; whether it existed.
    async fn erase_profile(&self, workspace: &str, moengage_user_id: &str) -> StoreResult<bool>;
    /// Removes every membership of the profile, in or out, with the member
    /// counts following; how many it was a member of.
    async fn erase_memberships(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<usize>;
    /// Rewrites a kept dead letter in place (its id and time stay).
    async fn replace_dead_letter(&self, id: &str, letter: &DeadLetter) -> StoreResult<()>;
    /// Rewrites the bodies of messages still on `queue` (SQLite); SQS cannot
    /// rewrite a message, so the AWS adapter leaves them (dispatch drops a
    /// suppressed user's events). How many were changed.
    async fn rewrite_queued(
        &self,
        queue: QueueName,
        rewrite: &(dyn for<'b> Fn(&'b str) -> Rewrite + Send + Sync),
    ) -> StoreResult<usize>;
    /// Makes deleted data unrecoverable from the store's files (SQLite:
    /// freed pages overwritten, the WAL emptied); nothing on DynamoDB.
    async fn compact(&self) -> StoreResult<()>;
    /// Removes what expired by `now_ms` (SQLite: idempotency keys, access
    /// subjects; and, for a while after an erasure, compacts again, so what
    /// the erasure's own messages held goes too). DynamoDB's TTL does this.
    async fn sweep(&self, now_ms: i64) -> StoreResult<()>;
}
