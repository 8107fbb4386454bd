//! Creating the tables and queues of template.yaml on a local moto server
//! with plain HTTP (the JSON protocols of DynamoDB and SQS), mirroring
//! `shared::store::aws::provision` without linking the AWS SDK into the
//! harness. Loopback only: moto does not check signatures, it only reads
//! the region from the credential scope.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http;

pub struct Moto {
    pub url: String,
    addr: SocketAddr,
}

impl Moto {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let host = url
            .strip_prefix("http://")
            .context("the moto URL must be http://host:port")?
            .trim_end_matches('/');
        let addr = host
            .parse()
            .with_context(|| format!("{host} is not an IP address and port"))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            addr,
        })
    }

    async fn call(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let headers = [
            ("x-amz-target", target.to_owned()),
            ("content-type", "application/x-amz-json-1.0".to_owned()),
            (
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            ),
        ];
        let (status, bytes) = http::post(self.addr, "/", &headers, body.to_string())
            .await
            .with_context(|| format!("{target} on moto at {}", self.url))?;
        if !status.is_success() {
            bail!("{target}: {status} {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create_table(&self, name: &str, with_sort_key: bool) -> anyhow::Result<()> {
        let mut attributes = vec![json!({"AttributeName": "pk", "AttributeType": "S"})];
        let mut keys = vec![json!({"AttributeName": "pk", "KeyType": "HASH"})];
        if with_sort_key {
            attributes.push(json!({"AttributeName": "sk", "AttributeType": "S"}));
            keys.push(json!({"AttributeName": "sk", "KeyType": "RANGE"}));
        }
        self.call(
            "dynamodb",
            "DynamoDB_20120810.CreateTable",
            json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                   "AttributeDefinitions": attributes, "KeySchema": keys}),
        )
        .await?;
        Ok(())
    }

    async fn create_queue(&self, name: &str) -> anyhow::Result<String> {
        let answer = self
            .call(
                "sqs",
                "AmazonSQS.CreateQueue",
                json!({"QueueName": name, "Attributes": {"VisibilityTimeout": "30"}}),
            )
            .await?;
        answer["QueueUrl"]
            .as_str()
            .map(str::to_owned)
            .context("CreateQueue returned no QueueUrl")
    }

    /// Creates every resource (names prefixed by `prefix`); returns the
    /// `ENGAGE_BRIDGE_*` variables (`AwsResources::ENV`) that point at them.
    pub async fn create_resources(&self, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
        let config_table = format!("{prefix}-config");
        let state_table = format!("{prefix}-state");
        self.create_table(&config_table, false).await?;
        self.create_table(&state_table, true).await?;
        self.call(
            "dynamodb",
            "DynamoDB_20120810.UpdateTimeToLive",
            json!({"TableName": state_table,
                   "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires_at"}}),
        )
        .await?;
        let mut env = vec![
            ("ENGAGE_BRIDGE_CONFIG_TABLE".to_owned(), config_table),
            ("ENGAGE_BRIDGE_STATE_TABLE".to_owned(), state_table),
            // The harness's receiver is on 127.0.0.1, which aws refuses by default.
            (
                "ENGAGE_BRIDGE_PRIVATE_DESTINATIONS".to_owned(),
                "allow".to_owned(),
            ),
        ];
        for (var, queue) in [
            ("ENGAGE_BRIDGE_EVENTS_QUEUE_URL", "events"),
            ("ENGAGE_BRIDGE_RETRY_QUEUE_URL", "retry"),
            ("ENGAGE_BRIDGE_DEAD_LETTER_QUEUE_URL", "dead-letter"),
            ("ENGAGE_BRIDGE_COHORT_QUEUE_URL", "cohort"),
            ("ENGAGE_BRIDGE_PRIVACY_QUEUE_URL", "privacy"),
        ] {
            let url = self.create_queue(&format!("{prefix}-{queue}")).await?;
            env.push((var.to_owned(), url));
        }
        Ok(env)
    }

    /// The SDK settings of a local emulator (static test credentials).
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}
