//! `autonomic run`: the loop on the user's own services.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use controller::{Controller, RunOptions};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short)]
    config: PathBuf,
    /// Decide and journal every action, but do none (pages included).
    #[arg(long)]
    dry_run: bool,
    /// Journal file (default: the configuration's `journal`, else ./autonomic.db).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Serve Prometheus' query API (`/api/v1/query`, `/api/v1/query_range`) over the live
    /// series, anomaly scores included, on this address (for example 127.0.0.1:9464);
    /// overrides the configuration's `api.listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    super::init_logging("info");
    let config = match controller::load(&args.config) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            eprintln!("{}: {} error(s); not starting", args.config.display(), diags.len());
            return Ok(ExitCode::from(1));
        }
    };
    let mut opts = RunOptions::autonomic(std::env::current_exe()?);
    opts.dry_run = args.dry_run;
    opts.journal = args.journal;
    // Bind before starting anything, so a taken port fails fast.
    let listener = match args.listen.or(config.api.listen) {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("--listen {addr}: cannot listen there: {e}"))?,
        ),
        None => None,
    };
    let controller = Controller::start(config, opts).await?;
    if let Some(listener) = listener {
        let state = server::ApiState::new(
            controller.store().clone(),
            controller.clock().clone(),
            analyze::promql::Engine::new(),
            controller.health().clone(),
            controller.config().api.limits.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the query threads: {e}"))?;
        tracing::info!(addr = ?listener.local_addr().ok(), "query API at /api/v1/query and /api/v1/query_range");
        tokio::spawn(async move {
            if let Err(e) = server::serve(listener, state).await {
                tracing::error!(error = %e, "the query API stopped");
            }
        });
    }
    tracing::info!(
        services = controller.config().services.len(),
        rule_groups = controller.config().rule_groups.len(),
        playbooks = controller.config().playbooks.len(),
        dry_run = args.dry_run,
        "autonomic is running; Ctrl-C stops it"
    );
    if std::env::var("AUTONOMIC_CHAOS_PANIC").as_deref() == Ok("in-task") {
        // Self-chaos for the test that a panic caught in a task leaves the fleet alone.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            panic!("AUTONOMIC_CHAOS_PANIC=in-task: a task panics; the runtime catches it");
        });
    }
    if let Err(e) = controller.wait_ready(Duration::from_secs(30)).await {
        tracing::warn!(error = %e, "not every replica became ready; running anyway");
    }
    let why = super::stop_requested().await;
    tracing::info!(signal = why, "stopping: services get SIGTERM, then SIGKILL after their grace period");
    controller.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
