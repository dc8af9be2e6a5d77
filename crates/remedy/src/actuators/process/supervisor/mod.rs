//! The local actuator: supervises services as child processes, like systemd or a
//! Kubernetes kubelet would, and carries out restarts, signals, deploys and rollbacks.

mod budget;
mod logs;
mod process;
mod replica;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Clock, Event, EventKind, EventSink, Millis, ReplicaState, ReplicaStatus, Target};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use budget::{ExitDecision, RestartBudget, RestartPolicy};
pub use logs::LogRing;
pub use process::{kill_all_now, parse_signal};
pub use replica::expand;

use replica::{Replica, ReplicaCommand};

/// One deployable version of a service: what to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Version label, e.g. `1.4.2`.
    pub version: String,
    /// Program and arguments; `{port}`, `{addr}`, `{replica}` … are expanded per replica.
    pub command: Vec<String>,
    /// Extra environment, expanded the same way.
    pub env: BTreeMap<String, String>,
}

/// Async readiness check of one replica (by service name and index), supplied by the
/// caller so the supervisor does not need to know how a service reports health.
pub type Readiness = Arc<dyn Fn(&str, usize) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// How to run one service.
#[derive(Clone)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// The release to start with.
    pub release: Release,
    /// Placeholder values for each replica; its length is the replica count.
    pub replica_vars: Vec<BTreeMap<String, String>>,
    /// What to do when a process exits on its own.
    pub restart: RestartPolicy,
    /// Time between SIGTERM and SIGKILL on stop.
    pub stop_grace: Duration,
    /// Lines of output kept per replica.
    pub log_lines: usize,
    /// How to tell that a (re)started replica is ready; `None` trusts the process start.
    pub readiness: Option<Readiness>,
    /// How long a restarted replica may take to become ready.
    pub ready_timeout: Duration,
}

impl std::fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("release", &self.release)
            .field("replicas", &self.replica_vars.len())
            .finish_non_exhaustive()
    }
}

/// What went wrong in the supervisor.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// No such service is supervised.
    #[error("service {0:?} is not supervised")]
    UnknownService(String),
    /// A replica named rather than numbered (a pod): local replicas have indexes.
    #[error("service {service:?} has numbered replicas, not one named {name:?}")]
    NamedReplica {
        /// Service name.
        service: String,
        /// The name asked for.
        name: String,
    },
    /// No such replica.
    #[error("service {service:?} has no replica {replica}")]
    UnknownReplica {
        /// Service name.
        service: String,
        /// Replica index asked for.
        replica: usize,
    },
    /// A service with this name is already supervised.
    #[error("service {0:?} is already supervised")]
    Duplicate(String),
    /// The process could not be started.
    #[error("{service}: cannot start `{command}`: {source}")]
    Spawn {
        /// Service name.
        service: String,
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A signal could not be delivered.
    #[error("{service}: signal failed: {source}")]
    Signal {
        /// Service name.
        service: String,
        /// The OS error.
        source: nix::Error,
    },
    /// The signal name is not one the OS knows.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// The replica has no running process.
    #[error("{service} replica {replica} is not running")]
    NotRunning {
        /// Service name.
        service: String,
        /// Replica index.
        replica: usize,
    },
    /// The replica did not report ready in time; the rollout stopped there.
    #[error("{service} replica {replica} not ready after {waited:?}; rollout halted")]
    NotReady {
        /// Service name.
        service: String,
        /// Replica index.
        replica: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// A newer deploy or a rollback stopped this rollout between batches.
    #[error("{service}: rollout superseded by a newer deploy or rollback after: {done}")]
    Superseded {
        /// Service name.
        service: String,
        /// What was done before it stopped.
        done: String,
    },
    /// Taking one more replica down would break the `max_unavailable` guard.
    #[error("{service}: {down} replica(s) already down; max_unavailable {max_unavailable} allows no more")]
    WouldExceedUnavailable {
        /// Service name.
        service: String,
        /// The guard.
        max_unavailable: usize,
        /// Replicas down outside this rollout.
        down: usize,
    },
    /// A rollback was asked for but there is no earlier release.
    #[error("{0}: no previous release to roll back to")]
    NoPreviousRelease(String),
    /// The replica task is gone (the supervisor is shutting down).
    #[error("supervisor is shutting down")]
    ShuttingDown,
}

/// A release that was rolled out, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The release.
    pub release: Release,
    /// When its rollout started.
    pub at: Millis,
}

struct ReplicaHandle {
    commands: mpsc::Sender<ReplicaCommand>,
    status: Arc<Mutex<ReplicaStatus>>,
    logs: LogRing,
}

