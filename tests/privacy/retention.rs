//! Retention on DynamoDB (docs/interface/privacy.md "Retention"): a dead
//! letter carries the TTL attribute the template enables, `dead_letter_days`
//! after it was kept; an access subject expires the same way.

use shared::domain::time::now_ms;
use shared::domain::{DeadLetter, DeadMessage};
use shared::topology::QueueName;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_dead_letters_expire_after_the_retention() {
    let b = engage_bridge_tests::aws().await;
    let letter = DeadLetter::Message(DeadMessage {
        queue: QueueName::Events,
        body: "{}".into(),
        reason: "r".into(),
        receive_count: 1,
    });
    let before = now_ms() / 1000;
    let ids = b.dead_letters.put_dead_letters(&[letter]).await.unwrap();
    let sdk = engage_bridge_tests::moto_sdk_config().await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&b.resources.as_ref().unwrap().state_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("DEADLETTERS".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(ids[0].clone()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let fourteen_days = 14 * 24 * 3600;
    assert!(
        (before + fourteen_days..=now_ms() / 1000 + fourteen_days + 1).contains(&expires),
        "expires_at {expires}, kept at {before}"
    );
}
