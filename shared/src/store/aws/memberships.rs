//! Versioned memberships and the segments' arrival clocks
//! (docs/rules/member-matching.md "Ordering: versions").
//!
//! A membership item holds the version of the change that set it
//! (`time_ms`, `seq`). A change is written with a condition on the version
//! it was computed from (TransactWriteItems of 100 memberships), so
//! concurrent Lambda instances never overwrite a newer version; a lost race
//! re-reads and recomputes that chunk. Items written before versions had a
//! sequence carry only `computed_time` (epoch s): they read as
//! (`computed_time` × 1000, 0).
//!
//! Request counts (BENCHMARKS.md "Cohort ingest"): a chunk whose members
//! each have one change is first written without reading, on the condition
//! that makes the change apply with a known `member_count` delta (an add over
//! no membership or an older removal; a removal over an older add). That is
//! what a cohort sync almost always is; when the condition fails for any
//! member, the chunk is read and written as computed from what is stored.
//! Memberships are not mirrored on the profile's partition: a user's
//! segments are found from the workspace's segment list.
//!
//! Each transaction also carries its chunk's `member_count` change
//! (counts.rs), so the count moves exactly when the memberships do.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};

use super::batch::{Item, Transacted, batch_get, get_bool, get_n, get_s, key, n, s, transact};
use super::errors::Service;
use super::rounds::Rounds;
use super::{DynamoStore, keys, sdk_error};
use crate::domain::replay::{MemberChanges, Replay, by_member, replay};
use crate::domain::{Arrival, MembershipChange, MembershipOutcome, MembershipState, Version};
use crate::ports::{StoreError, StoreResult};

/// Members per transaction: 100 items max per TransactWriteItems call,
/// one of them the chunk's count change (counts.rs).
const MEMBERS_PER_TRANSACTION: usize = 99;
const CHUNK_CONCURRENCY: usize = 8;

/// A stored membership version, and the condition that it is still stored.
#[derive(Clone, Copy)]
struct Stored {
    state: MembershipState,
    /// `computed_time` (epoch s) of an item from before sequences.
    legacy_seconds: Option<i64>,
}

impl Stored {
    fn read(item: &Item) -> Option<Self> {
        let in_segment = get_bool(item, "in_segment")?;
        let (version, legacy_seconds) = match get_n(item, "time_ms") {
            Some(time_ms) => (Version::new(time_ms, get_n(item, "seq").unwrap_or(0)), None),
            None => {
                let seconds = get_n(item, "computed_time")?;
                (Version::new(seconds.saturating_mul(1000), 0), Some(seconds))
            }
        };
        Some(Self {
            state: MembershipState {
                in_segment,
                version,
            },
            legacy_seconds,
        })
    }

    /// True only while this version is stored.
    fn condition(stored: Option<Self>) -> Condition {
        match stored {
            None => ("attribute_not_exists(pk)", Vec::new()),
            Some(Self {
                legacy_seconds: Some(seconds),
                ..
            }) => (
                "attribute_not_exists(time_ms) AND computed_time = :c",
                vec![(":c", n(seconds))],
            ),
            Some(Self { state, .. }) => (
                "time_ms = :t AND seq = :q",
                vec![
                    (":t", n(state.version.time_ms)),
                    (":q", n(state.version.seq)),
                ],
            ),
        }
    }
}

/// A condition expression and its values.
type Condition = (&'static str, Vec<(&'static str, AttributeValue)>);

/// Writing a member's single change without reading: the condition under
/// which [`replay`] of it over the stored state applies it with delta ±1.
fn unread_condition(change: &MembershipChange) -> Condition {
    let mut values = vec![
        (":t", n(change.version.time_ms)),
        (":q", n(change.version.seq)),
    ];
    let expression = if change.adds() {
        values.push((":out", AttributeValue::Bool(false)));
        // No membership yet, or a removal older than this add.
        "attribute_not_exists(pk) OR (in_segment = :out AND (time_ms < :t OR (time_ms = :t AND seq < :q)))"
    } else {
        values.push((":in", AttributeValue::Bool(true)));
        // An add older than this removal.
        "in_segment = :in AND (time_ms < :t OR (time_ms = :t AND seq < :q))"
    };
    (expression, values)
}

/// Positions applied and already current in one chunk, and its count delta.
#[derive(Default)]
struct ChunkResult {
    applied: Vec<usize>,
    already_current: Vec<usize>,
    delta: i64,
}

