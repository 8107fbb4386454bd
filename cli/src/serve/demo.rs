//! The embedded default of `serve` without `--config`: SQLite under
//! `./.engage-bridge/` and a `demo` workspace whose secret is made on the
//! first start and kept in an owner-only file beside the store, so the
//! README's examples keep working across restarts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use shared::config::{ConfigFile, Secret, StorageConfig, WorkspaceConfig, default_db_path};
use shared::domain::ids::random_id;

use crate::output;

pub struct Demo {
    pub secret: Secret,
    pub path: PathBuf,
}

/// Says where the demo workspace's secret is. As text (a terminal) the
/// secret itself too: the one secret engage-bridge ever prints. As JSON
/// (output bound for a log store) only the file it is kept in
/// (docs/interface/cli.md "serve").
pub fn announce(demo: &Demo, url: &str) {
    let file = demo.path.display();
    let secret = demo.secret.expose();
    output::announce(
        &format!("demo workspace: id=demo secret={secret} (kept in {file})"),
        &format!("demo workspace: id=demo; its secret is kept in {file}"),
        json!({ "workspace_id": "demo", "secret_file": file.to_string() }),
    );
    output::announce(
        &format!("try: curl -u demo:{secret} {url}/v1/segments"),
        &format!("try: curl -u demo:$(cat {file}) {url}/v1/segments"),
        json!({}),
    );
}

pub fn embedded_default() -> anyhow::Result<(ConfigFile, Demo)> {
    let storage = StorageConfig::default();
    let folder = Path::new(&storage.path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".engage-bridge"));
    let path = folder.join("demo-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Secret::new(text.trim()),
        _ => create(&folder, &path)?,
    };
    let config = ConfigFile {
        workspaces: vec![WorkspaceConfig::demo(secret.clone())],
        storage: StorageConfig {
            path: default_db_path(),
            ..storage
        },
        ..ConfigFile::default()
    };
    Ok((config, Demo { secret, path }))
}

fn create(folder: &Path, path: &Path) -> anyhow::Result<Secret> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let secret = format!("{}{}", random_id(), random_id()).replace('-', "");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Secret::new(secret))
}

/// The demo receiver's stream: every event of the demo workspace, to
/// `POST /demo/receiver` on serve's own listener.
pub fn add_receiver_stream(config: &mut ConfigFile, local: SocketAddr) {
    let text = format!(
        "[[workspaces]]\nid = \"demo\"\nsecret = \"unused\"\napp_name = \"Demo App\"\n\
         [[workspaces.streams]]\nname = \"demo-receiver\"\ntype = \"webhook\"\n\
         url = \"http://{local}/demo/receiver\"\n"
    );
    let Ok(mut parsed) = shared::config::parse(&text) else {
        return;
    };
    if let Some(demo) = config.workspaces.iter_mut().find(|w| w.id == "demo") {
        demo.streams.append(&mut parsed.workspaces[0].streams);
    }
}

/// `POST /demo/receiver`: accepts any batch and says how many events it held.
pub fn receiver() -> axum::Router {
    use axum::routing::post;
    axum::Router::new().route(
        "/demo/receiver",
        post(|body: axum::body::Bytes| async move {
            let events = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("events").and_then(|e| e.as_array()).map(Vec::len))
                .unwrap_or(0);
            axum::Json(serde_json::json!({"status": "success", "received": events}))
        }),
    )
}
