//! Log lines (docs/interface/observability.md "Logs"): one line per record;
//! as JSON with `timestamp`, `level`, `message`, `target` and, at the top
//! level, the fields of the spans the record happened in (`request_id`,
//! `workspace_id`, `stream`, `moe_request_id`), or as text for a terminal.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::domain::time::{now_ms, rfc3339_ms};

/// Span field names renamed on the way out (the Lambda runtime's own span).
const RENAMED: [(&str, &str); 1] = [("requestId", "request_id")];

/// JSON lines with the span fields flattened into each record.
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(rfc3339_ms(now_ms())));
        line.insert(
            "level".into(),
            Value::String(meta.level().as_str().to_owned()),
        );
        // Outermost span first, so an inner span's field wins.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    for (name, value) in fields {
                        let name = RENAMED
                            .iter()
                            .find(|(from, _)| *from == name)
                            .map_or(name.clone(), |(_, to)| (*to).to_owned());
                        line.insert(name, value);
                    }
                }
            }
        }
        event.record(&mut Fields(&mut line));
        line.entry("message")
            .or_insert(Value::String(String::new()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// The filter: `RUST_LOG` when set, else `level`; either a level or
/// comma-separated `target=level` directives (`warn,shared::streams=debug`).
/// `Targets` rather than `EnvFilter`: span and field filters are not needed,
/// and `EnvFilter` links a regex engine into every binary
/// (docs/interface/observability.md "Logs").
fn filter(level: &str) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .or_else(|| level.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// Whether `format` means JSON lines here (`auto`: text when stderr is a
/// terminal, else JSON).
pub fn is_json(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    }
}

/// Logs of the `engage-bridge` binary, on stderr: JSON or text per `format`
/// ([`is_json`]).
pub fn init(format: LogFormat, level: &str) {
    let registry = tracing_subscriber::registry().with(filter(level));
    let _ = if is_json(format) {
        let lines = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(std::io::stderr);
        registry.with(lines).try_init()
    } else {
        let lines = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr);
        registry.with(lines).try_init()
    };
}

/// Logs of a Lambda function: JSON lines on stdout (CloudWatch's JSON log
/// format reads `timestamp`, `level` and `message`); `RUST_LOG` (set by the
/// template from its `LogLevel`) filters.
pub fn init_lambda() {
    let lines = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry()
        .with(filter("info"))
        .with(lines)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn span_ids_sit_at_the_top_level_of_each_json_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("invoke", requestId = "lambda-1");
            let _outer = outer.enter();
            let inner = tracing::info_span!("request", workspace_id = "acme", stream = "s1");
            let _inner = inner.enter();
            tracing::warn!(attempt = 2, status = 503, "delivery attempt failed");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "delivery attempt failed");
        assert_eq!(line["request_id"], "lambda-1");
        assert_eq!(line["workspace_id"], "acme");
        assert_eq!(line["stream"], "s1");
        assert_eq!(line["attempt"], 2);
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(line["target"].as_str().unwrap().contains("logging"));
    }
}
