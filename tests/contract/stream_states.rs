//! Streams' operator states (paused, disabled after a 410): kept per
//! (workspace, stream), changed atomically, each change answering the state
//! before it (so a 410 is counted once however many requests saw it).

use engage_bridge_tests::{Backend, contract_tests};
use shared::domain::{Disabled, StateChange, StreamState};

fn disabled(at: &str) -> Disabled {
    Disabled {
        at: at.into(),
        reason: "POST https://hooks.example.com/in answered HTTP 410 Gone".into(),
    }
}

fn pause(at: &str) -> StateChange {
    StateChange::Pause { at: at.into() }
}

async fn a_stream_is_active_until_changed(b: &Backend) {
    assert!(
        b.stream_states
            .stream_states("ws")
            .await
            .unwrap()
            .is_empty()
    );
    let before = b
        .stream_states
        .change_stream_state("ws", "hook", &pause("2026-01-01T00:00:00.000Z"))
        .await
        .unwrap();
    assert_eq!(before, StreamState::default(), "{}", b.kind);
    let states = b.stream_states.stream_states("ws").await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        states["hook"].paused_at.as_deref(),
        Some("2026-01-01T00:00:00.000Z")
    );
    // Other workspaces and streams are not touched.
    assert!(
        b.stream_states
            .stream_states("ws-2")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!states.contains_key("other"));
}

async fn disable_keeps_the_first_410_and_answers_the_state_before(b: &Backend) {
    let first = b
        .stream_states
        .change_stream_state("ws", "hook", &StateChange::Disable(disabled("t1")))
        .await
        .unwrap();
    assert!(first.disabled.is_none(), "{}", b.kind);
    // A second request answered 410 at the same time: it sees the first.
    let second = b
        .stream_states
        .change_stream_state("ws", "hook", &StateChange::Disable(disabled("t2")))
        .await
        .unwrap();
    assert_eq!(second.disabled, Some(disabled("t1")), "{}", b.kind);
    b.stream_states
        .change_stream_state("ws", "hook", &pause("t3"))
        .await
        .unwrap();
    let states = b.stream_states.stream_states("ws").await.unwrap();
    assert_eq!(
        states["hook"],
        StreamState {
            paused_at: Some("t3".into()),
            disabled: Some(disabled("t1")),
        },
        "{}",
        b.kind
    );
}

async fn resume_ends_pause_and_disabled_and_keeps_nothing(b: &Backend) {
    for stream in ["a", "b"] {
        b.stream_states
            .change_stream_state("ws", stream, &pause("t1"))
            .await
            .unwrap();
    }
    b.stream_states
        .change_stream_state("ws", "a", &StateChange::Disable(disabled("t2")))
        .await
        .unwrap();
    let before = b
        .stream_states
        .change_stream_state("ws", "a", &StateChange::Resume)
        .await
        .unwrap();
    assert_eq!(before.disabled, Some(disabled("t2")), "{}", b.kind);
    let states = b.stream_states.stream_states("ws").await.unwrap();
    assert_eq!(states.keys().collect::<Vec<_>>(), vec!["b"], "{}", b.kind);
    // Resuming a stream that runs already changes nothing.
    let again = b
        .stream_states
        .change_stream_state("ws", "a", &StateChange::Resume)
        .await
        .unwrap();
    assert_eq!(again, StreamState::default());
}

async fn states_are_kept_apart_from_the_workspace_config(b: &Backend) {
    let workspace = engage_bridge_tests::workspace("ws", "secret");
    b.workspaces.put_workspace(&workspace).await.unwrap();
    b.stream_states
        .change_stream_state("ws", "hook", &pause("t1"))
        .await
        .unwrap();
    // Applying the config again (or deleting the workspace) leaves it.
    b.workspaces.apply(&[workspace]).await.unwrap();
    assert!(
        b.stream_states.stream_states("ws").await.unwrap()["hook"]
            .paused_at
            .is_some()
    );
}

/// A Lambda batch's ten messages ask for a workspace's states at once on
/// a cold cache: they read them once, and all see what was stored.
async fn concurrent_readers_on_a_cold_cache_read_once(b: &Backend) {
    let ws = engage_bridge_tests::unique("ws-once");
    b.stream_states
        .change_stream_state(&ws, "hook", &pause("2026-01-01T00:00:00.000Z"))
        .await
        .unwrap();
    let readers = futures::future::try_join_all((0..10).map(|_| b.cached_stream_states(&ws)));
    let (all, sent) = engage_bridge_tests::dynamodb_requests(b, readers).await;
    assert!(
        all.unwrap()
            .iter()
            .all(|states| states["hook"].paused_at.is_some())
    );
    if let Some(sent) = sent {
        assert_eq!(sent, 1, "one read for ten concurrent readers");
    }
}

contract_tests!(
    concurrent_readers_on_a_cold_cache_read_once,
    a_stream_is_active_until_changed,
    disable_keeps_the_first_410_and_answers_the_state_before,
    resume_ends_pause_and_disabled_and_keeps_nothing,
    states_are_kept_apart_from_the_workspace_config,
);
