//! One replica of a demo service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::faults::{Fault, FaultReport, FaultState, coin};
use crate::metrics::{DownstreamLabels, Metrics, RequestLabels, RouteLabels, SignalLabels};

/// Command-line options of one replica.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceOptions {
    /// Service name, e.g. `checkout`.
    #[arg(long)]
    pub name: String,
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Replica index, for reports.
    #[arg(long, default_value_t = 0)]
    pub replica: usize,
    /// The release (version) this process runs.
    #[arg(long, default_value = "1.0.0")]
    pub release: String,
    /// A defect built into this release: `fail-half` answers 500 to half the requests.
    #[arg(long)]
    pub defect: Option<String>,
    /// A downstream service: `NAME=HOST:PORT[,HOST:PORT…]`; every request calls each one.
    #[arg(long = "downstream", value_name = "NAME=ADDRS")]
    pub downstreams: Vec<String>,
    /// Simulated work per request, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub work_ms: u64,
    /// Timeout of one downstream attempt, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub downstream_timeout_ms: u64,
    /// Delay before listening, to simulate a slow start.
    #[arg(long, default_value_t = 0)]
    pub startup_delay_ms: u64,
    /// Exit when the parent process goes away (a second line of defence against orphans).
    #[arg(long)]
    pub exit_with_parent: bool,
}

/// Why a replica could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// `--downstream` was not `NAME=ADDR[,ADDR]`.
    #[error("--downstream {0:?}: expected NAME=HOST:PORT[,HOST:PORT...]")]
    BadDownstream(String),
    /// The defect is not one this service knows.
    #[error("--defect {0:?}: the only known defect is fail-half")]
    UnknownDefect(String),
    /// Listening or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
}

struct Downstream {
    name: String,
    addrs: Vec<String>,
    next: AtomicUsize,
}

struct App {
    opts: ServiceOptions,
    fail_half: bool,
    faults: FaultState,
    metrics: Metrics,
    downstreams: Vec<Downstream>,
    client: reqwest::Client,
}

/// Runs a replica until SIGTERM or SIGINT.
pub async fn run(opts: ServiceOptions) -> Result<(), ServiceError> {
    let downstreams = opts
        .downstreams
        .iter()
        .map(|spec| {
            let (name, addrs) = spec.split_once('=').ok_or_else(|| ServiceError::BadDownstream(spec.clone()))?;
            let addrs: Vec<String> = addrs.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
            if name.is_empty() || addrs.is_empty() {
                return Err(ServiceError::BadDownstream(spec.clone()));
            }
            Ok(Downstream { name: name.to_owned(), addrs, next: AtomicUsize::new(0) })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fail_half = match opts.defect.as_deref() {
        None => false,
        Some("fail-half") => true,
        Some(other) => return Err(ServiceError::UnknownDefect(other.to_owned())),
    };
    if opts.startup_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(opts.startup_delay_ms)).await;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(opts.downstream_timeout_ms))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let app = Arc::new(App {
        metrics: Metrics::new(&opts.release),
        fail_half,
        faults: FaultState::default(),
        downstreams,
        client,
        opts,
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], app.opts.port))).await?;
    let addr = listener.local_addr()?;
    println!(
        "{} replica {} release {} listening on {addr} (pid {})",
        app.opts.name,
        app.opts.replica,
        app.opts.release,
        std::process::id()
    );

    spawn_leak_ticker(app.clone());
    spawn_signal_counters(app.clone())?;
    if app.opts.exit_with_parent {
        spawn_parent_watch();
    }

    let router = Router::new()
        .route("/work", get(work).post(work))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/fault", get(fault_report).post(inject_fault).delete(clear_faults))
        .with_state(app.clone());
    let (name, replica) = (app.opts.name.clone(), app.opts.replica);
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal(name, replica)).await?;
    println!("{} replica {} stopped", app.opts.name, app.opts.replica);
    Ok(())
}

/// Environment variable naming a file to which each replica appends `NAME REPLICA SIGNAL`
/// when a stop signal reaches it: lets tests see how the fleet was stopped (a SIGKILL leaves
/// no line).
pub const STOP_LOG_ENV: &str = "DEMO_FLEET_STOP_LOG";

async fn shutdown_signal(name: String, replica: usize) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    println!("{which}: shutting down");
    if let Some(path) = std::env::var_os(STOP_LOG_ENV) {
        use std::io::Write;
        let line = format!("{name} {replica} {which}\n");
        // One short append per replica: O_APPEND keeps concurrent lines whole.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("{STOP_LOG_ENV}: cannot append to {}: {e}", std::path::Path::new(&path).display());
        }
    }
}

