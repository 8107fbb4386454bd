//! The event-source-mapping emulator `serve` runs: successes are deleted,
//! reported failures stay, and a long-running batch is not delivered twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests};
use shared::queue::batch::BatchOutcome;
use std::collections::HashMap;

use shared::domain::{Profile, ProfileUpdate};
use shared::ports::{OutgoingMessage, ProfileStore, Received, StoreError, StoreResult};
use shared::queue::consumer::{self, ConsumerOptions};
use shared::runtime::Services;
use shared::topology::{CONSUMERS, QueueName};
use tokio::sync::watch;

type Seen = Arc<Mutex<Vec<String>>>;

fn start(
    b: &Backend,
    options: ConsumerOptions,
    hold: Duration,
    fail: &'static str,
) -> (Seen, watch::Sender<bool>) {
    let seen: Seen = Arc::default();
    let (stop, stopped) = watch::channel(false);
    let queue = b.queues.events.raw().clone();
    let record = seen.clone();
    tokio::spawn(async move {
        consumer::run(
            "test",
            queue,
            options,
            stopped,
            move |records: Vec<Received>| {
                let record = record.clone();
                async move {
                    let mut outcome = BatchOutcome::default();
                    for m in &records {
                        record.lock().unwrap().push(m.body.clone());
                        if m.body == fail {
                            outcome.redeliver.push(m.message_id.clone());
                        }
                    }
                    tokio::time::sleep(hold).await;
                    outcome
                }
            },
        )
        .await
    });
    (seen, stop)
}

async fn successes_are_deleted_and_failures_come_back(b: &Backend) {
    let options = ConsumerOptions {
        visibility: Duration::from_secs(1),
        wait: Duration::from_millis(100),
        ..ConsumerOptions::default()
    };
    b.queues
        .events
        .raw()
        .send(&[
            OutgoingMessage::now("ok".into()),
            OutgoingMessage::now("bad".into()),
        ])
        .await
        .unwrap();
    let (seen, stop) = start(b, options, Duration::ZERO, "bad");
    wait_for(
        async || seen.lock().unwrap().iter().filter(|s| *s == "bad").count() >= 2,
        Duration::from_secs(10),
    )
    .await;
    stop.send(true).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|s| *s == "ok").count(),
        1,
        "{}: {seen:?}",
        b.kind
    );
}

async fn a_long_batch_is_not_delivered_twice(b: &Backend) {
    // The handler takes 3.5 s; visibility is 1 s, kept alive by the heartbeat.
    let options = ConsumerOptions {
        visibility: Duration::from_secs(1),
        wait: Duration::from_millis(100),
        heartbeat: true,
        ..ConsumerOptions::default()
    };
    b.queues
        .events
        .raw()
        .send(&[OutgoingMessage::now("slow".into())])
        .await
        .unwrap();
    let (seen, stop) = start(b, options, Duration::from_millis(3500), "");
    // A second, competing consumer must not get it while it is being handled.
    let (rival, rival_stop) = start(b, options, Duration::ZERO, "");
    // Handled (3.5 s, three visibility timeouts long) and deleted after
    // success; had the rival got it meanwhile, it would have been handled
    // twice.
    wait_for(
        async || b.queues.events.approximate_len().await.unwrap() == 0,
        Duration::from_secs(15),
    )
    .await;
    stop.send(true).unwrap();
    rival_stop.send(true).unwrap();
    let total = seen.lock().unwrap().len() + rival.lock().unwrap().len();
    assert_eq!(total, 1, "{}: delivered {total} times", b.kind);
}

