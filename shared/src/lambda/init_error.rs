//! Reporting a failed start to the Lambda runtime API (`POST
//! /runtime/init/error`), which lambda_runtime does not offer for errors
//! before its loop: Lambda then shows the error type and message, instead
//! of a process that exited without a word.

use serde_json::json;

/// Posts the init error; failures to post are logged (the process exits anyway).
pub async fn report(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let url = format!("http://{api}/2018-06-01/runtime/init/error");
    let body = json!({"errorType": error_type, "errorMessage": message});
    crate::outbound::use_ring();
    let sent = reqwest::Client::new()
        .post(url)
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .json(&body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not report the init error to the runtime API");
    }
}
