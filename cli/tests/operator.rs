//! The operator's commands, run as the real binary (docs/interface/cli.md):
//! `validate`, `workspaces apply --dry-run/--prune`, `schema`, `${ENV}`
//! interpolation and commands that never create a store they only read.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{BIN, run, write_config};
use serde_json::Value;

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn workspace(id: &str) -> String {
    format!("[[workspaces]]\nid = \"{id}\"\nsecret = \"{id}-secret\"\napp_name = \"{id}\"\n\n")
}

#[test]
fn validate_passes_with_warnings_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://example.com/hook\"\n\
             events = [\"Email Sent\", \"Emial Sent\"]\n\n\
             [[workspaces.streams]]\nname = \"amp\"\ntype = \"amplitude\"\napi_key = \"k\"\n\
             device_attributes = \"all\"\n",
            workspace("acme")
        ),
    );
    let out = run(
        dir.path(),
        &["validate", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stdout_json(&out);
    assert_eq!(summary["status"], "success");
    assert_eq!(summary["workspaces"], 1);
    assert_eq!(summary["streams"], 2);
    let warnings = stderr(&out);
    assert!(
        warnings.contains("warning: workspaces[0].streams[0].events[1]: \"Emial Sent\""),
        "{warnings}"
    );
    assert!(
        !warnings.contains("\"Email Sent\" is no event"),
        "{warnings}"
    );
    assert!(
        warnings.contains("warning: workspaces[0].streams[1].device_attributes"),
        "{warnings}"
    );
    assert!(
        !dir.path().join("store.db").exists(),
        "validate creates no store"
    );
}

#[test]
fn validate_fails_with_the_key_path_and_line_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    // `api_key` belongs to amplitude streams, not webhooks (line 11).
    let config = write_config(
        dir.path(),
        &format!(
            "{}[[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://example.com/hook\"\n\
             api_key = \"amp-key-4f1d-never-echoed\"\n",
            workspace("acme")
        ),
    );
    let out = run(
        dir.path(),
        &["validate", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(message.contains("workspaces[0].streams[0]"), "{message}");
    assert!(message.contains("api_key"), "{message}");
    assert!(message.contains("line "), "{message}");
    assert!(!message.contains("amp-key-4f1d-never-echoed"), "{message}");
    assert!(out.stdout.is_empty());

    let missing = run(dir.path(), &["validate", "--config", "nowhere.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nowhere.toml"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn secrets_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[workspaces]]\nid = \"acme\"\nsecret = \"${ACME_SECRET}\"\napp_name = \"Acme\"\n",
    );
    let validate = |value: Option<&str>| {
        let mut command = Command::new(BIN);
        command
            .args(["validate", "--config", config.to_str().unwrap()])
            .current_dir(dir.path())
            .env_remove("ACME_SECRET");
        if let Some(value) = value {
            command.env("ACME_SECRET", value);
        }
        command.output().unwrap()
    };
    let set = validate(Some("from-the-env-7a0c"));
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    assert!(!stderr(&set).contains("from-the-env-7a0c"));
    let unset = validate(None);
    assert_eq!(unset.status.code(), Some(2));
    assert!(stderr(&unset).contains("ACME_SECRET"), "{}", stderr(&unset));
    assert!(
        stderr(&unset).contains("workspaces[0].secret"),
        "{}",
        stderr(&unset)
    );
}

fn apply(dir: &Path, config: &Path, flags: &[&str]) -> (Value, String) {
    let mut args = vec!["workspaces", "apply", "--config", config.to_str().unwrap()];
    args.extend_from_slice(flags);
    let out = run(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (stdout_json(&out), stderr(&out))
}

#[test]
fn workspaces_apply_never_deletes_without_prune_and_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let both = write_config(dir.path(), &(workspace("a") + &workspace("b")));
    let store = dir.path().join("store.db");

    let (plan, _) = apply(dir.path(), &both, &["--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["added"], serde_json::json!(["a", "b"]));
    assert!(!store.exists(), "a dry run creates no store");

    let (plan, _) = apply(dir.path(), &both, &[]);
    assert_eq!(plan["added"], serde_json::json!(["a", "b"]));
    let (plan, _) = apply(dir.path(), &both, &[]);
    assert_eq!(plan["unchanged"], serde_json::json!(["a", "b"]));

    // A file without b: b is kept and named, not deleted.
    let only_a = write_config(
        dir.path(),
        &workspace("a").replace("app_name = \"a\"", "app_name = \"A2\""),
    );
    let (plan, note) = apply(dir.path(), &only_a, &[]);
    assert_eq!(plan["updated"], serde_json::json!(["a"]));
    assert_eq!(plan["kept"], serde_json::json!(["b"]));
    assert_eq!(plan["removed"], serde_json::json!([]));
    assert!(note.contains("--prune") && note.contains('b'), "{note}");

    // --prune --dry-run names what it would delete and deletes nothing.
    let (plan, _) = apply(dir.path(), &only_a, &["--prune", "--dry-run"]);
    assert_eq!(plan["removed"], serde_json::json!(["b"]));
    let (plan, _) = apply(dir.path(), &only_a, &["--prune", "--dry-run"]);
    assert_eq!(plan["removed"], serde_json::json!(["b"]), "still there");

    let (plan, _) = apply(dir.path(), &only_a, &["--prune"]);
    assert_eq!(plan["removed"], serde_json::json!(["b"]));
    assert_eq!(plan["unchanged"], serde_json::json!(["a"]));
    let (plan, _) = apply(dir.path(), &only_a, &["--prune"]);
    assert_eq!(plan["removed"], serde_json::json!([]));
}

#[test]
fn commands_that_read_a_store_never_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[[workspaces.streams]]\nname = \"x\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n",
            workspace("acme")
        ),
    );
    let store = dir.path().join("store.db");
    let events = dir.path().join("events.json");
    std::fs::write(&events, "[]").unwrap();
    let config = config.to_str().unwrap();
    for args in [
        vec!["dlq", "list", "--config", config],
        vec!["dlq", "replay", "--config", config, "--dry-run"],
        vec![
            "events",
            "send",
            "--config",
            config,
            "--workspace",
            "acme",
            events.to_str().unwrap(),
        ],
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(store.to_str().unwrap()),
            "{args:?} names the path: {}",
            stderr(&out)
        );
        assert!(!store.exists(), "{args:?} created a store");
    }
    // `streams test` needs no store at all: it sends to the stream directly.
    let out = run(
        dir.path(),
        &[
            "streams",
            "test",
            "--config",
            config,
            "--workspace",
            "acme",
            "--stream",
            "x",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the receiver is unreachable: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("stream \"x\""), "{}", stderr(&out));
    assert!(!store.exists(), "streams test created a store");
}

#[test]
fn schema_prints_json_schema_generated_from_the_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["schema", "config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config = stdout_json(&out);
    assert!(
        config["$schema"]
            .as_str()
            .unwrap()
            .contains("json-schema.org")
    );
    for key in ["workspaces", "storage", "retry", "server", "logging"] {
        assert!(
            config["properties"][key].is_object(),
            "config.{key}: {config}"
        );
    }
    let text = config.to_string();
    for key in [
        "batch_size",
        "api_key",
        "shutdown_grace_seconds",
        "schedule_seconds",
    ] {
        assert!(text.contains(key), "the schema knows {key}");
    }

    let out = run(dir.path(), &["schema", "event"]);
    assert_eq!(out.status.code(), Some(0));
    let event = stdout_json(&out);
    let required: Vec<&str> = event["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in [
        "event_name",
        "event_code",
        "event_uuid",
        "event_time",
        "event_type",
        "event_source",
    ] {
        assert!(required.contains(&key), "{key} required: {required:?}");
    }
    assert!(
        event.to_string().contains("CUSTOMERIO"),
        "the source enum is closed"
    );

    let out = run(dir.path(), &["schema", "nothing"]);
    assert_eq!(out.status.code(), Some(2));
}
