//! Repeated `kill -9` of `serve` while partners send (issue 10 item 1, and
//! the regression guard for events under crashes): every request that got
//! no 2xx is sent again, as Amplitude and mParticle do, and in the end
//! everything acknowledged must have taken effect.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::receiver::{Receiver, Reply};
use crate::support::{Bridge, Client, SECRET, campaign_event, eventually, webhook, workspace};

/// The profiles the cohorts are made of (matched by uid).
const PROFILES: usize = 60;
const COHORTS: usize = 600;
/// Amplitude sends 4 requests in parallel per cohort (docs/interface/http.md); two
/// cohort syncs at a time.
const PARALLEL: usize = 8;
const MAX_CRASHES: usize = 25;

/// A different pause before each crash, 100..300 ms, the same every run.
fn pause(crash: usize) -> Duration {
    Duration::from_millis(100 + (crash as u64 * 137) % 200)
}

fn cohort_size(cohort: usize) -> usize {
    20 + cohort % 41
}

fn cohort_webhook(cohort: usize) -> Value {
    let users: Vec<Value> = (0..cohort_size(cohort))
        .map(|j| json!({"user_id": format!("user-{j}")}))
        .collect();
    json!({
        "cohort_name": format!("Chaos {cohort}"), "cohort_id": format!("chaos{cohort}"),
        "in_cohort": true, "computed_time": "1700000000",
        "message_id": format!("chaos{cohort}::enter::0"), "users": users
    })
}

/// An mParticle Events-API batch for customer `uid` with these custom events.
fn mparticle_batch(uid: &str, event_names: &[String]) -> Value {
    let events: Vec<Value> = event_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"event_type": "custom_event", "data": {
                "event_name": name, "custom_event_type": "other",
                "event_id": 1000 + i, "source_message_id": format!("{uid}-{name}"),
                "timestamp_unixtime_ms": 1_795_341_605_000_u64
            }})
        })
        .collect();
    json!({"user_identities": [{"identity_type": "customer_id", "identity": uid}], "events": events})
}

/// A Firehose change adding customer `uid` to audience 99.
fn audience_change(uid: &str, timestamp_ms: u64) -> Value {
    json!({
        "type": "audience_membership_change_request", "id": format!("r-{uid}"),
        "timestamp_ms": timestamp_ms,
        "account": {"account_settings": {"workspace_id": "acme", "secret_key": SECRET}},
        "user_profiles": [{
            "user_identities": [{"type": "customer", "value": uid}],
            "audiences": [{"audience_id": 99, "audience_name": "Chaos audience", "action": "add"}]
        }]
    })
}

/// Sends (path, body) requests to workspace `acme` one after the other,
/// each until acknowledged.
fn send_in_order(api: &Client, requests: Vec<(String, Value)>) -> JoinHandle<()> {
    let api = api.clone();
    tokio::spawn(async move {
        for (path, body) in requests {
            api.post_until_acknowledged("acme", &path, &body).await;
        }
    })
}

