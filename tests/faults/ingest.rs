//! Ingest under 25 % DynamoDB and SQS faults: mParticle (Events API and
//! Firehose), Amplitude (Cohort Webhooks and the list API) and Customer.io
//! send to mparticle-ingest and cohort-ingest, resending what is not
//! answered 2xx, as they do; then the queues are consumed (cohort-ingest,
//! stream-dispatch, retry), all through the same faults. Every request
//! answered 2xx has all its effects: its events reach the receiver, its
//! profile is written, its memberships are stored and counted, each
//! change is announced — duplicates only as repeats of the same event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engage_bridge_tests::faults::Plan;
use engage_bridge_tests::faults::cloud::{Cloud, report};
use serde_json::Value;
use shared::domain::ids::moengage_user_id;
use shared::domain::{PageRequest, ProfileKey};
use shared::lambda::Handler;
use shared::topology::{Function, QueueName};

use crate::partners::{self, SECRET, Tally, WS};
use crate::receiver::Receiver;

const VISIBILITY: Duration = Duration::from_secs(4);
const SETTLE: Duration = Duration::from_secs(150);
const EVENTS_API_REQUESTS: usize = 10;
const FIREHOSE_CALLS: usize = 6;
const CUSTOMERIO_WEBHOOKS: usize = 10;
const COHORTS: [&str; 2] = ["coh1", "coh2"];
const LIST: &str = "lst1";

fn config(url: &str) -> String {
    format!(
        "[[workspaces]]\nid = \"{WS}\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\n\
         unknown_cohort_users = \"create\"\nmparticle_requests_per_minute = 100000\n\
         amplitude_requests_per_second = 10000\ncustomerio = {{ signing_key = \"cio-key\" }}\n\
         [[workspaces.streams]]\nname = \"all\"\ntype = \"webhook\"\nurl = \"{url}/ok/all\"\n\
         timeout_seconds = 5\n"
    )
}

fn uids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:02}")).collect()
}

/// What was acknowledged, and so must have happened.
#[derive(Default)]
struct Expected {
    /// mParticle probes, each an event.
    probes: Vec<String>,
    /// mParticle users and the `plan` each must have.
    plans: BTreeMap<String, String>,
    /// Customer.io event uuids.
    customerio: Vec<String>,
    /// Members per segment id.
    members: BTreeMap<String, BTreeSet<String>>,
    /// Every change sent: (cohort id, uid, action, event_time); a list's
    /// times are its arrivals, unknown here (None).
    changes: BTreeSet<(String, String, String, Option<i64>)>,
    /// Each member's last change, which must be announced (an older change
    /// applied after a newer one never becomes the state, and is not:
    /// docs/rules/member-matching.md "Ordering: versions").
    last: BTreeMap<(String, String), (String, Option<i64>)>,
}

impl Expected {
    /// A change sent (and acknowledged) after every earlier one of `uid`.
    fn record(&mut self, cohort: &str, uid: &str, action: &str, time: Option<i64>) {
        let (cohort, uid, action) = (cohort.to_owned(), uid.to_owned(), action.to_owned());
        self.changes
            .insert((cohort.clone(), uid.clone(), action.clone(), time));
        self.last.insert((cohort, uid), (action, time));
    }
}

async fn mparticle(tally: &Tally, handler: &Handler, expected: &mut Expected) {
    for r in 0..EVENTS_API_REQUESTS {
        let uid = format!("mp-user-{r:02}");
        let probes: Vec<String> = (0..3).map(|k| format!("mp-{r}-{k}")).collect();
        let plan = format!("plan-{r}");
        let body = partners::events_api(&uid, &plan, &probes);
        tally
            .http(handler, "POST", "/v1/mparticle/events", &body)
            .await;
        if r == 0 {
            // mParticle resends a request whose answer it lost: the same
            // events again, under the same uuids (at least once, no more).
            tally
                .http(handler, "POST", "/v1/mparticle/events", &body)
                .await;
        }
        expected.probes.extend(probes);
        expected.plans.insert(uid, plan);
    }
    for r in 0..FIREHOSE_CALLS {
        let probes: Vec<String> = (0..2).map(|k| format!("fh-{r}-{k}")).collect();
        let answer = tally
            .invoke(
                handler,
                &partners::firehose(&format!("fh-user-{r}"), &probes),
            )
            .await;
        assert_eq!(answer["type"], "event_processing_response", "{answer}");
        expected.probes.extend(probes);
    }
    for r in 0..CUSTOMERIO_WEBHOOKS {
        let body = partners::customerio(&format!("cio-event-{r:02}"), &format!("cio-{r}"));
        let path = format!("/v1/customerio/{WS}/reporting");
        let answer = tally.http(handler, "POST", &path, &body).await;
        // Customer.io retries a webhook whose answer it lost: not queued again.
        let again = tally.http(handler, "POST", &path, &body).await;
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(again["event_uuid"], answer["event_uuid"]);
        expected
            .customerio
            .push(answer["event_uuid"].as_str().unwrap().to_owned());
    }
}

