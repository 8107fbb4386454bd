//! mParticle audiences → segments `mparticle-<audience_id>` (docs/rules/mparticle-mapping.md),
//! with a `Partner Sync` event per membership change like cohorts.
//!
//! Firehose has sent membership changes two ways: `added_audiences` /
//! `removed_audiences` per user profile (SDK 1.x), and since SDK 2.0
//! `audiences: [{audience_id, audience_name, action: add|delete|attribute_update}]`.
//! Both are read; `attribute_update` changes no membership.

use std::collections::BTreeMap;

use serde_json::Value;

use super::firehose;
use super::json::{Invalid, Node};
use super::mapper::{ProfileChanges, uid_for};
use crate::config::WorkspaceConfig;
use crate::domain::time::{now_ms, rfc3339_ms};
use crate::domain::{Member, MembershipAction, MembershipChange, Segment, SegmentSource};
use crate::error::RequestError;
use crate::input::{check_chars, check_len, limits};
use crate::membership;
use crate::runtime::Services;

/// One audience membership change of one user profile.
struct AudienceChange {
    audience_id: String,
    audience_name: String,
    action: MembershipAction,
}

fn read_audience(node: &Node, action: MembershipAction) -> Result<AudienceChange, Invalid> {
    let Some(id) = node.get("audience_id") else {
        return Err(node.invalid("missing field \"audience_id\""));
    };
    let audience_id = id.id()?;
    check_len("audience_id", &audience_id, limits::KEY_BYTES).map_err(|p| id.invalid(p))?;
    let audience_name = node.required_text("audience_name")?;
    check_chars("audience_name", &audience_name, limits::NAME_CHARS)
        .map_err(|p| node.invalid(p))?;
    Ok(AudienceChange {
        audience_id,
        audience_name,
        action,
    })
}

fn read_audiences(profile: &Node) -> Result<Vec<AudienceChange>, Invalid> {
    let mut out = Vec::new();
    for (key, action) in [
        ("added_audiences", MembershipAction::Added),
        ("removed_audiences", MembershipAction::Removed),
    ] {
        if let Some(list) = profile.get(key) {
            for audience in list.items()? {
                out.push(read_audience(&audience, action)?);
            }
        }
    }
    if let Some(list) = profile.get("audiences") {
        for audience in list.items()? {
            let action = match audience.opt_text("action")?.as_deref() {
                Some("add") => MembershipAction::Added,
                Some("delete") => MembershipAction::Removed,
                _ => continue,
            };
            out.push(read_audience(&audience, action)?);
        }
    }
    Ok(out)
}

/// What an audience membership change request did (logged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudienceReport {
    pub profiles: usize,
    pub skipped_profiles: usize,
    pub segments: usize,
    pub applied: usize,
    pub events: usize,
}

/// `audience_membership_change_request`: resolves (creating on first sight)
/// each user profile by the workspace's identity, then applies the changes
/// per segment, versioned by the request's `timestamp_ms` and their arrival
/// order: requests in the order they arrive, a request's changes in array
/// order (docs/rules/member-matching.md "Ordering: versions").
pub async fn membership_change(
    services: &Services,
    ws: &WorkspaceConfig,
    root: &Node<'_>,
) -> Result<AudienceReport, RequestError> {
    let timestamp_ms = root.opt_millis("timestamp_ms")?;
    let mut report = AudienceReport::default();
    let mut updates = Vec::new();
    let mut changes_per_profile = Vec::new();
    if let Some(list) = root.get("user_profiles") {
        for profile in list.items()? {
            profile.object()?;
            let identities = firehose::read_identities(profile.get("user_identities"))?;
            let audiences = read_audiences(&profile)?;
            let Some(uid) = uid_for(ws, &identities, profile.opt_id("mpid")?.as_deref()) else {
                report.skipped_profiles += 1;
                continue;
            };
            let mut changes = ProfileChanges::new(ws, &uid);
            for (kind, value) in identities {
                changes.set_identity(&kind, Value::String(value));
            }
            updates.push(changes.finish().0);
            changes_per_profile.push(audiences);
        }
    }
    if updates.is_empty() {
        return Ok(report);
    }
    let profiles = services.profiles.update_profiles(&ws.id, &updates).await?;
    report.profiles = profiles.len();

    let mut per_segment: BTreeMap<String, (String, Vec<(Member, MembershipAction)>)> =
        BTreeMap::new();
    for (profile, audiences) in profiles.iter().zip(changes_per_profile) {
        for audience in audiences {
            let entry = per_segment
                .entry(audience.audience_id)
                .or_insert_with(|| (audience.audience_name.clone(), Vec::new()));
            entry.0 = audience.audience_name;
            let member = Member {
                moengage_user_id: profile.moengage_user_id.clone(),
                uid: profile.uid.clone(),
                moe_anonymous_id: profile.anonymous_ids.first().cloned(),
            };
            entry.1.push((member, audience.action));
        }
    }
    let synced_at = rfc3339_ms(now_ms());
    for (audience_id, (name, members)) in per_segment {
        let segment = Segment::new(SegmentSource::Mparticle, &audience_id, &name);
        let segment = services.segments.ensure_segment(&ws.id, &segment).await?;
        let arrival = services
            .segments
            .reserve_arrivals(&ws.id, &segment.id, members.len(), now_ms())
            .await?;
        let changes: Vec<MembershipChange> = members
            .into_iter()
            .enumerate()
            .map(|(position, (member, action))| MembershipChange {
                member,
                action,
                version: arrival.version(timestamp_ms, position),
            })
            .collect();
        let users = changes.len();
        let announced =
            membership::apply_and_announce(services, &ws.id, &segment, &changes).await?;
        crate::delivery_log::record_sync(
            services,
            &ws.id,
            &segment.id,
            None,
            "change",
            [users, announced.applied, 0, 0, announced.already_current],
        );
        services
            .segments
            .record_sync(&ws.id, &segment.id, &synced_at)
            .await?;
        report.segments += 1;
        report.applied += announced.applied;
        report.events += announced.events;
    }
    tracing::info!(workspace = %ws.id, ?report, "mparticle audience membership change applied");
    Ok(report)
}

/// `audience_subscription_request`: `add` and `update` create or rename the
/// segment so it is visible before its first member arrives; `remove` keeps
/// it (its members and history stay queryable).
pub async fn subscription(
    services: &Services,
    ws: &WorkspaceConfig,
    root: &Node<'_>,
) -> Result<(), RequestError> {
    let action = root.opt_text("action")?;
    if matches!(action.as_deref(), Some("add" | "update")) {
        let change = read_audience(root, MembershipAction::Added)?;
        let segment = Segment::new(
            SegmentSource::Mparticle,
            &change.audience_id,
            &change.audience_name,
        );
        services.segments.ensure_segment(&ws.id, &segment).await?;
    }
    Ok(())
}
