//! Logging to stderr, as text or as one JSON object per line.
//!
//! The level filter is `--log-level` (default `info`), overridden by the `WAYFINDER_LOG`
//! environment variable; both take `tracing` filter directives (`debug`,
//! `info,wayfinder_controlplane::access=warn`).

use std::fmt;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable that overrides `--log-level`.
pub const LOG_ENV: &str = "WAYFINDER_LOG";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log filter {filter:?} (from {origin})")]
    Filter {
        filter: String,
        origin: &'static str,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Libraries whose most verbose events carry secrets, capped whatever the filter asks:
/// `aws_sigv4` traces the canonical request it signs, and a presigned one (an EKS token)
/// holds the session token in its query string.
const SECRET_BEARING_TARGETS: &[&str] = &["aws_sigv4=debug"];

/// Installs the global logger writing to stderr.
pub fn init(format: LogFormat, level: &str) -> Result<(), LoggingError> {
    let (filter, origin) = match std::env::var(LOG_ENV) {
        Ok(v) if !v.trim().is_empty() => (v, LOG_ENV),
        _ => (level.to_string(), "--log-level"),
    };
    let mut env_filter = EnvFilter::try_new(&filter).map_err(|source| LoggingError::Filter {
        filter: filter.clone(),
        origin,
        source,
    })?;
    for cap in SECRET_BEARING_TARGETS {
        if let Ok(directive) = cap.parse() {
            env_filter = env_filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(env_filter);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(JsonFormat).try_init(),
    };
    result.map_err(|_| LoggingError::AlreadyInstalled)
}

/// One JSON object per event: `timestamp`, `level`, `target`, `message`, the event's
/// fields, and `spans` (names of the enclosing spans) when there are any.
struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
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
        let mut fields = JsonFields(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(message) = fields.0.remove("message") {
            line.insert("message".into(), message);
        }
        for (k, v) in fields.0 {
            line.entry(k).or_insert(v);
        }
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope.from_root().map(|s| s.name().into()).collect();
            line.insert("spans".into(), spans.into());
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(
            field.name().into(),
            crate::ErrorChain(value).to_string().into(),
        );
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
