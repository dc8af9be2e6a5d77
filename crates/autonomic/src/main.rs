//! `autonomic`: the command line. Definitions and glue only; every decision lives in a
//! library crate.

mod commands;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A self-healing controller for services: it watches telemetry (Prometheus scrapes, health
/// probes), evaluates Prometheus alerting rules, opens incidents with a root cause, runs
/// playbooks (signal, restart, roll back, page) under guards, verifies recovery, and
/// journals every decision in SQLite.
#[derive(Debug, Parser)]
#[command(name = "autonomic", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a demo fleet of real services, inject faults one after another, heal them, and
    /// report MTTD, MTTR and availability. Exits 0 only if every fault was healed and verified.
    Demo(commands::demo::DemoArgs),
    /// Run the loop on your own services, as described by a configuration file.
    Run(commands::run::RunArgs),
    /// Check configuration, rule and playbook files without running anything; prints every
    /// error with file:line:column.
    Check(commands::check::CheckArgs),
    /// Run a streaming anomaly detector over a CSV of history (timestamp, value) and write
    /// `timestamp,value,anomaly_score`: see what it would have flagged before trusting it live.
    Detect(commands::detect::DetectArgs),
    /// Benchmarks: `bench nab` scores the anomaly detectors on the Numenta Anomaly Benchmark.
    Bench(commands::bench::BenchArgs),
    /// List incidents from the journal with their timelines.
    Incidents(commands::incidents::IncidentsArgs),
    /// Serve one replica of the demo fleet (used by `demo`; not for direct use).
    #[command(hide = true)]
    FleetService(demo_fleet::ServiceOptions),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::FleetService(opts) = cli.command {
        return commands::fleet_service(opts);
    }
    // A panic anywhere must not leave the fleet running: kill every process group we
    // started, then report the panic as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        remedy::supervisor::kill_all_now();
        default_hook(info);
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Run(args) => commands::run::run(args).await,
            Command::Check(args) => commands::check::run(args),
            Command::Incidents(args) => commands::incidents::run(args),
            Command::Bench(args) => commands::bench::run(args).await,
            Command::Detect(args) => commands::detect::run(args),
            Command::FleetService(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The journal path used when none is given.
pub(crate) fn default_journal() -> PathBuf {
    PathBuf::from("autonomic.db")
}
