//! Controlling `engage-bridge serve`: a generated config (one workspace, one
//! webhook stream to the harness's receiver), a temporary SQLite store, the
//! process started and stopped, its logs kept in the temporary folder.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::workload::{CIO_SIGNING_KEY, SECRET, WORKSPACE};

pub struct ConfigOptions<'a> {
    pub receiver_url: &'a str,
    pub batch_size: u32,
    /// Adds the workspace's `customerio` settings (docs/interface/config.md).
    pub customerio: bool,
}

/// The config file text; the store lives in `dir`.
pub fn config(dir: &Path, options: &ConfigOptions) -> String {
    let customerio = if options.customerio {
        format!(
            "customerio = {{ signing_key = \"{CIO_SIGNING_KEY}\", account_id = \"1\", workspace_id = \"56354\" }}\n"
        )
    } else {
        String::new()
    };
    format!(
        r#"[storage]
backend = "sqlite"
path = {store:?}

[[workspaces]]
id = "{WORKSPACE}"
secret = "{SECRET}"
app_name = "Load Test"
unknown_cohort_users = "create"
mparticle_requests_per_minute = 1000000000
amplitude_requests_per_second = 1000000
{customerio}
[[workspaces.streams]]
name = "receiver"
type = "webhook"
url = "{url}"
events = "all"
batch_size = {batch}
timeout_seconds = 30
"#,
        store = dir.join("store.db").display().to_string(),
        url = options.receiver_url,
        batch = options.batch_size,
    )
}

/// A running `serve`; killed when dropped.
pub struct ServeProcess {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    dir: PathBuf,
}

/// The address of `serve`'s "listening on" line: text, or a JSON record's
/// `message` when the logs are JSON.
fn listening_url(line: &str) -> Option<String> {
    let record = serde_json::from_str::<serde_json::Value>(line).ok();
    let message = match &record {
        Some(record) => record["message"].as_str()?.to_owned(),
        None => line.to_owned(),
    };
    message
        .strip_prefix("engage-bridge listening on http://")
        .map(str::to_owned)
}

impl ServeProcess {
    /// Writes `config_text` to `dir`, starts `serve` on an ephemeral port and
    /// waits for its "listening on" line.
    /// `log_level` goes to `RUST_LOG` (today's config has no `[logging]`).
    pub fn start(
        bin: &Path,
        dir: &Path,
        config_text: &str,
        log_level: &str,
    ) -> anyhow::Result<Self> {
        let config_path = dir.join("engage-bridge.toml");
        std::fs::write(&config_path, config_text)?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = child.id();
        let mut process = Self {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: dir.to_path_buf(),
        };
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = listening_url(&line) {
                        process.addr = url.trim().parse().context("listen address")?;
                        return Ok(process);
                    }
                }
                Err(_) => {
                    let status = process.child.try_wait()?;
                    bail!(
                        "serve did not start ({}); its log ends with:\n{}",
                        status.map_or("still running".into(), |s| s.to_string()),
                        process.log_tail(20)
                    );
                }
            }
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Bytes of the SQLite store (database + WAL).
    pub fn store_bytes(&self) -> u64 {
        ["store.db", "store.db-wal"]
            .iter()
            .filter_map(|name| std::fs::metadata(self.dir.join(name)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// SIGTERM, then waits up to `grace` (the exit code; `None` if killed).
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<Option<i32>> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().map_err(|e| anyhow!(e))?;
        Ok(None)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
