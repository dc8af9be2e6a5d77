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
    raise_open_files_limit();
    // Worker threads evaluate rules and watches: their stacks hold the deepest expression
    // the PromQL parser accepts (see analyze::promql::limits).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(analyze::promql::limits::EVAL_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // A panic that a task, a query thread or a rule group catches is that part's problem: it
    // is reported and the part restarted, and the fleet keeps running. A panic that unwinds
    // out of the command itself takes the controller down, and the fleet with it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async move {
            match cli.command {
                Command::Demo(args) => commands::demo::run(args).await,
                Command::Run(args) => commands::run::run(args).await,
                Command::Check(args) => commands::check::run(args),
                Command::Incidents(args) => commands::incidents::run(args),
                Command::Bench(args) => commands::bench::run(args).await,
                Command::Detect(args) => commands::detect::run(args),
                Command::FleetService(_) => unreachable!("handled above"),
            }
        })
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(_) => {
            remedy::actuators::process::kill_all_now();
            eprintln!("error: the controller panicked (above); every supervised process was stopped");
            return std::process::ExitCode::from(101);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as Go programs (Prometheus among
/// them) do at start: the API's connections, scrapes and supervised processes' pipes all
/// need descriptors, and 1,024 is easy to exhaust.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The journal path used when none is given.
pub(crate) fn default_journal() -> PathBuf {
    PathBuf::from("autonomic.db")
}