/// Receives the one cohort message (hidden 0 s: visible again at once)
/// and, unless the consumer "crashes", hands it to the cohort consumer;
/// deletes it when the consumer is done with it. True when done.
async fn one_receive(services: &Services, handle: bool) -> bool {
    let queue = services.queues.cohort.raw();
    let received = queue
        .receive(1, Duration::ZERO, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(received.len(), 1, "the message is still there");
    if !handle {
        return false;
    }
    let outcome = engage_bridge_tests::consume(services, QueueName::Cohort, &received).await;
    let done = outcome.redeliver.is_empty();
    if done {
        queue
            .delete(&[received[0].receipt_handle.clone()])
            .await
            .unwrap();
    }
    done
}

/// `b`'s services with the profile store down: a staged cohort message for
/// an existing workspace then fails on every receive.
async fn with_a_failing_cohort_message(b: &Backend) -> Services {
    b.workspaces
        .apply(&[engage_bridge_tests::workspace("acme", "s")])
        .await
        .unwrap();
    let staged = serde_json::json!({
        "workspace_id": "acme", "segment_id": "amplitude-c1", "cohort_id": "c1",
        "cohort_name": "C", "action": "Added", "computed_time": 1, "users": [{"user_id": "u1"}]
    });
    b.queues
        .cohort
        .raw()
        .send(&[OutgoingMessage::now(staged.to_string())])
        .await
        .unwrap();
    b.services
        .clone()
        .changed(|set| set.profiles = Arc::new(ProfilesDown))
}

struct ProfilesDown;

fn down<T>() -> StoreResult<T> {
    Err(StoreError::unavailable(
        shared::ports::Unavailability::Failed,
        "injected: profiles unavailable",
        None,
    ))
}

#[async_trait::async_trait]
impl ProfileStore for ProfilesDown {
    async fn get_profiles(&self, _: &str, _: &[String]) -> StoreResult<Vec<Profile>> {
        down()
    }
    async fn find_by_uids(&self, _: &str, _: &[String]) -> StoreResult<HashMap<String, String>> {
        down()
    }
    async fn find_by_anonymous_ids(
        &self,
        _: &str,
        _: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        down()
    }
    async fn update_profiles(&self, _: &str, _: &[ProfileUpdate]) -> StoreResult<Vec<Profile>> {
        down()
    }
}

fn cohort_max_receives() -> u32 {
    CONSUMERS
        .iter()
        .find(|c| c.queue == QueueName::Cohort)
        .unwrap()
        .max_receives
}

async fn the_dead_letter(b: &Backend) -> shared::streams::dlq::Listing {
    let letters = shared::streams::dlq::list(b, &Default::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "{}: {letters:?}", b.kind);
    letters[0].clone()
}

/// A message that fails on every receive is dead-lettered with its reason
/// once it has failed `max_receives` times: never redelivered forever.
async fn a_message_failing_every_receive_is_dead_lettered_with_why(b: &Backend) {
    let broken = with_a_failing_cohort_message(b).await;
    let max = cohort_max_receives();
    for receive in 1..max {
        assert!(
            !one_receive(&broken, true).await,
            "{}: receive {receive}",
            b.kind
        );
    }
    assert!(
        one_receive(&broken, true).await,
        "dead-lettered on receive {max}"
    );
    assert_eq!(b.queues.cohort.approximate_len().await.unwrap(), 0);
    let letter = the_dead_letter(b).await;
    assert_eq!(letter.queue, Some(QueueName::Cohort));
    assert_eq!(letter.workspace_id, "acme");
    assert!(
        letter
            .reason
            .starts_with(&format!("failed on each of {max} receives; last error:"))
            && letter.reason.contains("injected: profiles unavailable"),
        "{}",
        letter.reason
    );
}

/// A message whose handler never finishes (a crash, a timeout) is
/// dead-lettered once it has been received more than `max_receives` times.
async fn a_message_whose_handler_never_finishes_is_dead_lettered(b: &Backend) {
    let broken = with_a_failing_cohort_message(b).await;
    for _ in 0..cohort_max_receives() {
        one_receive(&broken, false).await;
    }
    assert!(one_receive(&broken, true).await);
    let letter = the_dead_letter(b).await;
    assert!(
        letter.reason.contains("without completing"),
        "{}",
        letter.reason
    );
}

contract_tests!(
    successes_are_deleted_and_failures_come_back,
    a_long_batch_is_not_delivered_twice,
    a_message_failing_every_receive_is_dead_lettered_with_why,
    a_message_whose_handler_never_finishes_is_dead_lettered,
);
