//! The running loop: supervisor, scrapers, probes, rule groups, the incident manager and
//! the ladders, wired through `model` types.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analyze::promql::Engine;
use knowledge::{Journal, RunId};
use model::{Clock, Signal, TokioClock};
use model::{EventKind, Route, SelfMetrics, SignalSink, Source, SourceContext, Target};
use monitor::{ProbeSpec, ScrapeTarget, SeriesStore, SourceSpec};
use remedy::actuators::process::{Readiness, Release, ServiceSpec, SupervisorError};
use remedy::{Actuators, GuardState, Ladder, PageRetry, Pager, ProcessActuator};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::baseline::{Liveness, liveness_loop};
use crate::cluster;
use crate::config::Config;
use crate::incidents::{IncidentManager, Mode};
use crate::journal_watch;
use crate::tasks::{self, PanicReport};
use crate::topology::{Topology, expand, health_check};
use crate::verify::LoopVerifier;

/// The journal label of dry runs; their incidents are never resumed.
pub const DRY_RUN_LABEL: &str = knowledge::DRY_RUN_MODE;

/// How to run the loop.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Full loop or baseline.
    pub mode: Mode,
    /// Journal actions without doing them.
    pub dry_run: bool,
    /// What `{autonomic}` expands to (the binary that serves the demo fleet).
    pub self_exe: PathBuf,
    /// Journal path instead of the configured one.
    pub journal: Option<PathBuf>,
    /// The run's label in the journal (`run`, `demo`, `baseline`, …).
    pub label: String,
    /// Liveness settings in baseline mode.
    pub liveness: Liveness,
    /// Whether the guards remember the last hour's actions from the journal, so that a
    /// restarted controller keeps its cooldowns and budgets (`run`). The demo starts a new
    /// fleet and a new experiment each time: earlier runs' actions on processes that no longer
    /// exist must not spend its budget.
    pub guards_from_journal: bool,
}

impl RunOptions {
    /// The full loop, acting for real.
    pub fn autonomic(self_exe: PathBuf) -> Self {
        Self {
            mode: Mode::Autonomic,
            dry_run: false,
            self_exe,
            journal: None,
            label: "run".into(),
            liveness: Liveness::default(),
            guards_from_journal: true,
        }
    }
}

/// Why the loop could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] knowledge::JournalError),
    /// Ports could not be assigned.
    #[error("cannot assign ports: {0}")]
    Ports(std::io::Error),
    /// A service could not be supervised.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}

/// The running controller.
pub struct Controller {
    config: Arc<Config>,
    topology: Arc<Topology>,
    store: Arc<SeriesStore>,
    journal: Arc<Journal>,
    run: RunId,
    process: ProcessActuator,
    actuators: Actuators,
    /// The client of the `kubernetes` services' cluster, when there are some and it could
    /// be made: their sources watch through it.
    cluster: Option<kubernetes::Cluster>,
    clock: Arc<dyn Clock>,
    incidents: Arc<IncidentManager>,
    health: model::Health,
    restarts: analyze::anomaly::Restarts,
    metrics: SelfMetrics,
    routes: Mutex<Vec<Route>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("run", &self.run).finish_non_exhaustive()
    }
}

fn readiness(config: &Config, topology: &Topology, service: &str) -> Option<Readiness> {
    let cfg = config.service(service)?;
    let checks: Vec<monitor::ProbeCheck> = topology
        .replicas(service)
        .iter()
        .map(|r| {
            health_check(cfg, r)
                .or_else(|| cfg.metrics.as_ref().map(|m| monitor::ProbeCheck::Http { url: expand(m, &r.vars) }))
                .unwrap_or_else(|| monitor::ProbeCheck::Tcp { addr: r.addr.clone() })
        })
        .collect();
    let checks = Arc::new(checks);
    let client = reqwest::Client::new();
    Some(Arc::new(move |_service: &str, replica: usize| {
        let checks = checks.clone();
        let client = client.clone();
        Box::pin(async move {
            match checks.get(replica) {
                Some(c) => monitor::probe_once(&client, c, Duration::from_millis(500)).await.is_ok(),
                None => false,
            }
        })
    }))
}

