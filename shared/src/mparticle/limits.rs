//! The length limits of names and ids (`crate::input::limits`), checked on
//! the read model of either format before anything is applied, so a request
//! that breaks one is refused whole with a 400 (docs/interface/http.md
//! "Limits").

use super::json::Invalid;
use super::model::{Change, EventKind, SourceBatch};
use crate::input::{TooLong, check_chars, check_len, limits};

fn invalid(batch: usize, problem: TooLong) -> Invalid {
    Invalid {
        path: format!("[{batch}]"),
        problem: problem.to_string(),
    }
}

/// Checks every batch of a request.
pub fn check(batches: &[SourceBatch]) -> Result<(), Invalid> {
    for (i, batch) in batches.iter().enumerate() {
        check_batch(batch).map_err(|problem| invalid(i, problem))?;
    }
    Ok(())
}

fn check_batch(batch: &SourceBatch) -> Result<(), TooLong> {
    for (kind, value) in &batch.identities {
        check_len("an identity type", kind, limits::ATTRIBUTE_NAME_BYTES)?;
        check_len(&format!("identity {kind}"), value, limits::USER_ID_BYTES)?;
    }
    if let Some(mpid) = &batch.mpid {
        check_len("mpid", mpid, limits::USER_ID_BYTES)?;
    }
    for (name, _) in &batch.user_attributes {
        check_len("a user attribute name", name, limits::ATTRIBUTE_NAME_BYTES)?;
    }
    for name in &batch.deleted_user_attributes {
        check_len(
            "a deleted attribute name",
            name,
            limits::ATTRIBUTE_NAME_BYTES,
        )?;
    }
    for (field, id) in &batch.device_ids {
        check_len(
            &format!("device identity {field}"),
            id,
            limits::USER_ID_BYTES,
        )?;
    }
    for event in &batch.events {
        match &event.kind {
            EventKind::Emit { name, attributes }
            | EventKind::Gated {
                name, attributes, ..
            } => {
                check_chars("an event name", name, limits::NAME_CHARS)?;
                if let Some(key) = attributes.name_longer_than(limits::ATTRIBUTE_NAME_BYTES) {
                    check_len(
                        "an event attribute name",
                        &key,
                        limits::ATTRIBUTE_NAME_BYTES,
                    )?;
                }
            }
            EventKind::AttributeChanges(changes) | EventKind::IdentityChanges(changes) => {
                for change in changes {
                    let (Change::Set(name, _) | Change::Remove(name)) = change;
                    check_len(
                        "a changed attribute name",
                        name,
                        limits::ATTRIBUTE_NAME_BYTES,
                    )?;
                }
            }
            EventKind::Unsupported(kind) => {
                check_len("an event type", kind, limits::ATTRIBUTE_NAME_BYTES)?;
            }
        }
        if let Some(id) = &event.id {
            check_len("an event id", id, limits::KEY_BYTES)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mparticle::model::SourceEvent;

    #[test]
    fn over_long_names_and_ids_are_refused_naming_the_batch() {
        let ok = SourceBatch {
            identities: vec![("customer_id".into(), "c1".into())],
            ..SourceBatch::default()
        };
        assert!(check(std::slice::from_ref(&ok)).is_ok());
        let mut long_uid = ok.clone();
        long_uid.identities[0].1 = "x".repeat(limits::USER_ID_BYTES + 1);
        let e = check(&[ok.clone(), long_uid]).unwrap_err();
        assert_eq!(e.path, "[1]");
        assert!(
            e.problem
                .starts_with("identity customer_id is 1025 bytes long"),
            "{e}"
        );
        let mut long_name = ok.clone();
        long_name.events.push(SourceEvent {
            id: None,
            timestamp_ms: None,
            kind: EventKind::Emit {
                name: "é".repeat(limits::NAME_CHARS + 1),
                attributes: Default::default(),
            },
        });
        assert!(
            check(&[long_name])
                .unwrap_err()
                .problem
                .contains("characters long")
        );
    }
}
