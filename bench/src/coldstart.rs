//! `coldstart`: each Lambda function's init time beside a hello-world
//! `lambda_runtime` function's, under one small emulator of the Lambda
//! Runtime API on loopback.
//!
//! A run starts the bootstrap binary with the environment Lambda gives a
//! function (`AWS_LAMBDA_RUNTIME_API` pointing at the emulator, the function
//! name, memory size, log group…) plus the `ENGAGE_BRIDGE_*` resources on
//! moto, and measures process start → its first `GET …/invocation/next`
//! (init), then one invocation with a sample event from `events/` → its
//! `POST …/response` or `…/error` (first invocation round trip). Runs of the
//! binaries are interleaved so drift on a shared machine affects all alike.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

use crate::http;
use crate::locate;
use crate::moto::Moto;
use crate::procfs;
use crate::receiver::Receiver;
use crate::stats::Table;

pub const FUNCTIONS: [&str; 4] = [
    "cohort-ingest",
    "mparticle-ingest",
    "stream-dispatch",
    "retry",
];

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// A function to measure as NAME=PATH (repeatable); default: the four
    /// functions' release binaries (or, with --lambda-dir, cargo lambda's
    /// DIR/NAME/bootstrap).
    #[arg(long = "function", value_name = "NAME=PATH")]
    pub functions: Vec<String>,
    /// cargo lambda's output folder (e.g. $CARGO_TARGET_DIR/lambda).
    #[arg(long)]
    pub lambda_dir: Option<PathBuf>,
    /// The hello-world baseline (default: hello-lambda beside this harness).
    #[arg(long)]
    pub hello: Option<PathBuf>,
    /// The engage-bridge binary, to load the sample workspace into moto.
    #[arg(long)]
    pub serve_bin: Option<PathBuf>,
    /// Runs per binary.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    #[arg(
        long,
        env = "ENGAGE_BRIDGE_TEST_MOTO_URL",
        default_value = "http://127.0.0.1:5128"
    )]
    pub moto: String,
    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE given to the functions.
    #[arg(long, default_value_t = 256)]
    pub memory_mb: u32,
    /// An extra environment variable for every binary, NAME=VALUE
    /// (repeatable), e.g. to try `SSL_CERT_DIR`.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub extra_env: Vec<String>,
}

/// What the emulator saw.
enum Report {
    Next(Instant),
    Response(Instant, Bytes),
    Error(Instant, Bytes),
    InitError(Bytes),
}

struct Run {
    init: Duration,
    invoke: Duration,
    outcome: String,
    hwm_kib: u64,
}

struct Subject {
    name: String,
    bin: PathBuf,
    payload: fn(usize) -> Bytes,
    runs: Vec<Run>,
    failures: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut subjects = vec![subject(
        "hello-world",
        locate::binary("hello-lambda", args.hello.clone())?,
    )];
    if args.functions.is_empty() {
        for name in FUNCTIONS {
            let bin = match &args.lambda_dir {
                Some(dir) => locate::binary("bootstrap", Some(dir.join(name).join("bootstrap")))?,
                None => locate::binary(name, None)?,
            };
            subjects.push(subject(name, bin));
        }
    } else {
        for spec in &args.functions {
            let (name, path) = spec.split_once('=').context("--function takes NAME=PATH")?;
            subjects.push(subject(name, locate::binary(name, Some(path.into()))?));
        }
    }

    // Resources on moto and the sample workspace (demo:change-me, the
    // credentials of the sample events), streaming to a local receiver.
    let moto = Moto::new(&args.moto)?;
    let prefix = format!("bench-cs-{:x}", crate::workload::now_ms());
    let mut env = moto
        .create_resources(&prefix)
        .await
        .with_context(|| format!("create resources on moto at {}", moto.url))?;
    env.extend(moto.sdk_env());
    for spec in &args.extra_env {
        let (name, value) = spec.split_once('=').context("--env takes NAME=VALUE")?;
        env.push((name.to_owned(), value.to_owned()));
    }
    let receiver = Receiver::start().await?;
    let dir = tempfile::Builder::new()
        .prefix("engage-bridge-coldstart-")
        .tempdir()?;
    apply_workspace(&args, dir.path(), &env, &receiver.url())?;

    println!("## engage-bridge-bench coldstart\n");
    println!(
        "{} runs per binary, interleaved; Lambda Runtime API emulated on 127.0.0.1; moto at {}; \
         resources {prefix}-*; function logs in {}",
        args.runs,
        moto.url,
        dir.path().display()
    );
    for round in 0..args.runs {
        for subject in &mut subjects {
            let log = dir.path().join(format!("{}.log", subject.name));
            match one_run(subject, round, &env, &log, args.memory_mb).await {
                Ok(run) => subject.runs.push(run),
                Err(e) => subject.failures.push(format!("{e:#}")),
            }
        }
    }

