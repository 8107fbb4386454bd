use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::savepoint::Savepoint;
use super::{IN_CHUNK, SqliteStore, from_json, placeholders, to_json};
use crate::domain::{Profile, ProfileKey, ProfileUpdate};
use crate::ports::{ProfileStore, StoreResult};

/// Points an anonymous id at a profile (`?1` workspace, `?2` anonymous
/// id, `?3` profile id).
const INDEX_ANONYMOUS_ID: &str = "INSERT INTO anonymous_ids (workspace, anonymous_id, profile_id)
     VALUES (?1, ?2, ?3)
     ON CONFLICT (workspace, anonymous_id) DO UPDATE SET profile_id = excluded.profile_id";

/// `SELECT key, value FROM table WHERE workspace = ? AND key IN (...)`, chunked.
fn lookup(
    conn: &Connection,
    sql_prefix: &str,
    workspace: &str,
    keys: &[String],
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = format!("{sql_prefix} IN ({})", placeholders(chunk.len()));
        let mut stmt = conn.prepare_cached(&sql)?;
        let args = std::iter::once(workspace).chain(chunk.iter().map(String::as_str));
        let rows = stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// Applies each update to its stored profile (creating it), in one
/// savepoint, and returns the profiles in input order. Read-modify-write is
/// atomic under SQLite's single writer, also across processes.
pub(super) fn update_profiles(
    conn: &mut Connection,
    workspace: &str,
    updates: &[ProfileUpdate],
) -> rusqlite::Result<Vec<Profile>> {
    let tx = Savepoint::open(conn)?;
    let mut out = Vec::with_capacity(updates.len());
    {
        let mut read =
            tx.prepare_cached("SELECT doc FROM profiles WHERE workspace = ?1 AND id = ?2")?;
        let mut write = tx.prepare_cached(
            "INSERT INTO profiles (workspace, id, uid, doc) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (workspace, id) DO UPDATE SET uid = excluded.uid, doc = excluded.doc",
        )?;
        let mut index = tx.prepare_cached(INDEX_ANONYMOUS_ID)?;
        for update in updates {
            let id = update.moengage_user_id(workspace);
            let stored: Option<String> = read
                .query_row(params![workspace, id], |r| r.get(0))
                .optional()?;
            let current: Option<Profile> = stored.as_deref().map(from_json).transpose()?;
            // An update that changes nothing (a batch repeating the
            // attributes it sent before) writes nothing: no row, no
            // WAL pages (BENCHMARKS.md "Unchanged profiles not written"),
            // and is not applied or encoded to find that out.
            let profile = match current {
                Some(current) if update.changes_nothing(&current) => current,
                current => {
                    let profile = update.apply_to(workspace, current);
                    let doc = to_json(&profile)?;
                    if stored.as_deref() != Some(doc.as_str()) {
                        write.execute(params![workspace, id, profile.uid, doc])?;
                    }
                    profile
                }
            };
            for anon in update.anonymous_ids() {
                index.execute(params![workspace, anon, id])?;
            }
            out.push(profile);
        }
    }
    tx.commit()?;
    Ok(out)
}

#[async_trait]
impl ProfileStore for SqliteStore {
    async fn get_profiles(&self, workspace: &str, ids: &[String]) -> StoreResult<Vec<Profile>> {
        let (workspace, ids) = (workspace.to_owned(), ids.to_vec());
        self.read(move |conn| {
            lookup(
                conn,
                "SELECT id, doc FROM profiles WHERE workspace = ? AND id",
                &workspace,
                &ids,
            )?
            .into_iter()
            .map(|(_, doc)| from_json(&doc))
            .collect()
        })
        .await
    }

    async fn find_by_uids(
        &self,
        workspace: &str,
        uids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let (workspace, uids) = (workspace.to_owned(), uids.to_vec());
        self.read(move |conn| {
            Ok(lookup(
                conn,
                "SELECT uid, id FROM profiles WHERE workspace = ? AND uid",
                &workspace,
                &uids,
            )?
            .into_iter()
            .collect())
        })
        .await
    }

    async fn find_by_anonymous_ids(
        &self,
        workspace: &str,
        anonymous_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let (workspace, ids) = (workspace.to_owned(), anonymous_ids.to_vec());
        self.read(move |conn| {
            Ok(lookup(
                conn,
                "SELECT anonymous_id, profile_id FROM anonymous_ids WHERE workspace = ? AND anonymous_id",
                &workspace,
                &ids,
            )?
            .into_iter()
            .collect())
        })
        .await
    }

    async fn update_profiles(
        &self,
        workspace: &str,
        updates: &[ProfileUpdate],
    ) -> StoreResult<Vec<Profile>> {
        let (workspace, updates) = (workspace.to_owned(), updates.to_vec());
        self.run(move |conn| update_profiles(conn, &workspace, &updates))
            .await
    }

    async fn ensure_profiles(
        &self,
        workspace: &str,
        keys: &[ProfileKey],
    ) -> StoreResult<HashSet<ProfileKey>> {
        let (workspace, keys) = (workspace.to_owned(), keys.to_vec());
        self.run(move |conn| {
            // One transaction: the check and the insert are atomic under
            // SQLite's single writer, also across processes.
            let tx = Savepoint::open(conn)?;
            let mut created = HashSet::new();
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO profiles (workspace, id, uid, doc) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace, id) DO NOTHING",
                )?;
                let mut index = tx.prepare_cached(INDEX_ANONYMOUS_ID)?;
                for key in keys {
                    let update = ProfileUpdate::new(key);
                    let id = update.moengage_user_id(&workspace);
                    let profile = update.apply_to(&workspace, None);
                    let inserted =
                        insert.execute(params![workspace, id, profile.uid, to_json(&profile)?])?;
                    // As `update_profiles` writes it, whether or not the
                    // profile was new.
                    for anon in update.anonymous_ids() {
                        index.execute(params![workspace, anon, id])?;
                    }
                    if inserted == 1 {
                        created.insert(update.key);
                    }
                }
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn an_update_that_changes_nothing_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        // Another connection sees `data_version` move when a commit wrote.
        let watcher = Connection::open(&path).unwrap();
        let version = || -> i64 {
            watcher
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .unwrap()
        };
        let update = |plan: &str| {
            let mut update = ProfileUpdate::new(ProfileKey::Uid("jane".into()));
            update.set_attributes.insert("plan".into(), json!(plan));
            update
        };

        let first = store
            .update_profiles("ws", &[update("free")])
            .await
            .unwrap();
        let before = version();
        let again = store
            .update_profiles("ws", &[update("free")])
            .await
            .unwrap();
        assert_eq!(again, first, "the profile is answered as before");
        assert_eq!(version(), before, "nothing was written");

        let changed = store
            .update_profiles("ws", &[update("paid")])
            .await
            .unwrap();
        assert_ne!(version(), before, "a change is written");
        assert_eq!(changed[0].attributes["plan"], "paid");
        let read = store
            .get_profiles("ws", &[changed[0].moengage_user_id.clone()])
            .await
            .unwrap();
        assert_eq!(read, changed);
    }
}
