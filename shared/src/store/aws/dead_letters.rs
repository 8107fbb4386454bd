//! Dead letters: one item each in one partition, sorted by when they were
//! kept (`<epoch ms>.<µs>#<uuid>` is both the sort key and the id), so
//! listing is a plain Query.

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};

use super::batch::{Item, batch_write, get_s, key, n, s};
use super::{DynamoStore, keys};
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::domain::{DeadLetter, Page, PageRequest};
use crate::ports::{DeadLetterStore, KeptDeadLetter, StoreError, StoreResult};

/// Microseconds since the epoch, strictly increasing within this process, so
/// letters kept in one call (or one millisecond) keep their order.
fn ordered_micros() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms() * 1000;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn kept_from_item(item: &Item) -> StoreResult<KeptDeadLetter> {
    let id = get_s(item, "sk").ok_or_else(|| StoreError::corrupt("dead letter without sk"))?;
    let doc = get_s(item, "doc").ok_or_else(|| StoreError::corrupt("dead letter without doc"))?;
    let at_ms = id
        .split(['.', '#'])
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    Ok(KeptDeadLetter {
        letter: serde_json::from_str(&doc)
            .map_err(|e| StoreError::corrupt_from("dead letter", e))?,
        id,
        at_ms,
    })
}

#[async_trait]
impl DeadLetterStore for DynamoStore {
    async fn put_dead_letters(&self, letters: &[DeadLetter]) -> StoreResult<Vec<String>> {
        let mut writes = Vec::with_capacity(letters.len());
        let mut ids = Vec::with_capacity(letters.len());
        for letter in letters {
            let at = ordered_micros();
            let sort_key = format!("{:015}.{:06}#{}", at / 1000, at % 1000, random_id());
            let mut item = key(keys::DEAD_LETTERS.into(), &sort_key);
            ids.push(sort_key);
            item.insert(
                "doc".into(),
                s(serde_json::to_string(letter).map_err(StoreError::encode("a dead letter"))?),
            );
            item.insert("at_ms".into(), n(at / 1000));
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(super::invalid_request)?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        if writes.is_empty() {
            return Ok(ids);
        }
        batch_write(&self.client, &self.state_table, writes).await?;
        Ok(ids)
    }

    async fn list_dead_letters(&self, page: &PageRequest) -> StoreResult<Page<KeptDeadLetter>> {
        let (items, more) = self
            .query_page(
                keys::DEAD_LETTERS.into(),
                page.after.clone(),
                page.limit,
                false,
            )
            .await?;
        let kept = items
            .iter()
            .map(kept_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_after = more.then(|| kept.last().map(|k| k.id.clone())).flatten();
        Ok(Page {
            items: kept,
            next_after,
        })
    }

    async fn remove_dead_letters(&self, ids: &[String]) -> StoreResult<()> {
        let deletes = ids
            .iter()
            .map(|id| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key(keys::DEAD_LETTERS.into(), id)))
                    .build()
                    .map_err(super::invalid_request)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        if deletes.is_empty() {
            return Ok(());
        }
        batch_write(&self.client, &self.state_table, deletes).await
    }
}
