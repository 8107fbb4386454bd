//! Warnings about a valid configuration (`engage-bridge validate`,
//! docs/interface/cli.md "validate"): settings that match nothing or do
//! nothing. They never change the exit code.

use crate::config::{ConfigFile, Selection, SinkConfig, StorageBackend};
use crate::membership::{PARTNER_SYNC_CODE, PARTNER_SYNC_NAME};
use crate::mparticle::rules::{PRODUCT_ACTIONS, PROMOTION_AND_IMPRESSION_NAMES};
use crate::privacy::erasure::{USER_DELETED_CODE, USER_DELETED_NAME};
use crate::streams::catalogue;

/// Event names engage-bridge produces besides the catalogue's: Partner
/// Sync, User Deleted and mParticle's commerce events.
const PRODUCED_NAMES: [&str; 4] = [
    PARTNER_SYNC_NAME,
    PARTNER_SYNC_CODE,
    USER_DELETED_NAME,
    USER_DELETED_CODE,
];

/// Whether an `events` entry can match an event engage-bridge knows of.
fn known_event(item: &str) -> bool {
    catalogue::lookup(item).is_some()
        || PRODUCED_NAMES
            .iter()
            .chain(&PRODUCT_ACTIONS)
            .chain(&PROMOTION_AND_IMPRESSION_NAMES)
            .any(|n| n.eq_ignore_ascii_case(item))
        || item.to_ascii_uppercase().starts_with("CIO_")
}

/// The warnings, each naming the key it is about.
pub fn warnings(config: &ConfigFile) -> Vec<String> {
    let mut out = Vec::new();
    if config.workspaces.is_empty() {
        out.push("workspaces: none configured; every /v1 request will be refused".to_owned());
    }
    for (w, workspace) in config.workspaces.iter().enumerate() {
        for (s, stream) in workspace.streams.iter().enumerate() {
            let at = format!("workspaces[{w}].streams[{s}]");
            if let Some(Selection::List(items)) = &stream.events {
                if items.is_empty() {
                    out.push(format!("{at}.events: an empty list selects no event"));
                }
                for (i, item) in items.iter().enumerate() {
                    if !known_event(item) {
                        out.push(format!(
                            "{at}.events[{i}]: {item:?} is no event code or name engage-bridge knows \
                             (fine if it is the name of an mParticle custom event)"
                        ));
                    }
                }
            }
            let device_selected =
                !matches!(&stream.device_attributes, Selection::List(l) if l.is_empty());
            if matches!(stream.sink, SinkConfig::Amplitude(_)) && device_selected {
                out.push(format!(
                    "{at}.device_attributes: does nothing for an amplitude stream \
                     (Amplitude's device fields come from each event's device attributes)"
                ));
            }
            if config.storage.backend == StorageBackend::Aws && stream.timeout_seconds > 50 {
                out.push(format!(
                    "{at}.timeout_seconds: {} s is more than the stream functions' 60 s Lambda \
                     timeout allows; keep it under 50 on aws",
                    stream.timeout_seconds
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_matching_nothing_and_settings_doing_nothing_are_warned_about() {
        let config = crate::config::parse(
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n\
             [[workspaces.streams]]\nname = \"h\"\ntype = \"webhook\"\nurl = \"https://x.example\"\n\
             events = [\"MOE_EMAIL_SENT\", \"Email Clicked\", \"Emial Sent\", \"purchase\", \"Partner Sync\", \"CIO_EMAIL_SENT\"]\n\
             [[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\ndevice_attributes = \"all\"\n",
        )
        .unwrap();
        let found = warnings(&config);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("workspaces[0].streams[0].events[2]: \"Emial Sent\""));
        assert!(found[1].starts_with("workspaces[0].streams[1].device_attributes"));
        let empty = crate::config::parse("").unwrap();
        assert_eq!(
            warnings(&empty),
            vec!["workspaces: none configured; every /v1 request will be refused"]
        );
    }
}
