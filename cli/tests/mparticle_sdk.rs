//! mParticle's own server-side Python SDK (`mparticle`, pinned in
//! scripts/test) pointed at a real `serve` (README "Send from mParticle's
//! SDKs"): `upload_events` and `bulk_upload_events` with identities (the
//! SDK spells the customer id `customerid`), user attributes, custom,
//! commerce and screen events, and what a webhook stream receives.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Server, write_config};
use engage_bridge_tests::receiver::{Recorder, wait_for};
use engage_bridge_tests::repo_root;
use serde_json::Value;

const SECRET: &str = "acme-sdk-secret-never-logged";

/// The Python with the `mparticle` SDK: `ENGAGE_BRIDGE_TEST_PYTHON`, else
/// the repository's `.venv` (scripts/test installs it). Never skipped.
fn python() -> PathBuf {
    if let Ok(path) = std::env::var("ENGAGE_BRIDGE_TEST_PYTHON") {
        return path.into();
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no {}: this test drives mParticle's Python SDK; run scripts/test (it installs it) \
         or set ENGAGE_BRIDGE_TEST_PYTHON",
        venv.display()
    );
    venv
}

/// Uploads with the SDK as its documentation shows, the host set to
/// engage-bridge; prints each call's HTTP status.
const UPLOAD: &str = r#"
import sys
import mparticle
from mparticle import (AppEvent, Batch, CommerceEvent, Product, ProductAction,
                       ScreenViewEvent, UserIdentities)

base, key, secret = sys.argv[1:4]
config = mparticle.Configuration()
config.api_key = key
config.api_secret = secret
config.host = base + "/v1/mparticle"
api = mparticle.EventsApi(config)

def batch(customer, email, events):
    b = Batch()
    b.environment = "development"
    identities = UserIdentities()
    identities.customerid = customer
    identities.email = email
    b.user_identities = identities
    b.user_attributes = {"$FirstName": "Jane", "plan": "gold"}
    b.events = events
    return b

signed_in = AppEvent(event_name="Signed In", custom_event_type="navigation",
                     custom_attributes={"method": "password"}, timestamp_unixtime_ms=1700000000000)
product = Product(id="sku-1", name="Socks", brand="Acme", category="apparel",
                  price=5.5, quantity=2, total_product_amount=11.0)
action = ProductAction("purchase", transaction_id="t-1", total_amount=11.0,
                       tax_amount=1.0, shipping_amount=2.0, products=[product])
purchase = CommerceEvent(product_action=action, currency_code="EUR",
                         timestamp_unixtime_ms=1700000001000, custom_attributes={"coupon": "none"})
screen = ScreenViewEvent(screen_name="Home", timestamp_unixtime_ms=1700000002000)

_, status, _ = api.upload_events_with_http_info(
    batch("cust-1", "jane@example.com", [signed_in, purchase, screen]))
print("upload", status)
_, status, _ = api.bulk_upload_events_with_http_info([
    batch("cust-2", "joe@example.com", [AppEvent(event_name="Opened", custom_event_type="other",
                                                 timestamp_unixtime_ms=1700000003000)]),
    batch("cust-3", "ann@example.com", [screen]),
])
print("bulk", status)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uploads_to_serve_and_the_stream_receives_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::new(200);
    let receiver = recorder.serve().await;
    let config = write_config(
        dir.path(),
        &format!(
            "[[workspaces]]\nid = \"acme\"\nsecret = \"{SECRET}\"\napp_name = \"Acme\"\n\n\
             [[workspaces.streams]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}/in\"\nuser_attributes = \"all\"\n",
            receiver.uri()
        ),
    );
    let serve = Server::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let out = Command::new(python())
        .args(["-c", UPLOAD, &serve.base, "acme", SECRET])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["upload 200", "bulk 200"]
    );

    let events = || -> Vec<Value> {
        recorder
            .bodies()
            .iter()
            .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    wait_for(async || events().len() == 3, Duration::from_secs(20)).await;
    let events = events();
    let named = |name: &str| {
        events
            .iter()
            .find(|e| e["event_name"] == name)
            .unwrap_or_else(|| panic!("no {name:?} in {events:#?}"))
            .clone()
    };
    // Screen views are skipped (counted), never a failure.
    assert!(events.iter().all(|e| e["event_name"] != "screen_view"));

    let signed_in = named("Signed In");
    assert_eq!(signed_in["uid"], "cust-1", "the SDK's customerid");
    assert_eq!(signed_in["event_source"], "MPARTICLE");
    assert_eq!(signed_in["event_type"], "USER_ACTION_EVENT");
    assert_eq!(signed_in["event_time"], 1_700_000_000);
    assert_eq!(signed_in["event_attributes"]["method"], "password");
    assert_eq!(signed_in["user_attributes"]["first_name"], "Jane");
    assert_eq!(signed_in["user_attributes"]["plan"], "gold");
    assert_eq!(signed_in["user_attributes"]["email"], "jane@example.com");

    let purchase = named("purchase");
    assert_eq!(purchase["uid"], "cust-1");
    let attributes = &purchase["event_attributes"];
    assert_eq!(attributes["transaction_id"], "t-1");
    assert_eq!(attributes["currency_code"], "EUR");
    assert_eq!(attributes["total_amount"], 11.0);
    assert_eq!(attributes["coupon"], "none");
    assert_eq!(attributes["products"][0]["id"], "sku-1");
    assert_eq!(attributes["products"][0]["quantity"], 2.0);

    let opened = named("Opened");
    assert_eq!(opened["uid"], "cust-2", "bulk_upload_events");
    assert_eq!(opened["user_attributes"]["email"], "joe@example.com");
    drop(serve);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("/v1/mparticle/bulkevents"),
        "the bulk route was used"
    );
    assert!(!log.contains(SECRET));
}