impl Controller {
    /// Opens the journal, recovers interrupted actions, starts the supervised services and
    /// every loop task.
    pub async fn start(config: Config, opts: RunOptions) -> Result<Self, ControllerError> {
        let config = Arc::new(config);
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let journal_path = opts.journal.clone().unwrap_or_else(|| config.journal.clone());
        let journal = Arc::new(Journal::open(&journal_path)?);
        // The supervisor's observer keeps the journal referenced past a failed start: release
        // its lock explicitly then.
        let close_on_failure = CloseOnFailure(Some(journal.clone()));
        let health = model::Health::new();
        let metrics = SelfMetrics::new();
        let journal_events = journal_watch::observe(&journal, &health);
        let interrupted = journal.recover_interrupted(clock.now())?;
        for a in &interrupted {
            tracing::warn!(action = %a.description, "an action was in flight when the controller stopped; marked interrupted, not repeated");
        }
        // A dry run neither resumes incidents nor leaves any for a real run to resume.
        let resumable = if opts.dry_run { Vec::new() } else { journal.open_incidents()? };
        let label = if opts.dry_run { DRY_RUN_LABEL.to_owned() } else { opts.label.clone() };
        let run = journal.begin_run(&label, clock.now())?;
        let topology = Arc::new(Topology::resolve(&config, &opts.self_exe).map_err(ControllerError::Ports)?);
        let store = Arc::new(SeriesStore::new(config.retention, config.max_series));
        if let Some(path) = config.snapshot.as_deref().filter(|p| p.exists()) {
            // A corrupt snapshot costs the history, never the start.
            match store.load_snapshot(path) {
                Ok(s) => {
                    tracing::info!(file = %path.display(), series = s.series, samples = s.samples, "series store restored")
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "snapshot not loaded; starting without its history")
                }
            }
        }
        let process = ProcessActuator::new(clock.clone());
        let mut actuators = Actuators::new();
        let bound: Arc<dyn model::Actuator> = Arc::new(process.clone());
        for s in config.services.iter().filter(|s| s.run.is_some()) {
            actuators.bind(s.name.clone(), bound.clone());
        }
        let mut cluster = None;
        if let Some((actuator, client)) = cluster::actuator(&config, clock.clone(), &health, &journal).await {
            for s in config.services.iter().filter(|s| s.kubernetes.is_some()) {
                actuators.bind(s.name.clone(), actuator.clone());
            }
            cluster = client;
        }
        let incidents = IncidentManager::new(
            journal.clone(),
            run,
            clock.clone(),
            config.clone(),
            topology.clone(),
            actuators.clone(),
            opts.mode,
            resumable,
        );
        let observer = incidents.clone();
        let restarts = analyze::anomaly::Restarts::default();
        let (restarted, replicas) = (restarts.clone(), topology.clone());
        process.set_events(Arc::new(move |e| {
            // A fresh process is a new baseline for the learned detectors.
            if let (EventKind::Started { .. }, Target::One(replica)) = (&e.kind, &e.target)
                && let Some(r) = replicas.replicas(&e.service).get(*replica)
            {
                restarted.record(&r.addr);
            }
            observer.on_event(e)
        }));

        let pager = Pager::new()
            .with_retry(PageRetry { retry_for: config.escalation_retry_for, ..PageRetry::default() })
            .with_routing_key(config.escalation_routing_key.as_ref().map(|k| k.expose().to_owned()));
        let verifier = LoopVerifier {
            board: incidents.board(),
            store: store.clone(),
            engine: Engine::new(),
            clock: clock.clone(),
            actuators: actuators.clone(),
            config: config.clone(),
            topology: topology.clone(),
        };
        let leadership = cluster::leadership(&config, cluster.as_ref(), &journal, &clock);
        let guards = initial_guards(&journal, clock.now(), opts.guards_from_journal)?;
        incidents.set_ladder(Ladder {
            journal: journal.clone(),
            run,
            actuators: actuators.clone(),
            pager: pager.clone(),
            verifier: Arc::new(verifier),
            guards: Arc::new(Mutex::new(guards)),
            clock: clock.clone(),
            dry_run: opts.dry_run,
            escalation_url: config.escalation_url.clone(),
            escalation_format: config.escalation_format,
            poll: Duration::from_millis(250),
            health: health.clone(),
            metrics: metrics.clone(),
            leadership,
        });

