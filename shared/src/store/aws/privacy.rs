//! The privacy ports on DynamoDB (docs/interface/privacy.md; item layout in
//! mod.rs): suppressions in one partition per workspace, requests one item
//! each, access subjects in one partition per workspace with a TTL. Queued
//! SQS messages cannot be rewritten, and nothing needs compacting: those
//! are SQLite's.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};

use super::batch::{Item, Projection, batch_get, batch_write, get_n, get_s, key, n, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::time::now_ms;
use crate::domain::{DeadLetter, Page, PageRequest};
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::{PrivacyRequestStore, Rewrite, SuppressionStore, UserDataStore};
use crate::privacy::request::{AccessSubject, PrivacyRequest, RequestStatus, Suppression};
use crate::topology::QueueName;

/// Rounds of re-reading when a membership changed under an erasure.
const MAX_CONFLICT_ROUNDS: usize = 5;

fn conditional_failed<R>(e: &SdkError<PutItemError, R>) -> bool {
    matches!(
        e.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}

fn doc_of<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let doc = get_s(item, "doc").ok_or_else(|| StoreError::corrupt("item without doc"))?;
    serde_json::from_str(&doc).map_err(|e| StoreError::corrupt_from("a privacy item", e))
}

fn delete_request(pk: String, sk: &str) -> StoreResult<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key(pk, sk)))
        .build()
        .map_err(super::invalid_request)?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

impl DynamoStore {
    async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.state_table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?
            .item)
    }

    /// Every item of a partition (with their sort keys), all pages.
    async fn partition(&self, pk: String) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.state_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

