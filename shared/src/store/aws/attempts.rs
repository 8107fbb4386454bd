//! Attempt logs: one item per request with the attempts as a list of JSON
//! documents and their count, appended conditionally on the count.
//!
//! An append whose answer is lost (a 5xx, a dropped connection, a timeout:
//! AWS may have applied it) is resent by the SDK, and the resend fails the
//! count condition on our own write. So each append carries a token of its
//! own (`last_token`), and a failed condition returns the stored item: if
//! it holds our token, the append was ours and counts (docs/architecture.md
//! "Nothing acknowledged is lost").

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::batch::{get_n, get_s, n, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::Attempt;
use crate::domain::ids::random_id;
use crate::domain::time::now_ms;
use crate::ports::{ATTEMPT_LOG_TTL, AttemptLog, StoreError, StoreResult};

#[async_trait]
impl AttemptLog for DynamoStore {
    async fn attempts(&self, workspace: &str, request_id: &str) -> StoreResult<Vec<Attempt>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::attempts(workspace, request_id)))
            .key("sk", s(keys::ATTEMPTS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let Some(item) = out.item else {
            return Ok(Vec::new());
        };
        // Expired but not yet removed by TTL: treat as absent.
        if get_n(&item, "expires_at").is_some_and(|t| t * 1000 <= now_ms()) {
            return Ok(Vec::new());
        }
        match item.get("attempts") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| match v {
                    AttributeValue::S(doc) => serde_json::from_str(doc)
                        .map_err(|e| StoreError::corrupt_from("attempt", e)),
                    _ => Err(StoreError::corrupt("attempt is not a JSON string")),
                })
                .collect(),
            _ => Ok(Vec::new()),
        }
    }

    async fn append_attempt(
        &self,
        workspace: &str,
        request_id: &str,
        expected_len: usize,
        attempt: &Attempt,
    ) -> StoreResult<bool> {
        let doc = serde_json::to_string(attempt).map_err(StoreError::encode("an attempt"))?;
        let token = random_id();
        let expires = (now_ms() + ATTEMPT_LOG_TTL.as_millis() as i64) / 1000;
        let condition = if expected_len == 0 {
            "attribute_not_exists(pk)"
        } else {
            "attempt_count = :expected"
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::attempts(workspace, request_id)))
            .key("sk", s(keys::ATTEMPTS_SK))
            .update_expression(
                "SET attempts = list_append(if_not_exists(attempts, :empty), :new), \
                 attempt_count = if_not_exists(attempt_count, :zero) + :one, expires_at = :exp, \
                 last_token = :token",
            )
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_values(":token", s(&token))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":new", AttributeValue::L(vec![s(doc)]))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires));
        if expected_len > 0 {
            request = request.expression_attribute_values(":expected", n(expected_len as i64));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                // Ours if the stored last append carries our token (the
                // SDK resent an append that had been applied); else another
                // delivery of the same request appended first.
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(failed
                    .item()
                    .and_then(|stored| get_s(stored, "last_token"))
                    .is_some_and(|stored| stored == token)),
                _ => Err(sdk_error(e)),
            },
        }
    }

    async fn clear_attempts(&self, workspace: &str, request_id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.state_table)
            .key("pk", s(keys::attempts(workspace, request_id)))
            .key("sk", s(keys::ATTEMPTS_SK))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
