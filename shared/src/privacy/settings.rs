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
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let dead_letter_days = match var(DEAD_LETTER_DAYS_ENV) {
            None => default_dead_letter_days(),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|d| *d >= 1)
                .ok_or_else(|| SettingsError {
                    setting: DEAD_LETTER_DAYS_ENV,
                    problem: format!("expected a number of days (1 or more), found {text:?}"),
                })?,
        };
        let key = var(SIGNING_KEY_ENV).map(Secret::new);
        Ok(Self {
            dead_letter_days,
            processor_domain: var(PROCESSOR_DOMAIN_ENV),
            processor_certificate_url: var(CERTIFICATE_URL_ENV),
            signing_key: signing_key(SIGNING_KEY_ENV, key.as_ref())?,
            public_url: var(PUBLIC_URL_ENV),
        })
    }

    /// How long a dead letter is kept, in milliseconds.
    pub fn dead_letter_ms(&self) -> i64 {
        i64::from(self.dead_letter_days) * 24 * 3600 * 1000
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
