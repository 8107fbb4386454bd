//! The delivery log on DynamoDB: items of the state table, each with the
//! table's TTL attribute (`expires_at`), so retention needs no sweep.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | entry | `W#<ws>#DL#<hour>#<shard>` | entry id (`<epoch ms>-<shard>-<random>`) |
//! | request body (`body_lz4`: LZ4, `delivery_log::packed`) | `W#<ws>#DLB#<moe_request_id>` | `BODY` |
//! | counts | `W#<ws>#DLC` | `<bucket ms, 15 digits>#<stream>` |
//! | last success / error | `W#<ws>#DLH` | `<stream>#success` / `<stream>#error` |
//! | waiting request | `W#<ws>#DLW` | `<stream>#<moe_request_id>` |
//! | segment sync | `W#<ws>#DLS#<segment id>` | sync id (as entry ids) |
//! | hour with entries | `W#<ws>#DLX` | `<hour since the epoch, 12 digits>` |
//!
//! Entries are spread over an hour's [`SHARDS`] partitions (one partition
//! takes 1 000 writes a second); a listing reads time windows of every
//! shard, newest first, within a read budget per call, and only the hours
//! that have entries (each process marks an hour once).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use futures::future::try_join_all;

use super::batch::{Item, batch_write, get_n, get_s, key, n, s};
use super::{DynamoStore, sdk_error};
use crate::delivery_log::batch::LogBatch;
use crate::delivery_log::model::{
    LastAttempt, LastKind, LogEntry, LogPage, LogQuery, REQUEST_BODY_LIMIT, SHARDS, StoredBody,
    StreamCounts, StreamHealth, SyncRecord, parse_entry_id,
};
use crate::domain::time::now_ms;
use crate::ports::{DeliveryLog, StoreError, StoreResult};
use crate::store::packed;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Items a listing evaluates at most per call, and how long it reads.
const READ_BUDGET: usize = 5_000;
const TIME_BUDGET: Duration = Duration::from_millis(1_500);
/// How far back a listing without `since_ms` looks.
const LOOKBACK_MS: i64 = 365 * DAY_MS;

fn entries_pk(ws: &str, hour: i64, shard: u32) -> String {
    format!("W#{ws}#DL#{hour}#{shard}")
}
fn body_pk(ws: &str, request: &str) -> String {
    format!("W#{ws}#DLB#{request}")
}
fn counts_pk(ws: &str) -> String {
    format!("W#{ws}#DLC")
}
fn last_pk(ws: &str) -> String {
    format!("W#{ws}#DLH")
}
fn waiting_pk(ws: &str) -> String {
    format!("W#{ws}#DLW")
}
fn syncs_pk(ws: &str, segment: &str) -> String {
    format!("W#{ws}#DLS#{segment}")
}
fn hours_pk(ws: &str) -> String {
    format!("W#{ws}#DLX")
}
fn hour_sk(hour: i64) -> String {
    format!("{:012}", hour.max(0))
}

/// The (table, workspace, hour) marks this process wrote.
fn marked() -> &'static std::sync::Mutex<std::collections::HashSet<(String, String, i64)>> {
    static MARKED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<(String, String, i64)>>,
    > = std::sync::OnceLock::new();
    MARKED.get_or_init(Default::default)
}

fn id_at(at_ms: i64) -> String {
    format!("{:015}", at_ms.max(0))
}

fn expires(at_ms: i64, days: u32) -> AttributeValue {
    n((at_ms + i64::from(days) * DAY_MS) / 1000)
}

fn put(item: Item) -> StoreResult<WriteRequest> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete(pk: String, sk: &str) -> StoreResult<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key(pk, sk)))
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

fn entry_item(entry: &LogEntry, days: u32) -> StoreResult<Item> {
    let (_, shard) = parse_entry_id(&entry.id)
        .ok_or_else(|| StoreError::Invalid(format!("not an entry id: {:?}", entry.id)))?;
    let mut item = key(
        entries_pk(&entry.workspace_id, entry.at_ms.div_euclid(HOUR_MS), shard),
        &entry.id,
    );
    item.insert(
        "doc".into(),
        s(serde_json::to_string(entry).map_err(StoreError::encode("a delivery-log entry"))?),
    );
    item.insert("stream".into(), s(&entry.stream));
    item.insert("outcome".into(), s(entry.outcome.as_str()));
    item.insert("rid".into(), s(&entry.moe_request_id));
    if !entry.events.uids.is_empty() {
        item.insert("uids".into(), AttributeValue::Ss(entry.events.uids.clone()));
    }
    if !entry.events.names.is_empty() {
        item.insert(
            "names".into(),
            AttributeValue::Ss(entry.events.names.clone()),
        );
    }
    item.insert("expires_at".into(), expires(entry.at_ms, days));
    Ok(item)
}

