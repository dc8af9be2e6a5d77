//! From signals to incidents: deduplicate, attach related signals, find the root cause
//! along `depends_on` (an upstream service's errors are a symptom of a downstream failure),
//! open incidents and run their playbook's ladder. Where a signal belongs is decided by
//! [`analyze::correlate`]; this module keeps the state it decides from and acts on it. Also
//! journals what actuators do on their own (the process actuator's restart policy).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use analyze::correlate::{self, Placement};
use knowledge::{ActionId, ActionOrigin, IncidentRecord, Journal, RunId, SignalRole};
use model::{
    Clock, Event, EventKind, Incident, IncidentId, IncidentState, MAX_UNAVAILABLE, Outcome, Params, Signal,
    SignalBoard, SignalKind, SignalState, Target,
};
use remedy::{Actuators, Ladder, LadderEnd, Playbook, StartAt};
use tokio::sync::watch;

use crate::config::Config;
use crate::topology::Topology;

struct OpenIncident {
    /// The incident as the ladder has it: signals that join are added to its related keys.
    incident: Incident,
    trigger_key: String,
    /// Keys of upstream signals explained by this incident.
    symptoms: HashSet<String>,
    stop: watch::Sender<Option<String>>,
}

impl OpenIncident {
    /// Whether the incident waits for the recovery of the signal `key`.
    fn waits_for(&self, key: &str) -> bool {
        self.trigger_key == key || self.incident.related.contains(key)
    }

    /// Keys of every signal it waits for.
    fn keys(&self) -> Vec<String> {
        self.incident.waits_for()
    }
}

#[derive(Default)]
struct State {
    open: HashMap<IncidentId, OpenIncident>,
    by_service: HashMap<String, IncidentId>,
    /// Restart-policy intents waiting for the replica to start again.
    pending_restarts: HashMap<(String, usize), ActionId>,
    /// Incidents left open by an earlier run, by trigger key, until seen again or expired.
    resumable: HashMap<String, IncidentRecord>,
    /// The last resolved incident of each service, when, and the names of its signals
    /// (trigger, related, symptoms): an upstream alert of one of those names that trails a
    /// downstream recovery (rate windows drain slowly) is an echo, not a new problem.
    resolved: HashMap<String, (IncidentId, model::Millis, HashSet<String>)>,
    /// Names of the signals each open incident has seen, for echo detection.
    names: HashMap<IncidentId, HashSet<String>>,
    /// When each service's releases since its first were rolled out, oldest first: pushed
    /// by a deployment, popped by a rollback (from the actuators' events).
    deploys: HashMap<String, Vec<model::Millis>>,
    /// The controller is shutting down: no new incidents, no reconsidering.
    stopping: bool,
}

/// Whether incidents get playbooks (the full loop) or only the baseline's reflexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rules, correlation and playbooks.
    Autonomic,
    /// Only restart-on-exit and liveness probes: signals are journaled, nothing else acts.
    Baseline,
}

/// Turns signals into incidents and ladders.
pub struct IncidentManager {
    state: Mutex<State>,
    /// The signals firing now; this manager is its one writer.
    board: Arc<SignalBoard>,
    journal: Arc<Journal>,
    run: RunId,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    topology: Arc<Topology>,
    actuators: Actuators,
    ladder: Mutex<Option<Ladder>>,
    mode: Mode,
    runtime: tokio::runtime::Handle,
}

