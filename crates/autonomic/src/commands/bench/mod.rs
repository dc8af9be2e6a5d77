//! `autonomic bench`: the benchmarks whose figures BENCHMARKS.md records.

mod ingest;
mod kpi;
mod kubernetes;
mod load;
mod nab;
mod promql;

use std::process::ExitCode;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, clap::Subcommand)]
enum Which {
    /// Score a detector on NAB (58 series, 116 labelled windows) beside the published
    /// scoreboard, with the threshold NAB's optimiser picks, a threshold fixed in advance,
    /// and a threshold tuned on half the files and tested on the other half.
    Nab(nab::NabArgs),
    /// Score a detector on operator-labelled web-service KPIs (`DIR/<set>/<series>.csv`) with
    /// the metrics of the corpus' reference scorer, beside its three simple baselines.
    Kpi(kpi::KpiArgs),
    /// Remote-write ingestion: the same payloads (10,000 series, one sample per series per
    /// 15 s batch) into Autonomic and into Debian's Prometheus, one after the other, as fast
    /// as each accepts them; samples per second, memory per series and per sample, ratios.
    Ingest(ingest::IngestArgs),
    /// Time PromQL range queries through the query API over many series, beside a real
    /// Prometheus holding the same samples (when `prometheus` and `promtool` are installed),
    /// and check that both return the same results.
    Promql(promql::PromqlArgs),
    /// Run the demo twice, quiet and beside hostile query clients (the most expensive
    /// queries the API's limits allow), and compare MTTD, MTTR and the loop's largest
    /// scrape and evaluation gaps (goal: at most two intervals under load).
    QueryLoad(load::LoadArgs),
    /// A bad release on a real control plane (the test bed by default): the time from an
    /// alert at the webhook to the rollback's API call and to a verified rollback, beside
    /// plain Kubernetes, which keeps the bad release.
    Kubernetes(kubernetes::KubernetesArgs),
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.which {
        Which::Nab(a) => nab::run(a),
        Which::Kpi(a) => kpi::run(a),
        Which::Ingest(a) => ingest::run(a).await,
        Which::Promql(a) => promql::run(a).await,
        Which::QueryLoad(a) => load::run(a).await,
        Which::Kubernetes(a) => kubernetes::run(a).await,
    }
}