/// Whether the chunk's transaction went through.
enum Written {
    Yes(ChunkResult),
    /// Cancelled (AWS's request id): a condition failed (another writer, or
    /// our own write resent after its answer was lost) or the transaction
    /// conflicted with another.
    Conflict(Option<String>),
}

impl DynamoStore {
    /// One membership item holding `state`, written on `condition`.
    fn membership_put(
        &self,
        workspace: &str,
        segment_id: &str,
        last: &MembershipChange,
        state: MembershipState,
        (expression, values): Condition,
    ) -> StoreResult<TransactWriteItem> {
        let mut item = key(
            keys::members(workspace, segment_id),
            &keys::member_sk(&last.member.moengage_user_id),
        );
        item.insert("mid".into(), s(&last.member.moengage_user_id));
        if let Some(uid) = &last.member.uid {
            item.insert("uid".into(), s(uid));
        }
        if let Some(anon) = &last.member.moe_anonymous_id {
            item.insert("anonymous_id".into(), s(anon));
        }
        item.insert("in_segment".into(), AttributeValue::Bool(state.in_segment));
        item.insert("time_ms".into(), n(state.version.time_ms));
        item.insert("seq".into(), n(state.version.seq));
        let mut put = Put::builder()
            .table_name(&self.state_table)
            .set_item(Some(item))
            .condition_expression(expression);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(super::invalid_request)?)
            .build())
    }

    /// The stored versions of these members (absent: never a member).
    async fn read_stored(
        &self,
        partition: &str,
        members: &[MemberChanges<'_>],
    ) -> StoreResult<HashMap<String, Stored>> {
        let read_keys = members
            .iter()
            .map(|m| key(partition.to_owned(), &keys::member_sk(m.moengage_user_id)))
            .collect();
        Ok(batch_get(&self.client, &self.state_table, read_keys, None)
            .await?
            .iter()
            .filter_map(|item| Some((get_s(item, "mid")?, Stored::read(item)?)))
            .collect())
    }

    /// Sends one chunk's writes, and its count change, as one transaction.
    async fn write_chunk(
        &self,
        (workspace, segment_id): (&str, &str),
        mut writes: Vec<TransactWriteItem>,
        result: ChunkResult,
    ) -> StoreResult<Written> {
        if writes.is_empty() {
            return Ok(Written::Yes(result));
        }
        if result.delta != 0 {
            writes.push(self.pending_count(workspace, segment_id, result.delta)?);
        }
        Ok(match transact(&self.client, writes).await? {
            Transacted::Done => Written::Yes(result),
            Transacted::Cancelled(why) => Written::Conflict(why.request_id),
        })
    }

    /// Writes a chunk whose members have one change each without reading
    /// first (see the module's comment).
    async fn write_unread(
        &self,
        workspace: &str,
        segment_id: &str,
        chunk: &[MemberChanges<'_>],
    ) -> StoreResult<Written> {
        let mut result = ChunkResult::default();
        let mut writes = Vec::with_capacity(chunk.len());
        for member in chunk {
            let [(position, change)] = member.changes[..] else {
                return Ok(Written::Conflict(None));
            };
            writes.push(self.membership_put(
                workspace,
                segment_id,
                change,
                change.state(),
                unread_condition(change),
            )?);
            result.applied.push(position);
            result.delta += if change.adds() { 1 } else { -1 };
        }
        self.write_chunk((workspace, segment_id), writes, result)
            .await
    }

    /// Reads a chunk's stored versions and writes what replaying its
    /// changes over them gives, on the condition that they are still stored.
    async fn write_read(
        &self,
        workspace: &str,
        segment_id: &str,
        chunk: &[MemberChanges<'_>],
    ) -> StoreResult<Written> {
        let stored = self
            .read_stored(&keys::members(workspace, segment_id), chunk)
            .await?;
        let mut result = ChunkResult::default();
        let mut writes = Vec::new();
        for member in chunk {
            let current = stored.get(member.moengage_user_id).copied();
            let Replay {
                applied,
                already_current,
                state,
                delta,
            } = replay(current.map(|c| c.state), member.changes.iter().copied());
            if let (Some(state), Some(&last)) = (state, applied.last()) {
                let last = member
                    .changes
                    .iter()
                    .find(|(position, _)| *position == last)
                    .map(|(_, change)| *change)
                    .expect("an applied position is one of the member's");
                writes.push(self.membership_put(
                    workspace,
                    segment_id,
                    last,
                    state,
                    Stored::condition(current),
                )?);
            }
            result.applied.extend(applied);
            result.already_current.extend(already_current);
            result.delta += delta;
        }
        self.write_chunk((workspace, segment_id), writes, result)
            .await
    }

    /// Applies one chunk of members: unread first when each has one
    /// change, then read and written until no other writer interferes.
    async fn apply_chunk(
        &self,
        workspace: &str,
        segment_id: &str,
        chunk: &[MemberChanges<'_>],
    ) -> StoreResult<ChunkResult> {
        if chunk.iter().all(|m| m.changes.len() == 1)
            && let Written::Yes(result) = self.write_unread(workspace, segment_id, chunk).await?
        {
            return Ok(result);
        }
        // Cancelled: another writer changed a member since our read, the
        // transaction met another, or our own write was applied and resent.
        // Re-read and recompute: what is already stored is current.
        let mut rounds = Rounds::contended(Service::DynamoDb, "TransactWriteItems");
        loop {
            match self.write_read(workspace, segment_id, chunk).await? {
                Written::Yes(result) => return Ok(result),
                Written::Conflict(request_id) => {
                    let why = "membership transaction cancelled";
                    rounds
                        .again(chunk.len(), request_id.as_deref(), why)
                        .await?;
                }
            }
        }
    }

    pub(super) async fn apply_memberships(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome> {
        let members = by_member(changes);
        let calls: Vec<_> = members
            .chunks(MEMBERS_PER_TRANSACTION)
            .map(|chunk| self.apply_chunk(workspace, segment_id, chunk))
            .collect();
        let results: Vec<ChunkResult> = futures::stream::iter(calls)
            .buffer_unordered(CHUNK_CONCURRENCY)
            .try_collect()
            .await?;
        // Also after a redelivery that changed nothing: what an earlier,
        // interrupted delivery left pending is folded now.
        if !changes.is_empty()
            && let Err(e) = self.fold_counts(workspace, segment_id).await
        {
            // The deltas stay pending: counted by readers, folded next time.
            tracing::warn!(workspace_id = workspace, segment = segment_id, error = %e,
                "could not fold member counts; they stay pending");
        }
        let (applied, already_current) =
            results
                .into_iter()
                .fold((Vec::new(), Vec::new()), |(mut applied, mut already), r| {
                    applied.extend(r.applied);
                    already.extend(r.already_current);
                    (applied, already)
                });
        Ok(MembershipOutcome::from_positions(
            changes,
            applied,
            already_current,
        ))
    }

    /// The segment item's arrival clock: `ADD arrival_seq` is atomic, and
    /// `arrival_ms` only moves forward. When this process's clock is behind
    /// the stored time, the sequence is taken without moving the time and
    /// the stored (later) time is used: still after every earlier arrival.
    pub(super) async fn reserve(
        &self,
        workspace: &str,
        segment_id: &str,
        count: usize,
        now_ms: i64,
    ) -> StoreResult<Arrival> {
        let count = count.max(1) as i64;
        let update = |expression: &str, condition: &str| {
            self.update_segment(workspace, segment_id)
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_values(":n", n(count))
                .return_values(ReturnValue::AllNew)
        };
        let forward = update(
            "SET arrival_ms = :now ADD arrival_seq :n",
            "attribute_exists(pk) AND (attribute_not_exists(arrival_ms) OR arrival_ms <= :now)",
        )
        .expression_attribute_values(":now", n(now_ms))
        .send()
        .await;
        let condition_failed = |e: &SdkError<UpdateItemError, _>| {
            matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            )
        };
        let item = match forward {
            Ok(out) => out.attributes,
            // Our clock is behind the stored arrival time (or no segment).
            Err(e) if condition_failed(&e) => {
                match update("ADD arrival_seq :n", "attribute_exists(pk)")
                    .send()
                    .await
                {
                    Ok(out) => out.attributes,
                    Err(e) if condition_failed(&e) => {
                        return Err(StoreError::NotFound(format!("segment {segment_id}")));
                    }
                    Err(e) => return Err(sdk_error(e)),
                }
            }
            Err(e) => return Err(sdk_error(e)),
        }
        .unwrap_or_default();
        let (Some(seq), Some(time_ms)) = (get_n(&item, "arrival_seq"), get_n(&item, "arrival_ms"))
        else {
            return Err(StoreError::corrupt("segment without an arrival clock"));
        };
        Ok(Arrival {
            time_ms,
            first_seq: seq - count + 1,
        })
    }
}
