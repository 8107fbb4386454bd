//! Streams' operator states: one item per (workspace, stream) not in the
//! default state, in the workspace's `W#<ws>#STREAMS` partition (sort key:
//! the stream name), so one Query reads a workspace's states. A change is
//! one UpdateItem (or DeleteItem for a resume) returning the item before.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::batch::{Item, get_s, s};
use super::{DynamoStore, keys, sdk_error};
use crate::domain::{Disabled, StateChange, StreamState};
use crate::ports::{StoreError, StoreResult, StreamStateStore};

fn state_from_item(item: &Item) -> StoreResult<StreamState> {
    let disabled = match (get_s(item, "disabled_at"), get_s(item, "disabled_reason")) {
        (Some(at), Some(reason)) => Some(Disabled { at, reason }),
        (None, None) => None,
        _ => {
            return Err(StoreError::corrupt(
                "stream state with half a disabled state",
            ));
        }
    };
    Ok(StreamState {
        paused_at: get_s(item, "paused_at"),
        disabled,
    })
}

#[async_trait]
impl StreamStateStore for DynamoStore {
    async fn stream_states(&self, workspace: &str) -> StoreResult<HashMap<String, StreamState>> {
        let mut states = HashMap::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.state_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(keys::streams(workspace)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                let stream = get_s(&item, "sk")
                    .ok_or_else(|| StoreError::corrupt("stream state without sk"))?;
                states.insert(stream, state_from_item(&item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(states),
            }
        }
    }

    async fn change_stream_state(
        &self,
        workspace: &str,
        stream: &str,
        change: &StateChange,
    ) -> StoreResult<StreamState> {
        let (pk, sk) = (s(keys::streams(workspace)), s(stream));
        let before = match change {
            StateChange::Resume => {
                self.client
                    .delete_item()
                    .table_name(&self.state_table)
                    .key("pk", pk)
                    .key("sk", sk)
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await
                    .map_err(sdk_error)?
                    .attributes
            }
            StateChange::Pause { at } => {
                self.client
                    .update_item()
                    .table_name(&self.state_table)
                    .key("pk", pk)
                    .key("sk", sk)
                    .update_expression("SET paused_at = if_not_exists(paused_at, :at)")
                    .expression_attribute_values(":at", s(at))
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await
                    .map_err(sdk_error)?
                    .attributes
            }
            StateChange::Disable(disabled) => {
                self.client
                    .update_item()
                    .table_name(&self.state_table)
                    .key("pk", pk)
                    .key("sk", sk)
                    .update_expression(
                        "SET disabled_at = if_not_exists(disabled_at, :at), \
                         disabled_reason = if_not_exists(disabled_reason, :reason)",
                    )
                    .expression_attribute_values(":at", s(&disabled.at))
                    .expression_attribute_values(":reason", s(&disabled.reason))
                    .return_values(ReturnValue::AllOld)
                    .send()
                    .await
                    .map_err(sdk_error)?
                    .attributes
            }
        };
        before
            .filter(|item| !item.is_empty())
            .map(|item| state_from_item(&item))
            .transpose()
            .map(Option::unwrap_or_default)
    }
}
