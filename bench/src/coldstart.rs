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
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::invocations;
use crate::locate;
use crate::moto::Moto;
use crate::procfs;
use crate::receiver::Receiver;
use crate::runtime_api::{Report, describe_response, emulator};
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
    /// Invocations after the first in each run, with load-sized events
    /// (bench/src/invocations.rs): their wall time and CPU time, the
    /// inputs of Lambda's GB-seconds.
    #[arg(long, default_value_t = 0)]
    pub warm: usize,
    /// An extra environment variable for every binary, NAME=VALUE
    /// (repeatable), e.g. to try `SSL_CERT_DIR`.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub extra_env: Vec<String>,
}

struct Run {
    init: Duration,
    invoke: Duration,
    outcome: String,
    hwm_kib: u64,
    /// `--warm` invocations: wall time of each, CPU seconds of all.
    warm: Vec<Duration>,
    warm_cpu: f64,
}

struct Subject {
    name: String,
    bin: PathBuf,
    payload: fn(usize) -> Bytes,
    warm_payload: fn(usize) -> Bytes,
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
            match one_run(subject, round, &env, &log, args.memory_mb, args.warm).await {
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
    if args.warm > 0 {
        println!("{}", warm_table(&subjects));
    }
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
        payload: invocations::sample(name),
        warm_payload: invocations::warm(name),
        bin,
        runs: Vec::new(),
        failures: Vec::new(),
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
    warm: usize,
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
    let cpu_before = procfs::cpu_seconds(pid).unwrap_or(0.0);
    let mut warm_runs = Vec::with_capacity(warm);
    for i in 0..warm {
        let sent = Instant::now();
        invoke_tx
            .send((subject.warm_payload)(round * warm + i + 1))
            .await
            .context("emulator gone")?;
        // The function's `next` calls are reported too: wait past them.
        let answered = loop {
            match tokio::time::timeout(timeout, reports.recv()).await {
                Ok(Some(Report::Next(_))) => continue,
                Ok(Some(Report::Response(at, _) | Report::Error(at, _))) => break at,
                _ => bail!("no answer to warm invocation {i}"),
            }
        };
        warm_runs.push(answered.saturating_duration_since(sent));
    }
    let warm_cpu = procfs::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
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
        warm: warm_runs,
        warm_cpu,
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

/// Warm invocations (bench/src/invocations.rs): wall and CPU time each.
fn warm_table(subjects: &[Subject]) -> String {
    let mut table = String::from(
        "| binary | warm invocations | wall min / median / max (ms) | CPU per invocation (ms) |\n\
         |---|---:|---:|---:|\n",
    );
    for s in subjects {
        let mut walls: Vec<Duration> = s.runs.iter().flat_map(|r| r.warm.clone()).collect();
        walls.sort();
        let Some((first, last)) = walls.first().zip(walls.last()) else {
            continue;
        };
        let cpu: f64 = s.runs.iter().map(|r| r.warm_cpu).sum();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        table.push_str(&format!(
            "| {} | {} | {:.1} / {:.1} / {:.1} | {:.2} |\n",
            s.name,
            walls.len(),
            ms(first),
            ms(&walls[walls.len() / 2]),
            ms(last),
            cpu * 1000.0 / walls.len() as f64,
        ));
    }
    table
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
