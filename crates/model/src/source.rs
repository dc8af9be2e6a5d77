//! The contract of the loop's open end that observes: sources.
//!
//! A source (a scrape target, a health probe, a remote-write or Alertmanager receiver) is
//! built from the configuration by its type's builder and run by the controller under
//! supervision: if it panics, it is run again from the same [`Source`], so [`Source::run`]
//! starts from scratch each time. What it observes goes to the [`SourceContext`]: samples to
//! the store, signals to the incident manager, time from the injected clock.

use std::sync::Arc;

use crate::clock::Clock;
use crate::component::BoxFuture;
use crate::http::Route;
use crate::series::SampleSink;
use crate::signal::Signal;
use crate::telemetry::SelfMetrics;

/// Where signals go (the incident manager's queue). Cheap to clone.
#[derive(Clone)]
pub struct SignalSink(Arc<dyn Fn(Signal) + Send + Sync>);

impl SignalSink {
    /// A sink that hands each signal to `f`.
    pub fn new(f: impl Fn(Signal) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Sends one signal edge (firing or resolved).
    pub fn send(&self, signal: Signal) {
        (self.0)(signal)
    }
}

impl std::fmt::Debug for SignalSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalSink")
    }
}

impl From<tokio::sync::mpsc::UnboundedSender<Signal>> for SignalSink {
    fn from(tx: tokio::sync::mpsc::UnboundedSender<Signal>) -> Self {
        // A closed queue means the loop is stopping: the signal has nowhere to go.
        Self::new(move |s| {
            let _ = tx.send(s);
        })
    }
}

/// What a running source writes to.
#[derive(Clone)]
pub struct SourceContext {
    /// The series store.
    pub samples: Arc<dyn SampleSink>,
    /// The incident manager.
    pub signals: SignalSink,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The controller's own counters (samples ingested and refused, by reason).
    pub metrics: SelfMetrics,
}

/// A running source of telemetry.
pub trait Source: Send + Sync {
    /// Its type's name in the configuration and the registry (`scrape`, `probe`).
    fn type_name(&self) -> &'static str;

    /// What it observes, for logs and panic reports (`scrape http://127.0.0.1:8080/metrics`).
    fn name(&self) -> String;

    /// Observes until the task is aborted, from scratch: nothing is carried over from an
    /// earlier run that panicked.
    fn run(&self, ctx: SourceContext) -> BoxFuture<'static, ()>;

    /// The HTTP routes it serves on the API's listener, for a source that receives pushes
    /// (remote write, Alertmanager): handlers write to `ctx` as [`Source::run`] would. None
    /// by default.
    fn routes(&self, ctx: &SourceContext) -> Vec<Route> {
        let _ = ctx;
        Vec::new()
    }
}
