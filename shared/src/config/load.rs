//! Loading and validating the configuration file. Errors name the key path
//! (`workspaces[0].streams[1].batch_size`) so a bad file is fixed in one go.

use std::path::Path;

use toml::de::DeTable;

use super::destinations::check_configured;
use super::model::{ConfigFile, OneOrTwo, PrivateDestinations, WorkspaceConfig};
use super::secret::Secret;
use super::source::{display_url, interpolate, is_secret_path, line_of, redact, span_of};
use super::stream::SinkConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config: {path}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid {
        path: String,
        line: Option<usize>,
        message: String,
    },
}

impl ConfigError {
    fn invalid(path: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            path: path.into(),
            line: None,
            message: message.to_string(),
        }
    }
}

/// Reads a config file; a relative `storage.path` is taken relative to the
/// file's folder (docs/interface/config.md "storage").
pub fn load_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut config = parse(&text)?;
    let storage = Path::new(&config.storage.path);
    if storage.is_relative()
        && let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty())
    {
        config.storage.path = folder.join(storage).display().to_string();
    }
    Ok(config)
}

/// Parses a config with `${NAME}` taken from the process environment.
pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    parse_with(text, &|name| std::env::var(name).ok())
}

/// Parses and validates a config; every error names the key path and its
/// line, and never quotes a secret.
pub fn parse_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConfigFile, ConfigError> {
    let at_line = |offset: usize| Some(line_of(text, offset));
    let mut root = DeTable::parse(text).map_err(|e| ConfigError::Invalid {
        path: "<file>".into(),
        line: e.span().and_then(|s| at_line(s.start)),
        message: e.message().to_owned(),
    })?;
    interpolate(root.get_mut(), env).map_err(|unresolved| ConfigError::Invalid {
        path: unresolved.path,
        line: at_line(unresolved.span.start),
        message: unresolved.problem.to_string(),
    })?;
    let spans = root.clone();
    let located = |path: String, message: String| {
        let line = at_line(span_of(&spans, &path).start);
        let message = if is_secret_path(&path) {
            redact(&message)
        } else {
            message
        };
        let path = if path.is_empty() || path == "." {
            "<root>".to_owned()
        } else {
            path
        };
        ConfigError::Invalid {
            path,
            line,
            message,
        }
    };
    let deserializer = toml::de::Deserializer::from(root);
    let config: ConfigFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let mut path = e.path().to_string();
        let message = e.inner().message().to_owned();
        // A stream's own checks name the key in their message: put it in the path.
        if let Some(key) = ["unknown key `", "missing key `", "invalid key `"]
            .iter()
            .find_map(|p| message.strip_prefix(p)?.split('`').next())
        {
            path = format!("{path}.{key}");
        }
        located(path, message)
    })?;
    validate(&config).map_err(|e| match e {
        ConfigError::Invalid { path, message, .. } => located(path, message),
        other => other,
    })?;
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
    let console = &config.console;
    if !(1..=720).contains(&console.session_hours) {
        return Err(ConfigError::invalid(
            "console.session_hours",
            "must be 1 to 720 (hours)",
        ));
    }
    if !(1..=365).contains(&console.delivery_log_days) {
        return Err(ConfigError::invalid(
            "console.delivery_log_days",
            "must be 1 to 365 (days)",
        ));
    }
    if console
        .operator_token
        .as_ref()
        .is_some_and(|t| t.expose().len() < 16)
    {
        return Err(ConfigError::invalid(
            "console.operator_token",
            "must be at least 16 characters",
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (w, workspace) in config.workspaces.iter().enumerate() {
        let at = |key: &str| format!("workspaces[{w}].{key}");
        validate_workspace(workspace, config.private_destinations(), &at)?;
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
    destinations: PrivateDestinations,
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let id_ok = (1..=64).contains(&workspace.id.len())
        && workspace
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !id_ok {
        return Err(ConfigError::invalid(
            at("id"),
            "must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (API keys are <id>.<secret>)",
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
        (Some(secrets), None) if secrets.iter().any(|s| s.expose().is_empty()) => {
            return Err(ConfigError::invalid(at("secret"), "must not be empty"));
        }
        (None, Some(hashes))
            if hashes
                .iter()
                .any(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit())) =>
        {
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
                check_destination(destinations, &webhook.url)
                    .map_err(|m| ConfigError::invalid(at("url"), m))?;
            }
            SinkConfig::Amplitude(amplitude) => {
                if amplitude.api_key.expose().is_empty() {
                    return Err(ConfigError::invalid(at("api_key"), "must not be empty"));
                }
                if let Some(endpoint) = &amplitude.endpoint {
                    check_destination(destinations, endpoint)
                        .map_err(|m| ConfigError::invalid(at("endpoint"), m))?;
                }
            }
        }
    }
    Ok(())
}

/// Why a configured destination URL is refused; the message shows the URL
/// without the credentials or query it may carry.
#[derive(Debug, thiserror::Error)]
pub enum BadDestination {
    #[error("not a URL ({0})")]
    NotAUrl(#[from] url::ParseError),
    #[error("{0} is not an http(s) URL")]
    NotHttp(String),
    #[error(transparent)]
    Refused(#[from] super::destinations::Refused),
}

/// Only http(s) URLs with a host, to a destination the policy allows.
fn check_destination(policy: PrivateDestinations, url: &str) -> Result<(), BadDestination> {
    let parsed = reqwest::Url::parse(url)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(BadDestination::NotHttp(display_url(&parsed)));
    }
    Ok(check_configured(policy, url)?)
}

impl WorkspaceConfig {
    /// The form stored in the backend: the secret replaced by its SHA-256
    /// (docs/interface/config.md "Secrets": on AWS workspace secrets are
    /// stored only as hashes; the embedded store does the same).
    pub fn into_stored(mut self) -> WorkspaceConfig {
        if let Some(secrets) = self.secret.take() {
            self.secret_sha256 = Some(OneOrTwo(secrets.iter().map(Secret::sha256_hex).collect()));
        }
        self.secret_sha256 = self
            .secret_sha256
            .map(|hashes| OneOrTwo(hashes.iter().map(|h| h.to_ascii_lowercase()).collect()));
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
    fn errors_name_the_line() {
        let e = err(&format!(
            "{MINIMAL}\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nbatch_size = 101\n"
        ));
        assert!(
            e.contains("workspaces[0].streams[0].batch_size (line 11)"),
            "{e}"
        );
        let e = err("[server]\nlisten = 5\n");
        assert!(e.contains("server.listen (line 2)"), "{e}");
        let e = err("[server\n");
        assert!(e.contains("<file> (line 1)"), "{e}");
    }

    #[test]
    fn values_may_come_from_the_environment() {
        let env = |name: &str| match name {
            "EB_SECRET" => Some("from-env".to_owned()),
            "EB_HOST" => Some("hooks.example".to_owned()),
            _ => None,
        };
        let text = "[[workspaces]]\nid = \"w\"\nsecret = \"${EB_SECRET}\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://${EB_HOST}/in\"\n";
        let config = parse_with(text, &env).unwrap();
        let ws = &config.workspaces[0];
        assert_eq!(ws.secret.as_ref().unwrap().0[0].expose(), "from-env");
        assert!(
            matches!(&ws.streams[0].sink, SinkConfig::Webhook(w) if w.url == "https://hooks.example/in")
        );
        let e = parse_with("[server]\nlisten = \"${EB_UNSET}\"\n", &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("environment variable EB_UNSET is not set") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn a_secret_may_be_a_list_of_two_while_it_rotates() {
        let c =
            parse("[[workspaces]]\nid = \"w\"\nsecret = [\"old\", \"new\"]\napp_name = \"A\"\n")
                .unwrap();
        let stored = c.workspaces[0].clone().into_stored();
        assert_eq!(stored.secret_sha256.unwrap().0.len(), 2);
        let e =
            err("[[workspaces]]\nid = \"w\"\nsecret = [\"a\", \"b\", \"c\"]\napp_name = \"A\"\n");
        assert!(e.contains("one or two"), "{e}");
        let e = err("[[workspaces]]\nid = \"w\"\nsecret_sha256 = [\"00\"]\napp_name = \"A\"\n");
        assert!(e.contains("64 hexadecimal"), "{e}");
    }

    #[test]
    fn workspace_ids_are_api_key_safe() {
        for bad in ["a.b", "a b", "", &"x".repeat(65), "é"] {
            let e = err(&format!(
                "[[workspaces]]\nid = {bad:?}\nsecret = \"s\"\napp_name = \"A\"\n"
            ));
            assert!(e.contains("workspaces[0].id"), "{bad}: {e}");
        }
        assert!(
            parse("[[workspaces]]\nid = \"Acme_EU-1\"\nsecret = \"s\"\napp_name = \"A\"\n").is_ok()
        );
    }

    #[test]
    fn secret_values_are_never_quoted_in_errors() {
        let cases = [
            "[[workspaces]]\nid = \"w\"\nsecret = 987654321\napp_name = \"A\"\n",
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"ftp://u:987654321@example.com/x\"\n",
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nauth = { type = \"basic\", username = \"u\", password = 987654321 }\n",
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nheaders = { X-Key = 987654321 }\n",
            "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = 987654321\n",
        ];
        for text in cases {
            let e = err(text);
            assert!(!e.contains("987654321"), "{e}");
            assert!(e.contains("workspaces[0]"), "{e}");
        }
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
            stored.secret_sha256,
            Some(OneOrTwo(vec![Secret::new("change-me").sha256_hex()]))
        );
    }
}