fn entry_of(item: &Item) -> StoreResult<LogEntry> {
    let doc = get_s(item, "doc").ok_or_else(|| StoreError::corrupt("log entry without doc"))?;
    serde_json::from_str(&doc).map_err(|e| StoreError::corrupt_from("a delivery-log item", e))
}

/// The filter expression of a query's conditions other than time.
struct Filter {
    expression: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    fn of(query: &LogQuery) -> Self {
        let mut parts = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = |part: &str, name: &str, value: &str| {
            parts.push(part.to_owned());
            names.insert(format!("#{name}"), name.to_owned());
            values.insert(format!(":{name}"), s(value));
        };
        if let Some(stream) = &query.stream {
            add("#stream = :stream", "stream", stream);
        }
        if let Some(outcome) = query.outcome {
            add("#outcome = :outcome", "outcome", outcome.as_str());
        }
        if let Some(request) = &query.moe_request_id {
            add("#rid = :rid", "rid", request);
        }
        if let Some(uid) = &query.uid {
            add("contains(#uids, :uids)", "uids", uid);
        }
        if let Some(event) = &query.event {
            add("contains(#names, :names)", "names", event);
        }
        Self {
            expression: (!parts.is_empty()).then(|| parts.join(" AND ")),
            names,
            values,
        }
    }
}

impl DynamoStore {
    /// Every item of one partition whose sort key is in [from, to), with
    /// the filter; and how many items were evaluated.
    async fn query_range(
        &self,
        pk: String,
        from: &str,
        to: &str,
        filter: &Filter,
        projection: Option<&str>,
    ) -> StoreResult<(Vec<Item>, usize)> {
        let mut items = Vec::new();
        let mut evaluated = 0;
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.state_table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(from))
                // BETWEEN is inclusive; no id equals `to` exactly (ids are longer).
                .expression_attribute_values(":to", s(to))
                .set_exclusive_start_key(start.take())
                .set_projection_expression(projection.map(str::to_owned));
            if let Some(expression) = &filter.expression {
                query = query.filter_expression(expression);
                for (alias, name) in &filter.names {
                    query = query.expression_attribute_names(alias, name);
                }
                for (alias, value) in &filter.values {
                    query = query.expression_attribute_values(alias, value.clone());
                }
            }
            let out = query.send().await.map_err(sdk_error)?;
            evaluated += out.scanned_count as usize;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok((items, evaluated)),
            }
        }
    }

    /// Items of every shard in [from_ms, to_ms) (one hour at most).
    async fn query_window(
        &self,
        ws: &str,
        from_ms: i64,
        to_ms: i64,
        filter: &Filter,
        projection: Option<&str>,
    ) -> StoreResult<(Vec<Item>, usize)> {
        let hour = from_ms.div_euclid(HOUR_MS);
        let (from, to) = (id_at(from_ms), id_at(to_ms));
        let found = try_join_all((0..SHARDS).map(|shard| {
            self.query_range(entries_pk(ws, hour, shard), &from, &to, filter, projection)
        }))
        .await?;
        let mut items = Vec::new();
        let mut evaluated = 0;
        for (part, count) in found {
            items.extend(part);
            evaluated += count;
        }
        Ok((items, evaluated))
    }
}

impl DynamoStore {
    /// The hours in [from_ms, to_ms) that have entries, newest first.
    async fn hours_with_entries(
        &self,
        ws: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        let none = Filter::of(&LogQuery::default());
        let (from, to) = (
            hour_sk(from_ms.div_euclid(HOUR_MS)),
            hour_sk((to_ms - 1).div_euclid(HOUR_MS)),
        );
        let (items, _) = self
            .query_range(hours_pk(ws), &from, &to, &none, Some("sk"))
            .await?;
        let mut hours: Vec<i64> = items
            .iter()
            .filter_map(|i| get_s(i, "sk")?.parse().ok())
            .collect();
        hours.sort_unstable_by(|a, b| b.cmp(a));
        Ok(hours)
    }
}

/// The start of the window ending at `to_ms`: `width` back, within its hour.
fn window_start(to_ms: i64, width: i64) -> i64 {
    let hour_start = (to_ms - 1).div_euclid(HOUR_MS) * HOUR_MS;
    (to_ms - width).max(hour_start)
}