        for s in &config.services {
            let Some(run_cfg) = &s.run else { continue };
            process.start_service(ServiceSpec {
                name: s.name.clone(),
                release: Release {
                    version: run_cfg.release.clone(),
                    command: run_cfg.command.clone(),
                    env: run_cfg.env.clone(),
                },
                replica_vars: topology.replicas(&s.name).iter().map(|r| r.vars.clone()).collect(),
                restart: run_cfg.restart.clone(),
                stop_grace: run_cfg.stop_grace,
                log_lines: 200,
                readiness: readiness(&config, &topology, &s.name),
                ready_timeout: run_cfg.ready_timeout,
            })?;
        }

        let controller = Self {
            config,
            topology,
            store,
            journal,
            run,
            process,
            actuators,
            cluster,
            clock,
            incidents,
            health: health.clone(),
            restarts,
            metrics,
            routes: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
        };
        controller.spawn(journal_watch::watch(
            journal_events,
            journal_watch::Watch {
                journal: controller.journal.clone(),
                incidents: controller.incidents.clone(),
                pager,
                url: if opts.dry_run { None } else { controller.config.escalation_url.clone() },
                format: controller.config.escalation_format,
                clock: controller.clock.clone(),
                health,
            },
        ));
        controller.spawn(journal_watch::prune_every(
            controller.journal.clone(),
            controller.clock.clone(),
            controller.config.journal_retention,
            journal_watch::PRUNE_EVERY,
        ));
        close_on_failure.disarm();
        match opts.mode {
            Mode::Autonomic => controller.start_loop(),
            Mode::Baseline => controller.start_baseline(opts.liveness),
        }
        Ok(controller)
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(tokio::spawn(task));
    }

    /// Runs a loop task under [`tasks::supervise`]: restarted after a panic, which is reported.
    fn supervise<F, Fut>(&self, name: String, make: F, report: &PanicReport)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.spawn(tasks::supervise(name, make, report.clone()));
    }

    /// What the configuration asks to observe: each replica's metrics endpoint (`scrape`)
    /// and health check (`probe`), labelled with its service, instance and replica.
    fn source_specs(&self) -> Vec<SourceSpec> {
        let mut specs = Vec::new();
        for s in &self.config.services {
            for r in self.topology.replicas(&s.name) {
                let labels = model::Labels::from_pairs([
                    ("job", s.name.clone()),
                    ("service", s.name.clone()),
                    ("instance", r.addr.clone()),
                    ("replica", r.index.to_string()),
                ]);
                if let Some(m) = &s.metrics {
                    specs.push(SourceSpec::Scrape(ScrapeTarget {
                        url: expand(m, &r.vars),
                        labels: labels.clone(),
                        interval: self.config.scrape.interval,
                        timeout: self.config.scrape.timeout,
                        down_after: self.config.scrape.down_after,
                        limits: self.config.scrape.limits,
                    }));
                }
                if let Some(check) = health_check(s, r) {
                    specs.push(SourceSpec::Probe(ProbeSpec {
                        check,
                        labels,
                        period: s.probe.period,
                        timeout: s.probe.timeout,
                        failure_threshold: s.probe.failure_threshold,
                        success_threshold: s.probe.success_threshold,
                    }));
                }
            }
        }
        specs.extend(self.config.push_sources.iter().cloned());
        specs
    }

    fn start_loop(&self) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Signal>();
        let report = PanicReport { health: self.health.clone(), signals: tx.clone(), clock: self.clock.clone() };
        let client = reqwest::Client::builder().pool_max_idle_per_host(2).build().unwrap_or_default();
        let ctx = SourceContext {
            samples: self.store.clone(),
            signals: SignalSink::from(tx.clone()),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        };
        for spec in self.source_specs() {
            let source: Arc<dyn Source> = Arc::from(monitor::sources::build(spec, &client));
            self.routes.lock().unwrap_or_else(|p| p.into_inner()).extend(source.routes(&ctx));
            let ctx = ctx.clone();
            self.supervise(source.name(), move || source.run(ctx.clone()), &report);
        }
        for source in cluster::sources(&self.config, self.cluster.as_ref(), &client) {
            let source: Arc<dyn Source> = Arc::new(source);
            let ctx = ctx.clone();
            self.supervise(source.name(), move || source.run(ctx.clone()), &report);
        }
        for group in self.config.rule_groups.clone() {
            let (store, clock, tx) = (self.store.clone(), self.clock.clone(), tx.clone());
            self.supervise(
                format!("rule group {}", group.name),
                move || group.clone().run(Engine::new(), store.clone(), clock.clone(), tx.clone()),
                &report,
            );
        }
        for spec in self.config.anomaly_watches.clone() {
            let (store, clock, tx, restarts) =
                (self.store.clone(), self.clock.clone(), tx.clone(), self.restarts.clone());
            self.supervise(
                format!("anomaly watch {}", spec.name),
                move || {
                    let watch = analyze::anomaly::Watch::with_restarts(spec.clone(), restarts.clone());
                    watch.run(Engine::new(), store.clone(), clock.clone(), tx.clone())
                },
                &report,
            );
        }
        let incidents = self.incidents.clone();
        let signal_report = report.clone();
        let metrics = self.metrics.clone();
        self.spawn(async move {
            while let Some(signal) = rx.recv().await {
                let state = match signal.state {
                    model::SignalState::Firing => "firing",
                    model::SignalState::Resolved => "resolved",
                };
                metrics.signal(signal.kind.as_str(), state);
                // The channel's only reader must outlive a panic in handling one signal.
                let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| incidents.on_signal(signal)));
                if let Err(panic) = handled {
                    signal_report.panicked("incident manager", &tasks::panic_message(panic), Duration::ZERO);
                }
            }
        });
        let (incidents, resume_within) = (self.incidents.clone(), self.config.resume_within);
        self.spawn(async move {
            // Incidents of an earlier run get `resume_within` to fire again and be resumed.
            tokio::time::sleep(resume_within).await;
            incidents.expire_resumable();
        });
        let (store, clock, metrics) = (self.store.clone(), self.clock.clone(), self.metrics.clone());
        self.supervise(
            "store compaction".into(),
            move || {
                let (store, clock, metrics) = (store.clone(), clock.clone(), metrics.clone());
                async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(10));
                    loop {
                        tick.tick().await;
                        // The pass that compacts also counts what is left.
                        let stats = store.compact(clock.now());
                        metrics.set_store(stats.series, stats.samples, stats.chunk_bytes);
                        store.record_own_series(clock.now());
                    }
                }
            },
            &report,
        );
        if let Some(path) = self.config.snapshot.clone() {
            let store = self.store.clone();
            self.supervise(
                "store snapshot".into(),
                move || {
                    let (store, path) = (store.clone(), path.clone());
                    async move {
                        let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
                        tick.tick().await;
                        loop {
                            tick.tick().await;
                            save_snapshot(store.clone(), path.clone()).await;
                        }
                    }
                },
                &report,
            );
        }
        let (store, clock, metrics, incidents) =
            (self.store.clone(), self.clock.clone(), self.metrics.clone(), self.incidents.clone());
        let every = self.config.scrape.interval.max(Duration::from_secs(1));
        self.supervise(
            "self-observation".into(),
            move || {
                let (store, clock, metrics, incidents) =
                    (store.clone(), clock.clone(), metrics.clone(), incidents.clone());
                async move {
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        metrics.set_incidents_open(incidents.open_count());
                        crate::self_metrics::record(&metrics, store.as_ref(), clock.now());
                    }
                }
            },
            &report,
        );
    }

    fn start_baseline(&self, liveness: Liveness) {
        for s in &self.config.services {
            if s.run.is_none() {
                continue;
            }
            for r in self.topology.replicas(&s.name) {
                let Some(check) = health_check(s, r) else {
                    continue;
                };
                self.spawn(liveness_loop(
                    liveness,
                    check,
                    s.name.clone(),
                    r.index,
                    r.addr.clone(),
                    self.actuators.clone(),
                    self.journal.clone(),
                    self.run,
                    self.clock.clone(),
                ));
            }
        }
    }

    /// The controller's own counters (served at `/metrics`, written to the store).
    pub fn metrics(&self) -> &SelfMetrics {
        &self.metrics
    }

    /// The HTTP routes its sources serve (remote write, the Alertmanager webhook), to mount
    /// on the API's listener.
    pub fn routes(&self) -> Vec<Route> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The configuration it runs.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Where every replica lives.
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    /// Recent samples.
    pub fn store(&self) -> &Arc<SeriesStore> {
        &self.store
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    /// This run's id in the journal.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// Time.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signals and incidents.
    pub fn incidents(&self) -> &Arc<IncidentManager> {
        &self.incidents
    }

    /// What is wrong with the controller itself (read by `/-/healthy` and `/-/ready`).
    pub fn health(&self) -> &model::Health {
        &self.health
    }

    /// Each service's actuator.
    pub fn actuators(&self) -> &Actuators {
        &self.actuators
    }

    /// The process actuator, which runs the services configured with `run:` (the demo's
    /// fault injection deploys defective releases through it).
    pub fn process(&self) -> &ProcessActuator {
        &self.process
    }

    /// Waits until every supervised replica answers its readiness check.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ControllerError> {
        for s in &self.config.services {
            if s.run.is_none() {
                continue;
            }
            for r in self.topology.replicas(&s.name) {
                self.process.wait_ready(&s.name, r.index, timeout).await?;
            }
        }
        Ok(())
    }

    /// Stops the ladders (their incidents stay open for the next run), every loop task,
    /// then every supervised process (SIGTERM, grace, SIGKILL); then closes the journal,
    /// releasing it for the next controller.
    pub async fn shutdown(&self) {
        self.incidents.stop_all();
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        self.process.shutdown().await;
        if let Some(path) = self.config.snapshot.clone() {
            save_snapshot(self.store.clone(), path).await;
        }
        self.journal.close();
    }
}

