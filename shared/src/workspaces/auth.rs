//! Workspace credentials (docs/interface/auth.md): the secret is compared as
//! a SHA-256 digest in constant time, also for unknown ids, and a failure
//! never says which part was wrong.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::Workspaces;
use crate::config::WorkspaceConfig;
use crate::config::secret::sha256_hex;
use crate::error::RequestError;

impl Workspaces {
    /// The workspace whose id and secret these are.
    pub async fn authenticate(
        &self,
        id: &str,
        secret: &str,
    ) -> Result<Arc<WorkspaceConfig>, RequestError> {
        let presented = sha256_hex(secret.as_bytes());
        let workspace = self.get(id).await?;
        // Every stored hash is compared (two while a secret rotates), and a
        // dummy one for unknown ids, so timing tells nothing.
        let dummy = ["0".repeat(64)];
        let expected = workspace
            .as_ref()
            .and_then(|w| w.secret_sha256.as_ref())
            .map_or(&dummy[..], |hashes| &hashes.0[..]);
        let equal = expected.iter().fold(subtle::Choice::from(0), |any, hash| {
            any | presented.as_bytes().ct_eq(hash.as_bytes())
        });
        match workspace {
            Some(workspace) if bool::from(equal) => Ok(workspace),
            _ => Err(RequestError::Unauthorized),
        }
    }
}