/// Two cohorts: two additions, then a removal, each acknowledged before the
/// next is sent (and the first sent twice, as Amplitude does after a lost
/// answer); then a list: created, added to, removed from.
async fn amplitude(tally: &Tally, handler: &Handler, expected: &mut Expected) {
    for (c, cohort) in COHORTS.iter().enumerate() {
        let t0 = 1_795_000_000 + 100 * c as i64;
        let steps = [
            (true, t0, uids(cohort, 0..15)),
            (true, t0 + 10, uids(cohort, 10..25)),
            (false, t0 + 20, uids(cohort, 0..5)),
        ];
        for (n, (added, time, users)) in steps.iter().enumerate() {
            let body = partners::cohort(cohort, *added, *time, &format!("{cohort}-m{n}"), users);
            let answer = tally
                .http(handler, "POST", "/v1/amplitude/cohorts", &body)
                .await;
            if n == 0 {
                let again = tally
                    .http(handler, "POST", "/v1/amplitude/cohorts", &body)
                    .await;
                assert_eq!(again["duplicate"], true, "{again}");
            }
            let action = if *added { "Added" } else { "Removed" };
            for uid in users {
                expected.record(cohort, uid, action, Some(*time));
            }
            let _ = answer;
        }
        let members = uids(cohort, 5..25).into_iter().collect();
        expected
            .members
            .insert(format!("amplitude-{cohort}"), members);
    }
    let create = serde_json::json!({"name": format!("[Amplitude] Faults list: {LIST}")});
    let created = tally
        .http(handler, "POST", "/v1/amplitude/lists", &create)
        .await;
    let list_id = created["list_id"].as_str().unwrap().to_owned();
    let path = |verb: &str| format!("/v1/amplitude/lists/{list_id}/{verb}");
    let added = uids(LIST, 0..10);
    let removed = uids(LIST, 0..3);
    tally
        .http(
            handler,
            "POST",
            &path("add"),
            &serde_json::json!({"userIds": added}),
        )
        .await;
    tally
        .http(
            handler,
            "POST",
            &path("remove"),
            &serde_json::json!({"userIds": removed}),
        )
        .await;
    for (users, action) in [(&added, "Added"), (&removed, "Removed")] {
        for uid in users {
            expected.record(LIST, uid, action, None);
        }
    }
    expected
        .members
        .insert(list_id, uids(LIST, 3..10).into_iter().collect());
}

