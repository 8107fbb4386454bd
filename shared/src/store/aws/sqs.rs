//! An SQS queue: SendMessageBatch / DeleteMessageBatch 10 at a time, the
//! entries a call reports `Failed` resent (rounds.rs) until done.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};

use super::errors::Service;
use super::rounds::Rounds;
use super::{settings, sqs_error};
use crate::domain::batching::{Limits, group_by_size};
use crate::ports::{
    MAX_QUEUE_BATCH, OutgoingMessage, Queue, Received, StoreError, StoreResult, check_body,
    check_delay,
};

/// SQS limits: a whole SendMessageBatch call is at most 1 MiB (a message
/// too: [`check_body`]); a batch holds at most 10 messages.
const MAX_SQS_PAYLOAD: usize = 1024 * 1024;

/// Groups messages into SendMessageBatch calls within both limits.
fn send_batches(messages: &[OutgoingMessage]) -> StoreResult<Vec<&[OutgoingMessage]>> {
    let limits = Limits {
        max_items: MAX_QUEUE_BATCH,
        max_bytes: MAX_SQS_PAYLOAD,
        overhead: 0,
        separator: 0,
    };
    for m in messages {
        check_body(&m.body)?;
    }
    Ok(group_by_size(messages.iter().map(|m| m.body.len()), limits)
        .into_iter()
        .map(|group| &messages[group])
        .collect())
}

/// The codes of a batch call's failed entries, for the give-up message.
fn failure_codes(failed: &[BatchResultErrorEntry]) -> String {
    let mut codes: Vec<&str> = failed.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    format!("failed entries ({})", codes.join(", "))
}

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, through `client` (one client for every queue:
    /// [`super::Clients`]).
    pub fn new(client: Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> StoreResult<()> {
        // Checked whole before the first call: a bad message never leaves
        // the ones before it sent.
        for m in messages {
            check_delay(m.delay)?;
        }
        for chunk in send_batches(messages)? {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .delay_seconds(m.delay.as_secs() as i32)
                        .build()
                        .map_err(super::invalid_request)?,
                );
            }
            let mut pending = entries;
            let mut rounds = Rounds::new(Service::Sqs, "SendMessageBatch");
            while !pending.is_empty() {
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(sqs_error)?;
                // A message SQS refuses as such is refused every time.
                if let Some(f) = out.failed.iter().find(|f| f.sender_fault) {
                    return Err(StoreError::Refused {
                        detail: format!(
                            "SQS rejected a message: {} {}",
                            f.code,
                            f.message.as_deref().unwrap_or("")
                        ),
                        source: None,
                    });
                }
                pending.retain(|e| out.failed.iter().any(|f| f.id == e.id));
                if !pending.is_empty() {
                    let why = failure_codes(&out.failed);
                    rounds.again(pending.len(), out.request_id(), &why).await?;
                }
            }
        }
        Ok(())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> StoreResult<Vec<Received>> {
        let wait = Duration::from_secs(wait.as_secs().min(20));
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, MAX_QUEUE_BATCH) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default()
                    .timeout_config(settings::long_poll_timeouts(wait)),
            )
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes
                        .as_ref()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<i64>().ok())
                };
                Some(Received {
                    receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                        .unwrap_or(1) as u32,
                    sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp).unwrap_or(0),
                    message_id: m.message_id?,
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn delete(&self, receipt_handles: &[String]) -> StoreResult<()> {
        for chunk in receipt_handles.chunks(MAX_QUEUE_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .map_err(super::invalid_request)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut pending = entries;
            let mut rounds = Rounds::new(Service::Sqs, "DeleteMessageBatch");
            while !pending.is_empty() {
                let out = self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(sqs_error)?;
                // Sender faults are stale or invalid handles: the message
                // was received again since (or is gone), nothing to retry.
                pending.retain(|e| out.failed.iter().any(|f| f.id == e.id && !f.sender_fault));
                if !pending.is_empty() {
                    let why = failure_codes(&out.failed);
                    rounds.again(pending.len(), out.request_id(), &why).await?;
                }
            }
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> StoreResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(visibility.as_secs() as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn approximate_len(&self) -> StoreResult<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .attributes
            .unwrap_or_default()
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum())
    }

    fn source_arn(&self) -> String {
        // https://sqs.<region>.amazonaws.com/<account>/<name> → arn:aws:sqs:<region>:<account>:<name>
        let parts: Vec<&str> = self.url.trim_end_matches('/').rsplit('/').take(2).collect();
        let region = self
            .url
            .split("sqs.")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .unwrap_or("local");
        match parts.as_slice() {
            [name, account] => format!("arn:aws:sqs:{region}:{account}:{name}"),
            _ => format!("arn:aws:sqs:{region}:000000000000:{}", self.url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(sizes: &[usize]) -> Vec<OutgoingMessage> {
        sizes
            .iter()
            .map(|n| OutgoingMessage::now("x".repeat(*n)))
            .collect()
    }

    #[test]
    fn batches_respect_count_and_total_size() {
        let small = messages(&[10; 25]);
        let sizes: Vec<usize> = send_batches(&small)
            .unwrap()
            .iter()
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        // Ten 200 KiB events messages: five per call stay under 1 MiB.
        let big = messages(&[200 * 1024; 10]);
        let batches = send_batches(&big).unwrap();
        assert_eq!(
            batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![5, 5]
        );
        for b in &batches {
            assert!(b.iter().map(|m| m.body.len()).sum::<usize>() <= MAX_SQS_PAYLOAD);
        }
        assert!(send_batches(&messages(&[MAX_SQS_PAYLOAD + 1])).is_err());
        assert!(send_batches(&[]).unwrap().is_empty());
    }
}
