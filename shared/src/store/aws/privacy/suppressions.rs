//! The suppression list and each workspace's hash key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::conditional_failed;
use crate::domain::{Page, PageRequest};
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::SuppressionStore;
use crate::privacy::request::Suppression;
use crate::store::aws::batch::{Item, Projection, batch_get, get_n, get_s, key, n, s};
use crate::store::aws::{DynamoStore, keys, sdk_error};

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
            // Made now, or by another process first (then theirs is the
            // key): either way the stored one is read back.
            Ok(_) => {}
            Err(e) if conditional_failed(&e) => {}
            Err(e) => return Err(sdk_error(e)),
        }
        read(
            self.get_item(keys::privacy(workspace), keys::KEY_SK)
                .await?,
        )
        .ok_or_else(|| StoreError::corrupt("suppression key item without key"))
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
