//! Erasing a user's items: profile, anonymous-id index, memberships (with
//! their segments' counts, one transaction each), dead letters in place.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};

use super::delete_request;
use crate::domain::DeadLetter;
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::{Rewrite, UserDataStore};
use crate::store::aws::batch::{batch_write, get_s, key, n, query_partition, s};
use crate::store::aws::{DynamoStore, invalid_request, keys, sdk_error};
use crate::topology::QueueName;

/// Rounds of re-reading when a membership changed under an erasure.
const MAX_CONFLICT_ROUNDS: usize = 5;

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
            .map_err(invalid_request)?;
        let mut writes = vec![TransactWriteItem::builder().delete(delete).build()];
        if in_segment {
            let count = Update::builder()
                .table_name(&self.state_table)
                .set_key(Some(key(keys::segments(workspace), segment_id)))
                .update_expression("ADD member_count :minus")
                .expression_attribute_values(":minus", n(-1))
                .build()
                .map_err(invalid_request)?;
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
        let items = query_partition(&self.client, &self.state_table, &partition).await?;
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