#[async_trait]
impl SuppressionStore for DynamoStore {
    async fn suppression_key(&self, workspace: &str) -> StoreResult<Vec<u8>> {
        let read = |item: Option<Item>| match item.as_ref().and_then(|i| i.get("key")) {
            Some(AttributeValue::B(bytes)) => Some(bytes.clone().into_inner()),
            _ => None,
        };
        // Read first: the functions that only check suppressions never write.
        if let Some(key) = read(
            self.get_item(keys::privacy(workspace), keys::KEY_SK)
                .await?,
        ) {
            return Ok(key);
        }
        let fresh: [u8; 32] = rand::random();
        let put = self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item("pk", s(keys::privacy(workspace)))
            .item("sk", s(keys::KEY_SK))
            .item("key", AttributeValue::B(fresh.to_vec().into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(fresh.to_vec()),
            // Another process made it first: theirs is the key.
            Err(e) if conditional_failed(&e) => read(
                self.get_item(keys::privacy(workspace), keys::KEY_SK)
                    .await?,
            )
            .ok_or_else(|| StoreError::corrupt("suppression key item without key")),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn suppress(&self, workspace: &str, hash: &str, since_ms: i64) -> StoreResult<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .set_key(Some(key(keys::suppressions(workspace), hash)))
            .update_expression("SET since_ms = if_not_exists(since_ms, :since)")
            .expression_attribute_values(":since", n(since_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out
            .attributes
            .as_ref()
            .and_then(|a| get_n(a, "since_ms"))
            .unwrap_or(since_ms))
    }

    async fn lift(&self, workspace: &str, hash: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.state_table)
            .set_key(Some(key(keys::suppressions(workspace), hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn suppressed(
        &self,
        workspace: &str,
        hashes: &[String],
    ) -> StoreResult<HashMap<String, i64>> {
        let keys = hashes
            .iter()
            .map(|h| key(keys::suppressions(workspace), h))
            .collect();
        let projection = Projection {
            expression: "sk, since_ms",
            names: &[],
        };
        Ok(
            batch_get(&self.client, &self.state_table, keys, Some(projection))
                .await?
                .iter()
                .filter_map(|item| Some((get_s(item, "sk")?, get_n(item, "since_ms")?)))
                .collect(),
        )
    }

    async fn any_suppressed(&self, workspace: &str) -> StoreResult<bool> {
        let out = self
            .client
            .query()
            .table_name(&self.state_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::suppressions(workspace)))
            .projection_expression("sk")
            .limit(1)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.count > 0)
    }

    async fn list_suppressions(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Suppression>> {
        let (items, more) = self
            .query_page(
                keys::suppressions(workspace),
                page.after.clone(),
                page.limit,
                false,
            )
            .await?;
        let items: Vec<Suppression> = items
            .iter()
            .filter_map(|i| {
                Some(Suppression {
                    hash: get_s(i, "sk")?,
                    since_ms: get_n(i, "since_ms")?,
                })
            })
            .collect();
        let next_after = more.then(|| items.last().map(|s| s.hash.clone())).flatten();
        Ok(Page { items, next_after })
    }
}

#[async_trait]
impl PrivacyRequestStore for DynamoStore {
    async fn create_request(&self, request: &PrivacyRequest) -> StoreResult<PrivacyRequest> {
        let doc =
            serde_json::to_string(request).map_err(StoreError::encode("a privacy request"))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item(
                "pk",
                s(keys::privacy_request(&request.workspace_id, &request.id)),
            )
            .item("sk", s(keys::REQUEST_SK))
            .item("status", s(request.status.as_str()))
            .item("doc", s(doc))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(request.clone()),
            Err(e) if conditional_failed(&e) => self
                .get_request(&request.workspace_id, &request.id)
                .await?
                .ok_or_else(|| StoreError::corrupt("a privacy request vanished")),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn get_request(&self, workspace: &str, id: &str) -> StoreResult<Option<PrivacyRequest>> {
        self.get_item(keys::privacy_request(workspace, id), keys::REQUEST_SK)
            .await?
            .map(|item| doc_of(&item))
            .transpose()
    }

    async fn update_request(
        &self,
        request: &PrivacyRequest,
        expected: RequestStatus,
    ) -> StoreResult<bool> {
        let doc =
            serde_json::to_string(request).map_err(StoreError::encode("a privacy request"))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item(
                "pk",
                s(keys::privacy_request(&request.workspace_id, &request.id)),
            )
            .item("sk", s(keys::REQUEST_SK))
            .item("status", s(request.status.as_str()))
            .item("doc", s(doc))
            .condition_expression("#st = :expected")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn put_access_subject(
        &self,
        workspace: &str,
        request_id: &str,
        subject: &AccessSubject,
    ) -> StoreResult<()> {
        let doc =
            serde_json::to_string(subject).map_err(StoreError::encode("an access subject"))?;
        self.client
            .put_item()
            .table_name(&self.state_table)
            .item("pk", s(keys::access_subjects(workspace)))
            .item("sk", s(request_id))
            .item("doc", s(doc))
            .item("expires_at_ms", n(subject.expires_at_ms))
            .item("expires_at", n(subject.expires_at_ms / 1000 + 1))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn access_subject(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> StoreResult<Option<AccessSubject>> {
        let Some(item) = self
            .get_item(keys::access_subjects(workspace), request_id)
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion lags: expiry is checked here too.
        if get_n(&item, "expires_at_ms").is_none_or(|t| t <= now_ms()) {
            return Ok(None);
        }
        doc_of(&item).map(Some)
    }

    async fn forget_access_subjects(&self, workspace: &str, hash: &str) -> StoreResult<usize> {
        let mut deletes = Vec::new();
        for item in self.partition(keys::access_subjects(workspace)).await? {
            let subject: AccessSubject = doc_of(&item)?;
            if subject.hashes.iter().any(|h| h == hash)
                && let Some(sk) = get_s(&item, "sk")
            {
                deletes.push(delete_request(keys::access_subjects(workspace), &sk)?);
            }
        }
        let count = deletes.len();
        if count > 0 {
            batch_write(&self.client, &self.state_table, deletes).await?;
        }
        Ok(count)
    }
}

impl DynamoStore {
    /// Removes one membership item and, if it was a current membership, one
    /// from the segment's count, in one transaction; false when the item
    /// changed since it was read (read again).
    async fn erase_membership(
        &self,
        workspace: &str,
        segment_id: &str,
        member: &str,
        in_segment: bool,
    ) -> StoreResult<bool> {
        let delete = Delete::builder()
            .table_name(&self.state_table)
            .set_key(Some(key(keys::members(workspace, segment_id), member)))
            .condition_expression("in_segment = :was")
            .expression_attribute_values(":was", AttributeValue::Bool(in_segment))
            .build()
            .map_err(super::invalid_request)?;
        let mut writes = vec![TransactWriteItem::builder().delete(delete).build()];
        if in_segment {
            let count = Update::builder()
                .table_name(&self.state_table)
                .set_key(Some(key(keys::segments(workspace), segment_id)))
                .update_expression("ADD member_count :minus")
                .expression_attribute_values(":minus", n(-1))
                .build()
                .map_err(super::invalid_request)?;
            writes.push(TransactWriteItem::builder().update(count).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// The profile's membership items: (segment id, in the segment).
    async fn memberships_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<(String, bool)>> {
        let segments: Vec<String> = self
            .partition(keys::segments(workspace))
            .await?
            .iter()
            .filter_map(|i| get_s(i, "sk"))
            .collect();
        let member = keys::member_sk(moengage_user_id);
        let read = segments
            .iter()
            .map(|id| key(keys::members(workspace, id), &member))
            .collect();
        let projection = Projection {
            expression: "pk, in_segment",
            names: &[],
        };
        let prefix = keys::members(workspace, "");
        Ok(
            batch_get(&self.client, &self.state_table, read, Some(projection))
                .await?
                .iter()
                .filter_map(|item| {
                    let segment = get_s(item, "pk")?.strip_prefix(&prefix)?.to_owned();
                    let in_segment =
                        matches!(item.get("in_segment"), Some(AttributeValue::Bool(true)));
                    Some((segment, in_segment))
                })
                .collect(),
        )
    }
}

#[async_trait]
impl UserDataStore for DynamoStore {
    async fn find_by_email(
        &self,
        workspace: &str,
        email: &str,
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        // Profiles are not indexed by attribute: a privacy request is rare
        // enough to scan for (docs/interface/privacy.md "OpenDSR").
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.state_table)
                .filter_expression("begins_with(pk, :prefix) AND sk = :sk AND #email = :email")
                .expression_attribute_names("#email", "a:email")
                .expression_attribute_values(":prefix", s(keys::profile(workspace, "")))
                .expression_attribute_values(":sk", s(keys::PROFILE_SK))
                .expression_attribute_values(":email", s(email))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            found.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| Some((get_s(i, "mid")?, get_s(i, "uid")))),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn erase_profile(&self, workspace: &str, moengage_user_id: &str) -> StoreResult<bool> {
        let partition = keys::profile(workspace, moengage_user_id);
        let items = self.partition(partition.clone()).await?;
        let profile = items
            .iter()
            .find(|i| get_s(i, "sk").as_deref() == Some(keys::PROFILE_SK));
        let Some(profile) = profile else {
            return Ok(false);
        };
        // An index entry another profile took over since stays theirs.
        if let Some(AttributeValue::Ss(anonymous_ids)) = profile.get("anonymous_ids") {
            for anon in anonymous_ids {
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.state_table)
                    .set_key(Some(key(keys::anonymous(workspace, anon), keys::ANON_SK)))
                    .condition_expression("mid = :mid")
                    .expression_attribute_values(":mid", s(moengage_user_id))
                    .send()
                    .await;
                if let Err(e) = deleted
                    && !matches!(
                        e.as_service_error(),
                        Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_))
                    )
                {
                    return Err(sdk_error(e));
                }
            }
        }
        // The profile and any item of its partition (legacy reverse memberships).
        let deletes = items
            .iter()
            .filter_map(|i| get_s(i, "sk"))
            .map(|sk| delete_request(partition.clone(), &sk))
            .collect::<StoreResult<Vec<_>>>()?;
        batch_write(&self.client, &self.state_table, deletes).await?;
        Ok(true)
    }

    async fn erase_memberships(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<usize> {
        let member = keys::member_sk(moengage_user_id);
        let mut counted = 0;
        for _ in 0..MAX_CONFLICT_ROUNDS {
            let memberships = self.memberships_of(workspace, moengage_user_id).await?;
            if memberships.is_empty() {
                return Ok(counted);
            }
            let mut conflicted = false;
            for (segment, in_segment) in memberships {
                if self
                    .erase_membership(workspace, &segment, &member, in_segment)
                    .await?
                {
                    counted += usize::from(in_segment);
                } else {
                    conflicted = true;
                }
            }
            if !conflicted {
                return Ok(counted);
            }
        }
        Err(StoreError::unavailable(
            crate::ports::Unavailability::Contended,
            "memberships kept changing while they were erased",
            None,
        ))
    }

    async fn replace_dead_letter(&self, id: &str, letter: &DeadLetter) -> StoreResult<()> {
        let doc = serde_json::to_string(letter).map_err(StoreError::encode("a dead letter"))?;
        let updated = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .set_key(Some(key(keys::DEAD_LETTERS.into(), id)))
            .update_expression("SET doc = :doc")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":doc", s(doc))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            // Removed meanwhile (replayed, purged): nothing left to clear.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn rewrite_queued(
        &self,
        _queue: QueueName,
        _rewrite: &(dyn for<'b> Fn(&'b str) -> Rewrite + Send + Sync),
    ) -> StoreResult<usize> {
        Ok(0)
    }

    async fn compact(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn sweep(&self, _now_ms: i64) -> StoreResult<()> {
        Ok(())
    }
}
