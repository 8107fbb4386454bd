//! `engage-bridge`: the embedded server and the operator commands
//! (docs/interface/cli.md). Exit codes: 0 ok, 1 failure, 2 usage or config error.

/// `serve` is allocation-bound (JSON trees, attribute maps): glibc's
/// allocator took a third of its time (BENCHMARKS.md "mParticle ingest").
/// jemalloc, not the functions' mimalloc: under a long flat-out backlog
/// serve's peak stays 20–40 MiB lower and flat, where mimalloc's retained
/// pages spiked past 128 MiB (BENCHMARKS.md "Issue 22, eleventh session").
/// Its one extra cost was large zeroed allocations, which it zeroes through
/// the kernel; hot paths make none (`shared/src/store/packed.rs`,
/// "twelfth session"). MSVC builds keep the system allocator (jemalloc
/// does not build there).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (its `malloc_conf`, under the
/// `_rjem_` prefix tikv-jemallocator gives its symbols; `_RJEM_MALLOC_CONF`
/// in the environment still overrides them): thread caches that hold up to
/// 1 024 small objects of a size, not 200, and fill twice as fast. serve's
/// objects are mostly made on one thread and freed on another (a request's
/// events by the store's writer and the consumers), and a full cache is
/// flushed to its arena under the arena's lock: flat out the flushes and
/// fills were ≈ 3 % of serve's samples. End to end flat out +3.8 to +7.1 %
/// (three interleaved campaigns); 120 s flat out peaked at 103.6 MiB, at
/// the highest rate yet (BENCHMARKS.md "Issue 22, seventeenth session").
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: Option<&u8> =
    Some(&b"tcache_nslots_small_max:1024,lg_tcache_nslots_mul:2\0"[0]);

mod backend;
mod console;
mod dlq;
mod events;
mod output;
mod privacy;
mod serve;
mod streams;
mod validate;
mod workspaces;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "engage-bridge",
    version,
    about = "Partner-integration layer: Amplitude cohorts and mParticle in, Streams and Amplitude out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the queue consumers (embedded SQLite by default).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (default: server.listen, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check a config file: errors (exit 2) name the key and line; warnings go to stderr.
    Validate {
        /// Default: ./engage-bridge.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a JSON Schema generated from the Rust types.
    Schema {
        #[arg(value_enum)]
        what: SchemaKind,
    },
    /// Manage workspaces in the backend.
    Workspaces {
        #[command(subcommand)]
        command: WorkspacesCommand,
    },
    /// Put events on the events queue.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// List and replay dead-lettered stream batches.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Serve the console (web UI) alone against the configured backend.
    Console {
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on (default 127.0.0.1:8081).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check, pause or resume a stream.
    Streams {
        #[command(subcommand)]
        command: StreamsCommand,
    },
    /// Erase a user everywhere, or export everything held for them.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// List and lift suppressions (erased uids kept out of ingest).
    Suppressions {
        #[command(subcommand)]
        command: SuppressionsCommand,
    },
}

#[derive(Args)]
struct UserArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    workspace: String,
    uid: String,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Erase the user: profile, identities, memberships, dead-lettered and
    /// queued events; the uid stays suppressed. Waits until it completes.
    Delete(UserArgs),
    /// Print everything held for the uid as one JSON document.
    Export(UserArgs),
}

#[derive(Subcommand)]
enum SuppressionsCommand {
    /// One JSON line per suppression: its keyed hash and since when.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        workspace: String,
    },
    /// Let the uid's data in again.
    Lift(UserArgs),
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Print one JSON object per dead letter.
    List(DlqArgs),
    /// Print one dead letter in full: a batch's events, or an unreadable
    /// message's raw body.
    Show {
        #[arg(long)]
        config: PathBuf,
        /// The id `dlq list` shows.
        id: String,
    },
    /// Move dead letters back for immediate delivery.
    Replay {
        #[command(flatten)]
        args: DlqArgs,
        /// Only the dead letters with these ids (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Print what would be replayed and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove dead letters older than DAYS.
    Purge {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_name = "DAYS")]
        older_than: u32,
        #[arg(long)]
        workspace: Option<String>,
        /// Print what would be removed and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args)]
struct DlqArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    workspace: Option<String>,
    #[arg(long)]
    stream: Option<String>,
}