    let hello_init = median(&subjects[0].runs, |r| r.init);
    let mut table = String::from(
        "| binary | size (MiB) | init min / median / max (ms) | init ÷ hello-world (median) | \
         first invocation min / median / max (ms) | answer | peak RSS (MiB) |\n|---|---:|---:|---:|---:|---|---:|\n",
    );
    for s in &subjects {
        let size = std::fs::metadata(&s.bin).map(|m| m.len()).unwrap_or(0);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (init_min, init_med, init_max) = spread(&s.runs, |r| r.init);
        let (inv_min, inv_med, inv_max) = spread(&s.runs, |r| r.invoke);
        let mut outcomes: Vec<String> = s.runs.iter().map(|r| r.outcome.clone()).collect();
        outcomes.dedup();
        let mut hwm: Vec<u64> = s.runs.iter().map(|r| r.hwm_kib).collect();
        hwm.sort_unstable();
        table.push_str(&format!(
            "| {} | {:.1} | {:.1} / {:.1} / {:.1} | {:.2}× | {:.1} / {:.1} / {:.1} | {} | {:.1} |\n",
            s.name,
            size as f64 / 1_048_576.0,
            ms(init_min),
            ms(init_med),
            ms(init_max),
            init_med.as_secs_f64() / hello_init.as_secs_f64().max(1e-9),
            ms(inv_min),
            ms(inv_med),
            ms(inv_max),
            outcomes.join(", "),
            procfs::mib(hwm.get(hwm.len() / 2).copied().unwrap_or(0)),
        ));
    }
    println!("\n{table}");
    for s in &subjects {
        if let Some(first) = s.failures.first() {
            println!(
                "{}: {} of {} runs failed; first: {first}",
                s.name,
                s.failures.len(),
                args.runs
            );
        }
    }
    let mut notes = Table::new();
    notes.row(
        "events the stream-dispatch and retry runs delivered to the local receiver",
        receiver.counts.events().to_string(),
    );
    notes.print("notes");
    Ok(())
}

fn subject(name: &str, bin: PathBuf) -> Subject {
    Subject {
        name: name.to_owned(),
        payload: payload_for(name),
        bin,
        runs: Vec::new(),
        failures: Vec::new(),
    }
}

