//! `e2e`: the ceiling (generator → echo server), then the same generator →
//! `engage-bridge serve` → the webhook stream → the receiver, in one run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::generator::{self, Options, Outcome};
use crate::procfs::{self, RssSampler};
use crate::receiver::Receiver;
use crate::serve::{self, ConfigOptions, ServeProcess};
use crate::stats::{Table, per_second, thousands};
use crate::workload::{Kind, Shape, Workload};
use crate::{echo, locate};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The `engage-bridge` binary (default: beside this harness, else
    /// $CARGO_TARGET_DIR/release).
    #[arg(long)]
    pub serve_bin: Option<PathBuf>,
    #[command(flatten)]
    pub shape: Shape,
    /// Keep-alive connections of the generator.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Offered load in events/s (open loop); flat out when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of load (each reference run and the serve run).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Stop waiting for deliveries after this many seconds without a new one.
    #[arg(long, default_value_t = 30.0)]
    pub drain_idle: f64,
    /// Skip the ceiling run.
    #[arg(long)]
    pub no_ceiling: bool,
    /// Also measure a JSON floor: the echo server parsing and re-serializing
    /// each body with serde_json (a second reference beside the ceiling).
    /// Each reference runs before serve starts and again after it stops;
    /// serve is set against their mean.
    #[arg(long)]
    pub json_floor: bool,
    /// Run the ceiling and the JSON floor at `--rate` too (open loop), not
    /// flat out: their ack p99 is then the harness's and the machine's own
    /// tail at that load, the part of serve's that is not serve's.
    #[arg(long, requires = "rate")]
    pub references_at_rate: bool,
    /// Webhook stream `batch_size`.
    #[arg(long, default_value_t = 100)]
    pub batch_size: u32,
    /// serve's `RUST_LOG` (at info it logs one line per request and per
    /// batch, to serve.log in the temporary folder).
    #[arg(long, default_value = "info")]
    pub serve_log_level: String,
    /// Keep the temporary folder (config, store, serve.log) and print it.
    #[arg(long)]
    pub keep: bool,
    /// Erase this many uids (none of the workload's) before the run, so the
    /// workspace suppresses someone and every request pays the suppression
    /// lookup (docs/interface/privacy.md "Suppression"); 0: none, the
    /// common case, where ingest skips the lookup.
    #[arg(long, default_value_t = 0)]
    pub suppressed: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin = locate::binary("engage-bridge", args.serve_bin.clone())?;
    let workload = Arc::new(Workload::new(args.shape.clone()));
    let sample = workload.request(0);
    let options = Options {
        connections: args.connections,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        max_requests: None,
        first_seq: 1_000,
    };
    println!("## engage-bridge-bench e2e\n");
    println!(
        "workload {:?}: `POST {}`, {} events/request, {:.1} KiB/request; {} connections, {}, {:.0} s; serve: {}",
        workload.kind(),
        sample.path,
        sample.events,
        sample.body.len() as f64 / 1024.0,
        args.connections,
        args.rate
            .map_or("flat out (closed loop)".into(), |r| format!(
                "open loop at {} events/s",
                thousands(r)
            )),
        args.duration,
        bin.display()
    );

    let references = |when: &'static str| {
        let (workload, options) = (workload.clone(), options.clone());
        let (ceiling, json_floor, at_rate) =
            (!args.no_ceiling, args.json_floor, args.references_at_rate);
        async move {
            let ceiling = if ceiling {
                Some(reference(&workload, &options, false, at_rate, when).await?)
            } else {
                None
            };
            let json_floor = if json_floor {
                Some(reference(&workload, &options, true, at_rate, when).await?)
            } else {
                None
            };
            anyhow::Ok((ceiling, json_floor))
        }
    };
    let (ceiling, json_floor) = references("before serve").await?;

    let receiver = Receiver::start().await?;
    let dir = tempfile::Builder::new()
        .prefix("engage-bridge-bench-")
        .tempdir()?;
    let serve = start_serve(&bin, dir.path(), &args, &receiver.url(), workload.kind())?;
    if args.suppressed > 0 {
        suppress(serve.addr, args.suppressed).await?;
    }

    // Probe: one request, delivered, before the clock starts.
    let probe = generator::run(
        serve.addr,
        workload.clone(),
        &Options {
            connections: 1,
            rate: None,
            duration: Duration::from_secs(30),
            max_requests: Some(1),
            first_seq: 0,
        },
    )
    .await;
    if probe.ok == 0 {
        let failure = probe.first_failure.clone().unwrap_or_default();
        if probe.statuses.contains_key(&404) {
            println!(
                "\nroute not available: `POST {}` answered 404 on this build ({failure}); nothing to measure.",
                sample.path
            );
            return Ok(());
        }
        anyhow::bail!("the probe request failed: {failure}");
    }
    let probe_events = receiver
        .counts
        .wait_for(probe.ok_events, Duration::from_secs(30))
        .await;
    if probe_events < probe.ok_events {
        anyhow::bail!(
            "the probe's {} events did not reach the receiver ({probe_events} did); serve.log:\n{}",
            probe.ok_events,
            serve.log_tail(20)
        );
    }
    receiver.counts.reset();

    let cpu_before = procfs::cpu_seconds(serve.pid).unwrap_or(0.0);
    let own_cpu_before = procfs::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let rss_before = procfs::status_kib(serve.pid, "VmRSS").unwrap_or(0);
    let sampler = RssSampler::start(serve.pid);
    let mut outcome = generator::run(serve.addr, workload.clone(), &options).await;
    let received_at_last_ack = receiver.counts.events();
    let store_at_last_ack = serve.store_bytes();
    let received = receiver
        .counts
        .wait_for(outcome.ok_events, Duration::from_secs_f64(args.drain_idle))
        .await;
    let cpu = procfs::cpu_seconds(serve.pid).unwrap_or(0.0) - cpu_before;
    let own_cpu = procfs::cpu_seconds(std::process::id()).unwrap_or(0.0) - own_cpu_before;
    let hwm = procfs::status_kib(serve.pid, "VmHWM").unwrap_or(0);
    let rss_after = procfs::status_kib(serve.pid, "VmRSS").unwrap_or(0);
    let rss_max = sampler.max_kib();
    drop(sampler);

    // Its result is reported after the figures, which a failed stop must
    // not take with it.
    let stopped = serve.stop(Duration::from_secs(30));
    // The references again, once serve has stopped: the machine's speed
    // moves within a minute, so serve's run is set against the mean of one
    // measured just before it and one just after (BENCHMARKS.md "Issue 22,
    // fifteenth session").
    let (ceiling_after, json_floor_after) = references("after serve").await?;

    let mut table = Table::new();
    let ingest = per_second(outcome.ok_events, outcome.elapsed());
    let e2e_elapsed = match (outcome.first_send, receiver.counts.last()) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => Duration::ZERO,
    };
    let e2e = per_second(received, e2e_elapsed);
    let (p50, p99, max) = outcome.latencies.summary();
    table.row(
        "offered load",
        args.rate.map_or("flat out".into(), |r| {
            format!("{} events/s (open loop)", thousands(r))
        }),
    );
    table.row(
        "requests sent (answers)",
        format!("{} ({})", outcome.requests, outcome.statuses_text()),
    );
    if let Some(failure) = &outcome.first_failure {
        table.row("first failure", failure.replace('|', "/"));
    }
    table.row(
        "ingest: events acknowledged / s",
        format!(
            "**{}** ({} in {:.2} s)",
            thousands(ingest),
            outcome.ok_events,
            outcome.elapsed().as_secs_f64()
        ),
    );
    table.row(
        "ack latency p50 / p99 / max",
        format!("{p50:.1} / {p99:.1} / {max:.1} ms"),
    );
    table.row(
        "end to end: events delivered / s (first send → last event received)",
        format!(
            "**{}** ({received} of {} in {:.2} s)",
            thousands(e2e),
            outcome.ok_events,
            e2e_elapsed.as_secs_f64()
        ),
    );
    table.row(
        "backlog when the last request was acknowledged",
        format!(
            "{} events (store {:.1} MiB)",
            outcome.ok_events.saturating_sub(received_at_last_ack),
            store_at_last_ack as f64 / 1_048_576.0
        ),
    );
    for (name, detail, before, after) in [
        (
            "ceiling",
            "same generator → hyper echo server",
            &ceiling,
            &ceiling_after,
        ),
        (
            "JSON floor",
            "same generator → echo server parsing + serializing",
            &json_floor,
            &json_floor_after,
        ),
    ] {
        let (Some(before), Some(after)) = (before, after) else {
            continue;
        };
        let rate_of = |o: &Outcome| per_second(o.ok_events, o.elapsed()).max(1.0);
        let (before, after) = (rate_of(before), rate_of(after));
        let rate = (before + after) / 2.0;
        table.row(
            format!("{name}: {detail}, events/s (mean of before / after serve)"),
            format!(
                "{} ({} / {})",
                thousands(rate),
                thousands(before),
                thousands(after)
            ),
        );
        table.row(
            format!("end to end / {name} (against before / after)"),
            format!(
                "**{:.1} %** ({:.1} / {:.1} %)",
                100.0 * e2e / rate,
                100.0 * e2e / before,
                100.0 * e2e / after
            ),
        );
        table.row(
            format!("ingest / {name}"),
            format!("{:.1} %", 100.0 * ingest / rate),
        );
    }
    table.row(
        "serve RSS: before / max sampled / after (MiB)",
        format!(
            "{:.1} / {:.1} / {:.1}",
            procfs::mib(rss_before),
            procfs::mib(rss_max),
            procfs::mib(rss_after)
        ),
    );
    table.row(
        "serve peak RSS (VmHWM)",
        format!("**{:.1} MiB**", procfs::mib(hwm)),
    );
    table.row(
        "serve CPU (user + system)",
        format!(
            "{cpu:.2} s = **{:.1} CPU s per million events** delivered",
            cpu / (received.max(1) as f64 / 1e6)
        ),
    );
    table.row(
        "harness CPU (generator + receiver)",
        format!(
            "{own_cpu:.2} s = {:.1} CPU s per million events",
            own_cpu / (received.max(1) as f64 / 1e6)
        ),
    );
    table.print("serve");
    if received < outcome.ok_events {
        println!(
            "\nWARNING: {} acknowledged events were not delivered within {} s of the last one.",
            outcome.ok_events - received,
            args.drain_idle
        );
    }
    let unreadable = receiver
        .counts
        .unreadable
        .load(std::sync::atomic::Ordering::Relaxed);
    if unreadable > 0 {
        println!("\nWARNING: {unreadable} deliveries had no readable `events` array.");
    }
    let code = stopped?;
    println!("\nserve stopped (exit code {code:?}).");
    if args.keep {
        println!("kept {}", dir.keep().display());
    }
    Ok(())
}