impl DlqArgs {
    fn filter(&self, ids: Vec<String>) -> shared::streams::dlq::Filter {
        shared::streams::dlq::Filter {
            workspace: self.workspace.clone(),
            stream: self.stream.clone(),
            ids,
        }
    }
}

#[derive(Subcommand)]
enum StreamsCommand {
    /// Send one "Email Sent" test event; exit 0 only if the endpoint accepted it.
    Test {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        stream: String,
    },
    /// Pause a stream: its batches wait on the retry queue (kept across restarts and `workspaces apply`).
    Pause(StreamArgs),
    /// Resume a paused or disabled (410 Gone) stream: its waiting batches are sent.
    Resume(StreamArgs),
}

#[derive(Args)]
struct StreamArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    workspace: String,
    #[arg(long)]
    stream: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    /// The configuration file.
    Config,
    /// The event (queue messages, stream payloads).
    Event,
}

#[derive(Subcommand)]
enum WorkspacesCommand {
    /// Load the config file's workspaces into the backend; prints what changes.
    Apply {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the workspaces the file does not list.
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Send events from a JSON file: an array of events or {"events":[...]}.
    Send {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        workspace: String,
        file: PathBuf,
    },
}

#[derive(Args)]
struct ConfigArg {
    #[arg(long)]
    config: PathBuf,
}

/// A failure and the exit code it maps to.
pub enum Failure {
    /// Usage or configuration error: exit 2.
    Usage(anyhow::Error),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Self::Runtime(e.into())
    }
}

pub type CliResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, listen } => serve::run(config, listen).await,
            Command::Validate { config } => validate::run(config),
            Command::Console { config, listen } => console::run(&config, listen).await,
            Command::Schema { what } => {
                let schema = match what {
                    SchemaKind::Config => shared::config::schema::config(),
                    SchemaKind::Event => shared::config::schema::event(),
                };
                println!("{}", serde_json::to_string_pretty(&schema)?);
                Ok(())
            }
            Command::Workspaces {
                command:
                    WorkspacesCommand::Apply {
                        config,
                        dry_run,
                        prune,
                    },
            } => workspaces::apply(&config.config, dry_run, prune).await,
            Command::Events {
                command:
                    EventsCommand::Send {
                        config,
                        workspace,
                        file,
                    },
            } => events::send(&config.config, &workspace, &file).await,
            Command::Dlq {
                command: DlqCommand::List(args),
            } => dlq::list(&args.config, args.filter(Vec::new())).await,
            Command::Dlq {
                command: DlqCommand::Show { config, id },
            } => dlq::show(&config, &id).await,
            Command::Dlq {
                command: DlqCommand::Replay { args, ids, dry_run },
            } => dlq::replay(&args.config, args.filter(ids), dry_run).await,
            Command::Dlq {
                command:
                    DlqCommand::Purge {
                        config,
                        older_than,
                        workspace,
                        dry_run,
                    },
            } => privacy::purge(&config, older_than, workspace.as_deref(), dry_run).await,
            Command::Users {
                command: UsersCommand::Delete(a),
            } => privacy::delete(&a.config, &a.workspace, &a.uid).await,
            Command::Users {
                command: UsersCommand::Export(a),
            } => privacy::export(&a.config, &a.workspace, &a.uid).await,
            Command::Suppressions {
                command: SuppressionsCommand::List { config, workspace },
            } => privacy::list(&config, &workspace).await,
            Command::Suppressions {
                command: SuppressionsCommand::Lift(a),
            } => privacy::lift(&a.config, &a.workspace, &a.uid).await,
            Command::Streams {
                command:
                    StreamsCommand::Test {
                        config,
                        workspace,
                        stream,
                    },
            } => streams::test(&config, &workspace, &stream).await,
            Command::Streams {
                command: StreamsCommand::Pause(args),
            } => {
                streams::control(
                    &args.config,
                    &args.workspace,
                    &args.stream,
                    streams::Control::Pause,
                )
                .await
            }
            Command::Streams {
                command: StreamsCommand::Resume(args),
            } => {
                streams::control(
                    &args.config,
                    &args.workspace,
                    &args.stream,
                    streams::Control::Resume,
                )
                .await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            output::error(&e);
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            output::error(&e);
            ExitCode::from(1)
        }
    }
}