impl IncidentManager {
    /// A manager; call [`Self::set_ladder`] before signals arrive in autonomic mode.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        journal: Arc<Journal>,
        run: RunId,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        topology: Arc<Topology>,
        actuators: Actuators,
        mode: Mode,
        resumable: Vec<IncidentRecord>,
    ) -> Arc<Self> {
        let state = State {
            resumable: resumable.into_iter().map(|r| (r.trigger_key.clone(), r)).collect(),
            ..State::default()
        };
        Arc::new(Self {
            state: Mutex::new(state),
            board: Arc::new(SignalBoard::default()),
            journal,
            run,
            clock,
            config,
            topology,
            actuators,
            ladder: Mutex::new(None),
            mode,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The signals firing now, kept by this manager: what verification reads.
    pub(crate) fn board(&self) -> Arc<SignalBoard> {
        self.board.clone()
    }

    /// Whether the open incident `id` waits for no firing signal (a closed one has).
    #[cfg(test)]
    pub(crate) fn recovered(&self, id: IncidentId) -> bool {
        self.lock().open.get(&id).is_none_or(|o| o.incident.recovered(&self.board))
    }

    pub(crate) fn set_ladder(&self, ladder: Ladder) {
        *self.ladder.lock().unwrap_or_else(|p| p.into_inner()) = Some(ladder);
    }

    fn journal_err<T>(result: Result<T, knowledge::JournalError>) -> Option<T> {
        result.map_err(|e| tracing::error!(error = %e, "journal write failed")).ok()
    }

    /// The replica a signal names: by its `replica` label (an index), its `pod` label (a
    /// Kubernetes pod, by name) or its instance's address.
    fn replica_of(&self, signal: &Signal) -> Option<Target> {
        if let Some(r) = signal.labels.get("replica").and_then(|r| r.parse().ok()) {
            return Some(Target::One(r));
        }
        if let Some(pod) = signal.labels.get("pod").filter(|p| !p.is_empty()) {
            return Some(Target::Named(pod.to_owned()));
        }
        let (service, instance) = (signal.service.as_deref()?, signal.instance.as_deref()?);
        self.topology.replica_of(service, instance).map(Target::One)
    }

    /// How long ago `service` rolled out a release beyond its first one.
    fn since_deploy(&self, state: &State, service: &str) -> Option<Duration> {
        let at = Self::last_deploy_at(state, service)?;
        Some(Duration::from_millis((self.clock.now() - at).max(0) as u64))
    }

    /// When `service` last changed release (its first start is not a deployment).
    fn last_deploy_at(state: &State, service: &str) -> Option<model::Millis> {
        state.deploys.get(service)?.last().copied()
    }

    /// Signals firing now.
    pub fn active_signals(&self) -> Vec<Signal> {
        self.board.firing()
    }

    /// Incidents open now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    /// Handles one signal edge.
    pub fn on_signal(self: &Arc<Self>, signal: Signal) {
        let key = signal.key();
        let mut state = self.lock();
        if signal.state == SignalState::Resolved {
            self.board.resolve(&key);
            let owner = state.open.iter().find_map(|(id, o)| {
                if o.waits_for(&key) {
                    Some((*id, SignalRole::Related))
                } else if o.symptoms.contains(&key) {
                    Some((*id, SignalRole::Symptom))
                } else {
                    None
                }
            });
            let (incident, role) = match owner {
                Some((id, role)) => (Some(id), role),
                None => (None, SignalRole::Unattached),
            };
            Self::journal_err(self.journal.record_signal(self.run, incident, role, &signal));
            return;
        }
        if !self.board.fire(&signal) {
            return; // already firing
        }
        tracing::info!(kind = signal.kind.as_str(), name = %signal.name, service = ?signal.service, instance = ?signal.instance, "signal firing");
        if signal.service.is_none() || self.mode == Mode::Baseline {
            Self::journal_err(self.journal.record_signal(self.run, None, SignalRole::Unattached, &signal));
            return;
        }
        self.route(&mut state, signal);
    }

    /// Places a firing signal (see [`analyze::correlate`]: the open incident of its service,
    /// an open incident downstream as a symptom, the echo of a downstream incident that just
    /// resolved, watched and reconsidered later, or a new incident) and acts on the placement.
    fn route(self: &Arc<Self>, state: &mut State, signal: Signal) {
        let key = signal.key();
        let Some(service) = signal.service.clone() else { return };
        let downstream = self.config.downstream_of(&service);
        let placement = {
            // Built from the maps in their own order, so that where several incidents fit,
            // the one chosen is the one the maps yield first.
            let open: Vec<correlate::Open<'_>> =
                state.open.iter().map(|(id, o)| correlate::Open { id: *id, service: &o.incident.service }).collect();
            let resolved: Vec<correlate::Resolved<'_>> = state
                .resolved
                .iter()
                .map(|(service, (incident, at, names))| correlate::Resolved {
                    service,
                    incident: *incident,
                    at: *at,
                    names,
                })
                .collect();
            let view = correlate::View {
                open: &open,
                resolved: &resolved,
                last_deploy: Self::last_deploy_at(state, &service),
                downstream: &downstream,
                echo_window: self.config.echo_window,
                now: self.clock.now(),
            };
            correlate::place(&service, &signal.name, &view)
        };
        match placement {
            Placement::Join(id) => {
                if let Some(open) = state.open.get(&id) {
                    open.incident.related.insert(key);
                }
                state.names.entry(id).or_default().insert(signal.name.clone());
                Self::journal_err(self.journal.record_signal(self.run, Some(id), SignalRole::Related, &signal));
            }
            Placement::Symptom(id) => {
                if let Some(open) = state.open.get_mut(&id) {
                    open.symptoms.insert(key);
                }
                state.names.entry(id).or_default().insert(signal.name.clone());
                Self::journal_err(self.journal.record_signal(self.run, Some(id), SignalRole::Symptom, &signal));
                tracing::info!(incident = %id, %service, "signal is a symptom of a downstream incident");
            }
            Placement::Echo { incident, reconsider_after } => {
                Self::journal_err(self.journal.record_signal(self.run, Some(incident), SignalRole::Symptom, &signal));
                tracing::info!(incident = %incident, %service, "signal trails a resolved downstream incident; watching it");
                // If it is still firing when the echo window closes, it is a problem of its own.
                self.reconsider_later(key, reconsider_after);
            }
            Placement::Open => self.open_incident(state, signal, service),
        }
    }

    fn reconsider_later(self: &Arc<Self>, key: String, wait: Duration) {
        let this = self.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            this.reconsider(&key);
        });
    }

    /// Routes a signal again if it is still firing and no open incident holds it.
    fn reconsider(self: &Arc<Self>, key: &str) {
        let mut state = self.lock();
        if state.stopping {
            return;
        }
        let Some(signal) = self.board.get(key) else { return };
        if state.open.values().any(|o| o.waits_for(key) || o.symptoms.contains(key)) {
            return;
        }
        self.route(&mut state, signal);
    }

    /// Tells every running ladder to stop (the controller is shutting down): incidents stay
    /// open in the journal, to be resumed by the next run.
    pub fn stop_all(&self) {
        let mut state = self.lock();
        state.stopping = true;
        for open in state.open.values() {
            let _ = open.stop.send(Some("controller stopping".into()));
        }
    }

    fn open_incident(self: &Arc<Self>, state: &mut State, signal: Signal, service: String) {
        let now = self.clock.now();
        let key = signal.key();
        let resumed = state.resumable.remove(&key);
        // A resumed incident keeps the playbook it started with.
        let playbook = resumed
            .as_ref()
            .and_then(|r| r.incident.playbook.as_ref())
            .and_then(|name| self.config.playbooks.iter().find(|p| &p.name == name))
            .or_else(|| remedy::playbook::select(&self.config.playbooks, &signal, self.since_deploy(state, &service)))
            .cloned();
        let (incident, start) = match resumed {
            Some(record) => {
                let id = record.incident.id;
                Self::journal_err(self.journal.note(
                    Some(id),
                    "resumed",
                    "controller restarted; resuming this incident without repeating a journaled action",
                    now,
                ));
                // The journal's intent rows decide whether the recorded step's action ran.
                let start = match record.step {
                    Some(step) => StartAt::Resume(step),
                    None => StartAt::Step(0),
                };
                // This run's firing edge is the trigger now: evidence of recovery must be newer.
                Self::journal_err(self.journal.record_signal(self.run, Some(id), SignalRole::Trigger, &signal));
                let playbook = playbook.as_ref().map(|p| p.name.clone());
                (Incident { title: signal.summary(), trigger: signal, playbook, ..record.incident }, start)
            }
            None => {
                let Some(incident) = Self::journal_err(self.journal.open_incident(
                    self.run,
                    &service,
                    &signal,
                    playbook.as_ref().map(|p| p.name.as_str()),
                    now,
                )) else {
                    return;
                };
                (incident, StartAt::Step(0))
            }
        };
        let id = incident.id;
        tracing::info!(incident = %id, %service, playbook = ?playbook.as_ref().map(|p| &p.name), "incident opened");

        // Upstream incidents are symptoms of this one: fold them in.
        let upstream: Vec<IncidentId> = state
            .open
            .iter()
            .filter(|(_, o)| self.config.downstream_of(&o.incident.service).contains(&service))
            .map(|(uid, _)| *uid)
            .collect();
        let mut inherited = HashSet::new();
        for uid in upstream {
            if let Some(u) = state.open.remove(&uid) {
                inherited.extend(u.keys());
                inherited.extend(u.symptoms.iter().cloned());
                if let Some(names) = state.names.remove(&uid) {
                    state.names.entry(id).or_default().extend(names);
                }
                state.by_service.remove(&u.incident.service);
                let reason =
                    format!("merged into {id}: root cause is {service}, which {} depends on", u.incident.service);
                let _ = u.stop.send(Some(reason.clone()));
                Self::journal_err(self.journal.note(Some(uid), "merged", &reason, now));
                Self::journal_err(self.journal.close_incident(uid, IncidentState::Merged, now));
                Self::journal_err(self.journal.record_signal(
                    self.run,
                    Some(id),
                    SignalRole::Symptom,
                    &u.incident.trigger,
                ));
                tracing::info!(incident = %uid, into = %id, "incident merged into its root cause");
            }
        }

        let incident = Incident { replica: self.replica_of(&incident.trigger), ..incident };
        let (stop, stop_rx) = watch::channel(None);
        state.names.entry(id).or_default().insert(incident.trigger.name.clone());
        state.by_service.insert(service, id);
        state.open.insert(id, OpenIncident { incident: incident.clone(), trigger_key: key, symptoms: inherited, stop });
        let playbook = playbook.unwrap_or_else(|| Playbook {
            name: "(no playbook matched)".into(),
            matcher: Default::default(),
            steps: Vec::new(),
            guards: Default::default(),
        });
        let this = self.clone();
        self.runtime.spawn(async move { this.drive(incident, playbook, start, stop_rx).await });
    }

    /// Waits `group_wait` (a root cause downstream may still show up and take over), then
    /// runs the ladder.
    async fn drive(
        self: Arc<Self>,
        mut incident: Incident,
        playbook: Playbook,
        start: StartAt,
        mut stop: watch::Receiver<Option<String>>,
    ) {
        let wait = self.config.group_wait;
        if !wait.is_zero() && start == StartAt::Step(0) {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        // Signals that joined during the wait may name other replicas: then act on all.
        let instances: HashSet<Option<String>> =
            incident.waits_for().iter().filter_map(|k| self.board.get(k)).map(|s| s.instance).collect();
        if instances.len() > 1 {
            incident.replica = None;
        }
        let ladder = self.ladder.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let stopped = stop.borrow().clone();
        let end = match (ladder, stopped) {
            (_, Some(reason)) => LadderEnd::Stopped(reason),
            (Some(ladder), None) => ladder.run(&incident, &playbook, start, &mut stop).await,
            (None, None) => LadderEnd::Stopped("no ladder configured".into()),
        };
        let (id, service) = (incident.id, &incident.service);
        tracing::info!(incident = %id, %service, end = ?end, "incident ladder ended");
        let mut state = self.lock();
        let names = state.names.remove(&id).unwrap_or_default();
        if let LadderEnd::Resolved { .. } = end {
            state.resolved.insert(service.clone(), (id, self.clock.now(), names));
        }
        let Some(open) = state.open.remove(&id) else { return };
        if state.by_service.get(service) == Some(&id) {
            state.by_service.remove(service);
        }
        // A stopping controller leaves everything to the next run; an escalated incident is
        // a human's now: its signals are not turned into new incidents behind their back.
        if state.stopping || end == LadderEnd::Escalated {
            return;
        }
        // Signals still firing that this incident held: once the echo window has passed,
        // each is a problem of its own (or belongs to whatever incident is open then).
        let leftover: Vec<String> =
            open.keys().into_iter().chain(open.symptoms).filter(|k| self.board.is_firing(k)).collect();
        drop(state);
        for key in leftover {
            self.reconsider_later(key, self.config.echo_window);
        }
    }

    /// Closes incidents of earlier runs that were not seen again.
    pub fn expire_resumable(&self) {
        let now = self.clock.now();
        let stale: Vec<IncidentRecord> = self.lock().resumable.drain().map(|(_, r)| r).collect();
        for r in stale {
            Self::journal_err(self.journal.note(
                Some(r.incident.id),
                "expired",
                "its signal did not fire again after the controller restarted",
                now,
            ));
            Self::journal_err(self.journal.close_incident(r.incident.id, IncidentState::Resolved, now));
        }
    }

    /// Journals what an actuator does on its own, synchronously, before it acts, and keeps
    /// what the loop needs from it (when each service last rolled out a release).
    pub fn on_event(self: &Arc<Self>, event: &Event) {
        let now = self.clock.now();
        let service = &event.service;
        let replica = match event.target {
            Target::One(i) => Some(i),
            Target::Named(_) | Target::All => None,
        };
        match (&event.kind, replica) {
            (EventKind::Exited { pid, status, uptime }, Some(replica)) => {
                let mut s = self.process_signal(service, replica, now);
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                s.annotations.insert(
                    "summary".into(),
                    format!("{service} replica {replica}{pid} exited: {status} after {}s", uptime.as_secs()),
                );
                self.on_signal(s);
            }
            (EventKind::RestartScheduled { delay, after }, Some(replica)) => {
                let incident = self.lock().by_service.get(service).copied();
                let action = self.actuators.action(
                    service,
                    "restart",
                    event.target.clone(),
                    Params::from([(MAX_UNAVAILABLE.to_owned(), "1".to_owned())]),
                    &format!("restart policy after {after}, in {}ms", delay.as_millis()),
                );
                if let Some(id) = Self::journal_err(self.journal.intent(
                    self.run,
                    incident,
                    None,
                    ActionOrigin::RestartPolicy,
                    &action,
                    false,
                    now,
                )) {
                    let earlier = self.lock().pending_restarts.insert((service.clone(), replica), id);
                    if let Some(old) = earlier {
                        let failed = Outcome::failed("the process did not start; restart rescheduled");
                        Self::journal_err(self.journal.outcome(old, &failed, now));
                    }
                }
            }
            (EventKind::Started { pid, reason, .. }, Some(replica)) => {
                let started = match pid {
                    Some(pid) => format!("started pid {pid} ({reason})"),
                    None => format!("started ({reason})"),
                };
                self.finish_restart(service, replica, Outcome::succeeded(started), now);
                let exited = self.process_signal(service, replica, now);
                if self.board.is_firing(&exited.key()) {
                    self.on_signal(exited.resolved(now));
                }
            }
            (EventKind::GaveUp { reason }, Some(replica)) => {
                self.finish_restart(service, replica, Outcome::failed(reason.clone()), now);
            }
            (EventKind::Deployed { .. }, _) => {
                self.lock().deploys.entry(service.clone()).or_default().push(now);
            }
            (EventKind::RolledBack { .. }, _) => {
                if let Some(deploys) = self.lock().deploys.get_mut(service) {
                    deploys.pop();
                }
            }
            _ => {}
        }
    }

    /// Journals the outcome of a restart-policy intent, if one is pending for the replica.
    fn finish_restart(&self, service: &str, replica: usize, outcome: Outcome, now: model::Millis) {
        let pending = self.lock().pending_restarts.remove(&(service.to_owned(), replica));
        if let Some(id) = pending {
            Self::journal_err(self.journal.outcome(id, &outcome, now));
        }
    }

    fn process_signal(&self, service: &str, replica: usize, at: model::Millis) -> Signal {
        let instance = self.topology.replicas(service).get(replica).map(|r| r.addr.clone()).unwrap_or_default();
        let labels = model::Labels::from_pairs([
            ("service", service.to_owned()),
            ("instance", instance),
            ("replica", replica.to_string()),
        ]);
        Signal::firing(SignalKind::ProcessExited, "process_exited", labels, at)
    }
}

#[cfg(test)]
#[path = "incidents_tests.rs"]
mod tests;