/// The generator against the echo server: flat out, or at the offered
/// rate when `at_rate`.
async fn reference(
    workload: &Arc<Workload>,
    options: &Options,
    parse_json: bool,
    at_rate: bool,
    when: &str,
) -> anyhow::Result<Outcome> {
    let server = echo::start(parse_json).await?;
    let rate = if at_rate { options.rate } else { None };
    let mut outcome = generator::run(
        server.addr,
        workload.clone(),
        &Options {
            rate,
            ..options.clone()
        },
    )
    .await;
    let (p50, p99, max) = outcome.latencies.summary();
    let mut table = Table::new();
    table.row(
        "events/s acknowledged",
        format!(
            "**{}** ({} requests in {:.2} s; {})",
            thousands(per_second(outcome.ok_events, outcome.elapsed())),
            outcome.requests,
            outcome.elapsed().as_secs_f64(),
            outcome.statuses_text()
        ),
    );
    table.row(
        "MiB/s of request bodies",
        format!(
            "{:.0}",
            outcome.body_bytes as f64 / 1_048_576.0 / outcome.elapsed().as_secs_f64().max(1e-9)
        ),
    );
    table.row(
        "latency p50 / p99 / max",
        format!("{p50:.2} / {p99:.2} / {max:.2} ms"),
    );
    let load = match rate {
        Some(rate) => format!("at {} events/s", thousands(rate)),
        None => "flat out".to_owned(),
    };
    table.print(&if parse_json {
        format!(
            "JSON floor, {when} (generator → echo server parsing + serializing each body, {load})"
        )
    } else {
        format!("ceiling, {when} (generator → hyper echo server, {load})")
    });
    Ok(outcome)
}