/// The Partner Sync events the receiver accepted, as (cohort id, uid,
/// action, event_time) → distinct uuids.
fn partner_syncs(receiver: &Receiver) -> BTreeMap<(String, String, String, i64), BTreeSet<String>> {
    let mut found: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for event in receiver.accepted_events() {
        if event["event_name"] != "Partner Sync" {
            continue;
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let key = (
            text(&event["event_attributes"]["Partner Segment ID"]),
            text(&event["uid"]),
            text(&event["event_attributes"]["Action"]),
            event["event_time"].as_i64().unwrap_or_default(),
        );
        found
            .entry(key)
            .or_default()
            .insert(text(&event["event_uuid"]));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_request_has_all_its_effects_under_faults() {
    let started = Instant::now();
    // Two attempts a call, as when the SDK's retry quota runs low: calls
    // fail often enough that partners resend and messages come back.
    let cloud = Cloud::with_attempts(Plan::new(7, 0.25), Some(2)).await;
    let receiver = Receiver::start().await;
    cloud.apply_config(&config(&receiver.url)).await;

    // The partners, at once, against one instance of each ingest function.
    let mparticle_ingest = cloud.instance(Function::MparticleIngest);
    let cohort_ingest = cloud.instance(Function::CohortIngest);
    let tally = Tally::default();
    let (mut from_mparticle, mut from_amplitude) = (Expected::default(), Expected::default());
    tokio::join!(
        mparticle(&tally, &mparticle_ingest, &mut from_mparticle),
        amplitude(&tally, &cohort_ingest, &mut from_amplitude),
    );
    let ingest_figures = cloud.proxy.figures();

    // The queues' consumers.
    let dispatch = cloud.instance(Function::StreamDispatch);
    let retry = cloud.instance(Function::Retry);
    let consumers = [
        (QueueName::Cohort, &cohort_ingest),
        (QueueName::Events, &dispatch),
        (QueueName::Retry, &retry),
    ];
    cloud.settle(&consumers, VISIBILITY, SETTLE).await;

    // Events: every acknowledged one delivered.
    let accepted = receiver.accepted_events();
    let mut probes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in &accepted {
        if let (Some(probe), Some(uuid)) = (
            event["event_attributes"]["probe"].as_str(),
            event["event_uuid"].as_str(),
        ) {
            probes
                .entry(probe.to_owned())
                .or_default()
                .insert(uuid.to_owned());
        }
    }
    let uuids = receiver.accepted();
    let mut lost: Vec<String> = from_mparticle
        .probes
        .iter()
        .filter(|p| !probes.contains_key(*p))
        .cloned()
        .collect();
    lost.extend(
        from_mparticle
            .customerio
            .iter()
            .filter(|u| !uuids.contains_key(*u))
            .cloned(),
    );
    let duplicates: usize = uuids.values().map(|n| n - 1).sum();

    // Profiles: every acknowledged attribute written.
    let direct = &cloud.direct;
    for (uid, plan) in &from_mparticle.plans {
        let id = moengage_user_id(WS, &ProfileKey::Uid(uid.clone()));
        let profiles = direct.profiles.get_profiles(WS, &[id]).await.unwrap();
        let stored = profiles.first().map(|p| p.attributes["plan"].clone());
        if stored != Some(Value::from(plan.as_str())) {
            lost.push(format!("profile {uid}: plan {stored:?}, expected {plan}"));
        }
    }

    // Segments: the right members, counted right.
    let mut counts = Vec::new();
    for (segment_id, members) in &from_amplitude.members {
        let page = direct
            .segments
            .list_members(WS, segment_id, &PageRequest::first(1000))
            .await
            .unwrap();
        let stored: BTreeSet<String> = page.items.iter().filter_map(|m| m.uid.clone()).collect();
        let segment = direct
            .segments
            .get_segment(WS, segment_id)
            .await
            .unwrap()
            .unwrap();
        counts.push(format!(
            "{segment_id} {}/{}",
            segment.member_count,
            members.len()
        ));
        assert_eq!(&stored, members, "members of {segment_id}");
        assert_eq!(
            segment.member_count,
            members.len() as i64,
            "member_count of {segment_id}"
        );
    }

    // Partner Sync: each member's last change announced; nothing announced
    // that was not sent; each change under one uuid (repeats only).
    let syncs = partner_syncs(&receiver);
    let announced = |cohort: &str, uid: &str, action: &str, time: Option<i64>| {
        syncs.keys().any(|(c, u, a, t)| {
            c == cohort && u == uid && a == action && time.is_none_or(|time| time == *t)
        })
    };
    for ((cohort, uid), (action, time)) in &from_amplitude.last {
        if !announced(cohort, uid, action, *time) {
            lost.push(format!("Partner Sync {cohort} {uid} {action} {time:?}"));
        }
    }
    let unsent: Vec<_> = syncs
        .keys()
        .filter(|(c, u, a, t)| {
            let time = (c != LIST).then_some(*t);
            !from_amplitude
                .changes
                .contains(&(c.clone(), u.clone(), a.clone(), time))
        })
        .collect();
    let kept = shared::streams::dlq::list(direct, &Default::default())
        .await
        .unwrap();

    let requests = tally.requests.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    report(&format!(
        "faults/ingest (seed {}): {requests} partner requests, {refused} answers refused and resent; \
         acknowledged {requests}, lost {}, duplicate deliveries {duplicates}; \
         {} events delivered, {} changes announced of {} sent; \
         counts {counts:?}; dead letters {}; ingest: {ingest_figures}; all: {}; {:.1} s",
        cloud.proxy.seed(),
        lost.len(),
        uuids.len(),
        syncs.len(),
        from_amplitude.changes.len(),
        kept.len(),
        cloud.proxy.figures(),
        started.elapsed().as_secs_f64(),
    ));
    assert!(
        lost.is_empty(),
        "acknowledged but lost: {lost:?}\ndead letters: {kept:#?}"
    );
    assert!(unsent.is_empty(), "announced but never sent: {unsent:?}");
    let split: Vec<_> = probes
        .iter()
        .filter(|(_, uuids)| uuids.len() != 1)
        .collect();
    assert!(
        split.is_empty(),
        "an mParticle event under two uuids: {split:?}"
    );
    for ((cohort, uid, action, time), uuids) in syncs.iter().filter(|((c, ..), _)| c != LIST) {
        assert_eq!(
            uuids.len(),
            1,
            "{cohort} {uid} {action} {time}: announced under one uuid, repeats only"
        );
    }
    assert!(kept.is_empty(), "nothing dead-lettered: {kept:#?}");
    let figures = cloud.proxy.figures();
    assert!(figures.share() >= 0.2, "20–30 % faults: {figures}");
}
