//! `member_count` on DynamoDB, exact under resent and redelivered writes
//! (docs/architecture.md "Nothing acknowledged is lost").
//!
//! A count kept by a separate `ADD` after the memberships' transaction
//! drifts: a resent `ADD` counts twice, and a count that failed after its
//! memberships were written is never made up, since the redelivered
//! message finds them current (delta 0). So each membership transaction
//! carries its count change itself, as an item of its own on the segment's
//! member partition (`#PENDING#<token>`: unique, so concurrent transactions
//! never contend for it): the count changes exactly when the memberships
//! do. Folding then moves pending deltas into the `#COUNT` item and deletes
//! them, in one transaction; until then readers add them up. Both sort
//! before the members (`M#…`), so listing members never meets them.
//!
//! Stores written before this kept the count on the segment item
//! (`member_count`); it is read as the base the others add to.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::batch::{Item, Transacted, get_n, get_s, key, n, query_all, s, transact};
use super::errors::Service;
use super::rounds::Rounds;
use super::{DynamoStore, keys};
use crate::domain::ids::random_id;
use crate::ports::StoreResult;

const COUNT_SK: &str = "#COUNT";
const PENDING_PREFIX: &str = "#PENDING#";
/// Every count item sorts before this (the members' `M#…`).
const BEFORE_MEMBERS: &str = "M#";
/// Pending deltas folded per transaction (with the count item: ≤ 100),
/// and transactions per fold (a backlog is folded over several changes).
const FOLD_PER_TRANSACTION: usize = 99;
const FOLDS: usize = 10;

impl DynamoStore {
    /// The Put that records a membership transaction's count change,
    /// written inside that transaction.
    pub(super) fn pending_count(
        &self,
        workspace: &str,
        segment_id: &str,
        delta: i64,
    ) -> StoreResult<TransactWriteItem> {
        let mut item = key(
            keys::members(workspace, segment_id),
            &format!("{PENDING_PREFIX}{}", random_id()),
        );
        item.insert("delta".into(), n(delta));
        let put = Put::builder()
            .table_name(&self.state_table)
            .set_item(Some(item))
            .build()
            .map_err(super::invalid_request)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The count and pending items of a segment (consistent read).
    async fn count_items(&self, workspace: &str, segment_id: &str) -> StoreResult<Vec<Item>> {
        let values = [
            (":pk", s(keys::members(workspace, segment_id))),
            (":members", s(BEFORE_MEMBERS)),
        ];
        let condition = "pk = :pk AND sk < :members";
        query_all(&self.client, &self.state_table, condition, &values, None).await
    }

    /// What the count item and the pending deltas add to the base count.
    pub(super) async fn counted(&self, workspace: &str, segment_id: &str) -> StoreResult<i64> {
        Ok(self
            .count_items(workspace, segment_id)
            .await?
            .iter()
            .map(|item| get_n(item, "member_count").or_else(|| get_n(item, "delta")))
            .map(Option::unwrap_or_default)
            .sum())
    }

    /// Folds pending deltas into the count item, at most [`FOLDS`]
    /// transactions' worth. Best effort: what is not folded stays pending,
    /// still counted by readers, and is folded by a later change.
    pub(super) async fn fold_counts(&self, workspace: &str, segment_id: &str) -> StoreResult<()> {
        let partition = keys::members(workspace, segment_id);
        let mut rounds = Rounds::contended(Service::DynamoDb, "TransactWriteItems");
        for _ in 0..FOLDS {
            let pending: Vec<(String, i64)> = self
                .count_items(workspace, segment_id)
                .await?
                .iter()
                .filter_map(|item| {
                    let sk = get_s(item, "sk")?;
                    sk.starts_with(PENDING_PREFIX)
                        .then(|| Some((sk, get_n(item, "delta")?)))?
                })
                .take(FOLD_PER_TRANSACTION)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            let sum: i64 = pending.iter().map(|(_, d)| d).sum();
            let mut writes = vec![
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.state_table)
                            .set_key(Some(key(partition.clone(), COUNT_SK)))
                            .update_expression("ADD member_count :d")
                            .expression_attribute_values(":d", n(sum))
                            .build()
                            .map_err(super::invalid_request)?,
                    )
                    .build(),
            ];
            for (sk, _) in &pending {
                // Only while still pending: a concurrent fold, or a resend
                // of this one that was applied, cancels the transaction.
                let delete = Delete::builder()
                    .table_name(&self.state_table)
                    .set_key(Some(key(partition.clone(), sk)))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .map_err(super::invalid_request)?;
                writes.push(TransactWriteItem::builder().delete(delete).build());
            }
            match transact(&self.client, writes).await? {
                Transacted::Cancelled(cancelled) => {
                    let why = "folding counts was cancelled";
                    let id = cancelled.request_id.as_deref();
                    rounds.again(pending.len(), id, why).await?;
                }
                // All that was pending is folded: no read to find nothing
                // (a delta written since is folded by a later change).
                Transacted::Done if pending.len() < FOLD_PER_TRANSACTION => return Ok(()),
                Transacted::Done => {}
            }
        }
        Ok(())
    }
}
