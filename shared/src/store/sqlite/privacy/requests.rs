//! Privacy requests and access subjects.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::PrivacyRequestStore;
use crate::privacy::request::{AccessSubject, PrivacyRequest, RequestStatus};
use crate::store::sqlite::savepoint::Savepoint;
use crate::store::sqlite::{SqliteStore, from_json};

#[async_trait]
impl PrivacyRequestStore for SqliteStore {
    async fn create_request(&self, request: &PrivacyRequest) -> StoreResult<PrivacyRequest> {
        let request = request.clone();
        let doc =
            serde_json::to_string(&request).map_err(StoreError::encode("a privacy request"))?;
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO privacy_requests (workspace, id, kind, status, updated_at_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (workspace, id) DO NOTHING",
                params![
                    request.workspace_id,
                    request.id,
                    request.kind.as_str(),
                    request.status.as_str(),
                    request.updated_at_ms,
                    doc
                ],
            )?;
            let doc: String = conn.query_row(
                "SELECT doc FROM privacy_requests WHERE workspace = ?1 AND id = ?2",
                params![request.workspace_id, request.id],
                |r| r.get(0),
            )?;
            from_json(&doc)
        })
        .await
    }

    async fn get_request(&self, workspace: &str, id: &str) -> StoreResult<Option<PrivacyRequest>> {
        let (workspace, id) = (workspace.to_owned(), id.to_owned());
        self.read(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached(
                    "SELECT doc FROM privacy_requests WHERE workspace = ?1 AND id = ?2",
                )?
                .query_row(params![workspace, id], |r| r.get(0))
                .optional()?;
            doc.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn update_request(
        &self,
        request: &PrivacyRequest,
        expected: RequestStatus,
    ) -> StoreResult<bool> {
        let request = request.clone();
        let doc =
            serde_json::to_string(&request).map_err(StoreError::encode("a privacy request"))?;
        self.run(move |conn| {
            conn.execute(
                "UPDATE privacy_requests SET status = ?3, updated_at_ms = ?4, doc = ?5
                 WHERE workspace = ?1 AND id = ?2 AND status = ?6",
                params![
                    request.workspace_id,
                    request.id,
                    request.status.as_str(),
                    request.updated_at_ms,
                    doc,
                    expected.as_str()
                ],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn put_access_subject(
        &self,
        workspace: &str,
        request_id: &str,
        subject: &AccessSubject,
    ) -> StoreResult<()> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        let doc =
            serde_json::to_string(subject).map_err(StoreError::encode("an access subject"))?;
        let expires = subject.expires_at_ms;
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO access_subjects (workspace, request_id, doc, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace, request_id) DO UPDATE
                 SET doc = excluded.doc, expires_at_ms = excluded.expires_at_ms",
                params![workspace, request_id, doc, expires],
            )?;
            Ok(())
        })
        .await
    }

    async fn access_subject(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> StoreResult<Option<AccessSubject>> {
        let (workspace, request_id) = (workspace.to_owned(), request_id.to_owned());
        let now = crate::domain::time::now_ms();
        self.read(move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM access_subjects
                     WHERE workspace = ?1 AND request_id = ?2 AND expires_at_ms > ?3",
                    params![workspace, request_id, now],
                    |r| r.get(0),
                )
                .optional()?;
            doc.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn forget_access_subjects(&self, workspace: &str, hash: &str) -> StoreResult<usize> {
        let (workspace, hash) = (workspace.to_owned(), hash.to_owned());
        self.run(move |conn| {
            let tx = Savepoint::open(conn)?;
            let subjects: Vec<(String, String)> = tx
                .prepare("SELECT request_id, doc FROM access_subjects WHERE workspace = ?1")?
                .query_map([&workspace], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut forgotten = 0;
            for (request_id, doc) in subjects {
                let subject: AccessSubject = from_json(&doc)?;
                if subject.hashes.contains(&hash) {
                    tx.execute(
                        "DELETE FROM access_subjects WHERE workspace = ?1 AND request_id = ?2",
                        params![workspace, request_id],
                    )?;
                    forgotten += 1;
                }
            }
            tx.commit()?;
            Ok(forgotten)
        })
        .await
    }
}