fn spawn_leak_ticker(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            app.faults.leak_tick();
        }
    });
}

fn spawn_signal_counters(app: Arc<App>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    for (name, kind) in [("SIGHUP", SignalKind::hangup()), ("SIGUSR1", SignalKind::user_defined1())] {
        let mut stream = signal(kind)?;
        let app = app.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                println!("{name} received");
                app.metrics.signals.get_or_create(&SignalLabels { signal: name.to_owned() }).inc();
            }
        });
    }
    Ok(())
}

fn spawn_parent_watch() {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                println!("parent {parent} is gone: exiting");
                std::process::exit(0);
            }
        }
    });
}

async fn stall_if_hung(app: &App) {
    if app.faults.is_hung() {
        std::future::pending::<()>().await;
    }
}

async fn work(State(app): State<Arc<App>>) -> Response {
    let started = Instant::now();
    let m = app.faults.misbehaviour();
    if m.hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(app.opts.work_ms) + m.latency).await;
    let (status, body) = if app.fail_half && coin(0.5) {
        (StatusCode::INTERNAL_SERVER_ERROR, "release defect".to_owned())
    } else if coin(m.error_rate) {
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned())
    } else if coin(m.dependency_down_rate) {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable".to_owned())
    } else {
        call_downstreams(&app).await
    };
    let route = "/work".to_owned();
    app.metrics
        .requests
        .get_or_create(&RequestLabels { route: route.clone(), status: status.as_u16().to_string() })
        .inc();
    app.metrics.duration.get_or_create(&RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    (status, body).into_response()
}

/// Calls every downstream service; each call tries two replicas, like a mesh's retry
/// policy on connect failure, timeout or 5xx.
async fn call_downstreams(app: &App) -> (StatusCode, String) {
    let calls = app.downstreams.iter().map(|d| call_one(app, d));
    for (name, result) in futures::future::join_all(calls).await {
        if let Err(reason) = result {
            return (StatusCode::BAD_GATEWAY, format!("{name}: {reason}"));
        }
    }
    (StatusCode::OK, format!("{} ok", app.opts.name))
}

async fn call_one<'a>(app: &'a App, d: &'a Downstream) -> (&'a str, Result<(), String>) {
    let mut last = String::new();
    // One pick per request; a retry goes to the next replica, never the same one twice.
    let first = d.next.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..2 {
        let i = (first + attempt) % d.addrs.len();
        let url = format!("http://{}/work", d.addrs[i]);
        let outcome = match app.client.get(&url).send().await {
            Ok(resp) if resp.status().is_success() => "ok",
            Ok(resp) => {
                last = format!("{} answered {}", d.addrs[i], resp.status());
                "error"
            }
            Err(e) if e.is_timeout() => {
                last = format!("{} timed out", d.addrs[i]);
                "timeout"
            }
            Err(e) => {
                last = format!("{} unreachable: {e}", d.addrs[i]);
                "unreachable"
            }
        };
        app.metrics
            .downstream
            .get_or_create(&DownstreamLabels { downstream: d.name.clone(), outcome: outcome.to_owned() })
            .inc();
        if outcome == "ok" {
            return (&d.name, Ok(()));
        }
    }
    (&d.name, Err(last))
}

async fn health(State(app): State<Arc<App>>) -> &'static str {
    stall_if_hung(&app).await;
    "ok"
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    stall_if_hung(&app).await;
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.encode())
        .into_response()
}

fn report(app: &App) -> FaultReport {
    let (faults, leaked_bytes) = app.faults.active();
    FaultReport {
        service: app.opts.name.clone(),
        replica: app.opts.replica,
        release: app.opts.release.clone(),
        defect: app.opts.defect.clone(),
        pid: std::process::id(),
        faults,
        leaked_bytes,
    }
}

async fn fault_report(State(app): State<Arc<App>>) -> Json<FaultReport> {
    stall_if_hung(&app).await;
    Json(report(&app))
}

async fn inject_fault(State(app): State<Arc<App>>, Json(fault): Json<Fault>) -> Json<FaultReport> {
    stall_if_hung(&app).await;
    println!("fault injected: {fault:?}");
    if fault == Fault::Crash {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            println!("crashing on request");
            std::process::exit(70);
        });
    }
    app.faults.apply(&fault);
    Json(report(&app))
}

async fn clear_faults(State(app): State<Arc<App>>) -> Json<FaultReport> {
    stall_if_hung(&app).await;
    app.faults.clear();
    Json(report(&app))
}
