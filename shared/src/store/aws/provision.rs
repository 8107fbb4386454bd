//! Creates the tables and queues template.yaml declares, for local emulators
//! (moto) in tests, benchmarks and development. Not used on AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::{AwsResources, sdk_error};
use crate::ports::{StoreError, StoreResult};

/// Creates every resource with names prefixed by `prefix` (unique per test).
pub async fn create_resources(
    sdk: &aws_types::SdkConfig,
    prefix: &str,
) -> StoreResult<AwsResources> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let config_table = format!("{prefix}-config");
    let state_table = format!("{prefix}-state");
    create_table(&ddb, &config_table, false).await?;
    create_table(&ddb, &state_table, true).await?;
    ddb.update_time_to_live()
        .table_name(&state_table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .map_err(super::invalid_request)?,
        )
        .send()
        .await
        .map_err(sdk_error)?;
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .attributes(QueueAttributeName::VisibilityTimeout, "30")
                .send()
                .await
                .map_err(super::sqs_error)?
                .queue_url
                .ok_or_else(|| StoreError::Invalid("CreateQueue returned no URL".into()))
        }
    };
    Ok(AwsResources {
        config_table,
        state_table,
        events_queue_url: queue(format!("{prefix}-events")).await?,
        retry_queue_url: queue(format!("{prefix}-retry")).await?,
        dead_letter_queue_url: queue(format!("{prefix}-dead-letter")).await?,
        cohort_queue_url: queue(format!("{prefix}-cohort")).await?,
        privacy_queue_url: queue(format!("{prefix}-privacy")).await?,
    })
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    with_sort_key: bool,
) -> StoreResult<()> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(super::invalid_request)
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .map_err(super::invalid_request)
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .key_schema(key("pk", KeyType::Hash)?);
    if with_sort_key {
        request = request
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("sk", KeyType::Range)?);
    }
    request.send().await.map_err(sdk_error)?;
    Ok(())
}
