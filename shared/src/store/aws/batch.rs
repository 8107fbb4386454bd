//! BatchGetItem (≤ 100 keys) and BatchWriteItem (≤ 25 requests) with
//! unprocessed items retried. The limits are enforced here: moto accepts
//! oversized batches, AWS does not.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};

use super::sdk_error;
use crate::ports::{StoreError, StoreResult, Unavailability};

pub type Item = HashMap<String, AttributeValue>;

pub const MAX_BATCH_GET: usize = 100;
pub const MAX_BATCH_WRITE: usize = 25;
const MAX_ROUNDS: u32 = 10;

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

async fn backoff(round: u32) {
    tokio::time::sleep(Duration::from_millis(10u64 << round.min(6))).await;
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
        let mut round = 0;
        while let Some(request) = pending.take() {
            let response = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(sdk_error)?;
            if let Some(mut responses) = response.responses {
                out.extend(responses.remove(table).unwrap_or_default());
            }
            pending = response
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                round += 1;
                if round > MAX_ROUNDS {
                    return Err(StoreError::unavailable(
                        Unavailability::Partial,
                        "DynamoDB BatchGetItem kept returning unprocessed keys",
                        None,
                    ));
                }
                backoff(round).await;
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
        let mut round = 0;
        while !pending.is_empty() {
            let response = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(sdk_error)?;
            pending = response
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if !pending.is_empty() {
                round += 1;
                if round > MAX_ROUNDS {
                    return Err(StoreError::unavailable(
                        Unavailability::Partial,
                        "DynamoDB BatchWriteItem kept returning unprocessed items",
                        None,
                    ));
                }
                backoff(round).await;
            }
        }
    }
    Ok(())
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
