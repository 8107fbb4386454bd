//! What the binary writes besides its results and its logs: `serve`'s
//! announcements, errors at exit and panics. When the logs are JSON, these
//! are JSON records shaped like the log lines, so a log store reading the
//! output gets nothing but JSON, and never the demo secret
//! (docs/interface/cli.md "serve").

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use shared::config::ConfigFile;
use shared::domain::time::{now_ms, rfc3339_ms};
use shared::observability::logging;

/// The binary's target in log records.
const TARGET: &str = "engage_bridge";

static JSON: AtomicBool = AtomicBool::new(false);

/// Starts logging as the config's `[logging]` says (`RUST_LOG` overrides the
/// level).
pub fn init(config: &ConfigFile) {
    logging::init(config.logging.format, &config.logging.level);
}

/// [`init`] for `serve`, whose every line is then in the logs' format: its
/// announcements, the error it may end with and panics too.
pub fn init_serve(config: &ConfigFile) {
    init(config);
    if !logging::is_json(config.logging.format) {
        return;
    }
    JSON.store(true, Ordering::Relaxed);
    std::panic::set_hook(Box::new(|info| {
        let mut fields = Map::new();
        if let Some(location) = info.location() {
            fields.insert("location".into(), json!(location.to_string()));
        }
        let message = info.payload_as_str().unwrap_or("(no message)");
        eprintln!("{}", record("ERROR", &format!("panic: {message}"), fields));
    }));
}

/// Whether the output is JSON records.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One line on stdout: `text` on a terminal's format, else a JSON record
/// with `message` and `fields` (which must hold no secret).
pub fn announce(text: &str, message: &str, fields: Value) {
    if is_json() {
        let fields = match fields {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        println!("{}", record("INFO", message, fields));
    } else {
        println!("{text}");
    }
}

/// The error a command ends with, on stderr.
pub fn error(error: &anyhow::Error) {
    if is_json() {
        eprintln!("{}", record("ERROR", &one_line(error), Map::new()));
    } else {
        eprintln!("error: {}", one_line(error));
    }
}

/// An error and its causes on one line, down to the first store error:
/// its message already names the root cause an operator can act on
/// (docs/interface/observability.md "Errors"), and the SDK's own chain
/// below it is noise.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        parts.push(cause.to_string());
        if cause.is::<shared::ports::StoreError>() {
            break;
        }
    }
    parts.join(": ")
}

/// A JSON record with the log lines' keys (docs/interface/observability.md
/// "Logs").
fn record(level: &str, message: &str, mut fields: Map<String, Value>) -> String {
    fields.insert("timestamp".into(), json!(rfc3339_ms(now_ms())));
    fields.insert("level".into(), json!(level));
    fields.insert("message".into(), json!(message));
    fields.insert("target".into(), json!(TARGET));
    Value::Object(fields).to_string()
}
