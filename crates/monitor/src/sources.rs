//! The registry of source types: each [`SourceSpec`] (what the configuration asks to
//! observe) builds a [`Source`] that the controller runs under supervision.

use model::{BoxFuture, Source, SourceContext};

use crate::alertmanager::{AlertmanagerSettings, AlertmanagerSource};
use crate::probe::{ProbeSpec, Prober};
use crate::remote_write::{RemoteWriteSettings, RemoteWriteSource};
use crate::scrape::{ScrapeTarget, Scraper};

/// What to observe, by source type.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// `scrape`: a Prometheus exposition endpoint, on its interval.
    Scrape(ScrapeTarget),
    /// `probe`: an HTTP or TCP health check, on its period.
    Probe(ProbeSpec),
    /// `remote_write`: Prometheus remote write 1.0 pushed to `POST /api/v1/write`.
    RemoteWrite(RemoteWriteSettings),
    /// `alertmanager`: Alertmanager's webhook at `POST /api/v1/alerts`.
    Alertmanager(AlertmanagerSettings),
}

/// The type names [`SourceSpec`] knows.
pub const TYPES: &[&str] = &["scrape", "probe", "remote_write", "alertmanager"];

/// Builds the source `spec` describes; `client` is shared by every HTTP source.
pub fn build(spec: SourceSpec, client: &reqwest::Client) -> Box<dyn Source> {
    match spec {
        SourceSpec::Scrape(target) => Box::new(ScrapeSource { target, client: client.clone() }),
        SourceSpec::Probe(spec) => Box::new(ProbeSource { spec, client: client.clone() }),
        SourceSpec::RemoteWrite(settings) => Box::new(RemoteWriteSource::new(settings)),
        SourceSpec::Alertmanager(settings) => Box::new(AlertmanagerSource::new(settings)),
    }
}

/// A scrape target as a [`Source`].
struct ScrapeSource {
    target: ScrapeTarget,
    client: reqwest::Client,
}

impl Source for ScrapeSource {
    fn type_name(&self) -> &'static str {
        "scrape"
    }

    fn name(&self) -> String {
        format!("scrape {}", self.target.url)
    }

    fn run(&self, ctx: SourceContext) -> BoxFuture<'static, ()> {
        let scraper = Scraper::new(self.target.clone(), self.client.clone(), ctx.samples, ctx.clock, ctx.signals)
            .with_metrics(ctx.metrics);
        Box::pin(scraper.run())
    }
}

/// A health probe as a [`Source`].
struct ProbeSource {
    spec: ProbeSpec,
    client: reqwest::Client,
}

impl Source for ProbeSource {
    fn type_name(&self) -> &'static str {
        "probe"
    }

    fn name(&self) -> String {
        format!("probe {}", self.spec.check)
    }

    fn run(&self, ctx: SourceContext) -> BoxFuture<'static, ()> {
        let prober = Prober::new(self.spec.clone(), self.client.clone(), ctx.samples, ctx.clock, ctx.signals);
        Box::pin(prober.run())
    }
}
