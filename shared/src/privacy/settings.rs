//! `[privacy]` and `[server] public_url` as the running process holds them:
//! from the config file (`serve`, the CLI) or, on Lambda, from the
//! environment the template sets (docs/interface/privacy.md "Settings").

use crate::config::{ConfigFile, RsaSigningKey, Secret, default_dead_letter_days};

pub const DEAD_LETTER_DAYS_ENV: &str = "ENGAGE_BRIDGE_DEAD_LETTER_DAYS";
pub const PROCESSOR_DOMAIN_ENV: &str = "ENGAGE_BRIDGE_OPENDSR_PROCESSOR_DOMAIN";
pub const CERTIFICATE_URL_ENV: &str = "ENGAGE_BRIDGE_OPENDSR_CERTIFICATE_URL";
pub const SIGNING_KEY_ENV: &str = "ENGAGE_BRIDGE_OPENDSR_SIGNING_KEY";
pub const PUBLIC_URL_ENV: &str = "ENGAGE_BRIDGE_PUBLIC_URL";

#[derive(Clone, Debug)]
pub struct PrivacySettings {
    pub dead_letter_days: u32,
    pub processor_domain: Option<String>,
    pub processor_certificate_url: Option<String>,
    /// Signs OpenDSR answers and callbacks when set.
    pub signing_key: Option<RsaSigningKey>,
    /// The base of absolute `results_url`s.
    pub public_url: Option<String>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            dead_letter_days: default_dead_letter_days(),
            processor_domain: None,
            processor_certificate_url: None,
            signing_key: None,
            public_url: None,
        }
    }
}

/// A setting that cannot be used; names the setting, never its value.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SettingsError {
    pub setting: &'static str,
    pub problem: String,
}

impl PrivacySettings {
    /// From a validated config file.
    pub fn from_config(config: &ConfigFile) -> Result<Self, SettingsError> {
        let privacy = &config.privacy;
        Ok(Self {
            dead_letter_days: privacy.dead_letter_days,
            processor_domain: privacy.processor_domain.clone(),
            processor_certificate_url: privacy.processor_certificate_url.clone(),
            signing_key: signing_key("privacy.signing_key", privacy.signing_key.as_ref())?,
            public_url: config.server.public_url.clone(),
        })
    }

    /// From the Lambda environment (template.yaml's privacy parameters);
    /// unset or empty variables take the defaults.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::read(&|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] through `var` (the process environment, or a test's).
    pub fn read(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let key = set(SIGNING_KEY_ENV).map(Secret::new);
        Ok(Self {
            dead_letter_days: dead_letter_days(var)?,
            processor_domain: set(PROCESSOR_DOMAIN_ENV),
            processor_certificate_url: set(CERTIFICATE_URL_ENV),
            signing_key: signing_key(SIGNING_KEY_ENV, key.as_ref())?,
            public_url: set(PUBLIC_URL_ENV),
        })
    }

    /// How long a dead letter is kept, in milliseconds.
    pub fn dead_letter_ms(&self) -> i64 {
        i64::from(self.dead_letter_days) * 24 * 3600 * 1000
    }
}

/// `ENGAGE_BRIDGE_DEAD_LETTER_DAYS` (the template's `DeadLetterDays`), or
/// the default.
pub fn dead_letter_days(var: &dyn Fn(&str) -> Option<String>) -> Result<u32, SettingsError> {
    match var(DEAD_LETTER_DAYS_ENV).filter(|v| !v.is_empty()) {
        None => Ok(default_dead_letter_days()),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|d| *d >= 1)
            .ok_or_else(|| SettingsError {
                setting: DEAD_LETTER_DAYS_ENV,
                problem: format!("expected a number of days (1 or more), found {text:?}"),
            }),
    }
}

fn signing_key(
    setting: &'static str,
    pem: Option<&Secret>,
) -> Result<Option<RsaSigningKey>, SettingsError> {
    pem.map(RsaSigningKey::from_pem)
        .transpose()
        .map_err(|e| SettingsError {
            setting,
            problem: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const WORKSPACE: &str = "[[workspaces]]\nid = \"ws\"\nsecret = \"s\"\napp_name = \"A\"\n";

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_privacy_keys_have_their_defaults() {
        let config = parse(WORKSPACE).unwrap();
        let settings = PrivacySettings::from_config(&config).unwrap();
        assert_eq!(settings.dead_letter_days, 14);
        assert!(settings.signing_key.is_none() && settings.public_url.is_none());
        let config = parse(&format!(
            "[server]\npublic_url = \"https://bridge.example.com\"\n\n[privacy]\n\
             dead_letter_days = 3\nprocessor_domain = \"bridge.example.com\"\n\n{WORKSPACE}"
        ))
        .unwrap();
        let settings = PrivacySettings::from_config(&config).unwrap();
        assert_eq!(settings.dead_letter_days, 3);
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://bridge.example.com")
        );
        assert_eq!(
            settings.processor_domain.as_deref(),
            Some("bridge.example.com")
        );
    }

    #[test]
    fn bad_privacy_settings_are_named_without_their_values() {
        assert!(error("[privacy]\ndead_letter_days = 0\n").contains("privacy.dead_letter_days"));
        assert!(error("[privacy]\nunknown = 1\n").contains("unknown"));
        let key = error("[privacy]\nsigning_key = \"hunter2-secret\"\n");
        assert!(
            key.contains("privacy.signing_key") && !key.contains("hunter2"),
            "{key}"
        );
        assert!(error("[server]\npublic_url = \"ftp://x\"\n").contains("server.public_url"));
        let stream = |keys: &str| {
            format!(
                "{WORKSPACE}\n[[workspaces.streams]]\nname = \"amp\"\ntype = \"amplitude\"\n\
                 api_key = \"k\"\n{keys}\n"
            )
        };
        let forward = error(&stream("forward_deletions = true"));
        assert!(
            forward.contains("forward_deletions") && forward.contains("secret_key"),
            "{forward}"
        );
        let config = parse(&stream(
            "secret_key = \"sk\"\nforward_deletions = true\n\
             deletion_endpoint = \"https://amplitude.example/api/2/deletions/users\"",
        ))
        .unwrap();
        let crate::config::SinkConfig::Amplitude(amplitude) = &config.workspaces[0].streams[0].sink
        else {
            panic!("an amplitude stream")
        };
        assert!(amplitude.forward_deletions);
        let webhook = error(&format!(
            "{WORKSPACE}\n[[workspaces.streams]]\nname = \"w\"\ntype = \"webhook\"\n\
             url = \"https://x.example\"\nforward_deletions = true\n"
        ));
        assert!(
            webhook.contains("unknown key `forward_deletions`"),
            "{webhook}"
        );
    }
}
