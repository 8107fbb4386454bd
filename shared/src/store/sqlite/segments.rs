use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use super::savepoint::Savepoint;
use crate::domain::replay::{by_member, replay};
use crate::domain::{
    Arrival, Member, MembershipChange, MembershipOutcome, MembershipState, Page, PageRequest,
    Segment, SegmentSource, Version,
};
use crate::ports::{SegmentStore, StoreError, StoreResult};

// `segment_type` is stored for readers of the file; it follows from `source`.
const SEGMENT_COLUMNS: &str =
    "id, name, source, cohort_id, member_count, sync_count, last_synced_at";

fn segment_from_row(r: &Row) -> rusqlite::Result<Segment> {
    let source: String = r.get(2)?;
    Ok(Segment {
        id: r.get(0)?,
        name: r.get(1)?,
        source: SegmentSource::from_name(&source).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown segment source {source:?}").into(),
            )
        })?,
        cohort_id: r.get(3)?,
        member_count: r.get(4)?,
        sync_count: r.get(5)?,
        last_synced_at: r.get(6)?,
    })
}

/// Cuts a `limit + 1` result to a page: the extra row only says "more".
fn page_of<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let next_after = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next_after }
}

#[async_trait]
impl SegmentStore for SqliteStore {
    async fn ensure_segment(&self, workspace: &str, segment: &Segment) -> StoreResult<Segment> {
        let (workspace, s) = (workspace.to_owned(), segment.clone());
        self.run(move |conn| {
            conn.query_row(
                &format!(
                    "INSERT INTO segments (workspace, id, name, segment_type, source, cohort_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (workspace, id) DO UPDATE SET name = excluded.name
                     RETURNING {SEGMENT_COLUMNS}"
                ),
                params![
                    workspace,
                    s.id,
                    s.name,
                    s.source.segment_type(),
                    s.source.name(),
                    s.cohort_id
                ],
                segment_from_row,
            )
        })
        .await
    }

    async fn get_segment(&self, workspace: &str, id: &str) -> StoreResult<Option<Segment>> {
        let (workspace, id) = (workspace.to_owned(), id.to_owned());
        self.run(move |conn| {
            conn.query_row(
                &format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE workspace = ?1 AND id = ?2"),
                params![workspace, id],
                segment_from_row,
            )
            .optional()
        })
        .await
    }

