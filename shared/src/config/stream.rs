//! A stream's configuration (docs/interface/config.md "Streams"): settings
//! every stream has, and its sink, an enum tagged by `type`, so options that
//! do not apply to a type can neither be written in the file (they are
//! rejected as unknown keys) nor read in the code.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::secret::Secret;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "StreamFile", into = "StreamFile")]
pub struct StreamConfig {
    pub name: String,
    /// Default: `"all"` for webhooks, the export table's campaign events for
    /// Amplitude (docs/rules/event-catalogue.md).
    pub events: Option<Selection>,
    pub user_attributes: Selection,
    pub device_attributes: Selection,
    pub batch_size: u32,
    pub timeout_seconds: u32,
    /// `false` pauses the stream: its batches wait on the retry queue.
    pub enabled: bool,
    /// Requests per second at most (per process); None: unlimited.
    pub max_requests_per_second: Option<f64>,
    pub sink: SinkConfig,
}

impl StreamConfig {
    /// Every secret value of the stream (passwords, header values, API
    /// keys, signing secrets, OAuth 2.0 client secrets, TLS private keys):
    /// masked wherever one could show (the delivery log, the console).
    pub fn secret_values(&self) -> Vec<&str> {
        match &self.sink {
            SinkConfig::Webhook(webhook) => {
                let mut values: Vec<&str> = webhook.headers.values().map(Secret::expose).collect();
                values.extend(webhook.signing_secrets.iter().map(Secret::expose));
                match &webhook.auth {
                    StreamAuth::None => {}
                    StreamAuth::Basic { password, .. } => values.push(password.expose()),
                    StreamAuth::Header { value, .. } => values.push(value.expose()),
                    StreamAuth::OAuth2(oauth2) => values.push(oauth2.client_secret.expose()),
                }
                if let Some(tls) = &webhook.tls {
                    values.push(tls.client_key.expose());
                }
                values
            }
            SinkConfig::Amplitude(amplitude) => vec![amplitude.api_key.expose()],
        }
    }
}

/// Where a stream delivers, with the options of that kind only.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkConfig {
    Webhook(WebhookConfig),
    Amplitude(AmplitudeConfig),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamType {
    Webhook,
    Amplitude,
}

impl SinkConfig {
    /// `webhook` or `amplitude`, as the config file says.
    pub fn stream_type_name(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::Amplitude(_) => "amplitude",
        }
    }

    pub fn stream_type(&self) -> StreamType {
        match self {
            Self::Webhook(_) => StreamType::Webhook,
            Self::Amplitude(_) => StreamType::Amplitude,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    pub auth: StreamAuth,
    pub headers: BTreeMap<String, Secret>,
    /// Standard Webhooks secrets (`whsec_…`); one signature per secret.
    pub signing_secrets: Vec<Secret>,
    /// Mutual TLS: the client certificate presented, an extra trusted CA.
    pub tls: Option<Box<TlsConfig>>,
}

/// `tls = { client_cert, client_key, ca? }`: PEM text, best given as
/// `"${NAME}"` from the environment (docs/interface/streams.md "Mutual TLS").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The client certificate (chain), PEM.
    pub client_cert: String,
    /// Its private key, PEM.
    pub client_key: Secret,
    /// An extra CA (PEM, one or more certificates) trusted for the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// Why a stream's `tls` settings are unusable; never shows the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("client_cert and client_key are not a PEM certificate and its PEM private key")]
    Identity,
    #[error("ca holds no PEM certificate")]
    Ca,
}

