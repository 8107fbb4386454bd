//! engage-bridge's console (docs/interface/console.md): server-rendered
//! pages for tenants (one workspace) and the operator (every workspace),
//! served by `engage-bridge serve` at `/console` and by `engage-bridge
//! console` against any backend. A crate of its own, so the Lambda
//! functions never link it.

mod assets;
mod context;
mod frame;
mod layout;
mod pages;
mod session;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use shared::config::{ConfigFile, Secret};
use shared::runtime::Services;

pub use context::Ctx;
use pages::dead_letters::Jobs;
use session::Sessions;

/// Where the Live page's events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveSource {
    /// Events as this process dispatches them (`serve`).
    Dispatch,
    /// The delivery log, polled (`engage-bridge console`: another process
    /// or the Lambda functions deliver).
    DeliveryLog,
}

pub struct ConsoleOptions {
    /// `[console] operator_token`; None: operator sign-in off.
    pub operator_token: Option<Secret>,
    pub session_hours: u32,
    /// Cookies carry `Secure` (the listener is not loopback).
    pub secure_cookies: bool,
    pub live: LiveSource,
    /// Secret values never to show (the config file's), besides those of
    /// the stored workspaces' streams.
    pub secrets: Vec<String>,
}

impl ConsoleOptions {
    /// The options a config file gives, every secret in it included.
    pub fn from_config(config: &ConfigFile, secure_cookies: bool, live: LiveSource) -> Self {
        let mut secrets = Vec::new();
        if let Some(token) = &config.console.operator_token {
            secrets.push(token.expose().to_owned());
        }
        for workspace in &config.workspaces {
            for secret in workspace.secret.iter().flat_map(|s| s.iter()) {
                secrets.push(secret.expose().to_owned());
            }
            if let Some(cio) = &workspace.customerio {
                secrets.push(cio.signing_key.expose().to_owned());
            }
            for stream in &workspace.streams {
                secrets.extend(stream.secret_values().into_iter().map(str::to_owned));
            }
        }
        Self {
            operator_token: config.console.operator_token.clone(),
            session_hours: config.console.session_hours,
            secure_cookies,
            live,
            secrets,
        }
    }
}

pub(crate) struct Inner {
    pub services: Services,
    pub options: ConsoleOptions,
    pub sessions: Sessions,
    pub jobs: Jobs,
    /// Every secret value seen so far: masked in every page.
    pub secrets: Mutex<Vec<String>>,
}

/// The console's shared state.
#[derive(Clone)]
pub struct Console(pub(crate) Arc<Inner>);

impl Console {
    pub fn new(services: Services, options: ConsoleOptions) -> Self {
        let secrets = options
            .secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .cloned()
            .collect();
        Self(Arc::new(Inner {
            services,
            sessions: Sessions::new(options.session_hours),
            options,
            jobs: Jobs::default(),
            secrets: Mutex::new(secrets),
        }))
    }

    pub(crate) fn services(&self) -> &Services {
        &self.0.services
    }

    /// Remembers more secret values to mask.
    pub(crate) fn learn_secrets<'a>(&self, values: impl IntoIterator<Item = &'a str>) {
        if let Ok(mut secrets) = self.0.secrets.lock() {
            for value in values {
                if value.len() >= 4 && !secrets.iter().any(|s| s == value) {
                    secrets.push(value.to_owned());
                }
            }
        }
    }

    /// `text` with every known secret value replaced by `••••`: a net
    /// under pages that never render a secret on purpose.
    pub(crate) fn mask(&self, mut text: String) -> String {
        if let Ok(secrets) = self.0.secrets.lock() {
            for secret in secrets.iter() {
                if text.contains(secret.as_str()) {
                    text = text.replace(secret.as_str(), shared::delivery_log::trace::MASK);
                }
            }
        }
        text
    }
}

/// The console's routes (`/` answers `303` to `/console`).
pub fn router(console: Console) -> Router {
    use pages::{dead_letters, deliveries, live, login, overview, segments, users};
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(overview::page))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/login", get(login::page).post(login::tenant))
        .route("/console/login/operator", post(login::operator))
        .route("/console/logout", post(login::logout))
        .route(
            "/console/workspaces",
            get(login::picker).post(login::choose),
        )
        .route("/console/streams/{stream}/test", post(overview::send_test))
        .route("/console/streams/{stream}/pause", post(overview::pause))
        .route("/console/streams/{stream}/resume", post(overview::resume))
        .route("/console/deliveries", get(deliveries::list))
        .route("/console/deliveries/{id}", get(deliveries::detail))
        .route("/console/dead-letters", get(dead_letters::list))
        .route(
            "/console/dead-letters/replay",
            post(dead_letters::replay_preview),
        )
        .route(
            "/console/dead-letters/replay/confirm",
            post(dead_letters::replay_confirm),
        )
        .route(
            "/console/dead-letters/discard",
            post(dead_letters::discard_preview),
        )
        .route(
            "/console/dead-letters/discard/confirm",
            post(dead_letters::discard_confirm),
        )
        .route("/console/dead-letters/jobs/{job}", get(dead_letters::job))
        .route("/console/dead-letters/{id}", get(dead_letters::detail))
        .route("/console/segments", get(segments::list))
        .route("/console/segments/{id}", get(segments::detail))
        .route("/console/users", get(users::page))
        .route("/console/live", get(live::page))
        .route("/console/live/events", get(live::events))
        .route("/console/static/{file}", get(assets::file))
        .route(
            "/console/{*rest}",
            get(context::not_found).post(context::not_found),
        )
        .layer(axum::middleware::from_fn(layout::security_headers))
        .with_state(console)
}