#[derive(Default)]
struct Preemption {
    generation: AtomicU64,
    notify: tokio::sync::Notify,
}

struct ServiceEntry {
    spec: ServiceSpec,
    /// Held for the whole of a restart, deploy or rollback: one rollout per service at a time.
    rollout: Arc<tokio::sync::Mutex<()>>,
    /// Lets a deploy or rollback stop the rollout in progress.
    preemption: Arc<Preemption>,
    replicas: Vec<ReplicaHandle>,
    /// Oldest first; the last entry is the current release.
    history: Vec<Deployed>,
}

struct Inner {
    services: Mutex<BTreeMap<String, ServiceEntry>>,
    events: broadcast::Sender<Event>,
    observer: Mutex<Option<EventSink>>,
    clock: Arc<dyn Clock>,
}

/// Supervises services as local child processes. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").finish_non_exhaustive()
    }
}

impl Supervisor {
    /// An empty supervisor.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner { services: Mutex::new(BTreeMap::new()), events, observer: Mutex::new(None), clock }),
        }
    }

    /// Sets a synchronous observer, called for every event before the supervisor acts on
    /// it (the journal uses this to write an intent before an automatic restart).
    pub fn set_observer(&self, observer: EventSink) {
        *self.inner.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Events as they happen, for asynchronous listeners.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn services(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ServiceEntry>> {
        self.inner.services.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emitter(&self) -> Arc<dyn Fn(Event) + Send + Sync> {
        let inner = self.inner.clone();
        Arc::new(move |event: Event| {
            let observer = inner.observer.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(observer) = observer {
                observer(&event);
            }
            let _ = inner.events.send(event);
        })
    }

    /// Starts every replica of `spec` (without waiting for readiness; see [`Self::wait_ready`]).
    pub fn start_service(&self, spec: ServiceSpec) -> Result<(), SupervisorError> {
        if self.services().contains_key(&spec.name) {
            return Err(SupervisorError::Duplicate(spec.name));
        }
        let mut replicas = Vec::new();
        for (index, vars) in spec.replica_vars.iter().enumerate() {
            let logs = LogRing::new(spec.log_lines);
            let mut replica = Replica::new(
                spec.name.clone(),
                index,
                vars.clone(),
                spec.release.clone(),
                spec.stop_grace,
                logs.clone(),
                RestartBudget::new(spec.restart.clone()),
                self.emitter(),
            );
            // A failed first start is retried by the restart policy like a crash.
            let _ = replica.start("initial start");
            let status = replica.status.clone();
            let (tx, rx) = mpsc::channel(8);
            tokio::spawn(replica.run(rx));
            replicas.push(ReplicaHandle { commands: tx, status, logs });
        }
        let history = vec![Deployed { release: spec.release.clone(), at: self.inner.clock.now() }];
        self.services().insert(
            spec.name.clone(),
            ServiceEntry {
                spec,
                rollout: Arc::new(tokio::sync::Mutex::new(())),
                preemption: Arc::default(),
                replicas,
                history,
            },
        );
        Ok(())
    }

    /// Names of supervised services.
    pub fn service_names(&self) -> Vec<String> {
        self.services().keys().cloned().collect()
    }

    /// Status of every replica of `service`.
    pub fn status(&self, service: &str) -> Result<Vec<ReplicaStatus>, SupervisorError> {
        let services = self.services();
        let entry = services.get(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
        Ok(entry.replicas.iter().map(|r| r.status.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect())
    }

    /// The last lines of output of one replica.
    pub fn logs(&self, service: &str, replica: usize) -> Result<Vec<String>, SupervisorError> {
        let services = self.services();
        let entry = services.get(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
        let handle = entry
            .replicas
            .get(replica)
            .ok_or_else(|| SupervisorError::UnknownReplica { service: service.to_owned(), replica })?;
        Ok(handle.logs.lines())
    }

    /// The releases rolled out so far, oldest first; the last one is current.
    pub fn history(&self, service: &str) -> Result<Vec<Deployed>, SupervisorError> {
        let services = self.services();
        let entry = services.get(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
        Ok(entry.history.clone())
    }

    fn handles(
        &self,
        service: &str,
        scope: &Target,
    ) -> Result<Vec<(usize, mpsc::Sender<ReplicaCommand>)>, SupervisorError> {
        let services = self.services();
        let entry = services.get(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
        match scope {
            Target::All => Ok(entry.replicas.iter().enumerate().map(|(i, r)| (i, r.commands.clone())).collect()),
            Target::One(i) => entry
                .replicas
                .get(*i)
                .map(|r| vec![(*i, r.commands.clone())])
                .ok_or_else(|| SupervisorError::UnknownReplica { service: service.to_owned(), replica: *i }),
            Target::Named(name) => {
                Err(SupervisorError::NamedReplica { service: service.to_owned(), name: name.clone() })
            }
        }
    }

    fn spec(&self, service: &str) -> Result<(ServiceSpec, Release), SupervisorError> {
        let services = self.services();
        let entry = services.get(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
        let current = entry.history.last().map(|d| d.release.clone()).unwrap_or_else(|| entry.spec.release.clone());
        Ok((entry.spec.clone(), current))
    }

    /// Polls readiness of one replica until it answers or `timeout` passes.
    pub async fn wait_ready(&self, service: &str, replica: usize, timeout: Duration) -> Result<(), SupervisorError> {
        let (spec, _) = self.spec(service)?;
        let Some(ready) = spec.readiness else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if ready(service, replica).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SupervisorError::NotReady { service: service.to_owned(), replica, waited: timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn rollout_handles(
        &self,
        service: &str,
    ) -> Result<(Arc<tokio::sync::Mutex<()>>, Arc<Preemption>), SupervisorError> {
        self.services()
            .get(service)
            .map(|e| (e.rollout.clone(), e.preemption.clone()))
            .ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))
    }

    /// Restarts the replicas in `scope` with the current release, at most
    /// `max_unavailable` at a time, waiting for each batch to be ready (and `bake` more)
    /// before touching the next. Stops at the first replica that fails to come back, leaving
    /// the rest untouched.
    ///
    /// Rollouts of one service queue up; each rolls out the release that is current when its
    /// turn comes. A deploy or rollback supersedes a rollout in progress: it stops at its
    /// next batch boundary. With `skip_current`, replicas already running the release are
    /// left alone (a rollback after a partial deploy only touches what was changed).
    async fn roll(
        &self,
        service: &str,
        scope: &Target,
        max_unavailable: usize,
        bake: Duration,
        skip_current: bool,
    ) -> Result<String, SupervisorError> {
        let (rollout, preemption) = self.rollout_handles(service)?;
        let _one_at_a_time = rollout.lock().await;
        let generation = preemption.generation.load(Ordering::SeqCst);
        let (spec, release) = self.spec(service)?;
        let status = self.status(service)?;
        let handles: Vec<_> = self
            .handles(service, scope)?
            .into_iter()
            .filter(|(i, _)| {
                !skip_current
                    || status.get(*i).is_none_or(|s| s.release != release.version || s.state != ReplicaState::Running)
            })
            .collect();
        // Replicas already unavailable (stopped, or failing readiness) go first and together:
        // restarting them costs nothing. The others go `max_unavailable` at a time, less any
        // replica outside the rollout that is down already.
        let mut unavailable = Vec::with_capacity(status.len());
        for (i, st) in status.iter().enumerate() {
            unavailable.push(st.state != ReplicaState::Running || !self.ready_now(&spec, service, i).await);
        }
        let in_scope: std::collections::HashSet<usize> = handles.iter().map(|(i, _)| *i).collect();
        let down_elsewhere = (0..status.len()).filter(|i| unavailable[*i] && !in_scope.contains(i)).count();
        let (down, up): (Vec<_>, Vec<_>) = handles.into_iter().partition(|(i, _)| unavailable[*i]);
        let room = max_unavailable.max(1).saturating_sub(down_elsewhere);
        if room == 0 && !up.is_empty() {
            return Err(SupervisorError::WouldExceedUnavailable {
                service: service.to_owned(),
                max_unavailable,
                down: down_elsewhere,
            });
        }
        let mut batches: Vec<Vec<(usize, mpsc::Sender<ReplicaCommand>)>> = Vec::new();
        if !down.is_empty() {
            batches.push(down);
        }
        batches.extend(up.chunks(room.max(1)).map(<[_]>::to_vec));
        let mut done = Vec::new();
        for (n, batch) in batches.iter().enumerate() {
            if preemption.generation.load(Ordering::SeqCst) != generation {
                return Err(SupervisorError::Superseded { service: service.to_owned(), done: done.join(", ") });
            }
            let mut pending = Vec::new();
            for (index, tx) in batch.iter() {
                let (reply, rx) = oneshot::channel();
                tx.send(ReplicaCommand::Restart { release: release.clone(), reply })
                    .await
                    .map_err(|_| SupervisorError::ShuttingDown)?;
                pending.push((*index, rx));
            }
            for (index, rx) in pending {
                let pid = rx.await.map_err(|_| SupervisorError::ShuttingDown)??;
                done.push(format!("replica {index} pid {pid}"));
            }
            let waits = batch.iter().map(|(index, _)| self.wait_ready(service, *index, spec.ready_timeout));
            for result in futures::future::join_all(waits).await {
                result?;
            }
            if !bake.is_zero() && n + 1 < batches.len() {
                tokio::select! {
                    _ = tokio::time::sleep(bake) => {}
                    _ = preemption.notify.notified() => {}
                }
            }
        }
        if done.is_empty() {
            done.push("nothing to change".into());
        }
        Ok(format!("{service} {} ({}) ready: {}", release.version, scope, done.join(", ")))
    }

    /// One readiness check of one replica, now; without a check, a running process counts.
    async fn ready_now(&self, spec: &ServiceSpec, service: &str, replica: usize) -> bool {
        match &spec.readiness {
            Some(ready) => ready(service, replica).await,
            None => true,
        }
    }

    fn supersede(&self, service: &str) -> Result<(), SupervisorError> {
        let (_, preemption) = self.rollout_handles(service)?;
        preemption.generation.fetch_add(1, Ordering::SeqCst);
        preemption.notify.notify_waiters();
        Ok(())
    }

    /// Restarts replicas of `service` in the current release.
    pub async fn restart(
        &self,
        service: &str,
        scope: &Target,
        max_unavailable: usize,
    ) -> Result<String, SupervisorError> {
        self.roll(service, scope, max_unavailable, Duration::ZERO, false).await
    }

    /// Sends a Unix signal to the replicas in `scope`.
    pub async fn signal(&self, service: &str, scope: &Target, signal: &str) -> Result<String, SupervisorError> {
        let sig = parse_signal(signal).ok_or_else(|| SupervisorError::UnknownSignal(signal.to_owned()))?;
        let mut pids = Vec::new();
        for (index, tx) in self.handles(service, scope)? {
            let (reply, rx) = oneshot::channel();
            tx.send(ReplicaCommand::Signal { signal: sig, reply }).await.map_err(|_| SupervisorError::ShuttingDown)?;
            let pid = rx.await.map_err(|_| SupervisorError::ShuttingDown)??;
            pids.push(format!("replica {index} pid {pid}"));
        }
        Ok(format!("{sig} sent to {service}: {}", pids.join(", ")))
    }

    /// Records `release` as current and rolls it out, `max_unavailable` replicas at a time,
    /// waiting `bake` after each batch (a canary: Kubernetes' `minReadySeconds`). A later
    /// deploy or rollback stops it between batches.
    pub async fn deploy(
        &self,
        service: &str,
        release: Release,
        max_unavailable: usize,
        bake: Duration,
    ) -> Result<String, SupervisorError> {
        self.supersede(service)?;
        let version = release.version.clone();
        {
            let mut services = self.services();
            let entry = services.get_mut(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
            entry.history.push(Deployed { release, at: self.inner.clock.now() });
        }
        {
            self.emitter()(Event {
                service: service.to_owned(),
                target: Target::All,
                kind: EventKind::Deployed { release: version },
            });
        }
        self.roll(service, &Target::All, max_unavailable, bake, true).await
    }

    /// Goes back to the release before the current one and rolls it out, stopping a deploy
    /// in progress first; replicas the deploy had not reached yet are left as they are.
    pub async fn rollback(&self, service: &str, max_unavailable: usize) -> Result<String, SupervisorError> {
        self.supersede(service)?;
        let (from, to) = {
            let mut services = self.services();
            let entry = services.get_mut(service).ok_or_else(|| SupervisorError::UnknownService(service.to_owned()))?;
            if entry.history.len() < 2 {
                return Err(SupervisorError::NoPreviousRelease(service.to_owned()));
            }
            let from = entry.history.pop().map(|d| d.release.version).unwrap_or_default();
            let to = entry.history.last().map(|d| d.release.version.clone()).unwrap_or_default();
            (from, to)
        };
        self.emitter()(Event {
            service: service.to_owned(),
            target: Target::All,
            kind: EventKind::RolledBack { from: from.clone(), to },
        });
        let detail = self.roll(service, &Target::All, max_unavailable, Duration::ZERO, true).await?;
        Ok(format!("rolled back from {from}: {detail}"))
    }

    /// Stops every process: SIGTERM, then SIGKILL after each service's grace period.
    pub async fn shutdown(&self) {
        let all: Vec<mpsc::Sender<ReplicaCommand>> =
            self.services().values().flat_map(|e| e.replicas.iter().map(|r| r.commands.clone())).collect();
        let stops = all.into_iter().map(|tx| async move {
            let (reply, rx) = oneshot::channel();
            if tx.send(ReplicaCommand::Shutdown { reply }).await.is_ok() {
                let _ = rx.await;
            }
        });
        futures::future::join_all(stops).await;
        self.services().clear();
    }
}