/// How often the series store is saved besides at shutdown (a crash loses at most this
/// much history).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(300);

/// Writes the store's snapshot off the loop's threads; a failure is logged, never fatal.
async fn save_snapshot(store: Arc<SeriesStore>, path: PathBuf) {
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || store.write_snapshot(&path)).await {
        Ok(Ok(s)) => {
            tracing::info!(file = %shown, series = s.series, samples = s.samples, bytes = s.bytes, "series store saved")
        }
        Ok(Err(e)) => tracing::error!(file = %shown, error = %e, "cannot save the series store"),
        Err(e) => tracing::error!(file = %shown, error = %e, "saving the series store stopped"),
    }
}

/// Closes the journal when dropped armed: a `start` that fails after opening it.
struct CloseOnFailure(Option<Arc<Journal>>);

impl CloseOnFailure {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnFailure {
    fn drop(&mut self) {
        if let Some(journal) = self.0.take() {
            journal.close();
        }
    }
}

/// The guards' memory at start: the last hour's playbook actions from the journal when
/// `from_journal` (cooldowns and budgets outlive the process), else nothing.
fn initial_guards(
    journal: &Journal,
    now: model::Millis,
    from_journal: bool,
) -> Result<GuardState, knowledge::JournalError> {
    let mut guards = GuardState::new();
    if from_journal {
        guards.seed(journal.playbook_actions_since(now - 3_600_000)?);
    }
    Ok(guards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use knowledge::ActionOrigin;
    use model::{IncidentId, Outcome, Params, SignalKind};
    use remedy::playbook::{Guards, MaxUnavailable};

    /// A journal whose last hour holds `n` finished restarts of payments by playbook `errors`.
    fn journal_with_restarts(n: usize, now: model::Millis) -> Journal {
        let journal = Journal::in_memory().expect("journal");
        let run = journal.begin_run("earlier", 0).expect("run");
        let trigger = Signal::firing(
            SignalKind::Alert,
            "HighErrorRate",
            model::Labels::from_pairs([("service", "payments".to_owned())]),
            now - 60_000,
        );
        let incident =
            journal.open_incident(run, "payments", &trigger, Some("errors"), now - 60_000).expect("incident").id;
        let action = remedy::actuators::PROCESS.verb("restart").expect("restart").action(
            "payments",
            Target::One(0),
            Params::new(),
            "errors",
        );
        for i in 0..n {
            let at = now - 50_000 + i as model::Millis;
            let id = journal
                .intent(run, Some(incident), Some(0), ActionOrigin::Playbook, &action, false, at)
                .expect("intent");
            journal.outcome(id, &Outcome::succeeded("restarted"), at).expect("outcome");
        }
        journal
    }

    #[test]
    fn guards_carry_the_journals_last_hour_only_when_asked() {
        let now = 10_000_000;
        let journal = journal_with_restarts(3, now);
        let guards = Guards {
            cooldown: Duration::from_secs(1),
            max_actions_per_hour: 3,
            max_unavailable: MaxUnavailable::Count(1),
        };
        let carried = initial_guards(&journal, now, true).expect("guards");
        let refused = carried.check("payments", "errors", IncidentId(99), &guards, now).expect_err("budget spent");
        assert!(refused.starts_with("budget"), "{refused}");
        let fresh = initial_guards(&journal, now, false).expect("guards");
        assert_eq!(fresh.check("payments", "errors", IncidentId(99), &guards, now), Ok(()));
    }
}
