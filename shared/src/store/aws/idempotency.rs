//! Idempotency keys and rate-limit counters: single reads and writes, and
//! one atomic counter. TTL (`expires_at`, epoch s) cleans up on AWS; expiry is still
//! checked here because TTL deletion lags (and moto never deletes).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValue;

use super::batch::{get_n, n, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::FixedWindow;
use crate::domain::time::now_ms;
use crate::ports::{IdempotencyStore, RateCounter, StoreResult};

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn is_recorded(&self, workspace: &str, key: &str) -> StoreResult<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::idempotency(workspace, key)))
            .key("sk", s(keys::IDEM_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let expires_ms = out.item.as_ref().and_then(|i| get_n(i, "expires_at_ms"));
        Ok(expires_ms.is_some_and(|t| t > now_ms()))
    }

    async fn record(&self, workspace: &str, key: &str, ttl: Duration) -> StoreResult<()> {
        let expires_ms = now_ms() + ttl.as_millis() as i64;
        // The later expiry wins: an earlier, longer record is kept.
        let result = self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item("pk", s(keys::idempotency(workspace, key)))
            .item("sk", s(keys::IDEM_SK))
            .item("expires_at_ms", n(expires_ms))
            .item("expires_at", n(expires_ms / 1000 + 1))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms < :new")
            .expression_attribute_values(":new", n(expires_ms))
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
}

#[async_trait]
impl RateCounter for DynamoStore {
    async fn add(
        &self,
        workspace: &str,
        scope: &str,
        window: &FixedWindow,
        requests: u64,
    ) -> StoreResult<u64> {
        let requests = i64::try_from(requests).unwrap_or(i64::MAX);
        // One atomic counter per window: exact, and a single item sustains
        // ~1000 writes/s; the limiter's leases add several requests at once.
        let out = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .key(
                "pk",
                s(format!("RL#{}", window.counter_key(workspace, scope))),
            )
            .key("sk", s("RL"))
            .update_expression("ADD #c :requests SET expires_at = :exp")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":requests", n(requests))
            .expression_attribute_values(":exp", n(window.expires_at_ms() / 1000))
            // The whole item: an add of 0 (a read of the total) changes no
            // attribute, so `UPDATED_NEW` may return none.
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        let total = out
            .attributes
            .as_ref()
            .and_then(|a| get_n(a, "count"))
            .unwrap_or(requests)
            .max(0) as u64;
        Ok(total)
    }
}
