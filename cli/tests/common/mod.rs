//! Driving the real `engage-bridge` binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_engage-bridge");

pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run engage-bridge")
}

/// The lines `child` writes on its (piped) stdout, as they come.
pub fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `engage-bridge events send` of `file` to `workspace`.
pub fn events_send(dir: &Path, config: &str, workspace: &str, file: &str) -> Output {
    run(
        dir,
        &[
            "events",
            "send",
            "--config",
            config,
            "--workspace",
            workspace,
            file,
        ],
    )
}

/// A running `engage-bridge serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub lines: mpsc::Receiver<String>,
    pub first_lines: Vec<String>,
}

impl Server {
    /// Starts `serve` in `dir` and waits for its "listening on" line. Its
    /// logs (stderr) are appended to `dir/serve.log`.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        Self::start_with_env(dir, args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("serve.log"))
            .expect("log file");
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "debug")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn serve");
        let rx = lines_of(&mut child);
        let mut first_lines = Vec::new();
        let base = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("serve printed no 'listening on' line within 20 s");
            first_lines.push(line.clone());
            if let Some(url) = listening_url(&line) {
                break url;
            }
        };
        // The demo secret line follows immediately when there is one.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            first_lines.push(line);
        }
        Server {
            child,
            base,
            lines: rx,
            first_lines,
        }
    }

    /// The demo secret, as text output prints it (JSON output never does).
    pub fn demo_secret(&self) -> Option<String> {
        self.first_lines.iter().find_map(|l| {
            let rest = l.strip_prefix("demo workspace: id=demo secret=")?;
            rest.split_whitespace().next().map(str::to_owned)
        })
    }

    /// The JSON record of `serve`'s demo-workspace line, if any.
    pub fn demo_record(&self) -> Option<serde_json::Value> {
        self.first_lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["workspace_id"] == "demo")
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The URL of `serve`'s "listening on" line, as text or as a JSON record.
pub fn listening_url(line: &str) -> Option<String> {
    let record = serde_json::from_str::<serde_json::Value>(line).ok();
    let message = match &record {
        Some(record) => record["message"].as_str()?,
        None => line,
    };
    message
        .strip_prefix("engage-bridge listening on ")
        .map(str::to_owned)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file with the given workspaces section, SQLite under `dir`.
pub fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("engage-bridge.toml");
    let text = format!(
        "[storage]\nbackend = \"sqlite\"\npath = {:?}\n\n{body}",
        dir.join("store.db").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The environment the binary needs for `storage.backend = "aws"` on moto:
/// the resources' variables (as the Lambda functions get them), the
/// endpoint and dummy credentials.
pub fn aws_env(resources: &shared::store::aws::AwsResources) -> Vec<(&'static str, String)> {
    let values = [
        &resources.config_table,
        &resources.state_table,
        &resources.events_queue_url,
        &resources.retry_queue_url,
        &resources.dead_letter_queue_url,
        &resources.cohort_queue_url,
    ];
    let mut env: Vec<(&'static str, String)> = shared::store::aws::AwsResources::ENV
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k, v.clone()))
        .collect();
    env.extend([
        ("AWS_ENDPOINT_URL", engage_bridge_tests::moto_url()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]);
    env
}
