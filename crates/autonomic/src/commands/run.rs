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
    /// Serve the API (Prometheus' query API over the live series, `/metrics`, and the
    /// configured sources' remote write and Alertmanager webhook) on this address, for
    /// example 127.0.0.1:9464; overrides the configuration's `api.listen`.
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
    // From here on a stop request waits for an orderly shutdown instead of killing the
    // process (it may arrive while the fleet is still starting).
    let mut stop = super::StopSignals::listen().map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
    // Check and bind before starting anything, so a taken port fails fast.
    let listen = args.listen.or(config.api.listen);
    if let Some(addr) = listen {
        server::check_listen(addr, &config.api.access).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    } else if !config.push_sources.is_empty() {
        anyhow::bail!(
            "sources: remote_write and alertmanager are served on the API's listener: set api.listen or pass --listen"
        );
    }
    let listener = match listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("--listen {addr}: cannot listen there: {e}"))?,
        ),
        None => None,
    };
    let controller = Controller::start(config, opts).await?;
    if let Some(listener) = listener {
        let routes = controller.routes();
        let state = server::ApiState::new(
            controller.store().clone(),
            controller.clock().clone(),
            analyze::promql::Engine::new(),
            controller.health().clone(),
            controller.config().api.limits.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the query threads: {e}"))?
        .with_access(controller.config().api.access.clone())
        .with_tls(controller.config().api.tls.clone())
        .with_metrics(controller.metrics().clone())
        .with_routes(routes.clone());
        let pushed: Vec<&str> = routes.iter().map(|r| r.path).collect();
        tracing::info!(
            addr = ?listener.local_addr().ok(),
            tokens = !controller.config().api.access.is_open(),
            tls = controller.config().api.tls.is_some(),
            ?pushed,
            "API: /api/v1/query, /api/v1/query_range, /api/v1/series, /api/v1/labels, /metrics"
        );
        tokio::spawn(async move {
            if let Err(e) = server::serve(listener, state).await {
                tracing::error!(error = %e, "the API stopped");
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
    let why = tokio::select! {
        why = stop.next() => why,
        ready = controller.wait_ready(Duration::from_secs(30)) => {
            if let Err(e) = ready {
                tracing::warn!(error = %e, "not every replica became ready; running anyway");
            }
            stop.next().await
        }
    };
    tracing::info!(signal = why, "stopping: services get SIGTERM, then SIGKILL after their grace period");
    controller.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
