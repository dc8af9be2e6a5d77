//! The task that owns one replica's process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::budget::{ExitDecision, RestartBudget};
use super::logs::LogRing;
use super::process::{self, Running};
use model::{Event, EventKind, ReplicaState, ReplicaStatus, Target};

use super::{Release, SupervisorError};

pub(crate) enum ReplicaCommand {
    /// Stop (if running) and start with `release`.
    Restart { release: Release, reply: oneshot::Sender<Result<u32, SupervisorError>> },
    /// Deliver a Unix signal to the process group.
    Signal { signal: Signal, reply: oneshot::Sender<Result<u32, SupervisorError>> },
    /// Stop the process and end the task.
    Shutdown { reply: oneshot::Sender<()> },
}

pub(crate) struct Replica {
    pub service: String,
    pub index: usize,
    pub vars: BTreeMap<String, String>,
    pub release: Release,
    pub grace: Duration,
    pub logs: LogRing,
    pub budget: RestartBudget,
    pub status: Arc<Mutex<ReplicaStatus>>,
    pub emit: Arc<dyn Fn(Event) + Send + Sync>,
    running: Option<Running>,
    started_at: Instant,
    backoff_until: Option<Instant>,
}

/// Replaces `{name}` placeholders with a replica's values; unknown ones stay as written
/// (configuration checking rejects them before anything runs).
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl Replica {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        service: String,
        index: usize,
        vars: BTreeMap<String, String>,
        release: Release,
        grace: Duration,
        logs: LogRing,
        budget: RestartBudget,
        emit: Arc<dyn Fn(Event) + Send + Sync>,
    ) -> Self {
        let status = Arc::new(Mutex::new(ReplicaStatus {
            state: ReplicaState::Stopped,
            pid: None,
            release: release.version.clone(),
            starts: 0,
        }));
        Self {
            service,
            index,
            vars,
            release,
            grace,
            logs,
            budget,
            status,
            emit,
            running: None,
            started_at: Instant::now(),
            backoff_until: None,
        }
    }

    fn emit(&self, kind: EventKind) {
        (self.emit)(Event { service: self.service.clone(), target: Target::One(self.index), kind });
    }

    fn set_status(&self, f: impl FnOnce(&mut ReplicaStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    /// Starts the process for the current release. On failure the replica counts as exited.
    pub(crate) fn start(&mut self, reason: &str) -> Result<u32, SupervisorError> {
        let argv: Vec<String> = self.release.command.iter().map(|a| expand(a, &self.vars)).collect();
        let env: BTreeMap<String, String> =
            self.release.env.iter().map(|(k, v)| (k.clone(), expand(v, &self.vars))).collect();
        match process::spawn(&argv, &env, &self.logs) {
            Ok(running) => {
                let pid = running.pid;
                self.running = Some(running);
                self.started_at = Instant::now();
                self.backoff_until = None;
                let version = self.release.version.clone();
                self.set_status(|s| {
                    s.state = ReplicaState::Running;
                    s.pid = Some(pid);
                    s.release = version;
                    s.starts += 1;
                });
                self.emit(EventKind::Started {
                    pid: Some(pid),
                    release: self.release.version.clone(),
                    reason: reason.to_owned(),
                });
                Ok(pid)
            }
            Err(e) => {
                let err = SupervisorError::Spawn { service: self.service.clone(), command: argv.join(" "), source: e };
                self.logs.push(format!("[supervisor] {err}"));
                self.after_exit(None, format!("failed to start: {err}"));
                Err(err)
            }
        }
    }

    async fn stop_running(&mut self) {
        if let Some(mut running) = self.running.take() {
            let how = process::stop(&mut running, self.grace).await;
            self.emit(EventKind::Stopped { pid: Some(running.pid), how });
        }
        self.set_status(|s| {
            s.state = ReplicaState::Stopped;
            s.pid = None;
        });
    }

    fn after_exit(&mut self, pid: Option<u32>, status: String) {
        let uptime = if pid.is_some() { self.started_at.elapsed() } else { Duration::ZERO };
        if let Some(pid) = pid {
            self.emit(EventKind::Exited { pid: Some(pid), status: status.clone(), uptime });
        }
        match self.budget.on_exit(Instant::now(), uptime) {
            ExitDecision::RestartAfter(delay) => {
                self.backoff_until = Some(Instant::now() + delay);
                self.set_status(|s| {
                    s.state = ReplicaState::BackingOff;
                    s.pid = None;
                });
                self.emit(EventKind::RestartScheduled { delay, after: status });
            }
            ExitDecision::GiveUp => {
                self.backoff_until = None;
                self.set_status(|s| {
                    s.state = ReplicaState::Failed;
                    s.pid = None;
                });
                self.emit(EventKind::GaveUp { reason: format!("{status}; restart budget spent or restarts disabled") });
            }
        }
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<ReplicaCommand>) {
        loop {
            let backoff = self.backoff_until;
            let command = tokio::select! {
                exit = wait_for_exit(&mut self.running) => {
                    let pid = self.running.take().map(|r| r.pid);
                    if let Some(pid) = pid {
                        // The leader is gone; whatever it spawned in its group goes too, or it
                        // could hold the port and keep the restarted process from binding.
                        let _ = process::signal_group(pid, Signal::SIGKILL);
                        process::reaped(pid);
                    }
                    self.after_exit(pid, exit);
                    continue;
                }
                _ = sleep_until(backoff) => {
                    // A failed start schedules the next attempt itself.
                    let _ = self.start("restart policy");
                    continue;
                }
                command = commands.recv() => command,
            };
            match command {
                Some(ReplicaCommand::Restart { release, reply }) => {
                    self.stop_running().await;
                    self.release = release;
                    self.budget.reset();
                    let _ = reply.send(self.start("requested"));
                }
                Some(ReplicaCommand::Signal { signal, reply }) => {
                    let result = match &self.running {
                        Some(r) => process::signal_group(r.pid, signal)
                            .map(|_| r.pid)
                            .map_err(|e| SupervisorError::Signal { service: self.service.clone(), source: e }),
                        None => Err(SupervisorError::NotRunning { service: self.service.clone(), replica: self.index }),
                    };
                    let _ = reply.send(result);
                }
                Some(ReplicaCommand::Shutdown { reply }) => {
                    self.backoff_until = None;
                    self.stop_running().await;
                    let _ = reply.send(());
                    return;
                }
                None => {
                    self.stop_running().await;
                    return;
                }
            }
        }
    }
}

async fn wait_for_exit(running: &mut Option<Running>) -> String {
    match running {
        Some(r) => match r.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("wait failed: {e}"),
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_per_replica() {
        let vars = BTreeMap::from([("port".to_owned(), "8080".to_owned()), ("replica".to_owned(), "1".to_owned())]);
        assert_eq!(expand("--port={port}", &vars), "--port=8080");
        assert_eq!(expand("r{replica}-{port}-{other}", &vars), "r1-8080-{other}");
    }
}
