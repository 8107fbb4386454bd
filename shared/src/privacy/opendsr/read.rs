//! Reading an OpenDSR request (docs/interface/privacy.md "OpenDSR"), and the
//! OpenDSR error answer: `{"error":{"code","message","errors":[{"domain",
//! "reason","message"}]}}`. Both identity forms are read: the dictionary
//! `{"controller_customer_id":{"value","encoding"}}` (OpenDSR 3.0, what
//! mParticle sends) and the list `[{"identity_type","identity_value",
//! "identity_format"}]` (2.0). Unknown fields (mParticle's `regulation`,
//! `extensions`) are ignored.

use serde_json::{Map, Value, json};

use crate::error::RequestError;
use crate::input::limits;
use crate::privacy::request::{Identity, RequestKind};

/// Callback URLs one request may name.
const MAX_CALLBACK_URLS: usize = 10;
/// Identities one request may name.
const MAX_IDENTITIES: usize = 50;

/// An OpenDSR refusal; the answer's status follows from the variant.
#[derive(Debug, thiserror::Error)]
pub enum OpenDsrError {
    /// A malformed or unsupported request (`400`).
    #[error("{0}")]
    Invalid(String),
    /// Not in a state that allows it: cancelling a started request (`405`).
    #[error("{0}")]
    NotAllowed(String),
    /// No such request, or no results for it (`404`).
    #[error("{0}")]
    NotFound(String),
    /// Whatever the API refuses alike (`401`, `413`, a `500` of the store).
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl OpenDsrError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::NotAllowed(_) => 405,
            Self::NotFound(_) => 404,
            Self::Request(e) => e.http_status(),
        }
    }

    /// OpenDSR's `errors[].reason`.
    fn reason(&self) -> &'static str {
        match self.status() {
            400 => "invalid",
            401 => "unauthorized",
            404 => "notFound",
            405 => "notAllowed",
            413 => "tooLarge",
            _ => "internalError",
        }
    }

    /// The OpenDSR error body.
    pub fn body(&self) -> Value {
        if let Self::Request(e) = self
            && let Some(detail) = e.internal_detail()
        {
            tracing::error!(error = %detail, "internal error answering an OpenDSR request");
        }
        let status = self.status();
        let domain = if status < 500 {
            "Validation"
        } else {
            "Processor"
        };
        let message = self.to_string();
        json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"domain": domain, "reason": self.reason(), "message": message}],
        }})
    }
}

impl From<crate::ports::StoreError> for OpenDsrError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self::Request(e.into())
    }
}

/// A request as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Submitted {
    pub subject_request_id: String,
    pub kind: RequestKind,
    pub identities: Vec<Identity>,
    pub api_version: Option<String>,
    pub status_callback_urls: Vec<String>,
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, OpenDsrError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OpenDsrError::invalid(format!("{field} must be a string"))),
    }
}

fn required<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, OpenDsrError> {
    text(object, field)?.ok_or_else(|| OpenDsrError::invalid(format!("{field} field is required")))
}

/// One identity, or None for a type or format engage-bridge does not match
/// on (mParticle sends device ids beside the customer id).
fn identity(
    kind: &str,
    value: &str,
    format: Option<&str>,
) -> Result<Option<Identity>, OpenDsrError> {
    if value.is_empty() {
        return Err(OpenDsrError::invalid(format!(
            "the {kind} identity is empty"
        )));
    }
    if value.len() > limits::USER_ID_BYTES {
        return Err(OpenDsrError::invalid(format!(
            "the {kind} identity is longer than {} bytes",
            limits::USER_ID_BYTES
        )));
    }
    if format.is_some_and(|f| !f.eq_ignore_ascii_case("raw")) {
        return Ok(None);
    }
    Ok(match kind {
        "controller_customer_id" => Some(Identity::Uid(value.to_owned())),
        "email" => Some(Identity::Email(value.to_owned())),
        _ => None,
    })
}

fn identities(value: Option<&Value>) -> Result<Vec<Identity>, OpenDsrError> {
    let mut out = Vec::new();
    match value {
        None | Some(Value::Null) => {
            return Err(OpenDsrError::invalid(
                "subject_identities field is required",
            ));
        }
        Some(Value::Object(by_type)) => {
            for (kind, entry) in by_type {
                let entry = entry.as_object().ok_or_else(|| {
                    OpenDsrError::invalid(format!("subject_identities.{kind} must be an object"))
                })?;
                let value = required(entry, "value")
                    .map_err(|e| OpenDsrError::invalid(format!("subject_identities.{kind}.{e}")))?;
                out.extend(identity(kind, value, text(entry, "encoding")?)?);
            }
        }
        Some(Value::Array(list)) => {
            for (i, entry) in list.iter().enumerate() {
                let entry = entry.as_object().ok_or_else(|| {
                    OpenDsrError::invalid(format!("subject_identities[{i}] must be an object"))
                })?;
                let at =
                    |e: OpenDsrError| OpenDsrError::invalid(format!("subject_identities[{i}].{e}"));
                let kind = required(entry, "identity_type").map_err(at)?;
                let value = required(entry, "identity_value").map_err(at)?;
                out.extend(identity(kind, value, text(entry, "identity_format")?)?);
            }
            if list.len() > MAX_IDENTITIES {
                return Err(OpenDsrError::invalid(format!(
                    "subject_identities lists {} identities; at most {MAX_IDENTITIES} are accepted",
                    list.len()
                )));
            }
        }
        Some(_) => {
            return Err(OpenDsrError::invalid(
                "subject_identities must be an object keyed by identity type or a list of identities",
            ));
        }
    }
    if out.is_empty() {
        return Err(OpenDsrError::invalid(
            "subject_identities names no supported identity (controller_customer_id or email, format raw)",
        ));
    }
    out.dedup();
    Ok(out)
}