impl TlsConfig {
    /// The identity (certificate chain and key) and the extra trusted CAs,
    /// parsed as the stream client uses them.
    pub fn parse(&self) -> Result<(reqwest::Identity, Vec<reqwest::Certificate>), TlsError> {
        let mut pem = self.client_cert.clone().into_bytes();
        pem.push(b'\n');
        pem.extend_from_slice(self.client_key.expose().as_bytes());
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| TlsError::Identity)?;
        let ca = match &self.ca {
            None => Vec::new(),
            Some(ca) => match reqwest::Certificate::from_pem_bundle(ca.as_bytes()) {
                Ok(certs) if !certs.is_empty() => certs,
                _ => return Err(TlsError::Ca),
            },
        };
        Ok((identity, ca))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AmplitudeConfig {
    pub api_key: Secret,
    pub region: AmplitudeRegion,
    pub endpoint: Option<String>,
    /// The project's secret key: Basic `api_key:secret_key` of the User
    /// Privacy API (docs/interface/privacy.md "Amplitude").
    pub secret_key: Option<Secret>,
    /// Erasures are forwarded to Amplitude's User Privacy API.
    pub forward_deletions: bool,
    /// Overrides the User Privacy API's endpoint (tests).
    pub deletion_endpoint: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AmplitudeRegion {
    #[default]
    Us,
    Eu,
}

/// Stream authentication: none, Basic, one static header, or OAuth 2.0
/// client credentials (docs/interface/streams.md "Authentication").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StreamAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Header {
        name: String,
        value: Secret,
    },
    OAuth2(Box<OAuth2Config>),
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4): the token endpoint and
/// the client's id and secret; `scope` and `audience` are sent when set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// The file form: every key any stream type takes. Converting it checks that
/// the keys present apply to the stream's type.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct StreamFile {
    name: String,
    #[serde(rename = "type")]
    stream_type: StreamType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<Selection>,
    #[serde(default = "Selection::none")]
    user_attributes: Selection,
    #[serde(default = "Selection::none")]
    device_attributes: Selection,
    #[serde(default = "default_batch_size")]
    batch_size: u32,
    #[serde(default = "default_timeout_seconds")]
    timeout_seconds: u32,
    #[serde(default = "default_enabled")]
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_requests_per_second: Option<f64>,
    // webhook
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<StreamAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_secrets: Option<Vec<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<Box<TlsConfig>>,
    // amplitude
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<AmplitudeRegion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forward_deletions: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deletion_endpoint: Option<String>,
}

fn default_batch_size() -> u32 {
    100
}
fn default_timeout_seconds() -> u32 {
    30
}
fn default_enabled() -> bool {
    true
}

/// Keys that only one stream type takes.
pub(super) const WEBHOOK_KEYS: [&str; 5] = ["url", "auth", "headers", "signing_secrets", "tls"];
pub(super) const AMPLITUDE_KEYS: [&str; 6] = [
    "api_key",
    "region",
    "endpoint",
    "secret_key",
    "forward_deletions",
    "deletion_endpoint",
];

impl StreamFile {
    /// The type-specific keys present in the file.
    fn present(&self) -> Vec<&'static str> {
        let flags = [
            self.url.is_some(),
            self.auth.is_some(),
            self.headers.is_some(),
            self.signing_secrets.is_some(),
            self.tls.is_some(),
            self.api_key.is_some(),
            self.region.is_some(),
            self.endpoint.is_some(),
            self.secret_key.is_some(),
            self.forward_deletions.is_some(),
            self.deletion_endpoint.is_some(),
        ];
        WEBHOOK_KEYS
            .into_iter()
            .chain(AMPLITUDE_KEYS)
            .zip(flags)
            .filter_map(|(key, present)| present.then_some(key))
            .collect()
    }
}

/// Why a stream table is refused (the loader adds its key path and line).
#[derive(Debug, thiserror::Error)]
pub enum BadStream {
    #[error("unknown key `{key}` for a stream of type {type_name} (keys of this type: {})", own.join(", "))]
    KeyOfAnotherType {
        key: &'static str,
        type_name: &'static str,
        own: &'static [&'static str],
    },
    #[error("invalid key `signing_secrets`: secret [{index}] {problem}")]
    SigningSecret {
        index: usize,
        problem: super::signing::BadSigningSecret,
    },
    #[error("missing key `{key}` (required for {type_name} streams)")]
    Missing {
        key: &'static str,
        type_name: &'static str,
    },
}

impl TryFrom<StreamFile> for StreamConfig {
    type Error = BadStream;

