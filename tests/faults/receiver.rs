//! The streams' receiver for the fault suite, on 127.0.0.1: `/ok/…`
//! accepts every request, `/flaky/…` refuses the first request of each
//! `moe_request_id` (so a retry delivers it), `/down/…` refuses every one
//! until it is brought up. It records what arrived and how it answered.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Arrival {
    pub path: String,
    pub moe_request_id: String,
    pub events: Vec<Value>,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    arrivals: Mutex<Vec<Arrival>>,
    refused_once: Mutex<HashSet<String>>,
    down_is_up: AtomicBool,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/{kind}/{stream}", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// `/down/…` accepts from now on.
    pub fn bring_up(&self) {
        self.inner.down_is_up.store(true, Ordering::SeqCst);
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.arrivals.lock().unwrap().clone()
    }

    /// How many accepted requests carried each event uuid.
    pub fn accepted(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for arrival in self.arrivals().iter().filter(|a| a.status == 200) {
            for event in &arrival.events {
                let uuid = event["event_uuid"].as_str().unwrap_or_default();
                *counts.entry(uuid.to_owned()).or_default() += 1;
            }
        }
        counts
    }

    /// Every accepted event (repeats included).
    pub fn accepted_events(&self) -> Vec<Value> {
        self.arrivals()
            .into_iter()
            .filter(|a| a.status == 200)
            .flat_map(|a| a.events)
            .collect()
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    Path((kind, stream)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    let moe_request_id = body["moe_request_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let status = match kind.as_str() {
        "ok" => StatusCode::OK,
        "flaky"
            if inner
                .refused_once
                .lock()
                .unwrap()
                .insert(moe_request_id.clone()) =>
        {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "flaky" => StatusCode::OK,
        _ if inner.down_is_up.load(Ordering::SeqCst) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    inner.arrivals.lock().unwrap().push(Arrival {
        path: format!("/{kind}/{stream}"),
        moe_request_id,
        events: body["events"].as_array().cloned().unwrap_or_default(),
        status: status.as_u16(),
    });
    status
}
