//! The privacy ports on DynamoDB (docs/interface/privacy.md; item layout in
//! ../mod.rs): suppressions in one partition per workspace, requests one item
//! each, access subjects in one partition per workspace with a TTL. Queued
//! SQS messages cannot be rewritten, and nothing needs compacting: those
//! are SQLite's.

mod erasure;
mod requests;
mod suppressions;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use super::batch::{Item, get_s, key};
use super::{DynamoStore, invalid_request, sdk_error};
use crate::ports::{StoreError, StoreResult};

pub(super) fn conditional_failed<R>(e: &SdkError<PutItemError, R>) -> bool {
    matches!(
        e.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}

pub(super) fn doc_of<T: serde::de::DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let doc = get_s(item, "doc").ok_or_else(|| StoreError::corrupt("item without doc"))?;
    serde_json::from_str(&doc).map_err(|e| StoreError::corrupt_from("a privacy item", e))
}

pub(super) fn delete_request(pk: String, sk: &str) -> StoreResult<WriteRequest> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key(pk, sk)))
        .build()
        .map_err(invalid_request)?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

impl DynamoStore {
    pub(super) async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.state_table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?
            .item)
    }
}