    fn try_from(file: StreamFile) -> Result<Self, BadStream> {
        let (own, type_name) = match file.stream_type {
            StreamType::Webhook => (&WEBHOOK_KEYS[..], "webhook"),
            StreamType::Amplitude => (&AMPLITUDE_KEYS[..], "amplitude"),
        };
        if let Some(key) = file.present().into_iter().find(|k| !own.contains(k)) {
            return Err(BadStream::KeyOfAnotherType {
                key,
                type_name,
                own,
            });
        }
        let signing_secrets = file.signing_secrets.unwrap_or_default();
        for (index, secret) in signing_secrets.iter().enumerate() {
            super::signing::signing_key(secret)
                .map_err(|problem| BadStream::SigningSecret { index, problem })?;
        }
        let sink = match file.stream_type {
            StreamType::Webhook => SinkConfig::Webhook(WebhookConfig {
                url: file.url.ok_or(BadStream::Missing {
                    key: "url",
                    type_name,
                })?,
                auth: file.auth.unwrap_or_default(),
                headers: file.headers.unwrap_or_default(),
                signing_secrets,
                tls: file.tls,
            }),
            StreamType::Amplitude => SinkConfig::Amplitude(AmplitudeConfig {
                api_key: file.api_key.ok_or(BadStream::Missing {
                    key: "api_key",
                    type_name,
                })?,
                region: file.region.unwrap_or_default(),
                endpoint: file.endpoint,
                secret_key: file.secret_key,
                forward_deletions: file.forward_deletions.unwrap_or(false),
                deletion_endpoint: file.deletion_endpoint,
            }),
        };
        Ok(StreamConfig {
            name: file.name,
            events: file.events,
            user_attributes: file.user_attributes,
            device_attributes: file.device_attributes,
            batch_size: file.batch_size,
            timeout_seconds: file.timeout_seconds,
            enabled: file.enabled,
            max_requests_per_second: file.max_requests_per_second,
            sink,
        })
    }
}

impl From<StreamConfig> for StreamFile {
    fn from(stream: StreamConfig) -> Self {
        let mut file = StreamFile {
            name: stream.name,
            stream_type: stream.sink.stream_type(),
            events: stream.events,
            user_attributes: stream.user_attributes,
            device_attributes: stream.device_attributes,
            batch_size: stream.batch_size,
            timeout_seconds: stream.timeout_seconds,
            enabled: stream.enabled,
            max_requests_per_second: stream.max_requests_per_second,
            url: None,
            auth: None,
            headers: None,
            signing_secrets: None,
            tls: None,
            api_key: None,
            region: None,
            endpoint: None,
            secret_key: None,
            forward_deletions: None,
            deletion_endpoint: None,
        };
        match stream.sink {
            SinkConfig::Webhook(w) => {
                file.url = Some(w.url);
                file.auth = Some(w.auth);
                file.headers = Some(w.headers);
                file.signing_secrets = Some(w.signing_secrets);
                file.tls = w.tls;
            }
            SinkConfig::Amplitude(a) => {
                file.api_key = Some(a.api_key);
                file.region = Some(a.region);
                file.endpoint = a.endpoint;
                file.secret_key = a.secret_key;
                file.forward_deletions = Some(a.forward_deletions);
                file.deletion_endpoint = a.deletion_endpoint;
            }
        }
        file
    }
}

/// `"all"` or an explicit list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Selection {
    All(AllMarker),
    List(Vec<String>),
}

/// Serializes as the string `"all"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllMarker;

impl Serialize for AllMarker {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("all")
    }
}

impl Selection {
    pub fn all() -> Self {
        Self::All(AllMarker)
    }
    pub fn none() -> Self {
        Self::List(Vec::new())
    }
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All(_))
    }
    /// An empty list: no name is included.
    pub fn selects_nothing(&self) -> bool {
        matches!(self, Self::List(names) if names.is_empty())
    }
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Self::All(_) => true,
            Self::List(names) => names.iter().any(|n| n == name),
        }
    }
}

impl JsonSchema for Selection {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Selection".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"const": "all"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Selection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#""all" or a list of strings"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Selection, E> {
                if v == "all" {
                    Ok(Selection::all())
                } else {
                    Err(E::custom(format!(
                        r#"expected "all" or a list of strings, found "{v}""#
                    )))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Selection, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Selection::List(names))
            }
        }
        d.deserialize_any(Visitor)
    }
}
