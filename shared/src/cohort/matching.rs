//! Identity matching (docs/rules/member-matching.md): a user's
//! `user_id` against profile uids first, then its anonymous id against the
//! profiles' anonymous ids; users still unmatched follow the workspace's
//! `unknown_cohort_users`. Every step is one batched store call.

use std::collections::{HashMap, HashSet};

use crate::config::{UnknownCohortUsers, WorkspaceConfig};
use crate::domain::ids::moengage_user_id;
use crate::domain::{Member, ProfileKey, StagedUser};
use crate::ports::StoreResult;
use crate::runtime::Services;

/// The members a batch of users maps to, and how they were found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Matched {
    /// One per distinct profile, in first-seen order.
    pub members: Vec<Member>,
    pub by_uid: usize,
    pub by_anonymous_id: usize,
    /// Unknown users given a profile (`create`; docs/rules/member-matching.md).
    pub created: usize,
    /// Unknown users not added (`drop`; docs/rules/member-matching.md).
    pub dropped: usize,
}

/// Maps users to members. A member shows the identities Amplitude sent,
/// except that a user found by anonymous id shows its profile's uid.
pub async fn match_users(
    services: &Services,
    ws: &WorkspaceConfig,
    users: &[StagedUser],
) -> StoreResult<Matched> {
    let mut matched = Matched::default();
    let mut found: Vec<Option<Member>> = vec![None; users.len()];

    // 1. user_id → profile uid (docs/rules/member-matching.md "Matching, in order").
    //    Under `create`, a user with a user_id and no anonymous id ends at
    //    the profile derived from that uid whether it exists or not: it is
    //    not looked up; creating it (step 3) tells which existed.
    let create = ws.unknown_cohort_users == UnknownCohortUsers::Create;
    let looked_up = |u: &StagedUser| !create || u.anonymous_id.is_some();
    let uids = distinct(
        users
            .iter()
            .filter(|u| looked_up(u))
            .filter_map(|u| u.user_id.as_deref()),
    );
    let by_uid = if uids.is_empty() {
        HashMap::new()
    } else {
        services.profiles.find_by_uids(&ws.id, &uids).await?
    };
    for (user, slot) in users.iter().zip(found.iter_mut()) {
        if let Some(mid) = user.user_id.as_ref().and_then(|uid| by_uid.get(uid)) {
            *slot = Some(Member {
                moengage_user_id: mid.clone(),
                uid: user.user_id.clone(),
                moe_anonymous_id: user.anonymous_id.clone(),
            });
            matched.by_uid += 1;
        }
    }

    // 2. anonymous id → the profile's anonymous ids (the secondary
    //    identifier; same section).
    let pending = |found: &[Option<Member>]| -> Vec<usize> {
        (0..users.len()).filter(|&i| found[i].is_none()).collect()
    };
    let anonymous = distinct(
        pending(&found)
            .into_iter()
            .filter_map(|i| users[i].anonymous_id.as_deref()),
    );
    let by_anonymous = if anonymous.is_empty() {
        HashMap::new()
    } else {
        services
            .profiles
            .find_by_anonymous_ids(&ws.id, &anonymous)
            .await?
    };
    let anonymous_hits: Vec<(usize, &String)> = pending(&found)
        .into_iter()
        .filter_map(|i| Some((i, by_anonymous.get(users[i].anonymous_id.as_ref()?)?)))
        .collect();
    if !anonymous_hits.is_empty() {
        // The profile may have a uid Amplitude did not send: show it.
        let ids = distinct(anonymous_hits.iter().map(|(_, mid)| mid.as_str()));
        let uid_of: HashMap<String, Option<String>> = services
            .profiles
            .get_profiles(&ws.id, &ids)
            .await?
            .into_iter()
            .map(|p| (p.moengage_user_id, p.uid))
            .collect();
        for (i, mid) in anonymous_hits {
            found[i] = Some(Member {
                moengage_user_id: mid.clone(),
                uid: uid_of.get(mid).cloned().flatten(),
                moe_anonymous_id: users[i].anonymous_id.clone(),
            });
            matched.by_anonymous_id += 1;
        }
    }

    // 3. Unknown users. With `create` this holds for removals too: storing
    //    the removal's version keeps a late, older add from re-adding them.
    let unknown = pending(&found);
    match ws.unknown_cohort_users {
        UnknownCohortUsers::Drop => matched.dropped = unknown.len(),
        UnknownCohortUsers::Create if !unknown.is_empty() => {
            // Keyed by the Amplitude user id, or without one by the anonymous
            // (device) id (docs/rules/member-matching.md "Scenarios").
            let keyed: Vec<(usize, ProfileKey)> = unknown
                .iter()
                .filter_map(|&i| {
                    let user = &users[i];
                    let key = match (&user.user_id, &user.anonymous_id) {
                        (Some(uid), _) => ProfileKey::Uid(uid.clone()),
                        (None, Some(anon)) => ProfileKey::AnonymousId(anon.clone()),
                        // Never staged: validation skips users without ids.
                        (None, None) => return None,
                    };
                    Some((i, key))
                })
                .collect();
            let keys: Vec<ProfileKey> = keyed.iter().map(|(_, key)| key.clone()).collect();
            let created = services.profiles.ensure_profiles(&ws.id, &keys).await?;
            // A created profile's id derives from its key; its uid is the
            // key's (profiles keyed by an anonymous id never get one).
            for (i, key) in keyed {
                // Not created: it existed (not looked up, or made since).
                match (created.contains(&key), &key) {
                    (true, _) => matched.created += 1,
                    (false, ProfileKey::Uid(_)) => matched.by_uid += 1,
                    (false, ProfileKey::AnonymousId(_)) => matched.by_anonymous_id += 1,
                }
                found[i] = Some(Member {
                    moengage_user_id: moengage_user_id(&ws.id, &key),
                    uid: match key {
                        ProfileKey::Uid(uid) => Some(uid),
                        ProfileKey::AnonymousId(_) => None,
                    },
                    moe_anonymous_id: users[i].anonymous_id.clone(),
                });
            }
        }
        UnknownCohortUsers::Create => {}
    }

    // Two Amplitude users may resolve to one profile: one change each.
    let mut seen = HashSet::new();
    matched.members = found
        .into_iter()
        .flatten()
        .filter(|m| seen.insert(m.moengage_user_id.clone()))
        .collect();
    Ok(matched)
}

fn distinct<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect()
}
