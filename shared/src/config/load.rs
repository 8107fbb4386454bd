//! Loading and validating the configuration file. Errors name the key path
//! (`workspaces[0].streams[1].batch_size`) so a bad file is fixed in one go.

use std::path::Path;

use super::model::{ConfigFile, WorkspaceConfig};
use super::secret::Secret;
use super::stream::SinkConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config: {path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigError {
    fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

pub fn load_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| ConfigError::invalid("<file>", e.message().to_owned()))?;
    let config: ConfigFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let mut path = e.path().to_string();
        let message = e.inner().message().to_owned();
        // A stream's own checks name the key in their message: put it in the path.
        if let Some(key) = ["unknown key `", "missing key `"]
            .iter()
            .find_map(|p| message.strip_prefix(p)?.split('`').next())
        {
            path = format!("{path}.{key}");
        }
        ConfigError::invalid(if path == "." { "<root>".into() } else { path }, message)
    })?;
    validate(&config)?;
    Ok(config)
}

/// Checks what the types cannot: ranges, required-per-type keys, uniqueness.
pub fn validate(config: &ConfigFile) -> Result<(), ConfigError> {
    if config
        .server
        .listen
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        return Err(ConfigError::invalid(
            "server.listen",
            format!("not a socket address: {:?}", config.server.listen),
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (w, workspace) in config.workspaces.iter().enumerate() {
        let at = |key: &str| format!("workspaces[{w}].{key}");
        validate_workspace(workspace, &at)?;
        if !ids.insert(workspace.id.as_str()) {
            return Err(ConfigError::invalid(
                at("id"),
                format!("duplicate workspace id {:?}", workspace.id),
            ));
        }
    }
    Ok(())
}

fn validate_workspace(
    workspace: &WorkspaceConfig,
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if workspace.id.is_empty() || workspace.id.contains([':', '#', '/']) {
        return Err(ConfigError::invalid(
            at("id"),
            "must be non-empty and contain no ':', '#' or '/'",
        ));
    }
    match (&workspace.secret, &workspace.secret_sha256) {
        (None, None) => {
            return Err(ConfigError::invalid(
                at("secret"),
                "required (or secret_sha256)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                at("secret_sha256"),
                "give either secret or secret_sha256, not both",
            ));
        }
        (Some(secret), None) if secret.expose().is_empty() => {
            return Err(ConfigError::invalid(at("secret"), "must not be empty"));
        }
        (None, Some(hash)) if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            return Err(ConfigError::invalid(
                at("secret_sha256"),
                "must be 64 hexadecimal characters",
            ));
        }
        _ => {}
    }
    if workspace.app_name.is_empty() {
        return Err(ConfigError::invalid(at("app_name"), "must not be empty"));
    }
    if workspace.anonymous_id_attribute.is_empty() {
        return Err(ConfigError::invalid(
            at("anonymous_id_attribute"),
            "must not be empty",
        ));
    }
    if workspace.mparticle_requests_per_minute == 0 {
        return Err(ConfigError::invalid(
            at("mparticle_requests_per_minute"),
            "must be at least 1",
        ));
    }
    if workspace.amplitude_requests_per_second == 0 {
        return Err(ConfigError::invalid(
            at("amplitude_requests_per_second"),
            "must be at least 1",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (s, stream) in workspace.streams.iter().enumerate() {
        let at = |key: &str| at(&format!("streams[{s}].{key}"));
        if stream.name.is_empty() {
            return Err(ConfigError::invalid(at("name"), "must not be empty"));
        }
        if !names.insert(stream.name.as_str()) {
            return Err(ConfigError::invalid(
                at("name"),
                format!("duplicate stream name {:?} in this workspace", stream.name),
            ));
        }
        if !(1..=100).contains(&stream.batch_size) {
            return Err(ConfigError::invalid(
                at("batch_size"),
                format!("{} is outside 1..100", stream.batch_size),
            ));
        }
        if !(1..=900).contains(&stream.timeout_seconds) {
            return Err(ConfigError::invalid(
                at("timeout_seconds"),
                format!("{} is outside 1..900", stream.timeout_seconds),
            ));
        }
        match &stream.sink {
            SinkConfig::Webhook(webhook) => {
                check_http_url(&webhook.url).map_err(|m| ConfigError::invalid(at("url"), m))?;
            }
            SinkConfig::Amplitude(amplitude) => {
                if amplitude.api_key.expose().is_empty() {
                    return Err(ConfigError::invalid(at("api_key"), "must not be empty"));
                }
                if let Some(endpoint) = &amplitude.endpoint {
                    check_http_url(endpoint)
                        .map_err(|m| ConfigError::invalid(at("endpoint"), m))?;
                }
            }
        }
    }
    Ok(())
}

fn check_http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("{url:?} is not an http(s) URL")),
        Err(e) => Err(format!("{url:?} is not a URL: {e}")),
    }
}

impl WorkspaceConfig {
    /// The form stored in the backend: the secret replaced by its SHA-256
    /// (docs/interface/config.md "Secrets": on AWS workspace secrets are
    /// stored only as hashes; the embedded store does the same).
    pub fn into_stored(mut self) -> WorkspaceConfig {
        if let Some(secret) = self.secret.take() {
            self.secret_sha256 = Some(secret.sha256_hex());
        }
        self.secret_sha256 = self.secret_sha256.map(|h| h.to_ascii_lowercase());
        self
    }

    /// A demo workspace for `serve` without `--config`.
    pub fn demo(secret: Secret) -> WorkspaceConfig {
        let text = format!(
            "[[workspaces]]\nid = \"demo\"\nsecret = {}\napp_name = \"Demo App\"\n",
            toml::Value::String(secret.expose().to_owned())
        );
        let mut config = parse(&text).expect("the demo workspace is valid");
        config.workspaces.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetrySchedule;
    use crate::config::Selection;
    use crate::config::stream::{SinkConfig, StreamAuth};

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const MINIMAL: &str = r#"
[[workspaces]]
id = "demo"
secret = "change-me"
app_name = "Demo App"
"#;

    #[test]
    fn defaults_follow_the_interface() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.storage.path, ".engage-bridge/engage-bridge.db");
        assert_eq!(c.retry.schedule_seconds, RetrySchedule::default());
        let w = &c.workspaces[0];
        assert_eq!(w.anonymous_id_attribute, "moe_anonymous_id");
        assert_eq!(w.mparticle_requests_per_minute, 15_000);
        assert_eq!(w.amplitude_requests_per_second, 500);
        assert!(!w.allow_object_attributes);
    }

    #[test]
    fn full_stream_config_parses() {
        let c = parse(&format!(
            r#"{MINIMAL}
[[workspaces.streams]]
name = "warehouse"
type = "webhook"
url = "https://example.com/events"
auth = {{ type = "basic", username = "u", password = "p" }}
headers = {{ "X-Env" = "prod" }}
events = ["MOE_EMAIL_SENT", "Email Clicked"]
user_attributes = "all"

[[workspaces.streams]]
name = "amplitude"
type = "amplitude"
api_key = "k"
region = "eu"
"#
        ))
        .unwrap();
        let s = &c.workspaces[0].streams;
        assert!(matches!(
            &s[0].sink,
            SinkConfig::Webhook(w) if matches!(&w.auth, StreamAuth::Basic { username, .. } if username == "u")
        ));
        assert_eq!(
            s[0].events,
            Some(Selection::List(vec![
                "MOE_EMAIL_SENT".into(),
                "Email Clicked".into()
            ]))
        );
        assert!(s[0].user_attributes.is_all());
        assert_eq!(s[0].device_attributes, Selection::none());
        assert_eq!(s[0].batch_size, 100);
        assert_eq!(s[1].events, None);
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let e = err(&format!("{MINIMAL}\nsecrte = \"x\"\n"));
        assert!(e.contains("workspaces[0]") && e.contains("secrte"), "{e}");
        let e = err("[server]\nlisten = \"127.0.0.1:1\"\nport = 1\n");
        assert!(e.contains("server") && e.contains("port"), "{e}");
    }

    #[test]
    fn invalid_values_are_named_with_their_path() {
        let e = err(&format!(
            "{MINIMAL}\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nbatch_size = 101\n"
        ));
        assert!(e.contains("workspaces[0].streams[0].batch_size"), "{e}");
        let e = err(&format!("{MINIMAL}mparticle_identity = \"phone\"\n"));
        assert!(e.contains("workspaces[0].mparticle_identity"), "{e}");
        let e = err("[retry]\nschedule_seconds = [30, 901]\n");
        assert!(
            e.contains("retry.schedule_seconds") && e.contains("[1] = 901 is outside"),
            "{e}"
        );
        let e = err(&format!(
            "{MINIMAL}\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\n"
        ));
        assert!(e.contains("workspaces[0].streams[0].api_key"), "{e}");
        let e = err("[[workspaces]]\nid = \"x\"\napp_name = \"X\"\n");
        assert!(e.contains("workspaces[0].secret"), "{e}");
    }

    #[test]
    fn keys_of_another_stream_type_are_unknown_keys() {
        for (key, value) in [
            ("headers", "{ \"X-Env\" = \"prod\" }"),
            ("url", "\"https://x.example\""),
            ("signing_secrets", "[\"whsec_abc\"]"),
        ] {
            let e = err(&format!(
                "{MINIMAL}\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\n{key} = {value}\n"
            ));
            assert!(
                e.contains("workspaces[0].streams[0]")
                    && e.contains(&format!("unknown key `{key}`")),
                "{e}"
            );
        }
        let e = err(&format!(
            "{MINIMAL}\n[[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nregion = \"eu\"\n"
        ));
        assert!(e.contains("unknown key `region`"), "{e}");
    }

    #[test]
    fn errors_never_echo_secrets() {
        let e = err("[[workspaces]]\nid = \"x\"\nsecret = \"s3cr3t-value\"\napp_name = \"\"\n");
        assert!(!e.contains("s3cr3t-value"), "{e}");
    }

    #[test]
    fn stored_form_keeps_only_the_hash() {
        let c = parse(MINIMAL).unwrap();
        let stored = c.workspaces[0].clone().into_stored();
        assert!(stored.secret.is_none());
        assert_eq!(
            stored.secret_sha256.as_deref(),
            Some(Secret::new("change-me").sha256_hex().as_str())
        );
    }
}