/// The first invocation's event: the sample events of `events/`.
fn payload_for(name: &str) -> fn(usize) -> Bytes {
    match name {
        "mparticle-ingest" => |_| {
            Bytes::from_static(include_bytes!(
                "../../events/mparticle-ingest/events-batch.json"
            ))
        },
        // A fresh message_id per run, or repeats are acknowledged unapplied.
        "cohort-ingest" => |run| {
            let mut event: Value = serde_json::from_slice(include_bytes!(
                "../../events/cohort-ingest/amplitude-cohort-webhook.json"
            ))
            .expect("sample event");
            let mut body: Value =
                serde_json::from_str(event["body"].as_str().unwrap_or("{}")).expect("sample body");
            body["message_id"] =
                Value::from(format!("coldstart-{}-{run}", crate::workload::now_ms()));
            event["body"] = Value::from(body.to_string());
            Bytes::from(event.to_string())
        },
        "stream-dispatch" => |_| {
            Bytes::from_static(include_bytes!(
                "../../events/stream-dispatch/sqs-events.json"
            ))
        },
        "retry" => |_| Bytes::from_static(include_bytes!("../../events/retry/sqs-retry.json")),
        _ => |_| Bytes::from_static(br#"{"hello":"world"}"#),
    }
}

/// Loads the sample workspace into the config table with the real code
/// (`engage-bridge workspaces apply` on the aws backend).
fn apply_workspace(
    args: &Args,
    dir: &Path,
    env: &[(String, String)],
    receiver_url: &str,
) -> anyhow::Result<()> {
    let bin = locate::binary("engage-bridge", args.serve_bin.clone())?;
    let config = dir.join("workspaces.toml");
    std::fs::write(
        &config,
        format!(
            r#"[storage]
backend = "aws"

[security]
private_destinations = "allow"

[[workspaces]]
id = "demo"
secret = "change-me"
app_name = "Demo App"

[[workspaces.streams]]
name = "warehouse"
type = "webhook"
url = "{receiver_url}"
events = "all"
"#
        ),
    )?;
    let output = std::process::Command::new(&bin)
        .args(["workspaces", "apply", "--config"])
        .arg(&config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if !output.status.success() {
        bail!(
            "workspaces apply failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

async fn one_run(
    subject: &Subject,
    round: usize,
    env: &[(String, String)],
    log: &Path,
    memory_mb: u32,
) -> anyhow::Result<Run> {
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let (invoke_tx, invoke_rx) = mpsc::channel::<Bytes>(1);
    let emulator = emulator(&subject.name, report_tx, invoke_rx).await?;

    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = tokio::process::Command::new(&subject.bin);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .envs(lambda_env(
            &subject.name,
            &subject.bin,
            emulator.addr,
            memory_mb,
        ))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("start {}", subject.bin.display()))?;
    let pid = child.id().unwrap_or(0);
    let timeout = Duration::from_secs(30);

    let init = tokio::select! {
        report = tokio::time::timeout(timeout, reports.recv()) => match report {
            Ok(Some(Report::Next(at))) => at.saturating_duration_since(started),
            Ok(Some(Report::InitError(body))) =>
                bail!("init error: {}", String::from_utf8_lossy(&body)),
            Ok(_) => bail!("unexpected runtime API call before the first `next`"),
            Err(_) => bail!("no `next` call within {timeout:?}"),
        },
        status = child.wait() => bail!("exited before its first `next` call ({})", status?),
    };
    let invoked = Instant::now();
    invoke_tx
        .send((subject.payload)(round))
        .await
        .context("emulator gone")?;
    let (answered, outcome) = tokio::select! {
        report = tokio::time::timeout(timeout, reports.recv()) => match report {
            Ok(Some(Report::Response(at, body))) => (at, describe_response(&body)),
            Ok(Some(Report::Error(at, body))) => {
                let text = String::from_utf8_lossy(&body);
                (at, format!("error: {}", text.chars().take(120).collect::<String>()))
            }
            Ok(_) => bail!("unexpected runtime API call instead of a response"),
            Err(_) => bail!("no response within {timeout:?}"),
        },
        status = child.wait() => bail!("exited during its first invocation ({})", status?),
    };
    let hwm_kib = procfs::status_kib(pid, "VmHWM").unwrap_or(0);
    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(invoke_tx);
    drop(emulator);
    Ok(Run {
        init,
        invoke: answered.saturating_duration_since(invoked),
        outcome,
        hwm_kib,
    })
}

/// The environment Lambda gives a custom-runtime function.
fn lambda_env(
    name: &str,
    bin: &Path,
    api: std::net::SocketAddr,
    memory_mb: u32,
) -> Vec<(String, String)> {
    let root = bin
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]coldstart".to_owned(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", root),
        ("TZ", ":UTC".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The Runtime API: `next` hands out what `invocations` yields (and waits
/// while it yields nothing); `response`, `error` and `init/error` are
/// reported.
async fn emulator(
    function: &str,
    reports: mpsc::UnboundedSender<Report>,
    invocations: mpsc::Receiver<Bytes>,
) -> anyhow::Result<http::Server> {
    let invocations = Arc::new(Mutex::new(invocations));
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    http::serve(move |request| {
        let reports = reports.clone();
        let invocations = invocations.clone();
        let arn = arn.clone();
        async move {
            let path = request.uri().path().to_owned();
            let method = request.method().clone();
            const NEXT: &str = "/2018-06-01/runtime/invocation/next";
            if method == Method::GET && path == NEXT {
                let _ = reports.send(Report::Next(Instant::now()));
                let Some(payload) = invocations.lock().await.recv().await else {
                    return http::response(StatusCode::INTERNAL_SERVER_ERROR, "{}");
                };
                let deadline = crate::workload::now_ms() + 60_000;
                let mut response = http::response(StatusCode::OK, payload);
                let headers = response.headers_mut();
                for (name, value) in [
                    ("lambda-runtime-aws-request-id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned()),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    ("lambda-runtime-invoked-function-arn", arn),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                            .to_owned(),
                    ),
                ] {
                    if let Ok(value) = value.parse() {
                        headers.insert(name, value);
                    }
                }
                return response;
            }
            if method != Method::POST {
                return http::response(StatusCode::NOT_FOUND, "{}");
            }
            let now = Instant::now();
            let body = http::read_body(request).await;
            let report = if path == "/2018-06-01/runtime/init/error" {
                Report::InitError(body)
            } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/response") {
                Report::Response(now, body)
            } else if path.starts_with("/2018-06-01/runtime/invocation/") && path.ends_with("/error") {
                Report::Error(now, body)
            } else {
                return http::response(StatusCode::NOT_FOUND, "{}");
            };
            let _ = reports.send(report);
            http::response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
    })
    .await
}

/// "response" plus what it says: the HTTP status of an API Gateway
/// response, the failures of an SQS batch response.
fn describe_response(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(status) = value.get("statusCode") {
        format!("response, HTTP {status}")
    } else if let Some(failures) = value.get("batchItemFailures").and_then(Value::as_array) {
        format!("response, {} batch item failures", failures.len())
    } else {
        "response".to_owned()
    }
}

fn median(runs: &[Run], key: impl Fn(&Run) -> Duration) -> Duration {
    spread(runs, key).1
}

/// (min, median, max); zeros without runs.
fn spread(runs: &[Run], key: impl Fn(&Run) -> Duration) -> (Duration, Duration, Duration) {
    let mut values: Vec<Duration> = runs.iter().map(key).collect();
    if values.is_empty() {
        return Default::default();
    }
    values.sort();
    (
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
    )
}
