//! Logs as hclog JSON lines on stderr, so Terraform files them under the right `TF_LOG`
//! level. The level comes from `TF_LOG_PROVIDER_WAYFINDER`, `TF_LOG_PROVIDER` or `TF_LOG`.

use std::io::Write;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the logger. Our own events log at the chosen level; dependencies' at warn.
pub fn init() {
    let level = ["TF_LOG_PROVIDER_WAYFINDER", "TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .map(|v| parse_level(&v))
        .unwrap_or(Some(Level::WARN));
    let _ = tracing_subscriber::registry()
        .with(Hclog { level })
        .try_init();
}

fn parse_level(v: &str) -> Option<Level> {
    match v.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        "OFF" => None,
        _ => Some(Level::TRACE),
    }
}

struct Hclog {
    level: Option<Level>,
}

impl Hclog {
    fn enabled_for(&self, meta: &tracing::Metadata<'_>) -> bool {
        let Some(max) = self.level else { return false };
        let ours = meta.target().starts_with("terraform_provider_wayfinder");
        let max = if ours { max } else { max.min(Level::WARN) };
        *meta.level() <= max
    }
}

impl<S: Subscriber> Layer<S> for Hclog {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        self.enabled_for(meta)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Map::new();
        fields.insert("@level".into(), Json::from(level_name(meta.level())));
        fields.insert("@module".into(), Json::from("wayfinder"));
        fields.insert(
            "@timestamp".into(),
            Json::from(humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()),
        );
        let mut visitor = Fields(Map::new());
        event.record(&mut visitor);
        let message = visitor.0.remove("message").unwrap_or(Json::from(""));
        fields.insert("@message".into(), message);
        fields.extend(visitor.0);
        let mut line = Json::Object(fields).to_string();
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

struct Fields(Map<String, Json>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), Json::from(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_tf_log_names() {
        assert_eq!(parse_level("debug"), Some(Level::DEBUG));
        assert_eq!(parse_level("JSON"), Some(Level::TRACE));
        assert_eq!(parse_level("off"), None);
    }
}
