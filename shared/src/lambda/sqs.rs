//! Lambda's SQS event source at the edge (docs/architecture.md "Queues"):
//! its records become our [`Received`] records, and the batch's outcome
//! becomes the partial batch response (`batchItemFailures`), so nothing
//! inside speaks Lambda's types.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::ports::Received;
use crate::queue::batch::BatchOutcome;

/// A record as the batch loop sees it. SQS always sets the id, the receipt
/// handle and the body; an absent field reads as empty (the loop then
/// dead-letters an unreadable body, never drops it silently).
pub fn received(record: SqsMessage) -> Received {
    let attribute = |name: &str| record.attributes.get(name).map(String::as_str);
    Received {
        receive_count: attribute("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        sent_at_ms: attribute("SentTimestamp")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        message_id: record.message_id.unwrap_or_default(),
        receipt_handle: record.receipt_handle.unwrap_or_default(),
        body: record.body.unwrap_or_default(),
    }
}

/// The records of an SQS event.
pub fn records(event: SqsEvent) -> Vec<Received> {
    event.records.into_iter().map(received).collect()
}

/// The partial batch response: the records to deliver again.
pub fn response(outcome: BatchOutcome) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for id in outcome.redeliver {
        response.add_failure(id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_its_id_receipt_body_and_receive_count() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": "m-1", "receiptHandle": "r-1", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
            "messageAttributes": {}, "eventSource": "aws:sqs"
        }]}))
        .unwrap();
        let records = records(event);
        assert_eq!(
            records,
            vec![Received {
                message_id: "m-1".into(),
                receipt_handle: "r-1".into(),
                body: "{}".into(),
                receive_count: 3,
                sent_at_ms: 1_700_000_000_000,
            }]
        );
    }

    #[test]
    fn the_response_names_exactly_the_records_to_redeliver() {
        let outcome = BatchOutcome {
            redeliver: vec!["m-2".into(), "m-5".into()],
        };
        let json = serde_json::to_value(response(outcome)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": "m-2"}, {"itemIdentifier": "m-5"}
            ]})
        );
    }
}