/// `member_count` of every segment of workspace `ws`.
async fn member_counts(api: &Client, ws: &str) -> HashMap<String, u64> {
    let (status, page) = api.get(ws, "/v1/segments?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap().to_owned();
            (id, s["member_count"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// Crashes and restarts `bridge` at varying moments until the senders are
/// through (or [`MAX_CRASHES`]), then waits for them; returns how many
/// crashes.
async fn crash_while_sending(bridge: &mut Bridge, senders: Vec<JoinHandle<()>>) -> usize {
    let mut crashes = 0;
    while !senders.iter().all(JoinHandle::is_finished) && crashes < MAX_CRASHES {
        tokio::time::sleep(pause(crashes)).await;
        bridge.crash_and_restart();
        crashes += 1;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    crashes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_cohort_webhooks_loses_no_cohort() {
    let mut bridge = Bridge::start(&workspace("acme", ""));
    let api = bridge.client();
    let profiles: Vec<Value> = (0..PROFILES)
        .map(|j| mparticle_batch(&format!("user-{j}"), &[]))
        .collect();
    let (status, reply) = api
        .post("acme", "/v1/mparticle/events", &Value::from(profiles))
        .await;
    assert_eq!(status, 200, "{reply}");

    let next = Arc::new(AtomicUsize::new(0));
    let duplicates = Arc::new(Mutex::new(HashSet::new()));
    let senders = (0..PARALLEL).map(|_| {
        let (api, next, duplicates) = (api.clone(), next.clone(), duplicates.clone());
        tokio::spawn(async move {
            loop {
                let cohort = next.fetch_add(1, Ordering::SeqCst);
                if cohort >= COHORTS {
                    return;
                }
                let reply = api
                    .post_until_acknowledged(
                        "acme",
                        "/v1/amplitude/cohorts",
                        &cohort_webhook(cohort),
                    )
                    .await;
                if reply["duplicate"] == true {
                    duplicates
                        .lock()
                        .unwrap()
                        .insert(format!("amplitude-chaos{cohort}"));
                }
            }
        })
    });
    let crashes = crash_while_sending(&mut bridge, senders.collect()).await;

    // Messages in flight at the last crash reappear after the queue's 30 s
    // visibility timeout; then every cohort must have all its members.
    eventually(Duration::from_secs(50), async || {
        let counts = member_counts(&api, "acme").await;
        let duplicates = duplicates.lock().unwrap();
        let lost: Vec<String> = (0..COHORTS)
            .filter_map(|cohort| {
                let id = format!("amplitude-chaos{cohort}");
                let count = counts.get(&id).copied();
                (count != Some(cohort_size(cohort) as u64)).then(|| {
                    let retry = if duplicates.contains(&id) {
                        ", its retry answered 'duplicate'"
                    } else {
                        ""
                    };
                    format!(
                        "{id}: member_count {count:?} of {}{retry}",
                        cohort_size(cohort)
                    )
                })
            })
            .collect();
        if lost.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {COHORTS} cohorts incomplete after {crashes} crashes: {}",
                lost.len(),
                lost.join("; ")
            ))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing() {
    // Slow enough that crashes catch dispatches in flight.
    let receiver = Receiver::start(|_| Reply::Slow(200, Duration::from_millis(300))).await;
    let mut bridge = Bridge::start(&workspace(
        "acme",
        &format!(
            "unknown_cohort_users = \"create\"\n{}",
            webhook("all", &receiver.url, "")
        ),
    ));
    let api = bridge.client();
    let list = api
        .post_until_acknowledged(
            "acme",
            "/v1/amplitude/lists",
            &json!({"name": "[Amplitude] Chaos list: L1"}),
        )
        .await;
    let list_id = list["list_id"].as_str().unwrap().to_owned();

    // Partners send over HTTP while the operator's producer queues events.
    let mparticle = (0..20).map(|k| {
        let names: Vec<String> = (0..5).map(|e| format!("mp-{k}-{e}")).collect();
        let batch = mparticle_batch(&format!("mp-user-{k}"), &names);
        ("/v1/mparticle/events".to_owned(), batch)
    });
    let list_adds = (0..20).map(|k| {
        let users: Vec<String> = (0..3).map(|j| format!("list-{k}-{j}")).collect();
        let path = format!("/v1/amplitude/lists/{list_id}/add");
        (path, json!({"userIds": users}))
    });
    let audiences = (0..20).map(|k| {
        let change = audience_change(&format!("fh-{k}"), 1_700_000_000_000 + k);
        ("/v1/mparticle/firehose".to_owned(), change)
    });
    let senders = vec![
        send_in_order(&api, mparticle.collect()),
        send_in_order(&api, list_adds.collect()),
        send_in_order(&api, audiences.collect()),
    ];
    let mut queued = HashSet::new();
    for round in 0..8 {
        let events: Vec<Value> = (0..25)
            .map(|i| campaign_event(&format!("ev-{round}-{i}"), "u1"))
            .collect();
        bridge.send_events("acme", &events);
        queued.extend((0..25).map(|i| format!("ev-{round}-{i}")));
        tokio::time::sleep(pause(round)).await;
        bridge.crash_and_restart();
    }
    let crashes = 8 + crash_while_sending(&mut bridge, senders).await;

    let sent_names: HashSet<String> = (0..20)
        .flat_map(|k| (0..5).map(move |e| format!("mp-{k}-{e}")))
        .collect();
    eventually(Duration::from_secs(50), async || {
        let missing_events = queued.difference(&receiver.delivered_uuids()).count();
        let missing_mparticle = sent_names
            .difference(&receiver.delivered("event_name"))
            .count();
        let counts = member_counts(&api, "acme").await;
        let members = (counts.get("amplitude-L1"), counts.get("mparticle-99"));
        if missing_events == 0 && missing_mparticle == 0 && members == (Some(&60), Some(&20)) {
            Ok(())
        } else {
            Err(format!(
                "after {crashes} crashes: {missing_events} of {} queued events and \
                 {missing_mparticle} of {} mParticle events not delivered; members of \
                 list L1 (of 60) and audience 99 (of 20): {members:?}",
                queued.len(),
                sent_names.len()
            ))
        }
    })
    .await;
}
