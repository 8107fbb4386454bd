//! Workspaces in the config table (encrypted with the template's KMS key).
//! The document is stored as JSON text: it is read whole and never queried.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::batch::{get_s, s};
use super::{DynamoStore, keys, sdk_error};
use crate::config::WorkspaceConfig;
use crate::ports::{StoreError, StoreResult, WorkspaceStore};

#[async_trait]
impl WorkspaceStore for DynamoStore {
    async fn put_workspace(&self, workspace: &WorkspaceConfig) -> StoreResult<()> {
        let stored = workspace.clone().into_stored();
        let doc = serde_json::to_string(&stored).map_err(StoreError::encode("a workspace"))?;
        self.client
            .put_item()
            .table_name(&self.config_table)
            .item("pk", s(keys::workspace(&stored.id)))
            .item("id", s(&stored.id))
            .item("doc", s(doc))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get_workspace(&self, id: &str) -> StoreResult<Option<WorkspaceConfig>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.config_table)
            .key("pk", s(keys::workspace(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item
            .and_then(|item| get_s(&item, "doc"))
            .map(|doc| {
                serde_json::from_str(&doc).map_err(|e| StoreError::corrupt_from("workspace", e))
            })
            .transpose()
    }

    async fn list_workspace_ids(&self) -> StoreResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.config_table)
                .projection_expression("id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                if let Some(AttributeValue::S(id)) = item.get("id") {
                    ids.push(id.clone());
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn delete_workspace(&self, id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.config_table)
            .key("pk", s(keys::workspace(id)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
