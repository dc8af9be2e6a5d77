//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod demo;
pub mod detect;
pub mod incidents;
pub mod run;

use tracing_subscriber::EnvFilter;

/// A positive span of time as Prometheus writes it (`1w`, `12h`), in milliseconds.
pub fn parse_span(text: &str) -> Result<i64, String> {
    let d = model::parse_duration(text)?;
    match i64::try_from(d.as_millis()) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(format!("{text:?}: expected a positive span such as 1w or 12h")),
    }
}

/// Logs to stderr; `RUST_LOG` overrides `default`.
pub fn init_logging(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// SIGINT and SIGTERM, listened for from the moment this is created: one that arrives
/// before anybody awaits [`StopSignals::next`] is kept for it, instead of killing the
/// process on the spot.
pub struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening.
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    /// The next stop request: `"SIGINT"` or `"SIGTERM"`.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// `autonomic fleet-service`: one replica of the demo fleet, on a small runtime.
pub fn fleet_service(opts: demo_fleet::ServiceOptions) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(demo_fleet::run(opts)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
