//! A message body known to be the JSON encoding of an `M`: what a typed
//! queue sends (docs/architecture.md "Queues"). Packers that build bodies
//! from already-encoded parts make one without encoding twice.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub struct Encoded<M> {
    body: String,
    _message: PhantomData<fn() -> M>,
}

impl<M> Encoded<M> {
    /// A body the caller built as the encoding of an `M` (packers).
    pub(crate) fn trusted(body: String) -> Self {
        Self {
            body,
            _message: PhantomData,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.body
    }

    pub fn into_string(self) -> String {
        self.body
    }
}

impl<M: Serialize> Encoded<M> {
    pub fn new(message: &M) -> serde_json::Result<Self> {
        serde_json::to_string(message).map(Self::trusted)
    }
}

impl<M: DeserializeOwned> Encoded<M> {
    pub fn decode(&self) -> serde_json::Result<M> {
        serde_json::from_str(&self.body)
    }
}

impl<M> Clone for Encoded<M> {
    fn clone(&self) -> Self {
        Self::trusted(self.body.clone())
    }
}

impl<M> std::fmt::Debug for Encoded<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Encoded").field(&self.body).finish()
    }
}