#[async_trait]
impl DeliveryLog for DynamoStore {
    async fn record(&self, batch: LogBatch, retention_days: u32) -> StoreResult<()> {
        let batch = &batch;
        let days = retention_days;
        let mut writes = Vec::new();
        let mut marks = Vec::new();
        for entry in &batch.entries {
            writes.push(put(entry_item(entry, days)?)?);
            let hour = entry.at_ms.div_euclid(HOUR_MS);
            let mark = (self.state_table.clone(), entry.workspace_id.clone(), hour);
            if !marks.contains(&mark) && !marked().lock().is_ok_and(|m| m.contains(&mark)) {
                let mut item = key(hours_pk(&entry.workspace_id), &hour_sk(hour));
                item.insert("expires_at".into(), expires((hour + 1) * HOUR_MS, days));
                writes.push(put(item)?);
                marks.push(mark);
            }
        }
        for (ws, body) in &batch.bodies {
            let mut item = key(body_pk(ws, &body.moe_request_id), "BODY");
            // Compressed: a ~45 KiB webhook body costs ~45 write units as
            // text, a fraction of that packed (`delivery_log::packed`).
            item.insert(
                "body_lz4".into(),
                AttributeValue::B(body.packed.clone().into()),
            );
            item.insert("truncated".into(), AttributeValue::Bool(body.truncated));
            item.insert("at_ms".into(), n(body.at_ms));
            item.insert("expires_at".into(), expires(body.at_ms, days));
            writes.push(put(item)?);
        }
        for change in &batch.waiting {
            let sk = format!("{}#{}", change.stream, change.moe_request_id);
            writes.push(match change.waiting_events {
                Some(events) => {
                    let mut item = key(waiting_pk(&change.workspace_id), &sk);
                    item.insert("stream".into(), s(&change.stream));
                    item.insert("events".into(), n(events as i64));
                    item.insert("at_ms".into(), n(change.at_ms));
                    item.insert("expires_at".into(), expires(change.at_ms, days));
                    put(item)?
                }
                None => delete(waiting_pk(&change.workspace_id), &sk)?,
            });
        }
        for sync in &batch.syncs {
            let mut item = key(syncs_pk(&sync.workspace_id, &sync.segment_id), &sync.id);
            item.insert(
                "doc".into(),
                s(serde_json::to_string(sync).map_err(StoreError::encode("a segment sync"))?),
            );
            item.insert("expires_at".into(), expires(sync.at_ms, days));
            writes.push(put(item)?);
        }
        let written = batch_write(&self.client, &self.state_table, writes);

        // Counts: one ADD per (workspace, bucket, stream), every kind at once.
        let mut sums: HashMap<(String, i64, String), HashMap<&'static str, u64>> = HashMap::new();
        for delta in &batch.counts {
            *sums
                .entry((
                    delta.workspace_id.clone(),
                    delta.bucket_ms,
                    delta.stream.clone(),
                ))
                .or_default()
                .entry(delta.kind.as_str())
                .or_default() += delta.n;
        }
        let counted = try_join_all(sums.into_iter().map(|((ws, bucket, stream), kinds)| {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.state_table)
                .key("pk", s(counts_pk(&ws)))
                .key("sk", s(format!("{bucket:015}#{stream}")))
                .expression_attribute_values(":stream", s(&stream))
                .expression_attribute_values(":exp", expires(bucket, days));
            let mut adds = Vec::new();
            for (i, (kind, count)) in kinds.into_iter().enumerate() {
                adds.push(format!("#k{i} :k{i}"));
                update = update
                    .expression_attribute_names(format!("#k{i}"), kind)
                    .expression_attribute_values(format!(":k{i}"), n(count as i64));
            }
            let update = update.update_expression(format!(
                "SET #s = :stream, expires_at = :exp ADD {}",
                adds.join(", ")
            ));
            let update = update.expression_attribute_names("#s", "stream");
            async move { update.send().await.map(|_| ()).map_err(sdk_error) }
        }));

