//! The plugin's own log lines during the suite, caught as they reach the host log: every event
//! the sandbox logs with a `plugin` field (what the plugin passed to `log`, and what it printed),
//! at every level, whatever `RAPPORT_LOG` lets through to stderr.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// The plugin log lines caught so far.
#[derive(Debug, Clone, Default)]
pub struct PluginLogs(Arc<Mutex<Vec<String>>>);

impl PluginLogs {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lines lock").clone()
    }
}

/// Logs to stderr at `RAPPORT_LOG` (or `default`) and catches the plugin's lines.
pub fn install(default: &str) -> PluginLogs {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = PluginLogs::default();
    Registry::default()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(filter),
        )
        .with(logs.clone())
        .init();
    logs
}

impl<S: Subscriber> Layer<S> for PluginLogs {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("rapport_sandbox") {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        if line.from_plugin {
            self.0.lock().expect("log lines lock").push(line.text);
        }
    }
}

/// One event's text (its message and fields other than the plugin's id and generation).
#[derive(Default)]
struct Line {
    from_plugin: bool,
    text: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, &format!("{value:?}"));
    }
}

impl Line {
    fn record(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => self.from_plugin = true,
            "generation" => {}
            "message" => {
                let _ = write!(self.text, "{value} ");
            }
            name => {
                let _ = write!(self.text, "{name}={value} ");
            }
        }
    }
}
