//! The `Authorization` header (interface §2): any value is answered, bad
//! ones with the same `401`; the three credential forms are equivalent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use engage_bridge_tests::basic;
use http::StatusCode;
use proptest::prelude::*;
use serde_json::json;

use crate::harness::{Env, Outcome, SECRET, WS, brief, call, check_error_body, config, run};

/// The three equivalent forms of interface §2.
pub fn credential_forms() -> Vec<(&'static str, String)> {
    let api_key = format!("{WS}.{SECRET}");
    vec![
        ("basic id:secret", basic(WS, SECRET)),
        (
            "basic api_key: (empty password)",
            format!("Basic {}", STANDARD.encode(format!("{api_key}:"))),
        ),
        ("bearer api_key", format!("Bearer {api_key}")),
    ]
}

async fn segments_with(env: &Env, authorization: &str) -> crate::harness::Reply {
    call(
        env.services(),
        "GET",
        "/v1/segments",
        &[("authorization", authorization)],
        Vec::new(),
    )
    .await
}

async fn forms_accepted(form: usize) -> Outcome {
    let env = Env::new(|_| {}).await;
    let (name, value) = &credential_forms()[form];
    let reply = segments_with(&env, value).await;
    prop_assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}: {}",
        name,
        brief(&reply.body)
    );
    Ok(())
}

async fn arbitrary_refused(value: String) -> Outcome {
    let env = Env::new(|_| {}).await;
    let reply = segments_with(&env, &value).await;
    prop_assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", value);
    check_error_body(reply.status, &reply.body)?;
    prop_assert_eq!(
        &reply.body["error"],
        &json!("missing or invalid credentials")
    );
    Ok(())
}

/// Header values: random text, or a scheme with random (base64) credentials.
fn header_value() -> impl Strategy<Value = String> {
    let text = "[ -~\t]{0,64}";
    prop_oneof![
        text,
        ("(Basic|basic|BASIC|Bearer) {0,2}", "[ -~]{0,40}").prop_map(|(s, t)| format!("{s}{t}")),
        "[ -~]{0,40}".prop_map(|t| format!("Basic {}", STANDARD.encode(t))),
        "[A-Za-z0-9_-]{0,8}[.:][ -~]{0,16}".prop_map(|t| format!("Bearer {t}")),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Random `Authorization` values: the same `401`, never a 5xx.
    #[test]
    fn arbitrary_authorization_is_refused(value in header_value()) {
        run(arbitrary_refused(value))?;
    }

    #[test]
    fn every_credential_form_is_accepted(form in 0usize..3) {
        run(forms_accepted(form))?;
    }
}

/// The minimal failing inputs of `every_credential_form_is_accepted`.
#[test]
fn api_key_forms_are_accepted() {
    let failures: Vec<String> = (0..3)
        .filter_map(|form| run(forms_accepted(form)).err().map(|e| e.to_string()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