fn start_serve(
    bin: &std::path::Path,
    dir: &std::path::Path,
    args: &Args,
    receiver_url: &str,
    kind: Kind,
) -> anyhow::Result<ServeProcess> {
    let options = |customerio| ConfigOptions {
        receiver_url,
        batch_size: args.batch_size,
        customerio,
    };
    let started = Instant::now();
    let serve = if kind == Kind::Customerio {
        match ServeProcess::start(
            bin,
            dir,
            &serve::config(dir, &options(true)),
            &args.serve_log_level,
        ) {
            Ok(serve) => serve,
            Err(e) => {
                println!(
                    "\nserve rejected the workspace's `customerio` settings; starting without them \
                     ({})",
                    e.to_string().lines().last().unwrap_or_default()
                );
                ServeProcess::start(
                    bin,
                    dir,
                    &serve::config(dir, &options(false)),
                    &args.serve_log_level,
                )?
            }
        }
    } else {
        ServeProcess::start(
            bin,
            dir,
            &serve::config(dir, &options(false)),
            &args.serve_log_level,
        )
        .context("start serve")?
    };
    println!(
        "\nserve pid {} on {} (started in {:.0} ms), store and log in {}",
        serve.pid,
        serve.addr,
        started.elapsed().as_secs_f64() * 1000.0,
        dir.display()
    );
    Ok(serve)
}

/// Erases `count` uids the workload never sends and waits until each
/// erasure completed (a build without the privacy routes says so).
async fn suppress(addr: std::net::SocketAddr, count: usize) -> anyhow::Result<()> {
    use base64::Engine;
    use http_body_util::Full;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        crate::workload::WORKSPACE,
        crate::workload::SECRET
    ));
    let send = |method: &str, path: String| {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::AUTHORIZATION, format!("Basic {credentials}"))
            .body(Full::new(bytes::Bytes::new()));
        async move {
            crate::http::Connection::open(addr)
                .await?
                .send(request?)
                .await
        }
    };
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let (status, body) = send("DELETE", format!("/v1/users/bench-suppressed-{i}")).await?;
        if status.as_u16() != 202 {
            println!("
this build does not erase users (DELETE /v1/users answered {status}); measuring without suppressions.");
            return Ok(());
        }
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        ids.push(answer["request_id"].as_str().unwrap_or_default().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in ids {
        loop {
            let (_, body) = send("GET", format!("/v1/privacy/requests/{id}")).await?;
            let status: serde_json::Value = serde_json::from_slice(&body)?;
            if status["request_status"] == "completed" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "erasure {id} did not complete within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "
{count} uids erased before the run: every request pays the suppression lookup."
    );
    Ok(())
}
