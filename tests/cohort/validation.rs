//! Requests refused before anything is stored: names, bodies, credentials,
//! the rate limit.

use std::time::Duration;

use engage_bridge_tests::{Backend, basic, contract_tests, workspace};
use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::time::now_ms;

use crate::common::*;

/// Nothing was staged or created.
async fn assert_untouched(b: &Backend, auth: &str) {
    assert_eq!(
        apply_staged(b).await,
        (0, 0),
        "{}: something was staged",
        b.kind
    );
    let r = get(b, "/v1/segments", auth).await;
    assert_eq!(r.body["segments"], json!([]), "{}", r.body);
}

async fn bad_request(b: &Backend, auth: &str, body: &[u8]) -> String {
    let r = call(b, "POST", "/v1/amplitude/cohorts", Some(auth), body).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{}: {}",
        String::from_utf8_lossy(body),
        r.body
    );
    assert_eq!(r.body["status"], "error");
    r.body["error"].as_str().unwrap().to_owned()
}

async fn cohort_names_breaking_seed_000s_rule_are_400(b: &Backend) {
    let auth = setup(b, None).await;
    // docs/rules/cohort-names.md's characters, written out here (not the
    // implementation's table, which this checks).
    let restricted = ['|', '*', '?', '\\', ':', '<', '>', '=', '$', '"'];
    let mut names: Vec<String> = restricted
        .iter()
        .map(|c| format!("Cart {c} Drop"))
        .collect();
    names.push(".Cart Drop".into());
    for name in names {
        let mut body = webhook("7khm89cz", true, 100, &format!("m-{name}"), users(&["u1"]));
        body["cohort_name"] = json!(name);
        let error = bad_request(b, &auth, body.to_string().as_bytes()).await;
        assert!(error.starts_with("cohort name "), "{name}: {error}");
        assert!(
            error.contains(r#"must not start with a period (.) and must not contain any of | * ? \ : < > = $ ""#),
            "{name}: {error}"
        );
        let problem = if name.starts_with('.') {
            "starts with a period".to_owned()
        } else {
            format!(
                "contains the restricted character {}",
                name.chars().nth(5).unwrap()
            )
        };
        assert!(error.contains(&problem), "{name}: {error}");
    }
    assert_untouched(b, &auth).await;
    // A refused message_id was not claimed: the corrected request goes through.
    let mut body = webhook("7khm89cz", true, 100, "m-Cart | Drop", users(&["u1"]));
    body["cohort_name"] = json!("Cart Drop");
    send_webhook(b, &auth, &body).await;
}

async fn malformed_bodies_are_400_naming_the_problem(b: &Backend) {
    let auth = setup(b, None).await;
    let valid = webhook("7khm89cz", true, 100, "m-1", users(&["u1"]));
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body.to_string().into_bytes()
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body.to_string().into_bytes()
    };
    let too_many = with("users", Value::Array(vec![json!({"user_id": "u"}); 10_001]));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Amplitude's templated bodies need not be valid JSON.
        (
            br#"{"cohort_name": "Cart", "users": [{"user_id": "a"},]}"#.to_vec(),
            "not valid JSON",
        ),
        (b"".to_vec(), "empty"),
        (without("users"), "missing field `users`"),
        (without("message_id"), "missing field `message_id`"),
        (
            with("users", json!("u1")),
            "invalid type: string \"u1\", expected a sequence",
        ),
        (with("users", json!([{"user_id": 5}])), "users[0].user_id"),
        (
            with("users", json!([{"user_id": "a", "user_properties": []}])),
            "users[0].user_properties",
        ),
        (with("in_cohort", json!("yes")), "in_cohort"),
        (with("computed_time", json!("yesterday")), "computed_time"),
        (with("cohort_id", json!(null)), "cohort_id"),
        (too_many, "users has 10001 entries; at most 10000"),
    ];
    for (body, needle) in cases {
        let error = bad_request(b, &auth, &body).await;
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    assert_untouched(b, &auth).await;
}

