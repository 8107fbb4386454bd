//! Set-up and driving for the privacy tests: a workspace with a webhook
//! stream (and optionally more TOML), requests through the router `serve`
//! runs, and the consumers run until their queues are empty.

use engage_bridge_tests::{Backend, basic, run_queued, unique};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::config;
use shared::delivery_log::model::{LogEntry, LogQuery};
use shared::topology::QueueName;

pub const SECRET: &str = "privacy-secret";

#[allow(dead_code)] // Each test file reads what it needs.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

/// A fresh workspace id (metrics are process-wide; ids keep tests apart).
pub fn workspace_id() -> String {
    unique("ws")
}

/// Applies workspace `id` with `extra` TOML (streams, settings) and a
/// second workspace `<id>-other` with the same secret.
pub async fn setup(b: &Backend, id: &str, extra: &str) {
    let text = format!(
        "[[workspaces]]\nid = \"{id}\"\nsecret = \"{SECRET}\"\napp_name = \"Privacy\"\n{extra}\n\n\
         [[workspaces]]\nid = \"{id}-other\"\nsecret = \"{SECRET}\"\napp_name = \"Other\"\n"
    );
    let config = config::parse(&text).expect("valid test config");
    b.workspaces.apply(&config.workspaces).await.unwrap();
}

pub fn auth(ws: &str) -> String {
    basic(ws, SECRET)
}

pub async fn call(b: &Backend, method: &str, uri: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = engage_bridge_tests::call(b, request.body(body.to_vec()).unwrap()).await;
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        raw: response.body().clone(),
    }
}

pub async fn as_ws(b: &Backend, ws: &str, method: &str, uri: &str, body: Option<&Value>) -> Reply {
    let body = body.map(Value::to_string).unwrap_or_default();
    call(b, method, uri, Some(&auth(ws)), body.as_bytes()).await
}

/// An Events-API batch for `uid` with an email, an anonymous id and one
/// custom event.
pub fn mparticle_batch(uid: &str, email: &str, anonymous_id: &str, event: &str) -> Value {
    json!({
        "schema_version": 2,
        "environment": "production",
        "user_identities": {"customer_id": uid, "email": email},
        "user_attributes": {"moe_anonymous_id": anonymous_id, "plan": "gold"},
        "events": [{"event_type": "custom_event", "data": {
            "event_name": event, "custom_event_type": "other",
            "timestamp_unixtime_ms": 1_795_341_605_000i64,
            "source_message_id": format!("{uid}-{event}"),
            "custom_attributes": {"screen": "home"}}}]
    })
}

pub fn cohort_webhook(cohort_id: &str, message_id: &str, users: &[&str], computed: i64) -> Value {
    json!({
        "cohort_name": "Churn risk", "cohort_id": cohort_id, "in_cohort": true,
        "computed_time": computed.to_string(), "message_id": message_id,
        "users": users.iter().map(|u| json!({"user_id": u})).collect::<Vec<_>>()
    })
}

/// Runs the consumers (cohort, privacy, events, retry) until every queue
/// they consume is empty of visible messages.
pub async fn settle(b: &Backend) {
    for _ in 0..5 {
        for queue in [
            QueueName::Cohort,
            QueueName::Privacy,
            QueueName::Events,
            QueueName::Retry,
        ] {
            run_queued(b, queue).await;
        }
    }
}

/// The value of a Prometheus sample whose labels include `labels`.
pub fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = shared::observability::metrics::prometheus().render();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// Which of a SQLite backend's files [`store_text`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// The store's database and its WAL.
    Store,
    /// Those and the delivery log's database and WAL, beside it.
    StoreAndDeliveryLog,
}

/// Every byte of the store: SQLite's `files`, its queued bodies and the
/// delivery log's body files' records unpacked (they are stored
/// LZ4-packed, where a uid need not appear as text), or every item of the DynamoDB state table (the delivery log's
/// included) but the delivery records of `User Deleted` events, the one
/// place an erased uid stays until retention (docs/interface/privacy.md
/// "Erasure").
pub async fn store_text(b: &Backend, files: Files) -> String {
    match &b.path {
        Some(path) => {
            let mut paths = vec![path.clone()];
            let mut bodies = String::new();
            if files == Files::StoreAndDeliveryLog {
                let log = path.with_file_name("store-delivery-log.db");
                let dir = shared::store::sqlite::body_files::dir_beside(&log);
                for file in std::fs::read_dir(&dir).unwrap() {
                    let raw = std::fs::read(file.unwrap().path()).unwrap();
                    bodies.push_str(&String::from_utf8_lossy(&raw));
                }
                for record in shared::store::sqlite::body_files::scan(&dir).unwrap() {
                    bodies
                        .push_str(&shared::store::packed::unpack(&record.packed, 1 << 20).unwrap());
                }
                paths.push(log);
            }
            let mut bytes = Vec::new();
            for db in paths {
                bytes.extend(std::fs::read(&db).unwrap());
                bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
            }
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            text.push_str(&queued_bodies(path));
            text.push_str(&bodies);
            text
        }
        None => {
            let sdk = engage_bridge_tests::moto_sdk_config().await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let table = &b.resources.as_ref().unwrap().state_table;
            let mut text = String::new();
            let mut start = None;
            loop {
                let out = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                for item in out.items() {
                    let item_text = format!("{item:?}");
                    let pk = item.get("pk").and_then(|pk| pk.as_s().ok());
                    let user_deleted_record = pk.is_some_and(|pk| pk.contains("#DL"))
                        && item_text.contains("EB_USER_DELETED");
                    if !user_deleted_record {
                        text.push_str(&item_text);
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() {
                    return text;
                }
            }
        }
    }
}

/// Every body the SQLite store's queues hold, read back as text.
fn queued_bodies(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut read = conn.prepare("SELECT body FROM queue_bodies").unwrap();
    let mut rows = read.query([]).unwrap();
    let mut text = String::new();
    while let Some(row) = rows.next().unwrap() {
        match row.get_ref(0).unwrap() {
            rusqlite::types::ValueRef::Blob(packed) => text.push_str(
                &shared::store::packed::unpack(packed, shared::ports::MAX_MESSAGE_BODY_BYTES)
                    .unwrap(),
            ),
            other => text.push_str(other.as_str().unwrap()),
        }
    }
    text
}

/// The delivery log's entries naming `uid` within the retention, newest first.
pub async fn deliveries_of(b: &Backend, ws: &str, uid: &str) -> Vec<LogEntry> {
    let mut query = LogQuery {
        uid: Some(uid.to_owned()),
        limit: 100,
        ..LogQuery::default()
    };
    let mut entries = Vec::new();
    loop {
        let page = b.delivery_log.list(ws, &query).await.unwrap();
        entries.extend(page.entries);
        match page.next_before {
            Some(before) => query.before = Some(before),
            None => return entries,
        }
    }
}
