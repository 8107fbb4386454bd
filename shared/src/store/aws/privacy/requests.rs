//! Privacy requests (one item each) and access subjects (one partition per
//! workspace, expiring by TTL).

use async_trait::async_trait;

use super::{conditional_failed, delete_request, doc_of};
use crate::domain::time::now_ms;
use crate::ports::{StoreError, StoreResult};
use crate::privacy::ports::PrivacyRequestStore;
use crate::privacy::request::{AccessSubject, PrivacyRequest, RequestStatus};
use crate::store::aws::batch::{batch_write, get_n, get_s, n, query_partition, s};
use crate::store::aws::{DynamoStore, keys, sdk_error};

impl DynamoStore {
    /// A PutItem of the request's item (its status beside the document, for
    /// the conditions).
    fn put_request(
        &self,
        request: &PrivacyRequest,
    ) -> StoreResult<aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder> {
        let doc =
            serde_json::to_string(request).map_err(StoreError::encode("a privacy request"))?;
        Ok(self
            .client
            .put_item()
            .table_name(&self.state_table)
            .item(
                "pk",
                s(keys::privacy_request(&request.workspace_id, &request.id)),
            )
            .item("sk", s(keys::REQUEST_SK))
            .item("status", s(request.status.as_str()))
            .item("doc", s(doc)))
    }
}

#[async_trait]
impl PrivacyRequestStore for DynamoStore {
    async fn create_request(&self, request: &PrivacyRequest) -> StoreResult<PrivacyRequest> {
        let put = self
            .put_request(request)?
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(request.clone()),
            Err(e) if conditional_failed(&e) => self
                .get_request(&request.workspace_id, &request.id)
                .await?
                .ok_or_else(|| StoreError::corrupt("a privacy request vanished")),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn get_request(&self, workspace: &str, id: &str) -> StoreResult<Option<PrivacyRequest>> {
        self.get_item(keys::privacy_request(workspace, id), keys::REQUEST_SK)
            .await?
            .map(|item| doc_of(&item))
            .transpose()
    }

    async fn update_request(
        &self,
        request: &PrivacyRequest,
        expected: RequestStatus,
    ) -> StoreResult<bool> {
        let put = self
            .put_request(request)?
            .condition_expression("#st = :expected")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn put_access_subject(
        &self,
        workspace: &str,
        request_id: &str,
        subject: &AccessSubject,
    ) -> StoreResult<()> {
        let doc =
            serde_json::to_string(subject).map_err(StoreError::encode("an access subject"))?;
        self.client
            .put_item()
            .table_name(&self.state_table)
            .item("pk", s(keys::access_subjects(workspace)))
            .item("sk", s(request_id))
            .item("doc", s(doc))
            .item("expires_at_ms", n(subject.expires_at_ms))
            .item("expires_at", n(subject.expires_at_ms / 1000 + 1))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn access_subject(
        &self,
        workspace: &str,
        request_id: &str,
    ) -> StoreResult<Option<AccessSubject>> {
        let Some(item) = self
            .get_item(keys::access_subjects(workspace), request_id)
            .await?
        else {
            return Ok(None);
        };
        // TTL deletion lags: expiry is checked here too.
        if get_n(&item, "expires_at_ms").is_none_or(|t| t <= now_ms()) {
            return Ok(None);
        }
        doc_of(&item).map(Some)
    }

    async fn forget_access_subjects(&self, workspace: &str, hash: &str) -> StoreResult<usize> {
        let mut deletes = Vec::new();
        let partition = keys::access_subjects(workspace);
        for item in query_partition(&self.client, &self.state_table, &partition).await? {
            let subject: AccessSubject = doc_of(&item)?;
            if subject.hashes.iter().any(|h| h == hash)
                && let Some(sk) = get_s(&item, "sk")
            {
                deletes.push(delete_request(keys::access_subjects(workspace), &sk)?);
            }
        }
        let count = deletes.len();
        if count > 0 {
            batch_write(&self.client, &self.state_table, deletes).await?;
        }
        Ok(count)
    }
}