async fn missing_or_wrong_credentials_are_401(b: &Backend) {
    b.workspaces
        .apply(&[workspace(WS, SECRET), workspace("other", "other-secret")])
        .await
        .unwrap();
    let body = webhook("7khm89cz", true, 100, "m-1", users(&["u1"])).to_string();
    let list = json!({"name": "[Amplitude] Cart: 1"}).to_string();
    let wrong = [
        None,
        Some(basic(WS, "wrong")),
        Some(basic(WS, "other-secret")),
        Some(basic("nobody", SECRET)),
        Some(format!("Bearer {SECRET}")),
    ];
    for auth in &wrong {
        for (uri, body) in [
            ("/v1/amplitude/cohorts", &body),
            ("/v1/amplitude/lists", &list),
            ("/v1/amplitude/lists/amplitude-1/add", &body),
        ] {
            let r = call(b, "POST", uri, auth.as_deref(), body.as_bytes()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri} {auth:?}");
            assert_eq!(
                r.body,
                json!({"status": "error", "error": "missing or invalid credentials"})
            );
        }
    }
    assert_untouched(b, &basic(WS, SECRET)).await;
    // The other workspace's credentials work, but only on its own data.
    let other = basic("other", "other-secret");
    assert_eq!(
        post(
            b,
            "/v1/amplitude/lists",
            &other,
            &json!({"name": "[Amplitude] Cart: 1"})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        get(b, "/v1/segments", &basic(WS, SECRET)).await.body["segments"],
        json!([])
    );
}

/// Waits for the next second to begin (rate windows are aligned to the
/// epoch second), runs `requests` and returns their answers, or None when
/// they did not all fall into that one second (then the outcome says
/// nothing about the limit and the caller runs them again).
async fn within_one_second<T>(requests: impl AsyncFnOnce() -> T) -> Option<T> {
    tokio::time::sleep(Duration::from_millis(1_000 - (now_ms() % 1_000) as u64 + 5)).await;
    let second = now_ms() / 1_000;
    let answers = requests().await;
    (now_ms() / 1_000 == second).then_some(answers)
}

async fn over_the_rate_limit_is_429_with_retry_after(b: &Backend) {
    let ws = workspace_with(|w| w.amplitude_requests_per_second = 2);
    let auth = setup(b, Some(ws)).await;
    // One after the other: moto does not make concurrent counter updates
    // atomic (the concurrent case is tests/contract/rate_limit.rs's).
    let mut round = 0;
    let responses = loop {
        round += 1;
        assert!(round <= 5, "{}: never 5 requests within one second", b.kind);
        let answers = within_one_second(async || {
            let mut responses = Vec::new();
            for i in 0..5 {
                let id = format!("m-{round}-{i}");
                let body = webhook("7khm89cz", true, 100, &id, users(&["u1"]));
                responses.push(post(b, "/v1/amplitude/cohorts", &auth, &body).await);
            }
            responses
        })
        .await;
        if let Some(responses) = answers {
            break responses;
        }
    };
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status).collect();
    let limited = StatusCode::TOO_MANY_REQUESTS;
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, limited, limited, limited],
        "{}",
        b.kind
    );
    for r in &responses[2..] {
        assert_eq!(r.headers["retry-after"], "1");
        assert_eq!(
            r.body,
            json!({"status": "error", "error": "rate limit exceeded: 2 requests per second; retry after 1 s"})
        );
    }
    // The next window admits requests again; the list API shares the limit.
    let mut round = 0;
    let statuses = loop {
        round += 1;
        assert!(round <= 5, "{}: never 3 requests within one second", b.kind);
        let answers = within_one_second(async || {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let list = json!({"name": "[Amplitude] Cart: 1"});
                statuses.push(post(b, "/v1/amplitude/lists", &auth, &list).await.status);
            }
            statuses
        })
        .await;
        if let Some(statuses) = answers {
            break statuses;
        }
    };
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, limited]);
}

contract_tests!(
    cohort_names_breaking_seed_000s_rule_are_400,
    malformed_bodies_are_400_naming_the_problem,
    missing_or_wrong_credentials_are_401,
    over_the_rate_limit_is_429_with_retry_after,
);