    async fn list_segments(
        &self,
        workspace: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Segment>> {
        let (workspace, page) = (workspace.to_owned(), page.clone());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SEGMENT_COLUMNS} FROM segments WHERE workspace = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3"
            ))?;
            let items = stmt
                .query_map(
                    params![workspace, page.after.unwrap_or_default(), page.limit + 1],
                    segment_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit, |s| s.id.clone()))
        })
        .await
    }

    async fn reserve_arrivals(
        &self,
        workspace: &str,
        segment_id: &str,
        count: usize,
        now_ms: i64,
    ) -> StoreResult<Arrival> {
        let (workspace, id) = (workspace.to_owned(), segment_id.to_owned());
        let count = count.max(1) as i64;
        self.run(move |conn| {
            let last: Option<(i64, i64)> = conn
                .query_row(
                    "UPDATE segments SET arrival_seq = arrival_seq + ?3,
                       arrival_ms = MAX(arrival_ms, ?4)
                     WHERE workspace = ?1 AND id = ?2 RETURNING arrival_seq, arrival_ms",
                    params![workspace, id, count, now_ms],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(last.map(|(seq, time_ms)| Arrival {
                time_ms,
                first_seq: seq - count + 1,
            }))
        })
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("segment {segment_id}")))
    }

    async fn apply_membership_changes(
        &self,
        workspace: &str,
        segment_id: &str,
        changes: &[MembershipChange],
    ) -> StoreResult<MembershipOutcome> {
        let (workspace, segment_id, changes) = (
            workspace.to_owned(),
            segment_id.to_owned(),
            changes.to_vec(),
        );
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let (mut applied, mut already_current) = (Vec::new(), Vec::new());
            let mut delta = 0i64;
            {
                let mut read = tx.prepare_cached(
                    "SELECT in_segment, time_ms, seq FROM memberships
                     WHERE workspace = ?1 AND segment_id = ?2 AND profile_id = ?3",
                )?;
                let mut write = tx.prepare_cached(
                    "INSERT INTO memberships
                       (workspace, segment_id, profile_id, uid, anonymous_id, in_segment, time_ms, seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (workspace, segment_id, profile_id) DO UPDATE SET
                       uid = excluded.uid, anonymous_id = excluded.anonymous_id,
                       in_segment = excluded.in_segment, time_ms = excluded.time_ms,
                       seq = excluded.seq",
                )?;
                for member in by_member(&changes) {
                    let current = read
                        .query_row(
                            params![workspace, segment_id, member.moengage_user_id],
                            |r| {
                                Ok(MembershipState {
                                    in_segment: r.get(0)?,
                                    version: Version::new(r.get(1)?, r.get(2)?),
                                })
                            },
                        )
                        .optional()?;
                    let replayed = replay(current, member.changes.iter().copied());
                    if let (Some(state), Some(&last)) = (replayed.state, replayed.applied.last()) {
                        let last = &changes[last].member;
                        write.execute(params![
                            workspace,
                            segment_id,
                            member.moengage_user_id,
                            last.uid,
                            last.moe_anonymous_id,
                            state.in_segment,
                            state.version.time_ms,
                            state.version.seq
                        ])?;
                    }
                    delta += replayed.delta;
                    applied.extend(replayed.applied);
                    already_current.extend(replayed.already_current);
                }
            }
            if delta != 0 {
                tx.execute(
                    "UPDATE segments SET member_count = member_count + ?3
                     WHERE workspace = ?1 AND id = ?2",
                    params![workspace, segment_id, delta],
                )?;
            }
            tx.commit()?;
            Ok(MembershipOutcome::from_positions(&changes, applied, already_current))
        })
        .await
    }

    async fn record_sync(&self, workspace: &str, segment_id: &str, at: &str) -> StoreResult<()> {
        let (workspace, segment_id, at) =
            (workspace.to_owned(), segment_id.to_owned(), at.to_owned());
        self.run(move |conn| {
            conn.execute(
                "UPDATE segments SET sync_count = sync_count + 1,
                   last_synced_at = MAX(COALESCE(last_synced_at, ''), ?3)
                 WHERE workspace = ?1 AND id = ?2",
                params![workspace, segment_id, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_members(
        &self,
        workspace: &str,
        segment_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<Member>> {
        let (workspace, segment_id, page) =
            (workspace.to_owned(), segment_id.to_owned(), page.clone());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT profile_id, uid, anonymous_id FROM memberships
                 WHERE workspace = ?1 AND segment_id = ?2 AND in_segment = 1 AND profile_id > ?3
                 ORDER BY profile_id LIMIT ?4",
            )?;
            let items = stmt
                .query_map(
                    params![
                        workspace,
                        segment_id,
                        page.after.unwrap_or_default(),
                        page.limit + 1
                    ],
                    |r| {
                        Ok(Member {
                            moengage_user_id: r.get(0)?,
                            uid: r.get(1)?,
                            moe_anonymous_id: r.get(2)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit, |m| m.moengage_user_id.clone()))
        })
        .await
    }

    async fn segments_of(
        &self,
        workspace: &str,
        moengage_user_id: &str,
    ) -> StoreResult<Vec<String>> {
        let (workspace, id) = (workspace.to_owned(), moengage_user_id.to_owned());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT segment_id FROM memberships
                 WHERE workspace = ?1 AND profile_id = ?2 AND in_segment = 1 ORDER BY segment_id",
            )?;
            let ids = stmt
                .query_map(params![workspace, id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(ids)
        })
        .await
    }
}
