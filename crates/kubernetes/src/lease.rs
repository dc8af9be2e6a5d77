//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does it: the leader renews the lease every [`LeaseSettings::renew_every`]; a replica
//! that sees the same record unchanged for [`LeaseSettings::duration`] (by its own clock,
//! never by comparing clocks) takes the lease over; every write carries the
//! `resourceVersion` read, so two replicas never both win. A leader that cannot renew
//! within [`LeaseSettings::renew_deadline`] stops leading before its lease can expire for
//! the others.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{ApiError, Cluster};

/// Where the lease is and how long it lasts (`kubernetes.leader_election`).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSettings {
    /// The lease's namespace.
    pub namespace: String,
    /// The lease's name.
    pub name: String,
    /// How long a lease not renewed stays another replica's (client-go: 15 s).
    pub duration: Duration,
    /// How long the leader keeps leading without a successful renewal (client-go: 10 s);
    /// less than `duration`, so that it has stopped before another takes over.
    pub renew_deadline: Duration,
    /// How often the leader renews, and a follower looks (client-go: 2 s).
    pub renew_every: Duration,
}

impl LeaseSettings {
    /// Settings with client-go's proportions for a lease of `duration`: renewal deadline
    /// two thirds of it, a try every one seventh (at least 100 ms).
    pub fn with_duration(namespace: impl Into<String>, name: impl Into<String>, duration: Duration) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            duration,
            renew_deadline: duration * 2 / 3,
            renew_every: (duration / 7).max(Duration::from_millis(100)),
        }
    }
}

/// Campaigns for the lease as `identity` and publishes whether this replica leads.
#[derive(Debug, Clone)]
pub struct LeaderElector {
    cluster: Cluster,
    settings: LeaseSettings,
    identity: String,
}

/// What the last look at the lease found.
struct Observed {
    /// The record as last read (holder, renew time, transitions).
    record: Option<(String, Option<MicroTime>, i32)>,
    /// When this replica saw it change last.
    since: Instant,
}

impl LeaderElector {
    /// Campaigns in `cluster` under `settings` as `identity`.
    pub fn new(cluster: Cluster, settings: LeaseSettings, identity: impl Into<String>) -> Self {
        Self { cluster, settings, identity: identity.into() }
    }

    /// Campaigns until dropped, sending `true` on `leading` while this replica holds the
    /// lease and `false` otherwise. Errors (the API server out of reach, a conflict with
    /// another replica's write) are tried again on the next round.
    pub async fn run(self, leading: watch::Sender<bool>) {
        let api: Api<Lease> = Api::namespaced(self.cluster.client.clone(), &self.settings.namespace);
        let mut observed = Observed { record: None, since: Instant::now() };
        // When the last successful renewal was sent: the lease runs from then at the latest.
        let mut renewed: Option<Instant> = None;
        loop {
            let started = Instant::now();
            // A round may not outlast the leader's deadline: a renewal that answers late
            // counts as failed, so a leader never believes in a lease the others see expire.
            let budget = match renewed {
                Some(at) => self.settings.renew_deadline.saturating_sub(started.duration_since(at)),
                None => self.settings.renew_deadline,
            };
            match tokio::time::timeout(budget.max(Duration::from_millis(10)), self.round(&api, &mut observed)).await {
                Ok(Ok(true)) => renewed = Some(started),
                Ok(Ok(false)) => renewed = None,
                Ok(Err(e)) => tracing::warn!(lease = %self.settings.name, error = %e, "leader election"),
                Err(_) => {
                    tracing::warn!(lease = %self.settings.name, "leader election: the round outlasted the renewal deadline")
                }
            }
            let lead = renewed.is_some_and(|at| at.elapsed() < self.settings.renew_deadline);
            if !lead {
                renewed = None;
            }
            self.publish(&leading, lead);
            // Sleep until the next round, but wake to step down when the deadline passes.
            let mut next = self.settings.renew_every;
            if let Some(at) = renewed {
                next = next.min(self.settings.renew_deadline.saturating_sub(at.elapsed()));
            }
            tokio::time::sleep(next).await;
            if renewed.is_some_and(|at| at.elapsed() >= self.settings.renew_deadline) {
                renewed = None;
                self.publish(&leading, false);
            }
        }
    }

    fn publish(&self, leading: &watch::Sender<bool>, lead: bool) {
        leading.send_if_modified(|was| {
            if *was != lead {
                tracing::info!(identity = %self.identity, lease = %self.settings.name, leading = lead, "leadership changed");
                *was = lead;
                true
            } else {
                false
            }
        });
    }

    /// One look at the lease: renews it (holding it), takes it (free or expired), or leaves
    /// it; `Ok(true)` when this replica holds it afterwards.
    async fn round(&self, api: &Api<Lease>, observed: &mut Observed) -> Result<bool, ApiError> {
        let name = &self.settings.name;
        let what = || format!("get lease {}/{name}", self.settings.namespace);
        let now = k8s_openapi::jiff::Timestamp::now();
        let mine = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.settings.duration.as_secs().max(1) as i32),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let lease = match self.cluster.call(what, api.get(name)).await {
            Ok(lease) => lease,
            Err(e) if e.is_not_found() => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(name.clone()), ..ObjectMeta::default() },
                    spec: Some(mine(0, None)),
                };
                let what = || format!("create lease {}/{name}", self.settings.namespace);
                self.cluster.call(what, api.create(&PostParams::default(), &lease)).await?;
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let record = Some((holder.clone(), spec.renew_time.clone(), transitions));
        if record != observed.record {
            observed.record = record;
            observed.since = Instant::now();
        }
        let held_by_me = holder == self.identity;
        let expired = holder.is_empty() || observed.since.elapsed() >= self.settings.duration;
        if !held_by_me && !expired {
            return Ok(false);
        }
        let spec =
            if held_by_me { mine(transitions, spec.acquire_time) } else { mine(transitions.saturating_add(1), None) };
        let updated = Lease { metadata: lease.metadata.clone(), spec: Some(spec) };
        let what = || format!("update lease {}/{name}", self.settings.namespace);
        match self.cluster.call(what, api.replace(name, &PostParams::default(), &updated)).await {
            Ok(_) => {
                if !held_by_me {
                    tracing::info!(identity = %self.identity, previous = %holder, "took over the lease");
                }
                Ok(true)
            }
            // Another replica wrote first: it holds the lease this round.
            Err(ApiError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