fn callback_urls(value: Option<&Value>) -> Result<Vec<String>, OpenDsrError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(OpenDsrError::invalid(
                "status_callback_urls must be a list of URLs",
            ));
        }
    };
    if list.len() > MAX_CALLBACK_URLS {
        return Err(OpenDsrError::invalid(format!(
            "status_callback_urls lists {} URLs; at most {MAX_CALLBACK_URLS} are accepted",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, url)| {
            let url = url.as_str().ok_or_else(|| {
                OpenDsrError::invalid(format!("status_callback_urls[{i}] must be a string"))
            })?;
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    Ok(url.to_owned())
                }
                _ => Err(OpenDsrError::invalid(format!(
                    "status_callback_urls[{i}] is not an http(s) URL"
                ))),
            }
        })
        .collect()
}

/// Reads and checks an OpenDSR request body.
pub fn read_request(body: &[u8]) -> Result<Submitted, OpenDsrError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| OpenDsrError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| OpenDsrError::invalid("the request body must be a JSON object"))?;
    let id = required(object, "subject_request_id")?;
    let subject_request_id = uuid::Uuid::parse_str(id)
        .map_err(|_| OpenDsrError::invalid("subject_request_id must be a UUID"))?
        .hyphenated()
        .to_string();
    let kind = match required(object, "subject_request_type")? {
        "erasure" => RequestKind::Erasure,
        "access" | "portability" => RequestKind::Access,
        other => {
            return Err(OpenDsrError::invalid(format!(
                "subject_request_type {:?} is not supported (erasure, access, portability)",
                crate::input::quoted(other)
            )));
        }
    };
    required(object, "submitted_time")?;
    Ok(Submitted {
        subject_request_id,
        kind,
        identities: identities(object.get("subject_identities"))?,
        api_version: text(object, "api_version")?.map(str::to_owned),
        status_callback_urls: callback_urls(object.get("status_callback_urls"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "a7551968-d5d6-44b2-9831-815ac9017798";

    fn read(value: Value) -> Result<Submitted, OpenDsrError> {
        read_request(value.to_string().as_bytes())
    }

    #[test]
    fn both_identity_forms_read_alike() {
        let dictionary = read(json!({
            "regulation": "gdpr", "subject_request_id": ID, "subject_request_type": "erasure",
            "submitted_time": "2018-10-02T15:00:00Z", "api_version": "3.0",
            "subject_identities": {"controller_customer_id": {"value": "u1", "encoding": "raw"},
                                   "android_advertising_id": {"value": "x", "encoding": "raw"}},
            "status_callback_urls": ["https://controller.example/cb"]
        }))
        .unwrap();
        let list = read(json!({
            "subject_request_id": ID, "subject_request_type": "erasure",
            "submitted_time": "2018-10-02T15:00:00Z", "api_version": "3.0",
            "subject_identities": [{"identity_type": "controller_customer_id",
                                    "identity_value": "u1", "identity_format": "raw"}],
            "status_callback_urls": ["https://controller.example/cb"]
        }))
        .unwrap();
        assert_eq!(dictionary, list);
        assert_eq!(dictionary.identities, vec![Identity::Uid("u1".into())]);
        let portability = read(json!({
            "subject_request_id": ID, "subject_request_type": "portability",
            "submitted_time": "2018-10-02T15:00:00Z",
            "subject_identities": [{"identity_type": "email", "identity_value": "a@b.c",
                                    "identity_format": "raw"}]
        }))
        .unwrap();
        assert_eq!(portability.kind, RequestKind::Access);
        assert_eq!(
            portability.identities,
            vec![Identity::Email("a@b.c".into())]
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let message = |v: Value| read(v).unwrap_err().to_string();
        assert_eq!(
            message(json!({"subject_request_type": "erasure"})),
            "subject_request_id field is required"
        );
        assert!(message(json!({"subject_request_id": "nope"})).contains("UUID"));
        assert!(
            message(
                json!({"subject_request_id": ID, "subject_request_type": "rectify",
                           "submitted_time": "t", "subject_identities": []})
            )
            .contains("not supported")
        );
        assert!(
            message(
                json!({"subject_request_id": ID, "subject_request_type": "erasure",
                           "submitted_time": "t",
                           "subject_identities": [{"identity_type": "email",
                               "identity_value": "a@b.c", "identity_format": "sha256"}]})
            )
            .contains("no supported identity")
        );
        let e = read(json!([])).unwrap_err();
        assert_eq!(e.body()["error"]["code"], 400);
        assert_eq!(e.body()["error"]["errors"][0]["domain"], "Validation");
    }
}
