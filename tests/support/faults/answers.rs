//! What the proxy answers instead of moto: AWS's error documents (JSON 1.0
//! protocol, as DynamoDB and SQS speak it to the SDK), and batch calls cut
//! in two — part forwarded, the rest reported undone the way AWS reports it.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::proxy::{State, respond};
use super::{Operation, Service};

type Answer = Result<http::Response<http_body_util::Full<Bytes>>, super::proxy::Dropped>;

/// The headers of an answer of AWS's JSON protocol, with a request id.
fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    let id = uuid::Uuid::new_v4().to_string();
    headers.insert("x-amzn-requestid", HeaderValue::from_str(&id).unwrap());
    headers
}

fn error(status: StatusCode, code_type: &str, message: &str, query_error: Option<&str>) -> Answer {
    let mut headers = json_headers();
    if let Some(query_error) = query_error {
        // SQS is "query compatible": the SDK reads the code from here.
        headers.insert(
            "x-amzn-query-error",
            HeaderValue::from_str(query_error).unwrap(),
        );
    }
    let body = json!({"__type": code_type, "message": message}).to_string();
    respond(status, &headers, Bytes::from(body))
}

/// A throttling answer; DynamoDB's two kinds alternate by `coin`.
pub(super) fn throttled(service: Service, coin: bool) -> Answer {
    match (service, coin) {
        (Service::DynamoDb, true) => error(
            StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded (injected)",
            None,
        ),
        (Service::DynamoDb, false) => error(
            StatusCode::BAD_REQUEST,
            "com.amazon.coral.availability#ThrottlingException",
            "Rate of requests exceeds the allowed throughput (injected)",
            None,
        ),
        (Service::Sqs, _) => error(
            StatusCode::BAD_REQUEST,
            "com.amazonaws.sqs#RequestThrottled",
            "Request is throttled (injected)",
            Some("RequestThrottled;Sender"),
        ),
    }
}

pub(super) fn server_error(service: Service) -> Answer {
    match service {
        Service::DynamoDb => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "Internal server error (injected)",
            None,
        ),
        Service::Sqs => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.sqs#InternalError",
            "We encountered an internal error. Please try again. (injected)",
            Some("InternalError;Receiver"),
        ),
    }
}

/// A TransactWriteItems cancelled because of concurrent transactions: one
/// reason per item, the first a conflict.
pub(super) fn cancelled(body: &[u8]) -> Answer {
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    let mut reasons = vec![json!({"Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item"})];
    reasons.extend((1..items).map(|_| json!({"Code": "None"})));
    let headers = json_headers();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific \
                    reasons [TransactionConflict] (injected)",
        "CancellationReasons": reasons,
    });
    respond(
        StatusCode::BAD_REQUEST,
        &headers,
        Bytes::from(body.to_string()),
    )
}

/// Entries of a batch call (1 for any other call).
pub(super) fn entries(operation: &Operation, body: &[u8]) -> usize {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return 1;
    };
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    match operation.name.as_str() {
        "BatchWriteItem" => value["RequestItems"]
            .as_object()
            .map_or(0, |tables| tables.values().map(count).sum()),
        "BatchGetItem" => value["RequestItems"]
            .as_object()
            .map_or(0, |tables| tables.values().map(|t| count(&t["Keys"])).sum()),
        "SendMessageBatch" | "DeleteMessageBatch" => count(&value["Entries"]),
        "TransactWriteItems" => count(&value["TransactItems"]),
        _ => 1,
    }
}

/// What a partial answer reports undone.
pub(super) enum Withheld {
    /// BatchWriteItem: table → write requests.
    Items(Map<String, Value>),
    /// BatchGetItem: table → keys and attributes.
    Keys(Map<String, Value>),
    /// SendMessageBatch / DeleteMessageBatch: entry ids.
    Entries(Vec<String>),
}

/// The request to forward, and what is withheld from it.
pub(super) fn split_request(
    state: &State,
    operation: &Operation,
    body: &[u8],
) -> (Bytes, Withheld) {
    let mut value: Value = serde_json::from_slice(body).expect("a JSON batch request");
    let withheld = match operation.name.as_str() {
        "BatchWriteItem" => {
            let mut withheld = Map::new();
            for (table, requests) in value["RequestItems"].as_object_mut().unwrap() {
                let all = std::mem::take(requests.as_array_mut().unwrap());
                let (forwarded, held) = split_some(state, all);
                *requests = Value::Array(forwarded);
                if !held.is_empty() {
                    withheld.insert(table.clone(), Value::Array(held));
                }
            }
            Withheld::Items(withheld)
        }
        "BatchGetItem" => {
            let mut withheld = Map::new();
            for (table, request) in value["RequestItems"].as_object_mut().unwrap() {
                let all = std::mem::take(request["Keys"].as_array_mut().unwrap());
                let (forwarded, held) = split_some(state, all);
                request["Keys"] = Value::Array(forwarded);
                if !held.is_empty() {
                    let mut unprocessed = request.clone();
                    unprocessed["Keys"] = Value::Array(held);
                    withheld.insert(table.clone(), unprocessed);
                }
            }
            Withheld::Keys(withheld)
        }
        _ => {
            let all = std::mem::take(value["Entries"].as_array_mut().unwrap());
            let (forwarded, held) = state.split(all);
            value["Entries"] = Value::Array(forwarded);
            Withheld::Entries(
                held.iter()
                    .filter_map(|e| e["Id"].as_str().map(str::to_owned))
                    .collect(),
            )
        }
    };
    // Requests emptied for a table are left out (AWS refuses empty lists).
    if let Some(tables) = value["RequestItems"].as_object_mut() {
        tables.retain(|_, v| match v {
            Value::Array(a) => !a.is_empty(),
            v => v["Keys"].as_array().is_some_and(|k| !k.is_empty()),
        });
    }
    (Bytes::from(value.to_string()), withheld)
}

/// A table's requests split; a single one is kept whole.
fn split_some(state: &State, all: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    if all.len() < 2 {
        return (all, Vec::new());
    }
    state.split(all)
}

/// moto's answer to the forwarded part, with the withheld part reported
/// undone.
pub(super) fn with_withheld(operation: &Operation, answer: &[u8], withheld: Withheld) -> Bytes {
    let mut value: Value = serde_json::from_slice(answer).unwrap_or_else(|_| json!({}));
    match withheld {
        Withheld::Items(items) => value["UnprocessedItems"] = Value::Object(items),
        Withheld::Keys(keys) => value["UnprocessedKeys"] = Value::Object(keys),
        Withheld::Entries(ids) => {
            if !value["Failed"].is_array() {
                value["Failed"] = json!([]);
            }
            let failed = value["Failed"].as_array_mut().unwrap();
            for id in ids {
                failed.push(json!({
                    "Id": id,
                    "SenderFault": false,
                    "Code": "InternalError",
                    "Message": format!("{} entry not processed (injected)", operation.name),
                }));
            }
        }
    }
    Bytes::from(value.to_string())
}
