//! BatchGetItem (≤ 100 keys) and BatchWriteItem (≤ 25 requests) with
//! unprocessed keys and items resent (rounds.rs) until done. The limits are
//! enforced here: moto accepts oversized batches, AWS does not.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, WriteRequest};

use super::errors::Service;
use super::rounds::Rounds;
use super::sdk_error;
use crate::ports::StoreResult;

pub type Item = HashMap<String, AttributeValue>;

pub const MAX_BATCH_GET: usize = 100;
pub const MAX_BATCH_WRITE: usize = 25;

pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn key_id(item: &Item) -> (String, String) {
    let s = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    (s("pk"), s("sk"))
}

/// Which attributes a batch read returns; `names` aliases attribute names
/// that are reserved words (`#u` → `uid`).
#[derive(Clone, Copy)]
pub struct Projection<'a> {
    pub expression: &'a str,
    pub names: &'a [(&'a str, &'a str)],
}

/// Reads the items with the given keys (absent ones are simply missing from
/// the result; order is not preserved). Duplicate keys are requested once.
pub async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    projection: Option<Projection<'_>>,
) -> StoreResult<Vec<Item>> {
    let mut seen = HashSet::new();
    let keys: Vec<Item> = keys
        .into_iter()
        .filter(|k| seen.insert(key_id(k)))
        .collect();
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_BATCH_GET) {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .set_projection_expression(projection.map(|p| p.expression.to_owned()))
                .set_expression_attribute_names(projection.map(|p| {
                    p.names
                        .iter()
                        .map(|(alias, name)| ((*alias).to_owned(), (*name).to_owned()))
                        .collect()
                }))
                .build()
                .map_err(super::invalid_request)?,
        );
        let mut rounds = Rounds::new(Service::DynamoDb, "BatchGetItem");
        while let Some(request) = pending.take() {
            let mut response = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(sdk_error)?;
            if let Some(responses) = response.responses.as_mut() {
                out.extend(responses.remove(table).unwrap_or_default());
            }
            pending = response
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(table))
                .filter(|k| !k.keys.is_empty());
            if let Some(left) = &pending {
                let why = "unprocessed keys";
                rounds
                    .again(left.keys.len(), response.request_id(), why)
                    .await?;
            }
        }
    }
    Ok(out)
}

/// Writes all requests, 25 per call, retrying unprocessed ones. For the same
/// key only the last request is kept (DynamoDB rejects duplicates in a batch).
pub async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
) -> StoreResult<()> {
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    let mut unique: Vec<Option<WriteRequest>> = Vec::with_capacity(requests.len());
    for request in requests {
        let id = match (&request.put_request, &request.delete_request) {
            (Some(put), _) => key_id(&put.item),
            (None, Some(delete)) => key_id(&delete.key),
            _ => continue,
        };
        if let Some(previous) = by_key.insert(id, unique.len()) {
            unique[previous] = None;
        }
        unique.push(Some(request));
    }
    let unique: Vec<WriteRequest> = unique.into_iter().flatten().collect();
    for chunk in unique.chunks(MAX_BATCH_WRITE) {
        let mut pending = chunk.to_vec();
        let mut rounds = Rounds::new(Service::DynamoDb, "BatchWriteItem");
        while !pending.is_empty() {
            let mut response = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(sdk_error)?;
            pending = response
                .unprocessed_items
                .as_mut()
                .and_then(|u| u.remove(table))
                .unwrap_or_default();
            if !pending.is_empty() {
                let why = "unprocessed items";
                rounds
                    .again(pending.len(), response.request_id(), why)
                    .await?;
            }
        }
    }
    Ok(())
}

/// How a TransactWriteItems ended.
pub enum Transacted {
    Done,
    /// Nothing was applied: a condition failed — another writer's, or our
    /// own write resent after its answer was lost — or the transaction met
    /// another one on an item.
    Cancelled(Cancellation),
}

/// Why a transaction was cancelled, as far as AWS says.
pub struct Cancellation {
    /// AWS's request id, for the log.
    pub request_id: Option<String>,
    /// The positions (in the transaction's items) whose condition failed;
    /// empty when none did (a conflict with another transaction).
    pub conditions_failed: Vec<usize>,
}

/// One TransactWriteItems (≤ 100 items).
pub async fn transact(client: &Client, writes: Vec<TransactWriteItem>) -> StoreResult<Transacted> {
    match client
        .transact_write_items()
        .set_transact_items(Some(writes))
        .send()
        .await
    {
        Ok(_) => Ok(Transacted::Done),
        Err(e) => match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let conditions_failed = cancelled
                    .cancellation_reasons()
                    .iter()
                    .enumerate()
                    .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
                    .map(|(position, _)| position)
                    .collect();
                Ok(Transacted::Cancelled(Cancellation {
                    request_id: e.request_id().map(str::to_owned),
                    conditions_failed,
                }))
            }
            _ => Err(sdk_error(e)),
        },
    }
}

/// Every item of a partition that `condition` (on `pk = :pk` and maybe
/// `sk`) selects, all pages; a consistent read.
pub async fn query_all(
    client: &Client,
    table: &str,
    condition: &str,
    values: &[(&str, AttributeValue)],
    projection: Option<&str>,
) -> StoreResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut query = client
            .query()
            .table_name(table)
            .key_condition_expression(condition)
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true)
            .set_exclusive_start_key(start);
        for (name, value) in values {
            query = query.expression_attribute_values(*name, value.clone());
        }
        let out = query.send().await.map_err(sdk_error)?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

pub fn get_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn get_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

pub fn get_bool(item: &Item, name: &str) -> Option<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(b)) => Some(*b),
        _ => None,
    }
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Every item of partition `pk`, all pages.
pub async fn query_partition(client: &Client, table: &str, pk: &str) -> StoreResult<Vec<Item>> {
    query_all(client, table, "pk = :pk", &[(":pk", s(pk))], None).await
}
