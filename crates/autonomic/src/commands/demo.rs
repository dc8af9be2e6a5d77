//! `autonomic demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaos::{DemoOptions, FaultKind, Report};
use controller::Mode;

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run only the baseline: restart on exit + Kubernetes-default liveness probes.
    #[arg(long, conflicts_with = "compare")]
    baseline: bool,
    /// Run Autonomic, then the baseline, and print them side by side.
    #[arg(long)]
    compare: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Journal file.
    #[arg(long, default_value_os_t = crate::default_journal())]
    journal: PathBuf,
    /// Only these faults (comma-separated): crash, hang, memory_leak, error_burst, latency,
    /// bad_release, dependency_failure.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Requests per second sent to the gateway.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Seconds each fault is given to heal.
    #[arg(long, default_value_t = 60)]
    budget: u64,
    /// Also serve the query API and run this many hostile clients against it, asking for
    /// the most expensive queries its limits allow, beside the loop (see `bench query-load`).
    #[arg(long, value_name = "CLIENTS", default_value_t = 0)]
    query_load: usize,
}

/// The default fault plan, or only the faults named.
pub fn plan(faults: &[String]) -> anyhow::Result<Vec<chaos::FaultPlan>> {
    let mut plan = chaos::default_plan();
    if !faults.is_empty() {
        let wanted: Vec<FaultKind> = faults
            .iter()
            .map(|f| FaultKind::parse(f).ok_or_else(|| anyhow::anyhow!("--faults: unknown fault {f:?}")))
            .collect::<anyhow::Result<_>>()?;
        plan.retain(|p| wanted.contains(&p.kind));
    }
    Ok(plan)
}

/// Runs the demo; the exit code says whether everything healed.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::init_logging("error");
    let plan = plan(&args.faults)?;
    let opts = DemoOptions {
        self_exe: std::env::current_exe()?,
        journal: args.journal.clone(),
        plan,
        rate: args.rate,
        budget: Duration::from_secs(args.budget),
        query_load: args.query_load,
    };
    if std::env::var("AUTONOMIC_CHAOS_PANIC").as_deref() == Ok("after-start") {
        // Self-chaos for the orphan test: the fleet is up, then the controller panics.
        let demo = tokio::spawn(async move { chaos::run_once(&opts, Mode::Autonomic).await });
        tokio::time::sleep(Duration::from_secs(3)).await;
        demo.abort();
        panic!("AUTONOMIC_CHAOS_PANIC=after-start: panicking with the fleet running");
    }
    let modes: &[Mode] = if args.compare {
        &[Mode::Autonomic, Mode::Baseline]
    } else if args.baseline {
        &[Mode::Baseline]
    } else {
        &[Mode::Autonomic]
    };
    // Listen before the fleet starts: a Ctrl-C at any point stops it the orderly way
    // (SIGTERM, grace period, SIGKILL), as `autonomic run` does. Only a panic kills the
    // fleet outright (the hook in main).
    let mut signals = super::StopSignals::listen()?;
    let mut reports: Vec<Report> = Vec::new();
    for mode in modes {
        let stop = async { signals.next().await.to_owned() };
        let report = match chaos::run_until(&opts, *mode, stop).await {
            Ok(report) => report,
            Err(e @ chaos::DemoError::Interrupted(_)) => anyhow::bail!("{e}"),
            Err(e) => return Err(e.into()),
        };
        println!("{}", chaos::table(&report));
        reports.push(report);
    }
    if let [autonomic, baseline] = reports.as_slice() {
        println!("{}", chaos::compare_table(autonomic, baseline));
    }
    if let Some(path) = &args.json {
        let mut json = serde_json::to_value(&reports[0])?;
        if let (Some(obj), Some(baseline)) = (json.as_object_mut(), reports.get(1)) {
            obj.insert("baseline".into(), serde_json::to_value(baseline)?);
        }
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        println!("report written to {}", path.display());
    }
    println!("journal: {} (see `autonomic incidents --journal {}`)", args.journal.display(), args.journal.display());
    let healed = reports.first().is_some_and(|r| r.mode == "baseline" || r.all_healed());
    Ok(if healed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