        // Last success / error: moved forward only.
        let moved = try_join_all(batch.last_attempts().into_iter().map(
            |(ws, stream, kind, attempt)| {
                let doc = serde_json::to_string(&attempt);
                let client = self.client.clone();
                let table = self.state_table.clone();
                async move {
                    let doc = doc.map_err(StoreError::encode("a stream's last attempt"))?;
                    let mut item = key(last_pk(&ws), &format!("{stream}#{}", kind.as_str()));
                    item.insert("stream".into(), s(&stream));
                    item.insert("kind".into(), s(kind.as_str()));
                    item.insert("at_ms".into(), n(attempt.at_ms));
                    item.insert("doc".into(), s(doc));
                    let result = client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk) OR at_ms <= :at")
                        .expression_attribute_values(":at", n(attempt.at_ms))
                        .send()
                        .await;
                    match result {
                        Ok(_) => Ok(()),
                        Err(e)
                            if matches!(
                                e.as_service_error(),
                                Some(PutItemError::ConditionalCheckFailedException(_))
                            ) =>
                        {
                            Ok(())
                        }
                        Err(e) => Err(sdk_error(e)),
                    }
                }
            },
        ));
        let (written, counted, moved) = futures::join!(written, counted, moved);
        written?;
        if let Ok(mut marked) = marked().lock() {
            if marked.len() > 10_000 {
                marked.clear();
            }
            marked.extend(marks);
        }
        counted?;
        moved?;
        Ok(())
    }

    async fn list(&self, workspace: &str, query: &LogQuery) -> StoreResult<LogPage> {
        let limit = query.limit.clamp(1, 1000);
        let filter = Filter::of(query);
        let since = query.since_ms.unwrap_or(now_ms() - LOOKBACK_MS).max(0);
        // Entries older than `upper` (exclusive) are still to read.
        let mut upper = now_ms() + 60_000;
        if let Some(until) = query.until_ms {
            upper = upper.min(until.saturating_add(1));
        }
        if let Some((at, _)) = query.before.as_deref().and_then(parse_entry_id) {
            upper = upper.min(at + 1);
        }
        let started = Instant::now();
        let mut evaluated = 0;
        let mut width = 5 * 60_000;
        let mut entries: Vec<LogEntry> = Vec::new();
        let hours = if upper > since {
            self.hours_with_entries(workspace, since, upper).await?
        } else {
            Vec::new()
        };
        for hour in hours {
            // Within this hour, windows newest first.
            upper = upper.min((hour + 1) * HOUR_MS);
            let floor = (hour * HOUR_MS).max(since);
            while upper > floor {
                let lower = window_start(upper, width).max(floor);
                let (items, count) = self
                    .query_window(workspace, lower, upper, &filter, None)
                    .await?;
                evaluated += count;
                let mut found = items
                    .iter()
                    .map(entry_of)
                    .collect::<StoreResult<Vec<LogEntry>>>()?;
                found.retain(|e| query.matches(e));
                found.sort_by(|a, b| b.id.cmp(&a.id));
                for entry in found {
                    entries.push(entry);
                    if entries.len() == limit {
                        // The rest of this window is read again from here.
                        let next = entries.last().map(|e| e.id.clone());
                        return Ok(LogPage {
                            entries,
                            next_before: next,
                        });
                    }
                }
                upper = lower;
                if evaluated >= READ_BUDGET || started.elapsed() >= TIME_BUDGET {
                    return Ok(LogPage {
                        entries,
                        // Everything at or after `upper` was read.
                        next_before: Some(id_at(upper)),
                    });
                }
                // Sparse windows widen (up to the hour), dense ones narrow.
                width = match count {
                    0..=200 => (width * 4).min(HOUR_MS),
                    201..=2_000 => width,
                    _ => (width / 4).max(10_000),
                };
            }
        }
        Ok(LogPage {
            entries,
            next_before: None,
        })
    }

    async fn entry_by_id(&self, workspace: &str, id: &str) -> StoreResult<Option<LogEntry>> {
        let Some((at, shard)) = parse_entry_id(id) else {
            return Ok(None);
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key(
                "pk",
                s(entries_pk(workspace, at.div_euclid(HOUR_MS), shard)),
            )
            .key("sk", s(id))
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.as_ref().map(entry_of).transpose()
    }

    async fn body(&self, workspace: &str, moe_request_id: &str) -> StoreResult<Option<StoredBody>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("pk", s(body_pk(workspace, moe_request_id)))
            .key("sk", s("BODY"))
            .send()
            .await
            .map_err(sdk_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let body = match item.get("body_lz4") {
            Some(AttributeValue::B(bytes)) => packed::unpack(bytes.as_ref(), REQUEST_BODY_LIMIT)
                .map_err(|e| StoreError::corrupt_from("DynamoDB: a delivery log body", e))?,
            _ => get_s(&item, "body").unwrap_or_default(),
        };
        Ok(Some(StoredBody {
            moe_request_id: moe_request_id.to_owned(),
            at_ms: get_n(&item, "at_ms").unwrap_or_default(),
            body,
            truncated: matches!(item.get("truncated"), Some(AttributeValue::Bool(true))),
        }))
    }

    async fn counts(&self, workspace: &str, since_ms: i64) -> StoreResult<Vec<StreamCounts>> {
        let from = id_at(crate::delivery_log::model::bucket_of(since_ms));
        let to = "9".repeat(16);
        let none = Filter::of(&LogQuery::default());
        let (items, _) = self
            .query_range(counts_pk(workspace), &from, &to, &none, None)
            .await?;
        let mut by_stream: HashMap<String, StreamCounts> = HashMap::new();
        for item in &items {
            let stream = get_s(item, "stream").unwrap_or_default();
            let counts = &mut by_stream
                .entry(stream.clone())
                .or_insert_with(|| StreamCounts {
                    stream,
                    ..StreamCounts::default()
                })
                .counts;
            for kind in crate::delivery_log::model::CountKind::ALL {
                if let Some(count) = get_n(item, kind.as_str()) {
                    *counts.entry(kind.as_str().to_owned()).or_default() += count.max(0) as u64;
                }
            }
        }
        let mut out: Vec<StreamCounts> = by_stream.into_values().collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }

    async fn syncs(
        &self,
        workspace: &str,
        segment_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<SyncRecord>> {
        let out = self
            .client
            .query()
            .table_name(&self.state_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(syncs_pk(workspace, segment_id)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(sdk_error)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let doc =
                    get_s(item, "doc").ok_or_else(|| StoreError::corrupt("sync without doc"))?;
                serde_json::from_str(&doc)
                    .map_err(|e| StoreError::corrupt_from("a delivery-log item", e))
            })
            .collect()
    }

    async fn health(&self, workspace: &str) -> StoreResult<Vec<StreamHealth>> {
        let none = Filter::of(&LogQuery::default());
        let (low, high) = ("\u{1}", "\u{10FFFF}");
        let (last, waiting) = futures::try_join!(
            self.query_range(last_pk(workspace), low, high, &none, None),
            self.query_range(waiting_pk(workspace), low, high, &none, None),
        )?;
        let mut by_stream: HashMap<String, StreamHealth> = HashMap::new();
        for item in &last.0 {
            let stream = get_s(item, "stream").unwrap_or_default();
            let doc = get_s(item, "doc").unwrap_or_default();
            let attempt: LastAttempt = serde_json::from_str(&doc)
                .map_err(|e| StoreError::corrupt_from("a delivery-log item", e))?;
            let health = StreamHealth::of(&mut by_stream, stream);
            if get_s(item, "kind").as_deref() == Some(LastKind::Success.as_str()) {
                health.last_success = Some(attempt);
            } else {
                health.last_error = Some(attempt);
            }
        }
        for item in &waiting.0 {
            let health =
                StreamHealth::of(&mut by_stream, get_s(item, "stream").unwrap_or_default());
            health.waiting_requests += 1;
            health.waiting_events += get_n(item, "events").unwrap_or_default().max(0) as u64;
        }
        let mut out: Vec<StreamHealth> = by_stream.into_values().collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }

    async fn erase_user(&self, workspace: &str, uid: &str, since_ms: i64) -> StoreResult<u64> {
        let query = LogQuery {
            uid: Some(uid.to_owned()),
            ..LogQuery::default()
        };
        let filter = Filter::of(&query);
        let mut deletes = Vec::new();
        let mut requests = Vec::new();
        for hour in self
            .hours_with_entries(workspace, since_ms, now_ms() + HOUR_MS)
            .await?
        {
            let (from, to) = (hour * HOUR_MS, (hour + 1) * HOUR_MS);
            let (items, _) = self
                .query_window(workspace, from, to, &filter, Some("pk, sk, rid"))
                .await?;
            for item in &items {
                if let (Some(pk), Some(sk)) = (get_s(item, "pk"), get_s(item, "sk")) {
                    deletes.push(delete(pk, &sk)?);
                }
                if let Some(rid) = get_s(item, "rid")
                    && !requests.contains(&rid)
                {
                    requests.push(rid);
                }
            }
        }
        let erased = deletes.len() as u64;
        for rid in &requests {
            deletes.push(delete(body_pk(workspace, rid), "BODY")?);
        }
        batch_write(&self.client, &self.state_table, deletes).await?;
        Ok(erased)
    }

    async fn sweep(&self, _before_ms: i64) -> StoreResult<u64> {
        // The table's TTL (`expires_at`) removes expired items.
        Ok(0)
    }
}
