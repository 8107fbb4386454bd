//! The HTTP API contract common to API Gateway and `serve`: authentication,
//! workspace isolation, error shapes, paging.

use engage_bridge_tests::{Backend, basic, contract_tests, sqlite, workspace};
use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::{
    Member, MembershipAction, MembershipChange, ProfileKey, ProfileUpdate, Segment, SegmentSource,
    Version,
};
use shared::topology::QueueName;

async fn call(
    b: &Backend,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (StatusCode, http::HeaderMap, Value) {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = engage_bridge_tests::call(b, request.body(body.to_vec()).unwrap()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (status, headers, value)
}

async fn two_workspaces() -> Backend {
    let b = sqlite();
    add_two_workspaces(&b).await;
    b
}

async fn add_two_workspaces(b: &Backend) {
    b.workspaces
        .apply(&[
            workspace("alpha", "alpha-secret"),
            workspace("beta", "beta-secret"),
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let b = two_workspaces().await;
    let (status, _, body) = call(&b, "GET", "/health", None, b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_the_same_401() {
    let b = two_workspaces().await;
    let cases = [
        None,
        Some(basic("alpha", "wrong")),
        Some(basic("nobody", "alpha-secret")),
        Some(basic("alpha", "beta-secret")),
        Some("Bearer alpha-secret".to_owned()),
    ];
    let mut bodies = Vec::new();
    for auth in &cases {
        let (status, headers, body) = call(&b, "GET", "/v1/segments", auth.as_deref(), b"").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(headers.contains_key("www-authenticate"));
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "401 bodies must not hint which part was wrong"
    );
    assert_eq!(bodies[0]["status"], "error");
    let text = bodies[0].to_string();
    assert!(
        !text.contains("alpha-secret") && !text.contains("beta"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_v1_routes_check_credentials_first() {
    let b = two_workspaces().await;
    let (status, _, _) = call(&b, "GET", "/v1/nope", Some(&basic("alpha", "bad")), b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(
        &b,
        "GET",
        "/v1/nope",
        Some(&basic("alpha", "alpha-secret")),
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route for GET /v1/nope");
}

/// Workspace alpha's segment amplitude-c1 with member u1 (a profile with
/// `plan = "alpha"`); returns u1's `moengage_user_id`.
async fn alpha_data(b: &Backend) -> String {
    let segment = b
        .segments
        .ensure_segment(
            "alpha",
            &Segment::new(SegmentSource::Amplitude, "c1", "Alpha cohort"),
        )
        .await
        .unwrap();
    let mut update = ProfileUpdate::new(ProfileKey::Uid("u1".into()));
    update.set_attributes.insert("plan".into(), json!("alpha"));
    let profile = b
        .profiles
        .update_profiles("alpha", &[update])
        .await
        .unwrap()
        .remove(0);
    b.segments
        .apply_membership_changes(
            "alpha",
            &segment.id,
            &[MembershipChange {
                member: Member {
                    moengage_user_id: profile.moengage_user_id.clone(),
                    uid: Some("u1".into()),
                    moe_anonymous_id: None,
                },
                action: MembershipAction::Added,
                version: Version::new(1_000, 1),
            }],
        )
        .await
        .unwrap();
    profile.moengage_user_id
}

async fn a_workspace_never_sees_another_workspaces_data(b: &Backend) {
    add_two_workspaces(b).await;
    let member = alpha_data(b).await;
    let alpha = basic("alpha", "alpha-secret");
    let beta = basic("beta", "beta-secret");

    let (status, _, body) = call(b, "GET", "/v1/segments", Some(&alpha), b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["segments"][0]["id"], "amplitude-c1");
    assert_eq!(body["segments"][0]["member_count"], 1);
    let (_, _, body) = call(b, "GET", "/v1/segments", Some(&beta), b"").await;
    assert_eq!(
        body,
        json!({"status": "success", "segments": [], "next_cursor": null})
    );

    let (status, _, _) = call(b, "GET", "/v1/segments/amplitude-c1", Some(&beta), b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        b,
        "GET",
        "/v1/segments/amplitude-c1/members",
        Some(&beta),
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(b, "GET", "/v1/users/u1", Some(&beta), b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = call(b, "GET", "/v1/users/u1", Some(&alpha), b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["uid"], "u1");
    assert_eq!(body["segments"], json!(["amplitude-c1"]));
    let (_, _, body) = call(
        b,
        "GET",
        "/v1/segments/amplitude-c1/members",
        Some(&alpha),
        b"",
    )
    .await;
    assert_eq!(
        body["members"],
        json!([{"moengage_user_id": member, "uid": "u1", "moe_anonymous_id": null}])
    );
}

/// Applies whatever the cohort routes staged, as the cohort queue's
/// consumer does.
async fn apply_staged(b: &Backend) {
    let answer = engage_bridge_tests::run_queued(b, QueueName::Cohort).await;
    assert!(answer.redeliver.is_empty(), "{}", b.kind);
}

/// The profile of `uid` in `workspace`.
async fn profile_of(b: &Backend, workspace: &str, uid: &str) -> shared::domain::Profile {
    let ids = b
        .profiles
        .find_by_uids(workspace, &[uid.to_owned()])
        .await
        .unwrap();
    let id = ids.get(uid).expect("a profile").clone();
    b.profiles
        .get_profiles(workspace, &[id])
        .await
        .unwrap()
        .remove(0)
}

/// (workspace, event name) of every event on the events queue, removing them.
async fn queued_by_workspace(b: &Backend) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for body in engage_bridge_tests::drain_event_messages(b).await {
        for event in body["events"].as_array().unwrap() {
            let name = event["event_name"].as_str().unwrap().to_owned();
            out.push((body["workspace_id"].as_str().unwrap().to_owned(), name));
        }
    }
    out
}

/// Workspace beta's credentials never change workspace alpha: not its
/// lists, not its members, not its profiles, not through Firehose account
/// settings naming alpha; beta's writes land in beta only.
async fn a_workspace_never_writes_into_another(b: &Backend) {
    add_two_workspaces(b).await;
    let member = alpha_data(b).await;
    let beta = basic("beta", "beta-secret");
    let post = |uri: &'static str, auth: Option<String>, body: Value| {
        let b = &b;
        async move { call(b, "POST", uri, auth.as_deref(), body.to_string().as_bytes()).await }
    };

    // Alpha's list, through beta's credentials: unknown to beta.
    for uri in [
        "/v1/amplitude/lists/amplitude-c1/remove",
        "/v1/amplitude/lists/amplitude-c1/add",
    ] {
        let (status, _, body) = post(uri, Some(beta.clone()), json!({"userIds": ["u1"]})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}: {uri}: {body}", b.kind);
    }
    // The same cohort id and user: beta's own segment and beta's u1 (made
    // by the mParticle request below before the change is applied).
    let (status, _, body) = post(
        "/v1/amplitude/cohorts",
        Some(beta.clone()),
        json!({"cohort_name": "Beta", "cohort_id": "c1", "in_cohort": false,
               "computed_time": "2000000000", "message_id": "m-beta",
               "users": [{"user_id": "u1"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}: {body}", b.kind);
    // The same uid from mParticle: beta's own profile.
    let (status, _, body) = post(
        "/v1/mparticle/events",
        Some(beta.clone()),
        json!({"user_identities": [{"identity_type": "customer_id", "identity": "u1"}],
               "user_attributes": {"plan": "beta"},
               "events": [{"event_type": "custom_event",
                           "data": {"event_id": 1, "event_name": "Signed Up"}}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}: {body}", b.kind);
    // Firehose account settings naming alpha with beta's secret, with and
    // without beta's Basic credentials: refused.
    let audience = json!({
        "type": "audience_membership_change_request", "id": "r-1",
        "timestamp_ms": 2_000_000_000_000_u64,
        "account": {"account_settings": {"workspace_id": "alpha", "secret_key": "beta-secret"}},
        "user_profiles": [{"user_identities": [{"type": "customer", "value": "u1"}],
                           "audiences": [{"audience_id": 7, "audience_name": "A", "action": "delete"}]}]
    });
    for auth in [None, Some(beta.clone())] {
        let (status, _, _) = post("/v1/mparticle/firehose", auth, audience.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", b.kind);
    }
    apply_staged(b).await;

    let alpha_segment = b
        .segments
        .get_segment("alpha", "amplitude-c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alpha_segment.member_count, 1, "{}", b.kind);
    assert_eq!(alpha_segment.name, "Alpha cohort");
    let alpha_user = profile_of(b, "alpha", "u1").await;
    assert_eq!(alpha_user.moengage_user_id, member);
    assert_eq!(alpha_user.attributes.get("plan"), Some(&json!("alpha")));
    let segments = b.segments.segments_of("alpha", &member).await.unwrap();
    assert_eq!(segments, vec!["amplitude-c1".to_owned()], "{}", b.kind);
    assert!(
        b.segments
            .get_segment("alpha", "mparticle-7")
            .await
            .unwrap()
            .is_none()
    );

    let beta_segment = b
        .segments
        .get_segment("beta", "amplitude-c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(beta_segment.name, "Beta");
    assert_eq!(beta_segment.member_count, 0, "beta's u1 was removed");
    let beta_user = profile_of(b, "beta", "u1").await;
    assert_eq!(beta_user.attributes.get("plan"), Some(&json!("beta")));
    assert_ne!(beta_user.moengage_user_id, member);
    let mut queued = queued_by_workspace(b).await;
    queued.sort();
    let beta = |name: &str| ("beta".to_owned(), name.to_owned());
    assert_eq!(
        queued,
        vec![beta("Partner Sync"), beta("Signed Up")],
        "{}: only beta's events are queued, as beta's",
        b.kind
    );
}

contract_tests!(
    a_workspace_never_sees_another_workspaces_data,
    a_workspace_never_writes_into_another,
);

#[tokio::test]
async fn segment_lists_page_with_opaque_cursors() {
    let b = two_workspaces().await;
    for i in 0..7 {
        b.segments
            .ensure_segment(
                "alpha",
                &Segment::new(SegmentSource::Amplitude, &format!("c{i}"), "x"),
            )
            .await
            .unwrap();
    }
    let auth = basic("alpha", "alpha-secret");
    let mut ids = Vec::new();
    let mut uri = "/v1/segments?limit=3".to_owned();
    loop {
        let (status, _, body) = call(&b, "GET", &uri, Some(&auth), b"").await;
        assert_eq!(status, StatusCode::OK);
        let page = body["segments"].as_array().unwrap();
        assert!(page.len() <= 3);
        ids.extend(page.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(
                    cursor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                );
                uri = format!("/v1/segments?limit=3&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(ids.len(), 7);
    let (status, _, body) = call(&b, "GET", "/v1/segments?limit=0", Some(&auth), b"").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("limit"));
    let (status, _, body) = call(&b, "GET", "/v1/segments?cursor=%%%", Some(&auth), b"").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("cursor"));
}

#[tokio::test]
async fn bodies_over_6_mib_are_refused_with_413() {
    let b = two_workspaces().await;
    let big = vec![b'x'; shared::http::MAX_BODY_BYTES + 1];
    let (status, _, body) = call(
        &b,
        "POST",
        "/v1/amplitude/cohorts",
        Some(&basic("alpha", "alpha-secret")),
        &big,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["status"], "error");
}

/// Every credential form of docs/interface/auth.md reaches the workspace,
/// and while a secret rotates both secrets do.
#[tokio::test]
async fn every_credential_form_and_both_rotating_secrets_authenticate() {
    use base64::Engine;
    let b = sqlite();
    let text = "[[workspaces]]\nid = \"acme\"\nsecret = [\"old-secret\", \"new-secret\"]\napp_name = \"A\"\n";
    let config = shared::config::parse(text).unwrap();
    b.workspaces.apply(&config.workspaces).await.unwrap();
    let basic_key = |key: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
        )
    };
    for auth in [
        basic("acme", "old-secret"),
        basic("acme", "new-secret"),
        basic_key("acme.new-secret"),
        "Bearer acme.old-secret".to_owned(),
    ] {
        let (status, _, body) = call(&b, "GET", "/v1/segments", Some(&auth), b"").await;
        assert_eq!(status, StatusCode::OK, "{auth}: {body}");
    }
    for auth in [
        basic("acme", "older-secret"),
        basic_key("acme.wrong"),
        "Bearer acme".to_owned(),
        "Bearer other.old-secret".to_owned(),
    ] {
        let (status, _, body) = call(&b, "GET", "/v1/segments", Some(&auth), b"").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(body["error"], "missing or invalid credentials");
    }
}
