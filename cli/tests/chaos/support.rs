//! What the scenarios share: a `serve` on its own store that can be
//! `kill -9`-ed and restarted, HTTP the way partners send it (retried until
//! acknowledged), the operator CLI, and memory readings from `/proc`.

use std::process::Output;
use std::time::{Duration, Instant};

use engage_bridge_tests::basic;
use serde_json::{Value, json};

use crate::common::{Server, run, write_config};

/// Every workspace's secret (a config file's workspace, never the demo one).
pub const SECRET: &str = "chaos-secret-0a9f3c71";

/// A `[[workspaces]]` table; `extra` follows it (keys, then stream tables).
pub fn workspace(id: &str, extra: &str) -> String {
    format!(
        "[[workspaces]]\nid = \"{id}\"\nsecret = \"{SECRET}\"\napp_name = \"App {id}\"\n{extra}\n"
    )
}

/// `[retry]` with 1 s delays (dead letters within seconds), then `rest`.
pub fn fast_retries(rest: &str) -> String {
    format!("[retry]\nschedule_seconds = [1, 1, 1]\n\n{rest}")
}

/// A `[[workspaces.streams]]` webhook table; `extra` holds more keys.
pub fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[workspaces.streams]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\n{extra}\n"
    )
}

/// A campaign event as the engagement platform's producers send it.
pub fn campaign_event(uuid: &str, uid: &str) -> Value {
    json!({
        "event_name": "Email Sent", "event_code": "MOE_EMAIL_SENT",
        "event_uuid": uuid, "event_time": 1_700_000_000,
        "event_type": "CAMPAIGN_EVENT", "event_source": "MOENGAGE",
        "uid": uid, "email_id": "chaos@example.com",
        "event_attributes": {"campaign_id": "c1"}
    })
}

/// `Content-Length`-framed HTTP/1.1 POST head, for raw-socket clients.
pub fn post_head(path: &str, authorization: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// `VmRSS` / `VmHWM` (resident now / peak) of a process, in MiB.
pub fn memory_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib / 1024
}

/// Polls `check` every 200 ms until it is `Ok`; panics with its last
/// `Err` after `limit`.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if Instant::now() >= deadline => panic!("after {limit:?}: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Runs blocking work (a child process) without stalling the other tasks
/// of a multi-threaded test runtime.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(work),
        Err(_) => work(),
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A running `serve` with a config file and a store of its own.
pub struct Bridge {
    pub dir: tempfile::TempDir,
    pub config: String,
    pub server: Server,
}

impl Bridge {
    /// `toml`: the config after `[storage]` (workspaces, `[retry]`, …).
    pub fn start(toml: &str) -> Bridge {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), toml).to_str().unwrap().to_owned();
        let server = start_serve(dir.path(), &config, "127.0.0.1:0");
        Bridge {
            dir,
            config,
            server,
        }
    }

    pub fn base(&self) -> &str {
        &self.server.base
    }

    /// `host:port`, for raw-socket clients.
    pub fn address(&self) -> &str {
        self.base().trim_start_matches("http://")
    }

    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// `kill -9`, then `serve` again on the same store and address.
    pub fn crash_and_restart(&mut self) {
        self.server.child.kill().unwrap();
        self.server.child.wait().unwrap();
        let listen = self.address().to_owned();
        self.server = start_serve(self.dir.path(), &self.config, &listen);
    }

    /// An operator command on this bridge's config (`--config` appended).
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut args = args.to_vec();
        args.extend(["--config", &self.config]);
        blocking(|| run(self.dir.path(), &args))
    }

    /// `events send` of these events to workspace `ws` (must succeed).
    pub fn send_events(&self, ws: &str, events: &[Value]) {
        let file = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        std::fs::write(file.path(), Value::from(events.to_vec()).to_string()).unwrap();
        let out = self.cli(&[
            "events",
            "send",
            "--workspace",
            ws,
            file.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "events send: {}", stderr(&out));
    }

    /// An HTTP client for this bridge; it keeps working across restarts
    /// (same address).
    pub fn client(&self) -> Client {
        Client {
            http: engage_bridge_tests::http_client_builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: self.base().to_owned(),
        }
    }
}

/// HTTP to a bridge with a workspace's credentials.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
}

impl Client {
    /// One request with workspace `ws`'s credentials: (status, JSON body).
    pub async fn request(&self, method: &str, ws: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let response = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("authorization", basic(ws, SECRET))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    pub async fn get(&self, ws: &str, path: &str) -> (u16, Value) {
        self.request("GET", ws, path, b"").await
    }

    pub async fn post(&self, ws: &str, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", ws, path, body.to_string().as_bytes())
            .await
    }

    /// POSTs like a partner does: every attempt without a 2xx answer
    /// (connection error, timeout, 429, 5xx) is repeated with the same body.
    /// Returns the first 2xx body; panics on another 4xx or after 90 s.
    pub async fn post_until_acknowledged(&self, ws: &str, path: &str, body: &Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            assert!(Instant::now() < deadline, "{path} never acknowledged");
            let sent = self
                .http
                .post(format!("{}{path}", self.base))
                .header("authorization", basic(ws, SECRET))
                .json(body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                let reply: Value = response.json().await.unwrap_or_default();
                match status {
                    200..=299 => return reply,
                    429 | 500.. => {}
                    _ => panic!("{path}: {status} {reply}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn start_serve(dir: &std::path::Path, config: &str, listen: &str) -> Server {
    blocking(|| Server::start(dir, &["--config", config, "--listen", listen]))
}
