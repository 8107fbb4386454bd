//! `POST /v1/customerio/{workspace_id}/reporting` refusing what it must
//! (docs/interface/http.md "POST /v1/customerio/{workspace_id}/reporting", docs/interface/auth.md
//! "Customer.io signatures"): wrong signatures, replays, other workspaces'
//! credentials, unconfigured workspaces, bad input and too many requests
//! get a 4xx and queue nothing.

use engage_bridge_tests::{basic, sqlite};
use http::StatusCode;
use shared::domain::time::now_s;

use crate::support::*;

#[tokio::test]
async fn wrong_signatures_stale_timestamps_and_altered_bodies_are_refused() {
    let b = sqlite();
    setup(&b, "", "").await;
    let body = fixture("email-delivered.json");
    let now = now_s();
    let mut altered = body.clone();
    let at = altered.iter().position(|c| *c == b'8').unwrap();
    altered[at] = b'9'; // one byte of the body, still valid JSON
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, Vec<u8>)> = vec![
        (
            "wrong key",
            signed_with("another-key", now, &body),
            body.clone(),
        ),
        (
            "altered body",
            signed_with(SIGNING_KEY, now, &body),
            altered,
        ),
        ("no signature", vec![], body.clone()),
        (
            "timestamp only",
            vec![("x-cio-timestamp", now.to_string())],
            body.clone(),
        ),
        (
            "garbage",
            vec![
                ("x-cio-timestamp", now.to_string()),
                ("x-cio-signature", "v0=zz".into()),
            ],
            body.clone(),
        ),
        (
            "signed for another time",
            {
                let mut h = signed_with(SIGNING_KEY, now, &body);
                h[0].1 = (now + 1).to_string();
                h
            },
            body.clone(),
        ),
    ];
    for (case, headers, sent) in cases {
        let reply = post(&b, WS, &headers, &sent).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"], "missing or invalid credentials",
            "{case}"
        );
    }
    // Correctly signed, but replayed after the tolerance (300 s by default).
    // The clock is read again for each request, and the future one is 302 s
    // ahead: a second that ticks before the server reads its clock leaves
    // it more than 300 s ahead all the same.
    for skew in [-301, 302] {
        let reply = post(
            &b,
            WS,
            &signed_with(SIGNING_KEY, now_s() + skew, &body),
            &body,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let error = reply.body["error"].as_str().unwrap();
        assert!(
            error.contains("X-CIO-Timestamp") && error.contains("300 s"),
            "{error}"
        );
    }
    let edge = post(&b, WS, &signed_with(SIGNING_KEY, now - 290, &body), &body).await;
    assert_eq!(edge.status, StatusCode::OK);
    // Only the accepted one was queued; no answer ever quoted the key.
    assert_eq!(drain_events(&b).await.len(), 1);
}

#[tokio::test]
async fn workspace_credentials_are_accepted_for_their_own_workspace_only() {
    let b = sqlite();
    setup(&b, "", "").await;
    let mut other = engage_bridge_tests::workspace("other", "other-secret");
    other.customerio = None;
    let mut all = vec![other];
    all.extend(b.workspaces.get_workspace(WS).await.unwrap());
    b.workspaces.apply(&all).await.unwrap();
    let body = fixture("push-sent.json");
    let ok = [basic(WS, SECRET), format!("Bearer {WS}.{SECRET}")];
    for auth in &ok {
        let reply = post(&b, WS, &[("authorization", auth.clone())], &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{auth}: {}", reply.body);
    }
    for auth in [basic(WS, "wrong"), basic("other", "other-secret")] {
        let reply = post(&b, WS, &[("authorization", auth)], &body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        drain_events(&b).await.len(),
        1,
        "the second OK was the same event_id"
    );
}

#[tokio::test]
async fn a_workspace_without_customerio_is_404() {
    let b = sqlite();
    b.workspaces
        .apply(&[engage_bridge_tests::workspace("plain", "s")])
        .await
        .unwrap();
    let body = fixture("email-sent.json");
    let long = "w".repeat(3000);
    for ws in ["plain", "nobody", "a.b", &long] {
        let reply = post(&b, ws, &signed_with(SIGNING_KEY, now_s(), &body), &body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{ws}");
        assert!(
            reply.body["error"]
                .as_str()
                .unwrap()
                .contains("no Customer.io reporting webhook")
        );
    }
}

#[tokio::test]
async fn malformed_webhooks_get_a_400_and_queue_nothing() {
    let b = sqlite();
    setup(&b, "", "").await;
    let long_id = format!(
        r#"{{"event_id":"{}","object_type":"email","metric":"sent","timestamp":1}}"#,
        "x".repeat(300)
    );
    let cases = [
        ("not json", "{\"event_id\":".to_owned()),
        ("array", "[]".to_owned()),
        ("no event_id", r#"{"object_type":"email","metric":"sent","timestamp":1}"#.to_owned()),
        ("string timestamp", r#"{"event_id":"a","object_type":"email","metric":"sent","timestamp":"abc"}"#.to_owned()),
        ("object id", r#"{"event_id":"a","object_type":"email","metric":"sent","timestamp":1,"data":{"identifiers":{"id":{"x":1}}}}"#.to_owned()),
        ("odd object_type", r#"{"event_id":"a","object_type":"e-mail!","metric":"sent","timestamp":1}"#.to_owned()),
        ("long event_id", long_id),
    ];
    for (case, body) in cases {
        let reply = post_signed(&b, body.as_bytes()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            reply.body
        );
        assert_eq!(reply.body["status"], "error");
        assert!(reply.body["error"].as_str().unwrap().len() < 300, "{case}");
    }
    assert!(drain_events(&b).await.is_empty());
}

#[tokio::test]
async fn webhooks_are_rate_limited_per_workspace_per_minute() {
    let b = sqlite();
    let text = format!(
        "[[workspaces]]\nid = \"{WS}\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\nmparticle_requests_per_minute = 2\n\
         customerio = {{ signing_key = \"{SIGNING_KEY}\" }}\n"
    );
    b.workspaces
        .apply(&shared::config::parse(&text).unwrap().workspaces)
        .await
        .unwrap();
    let into_minute = shared::domain::time::now_ms().rem_euclid(60_000);
    if into_minute > 50_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (60_200 - into_minute) as u64,
        ))
        .await;
    }
    let statuses = [
        post_signed(&b, &fixture("email-sent.json")).await.status,
        post_signed(&b, &fixture("push-sent.json")).await.status,
    ];
    assert_eq!(statuses, [StatusCode::OK; 2]);
    let third = post_signed(&b, &fixture("sms-clicked.json")).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers.contains_key("retry-after"));
    // An unsigned request never counts against the workspace.
    assert_eq!(
        post(&b, WS, &[], b"{}").await.status,
        StatusCode::UNAUTHORIZED
    );
}
