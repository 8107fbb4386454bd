//! The event-source-mapping emulator `serve` runs: successes are deleted,
//! reported failures stay, and a long-running batch is not delivered twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use engage_bridge_tests::receiver::wait_for;
use engage_bridge_tests::{Backend, contract_tests};
use shared::ports::OutgoingMessage;
use shared::queue::consumer::{self, ConsumerOptions};
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
        consumer::run("test", queue, options, stopped, move |event: SqsEvent| {
            let record = record.clone();
            async move {
                let mut response = SqsBatchResponse::default();
                for m in &event.records {
                    let body = m.body.clone().unwrap();
                    record.lock().unwrap().push(body.clone());
                    if body == fail {
                        response.add_failure(m.message_id.clone().unwrap());
                    }
                }
                tokio::time::sleep(hold).await;
                response
            }
        })
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
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.send(true).unwrap();
    rival_stop.send(true).unwrap();
    let total = seen.lock().unwrap().len() + rival.lock().unwrap().len();
    assert_eq!(total, 1, "{}: delivered {total} times", b.kind);
    assert_eq!(
        b.queues.events.approximate_len().await.unwrap(),
        0,
        "deleted after success"
    );
}

contract_tests!(
    successes_are_deleted_and_failures_come_back,
    a_long_batch_is_not_delivered_twice
);
