//! Where every replica lives: free ports for supervised services, fixed targets for observed
//! ones, and the placeholder values each replica's command is expanded with.

use std::collections::BTreeMap;
use std::path::Path;

pub use remedy::actuators::process::expand;

use crate::config::{Config, ServiceConfig};

/// One replica's address and placeholder values.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// Index within its service.
    pub index: usize,
    /// `host:port`.
    pub addr: String,
    /// Values for `{port}`, `{addr}`, `{replica}`, `{service}`, `{autonomic}`, `{addrs:NAME}`.
    pub vars: BTreeMap<String, String>,
}

/// Every replica of every service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// Replicas by service name.
    pub services: BTreeMap<String, Vec<Replica>>,
}

/// Picks `n` distinct free ports on 127.0.0.1 by holding listeners until all are chosen.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

impl Topology {
    /// Assigns addresses: fresh ports for supervised services, the configured targets for
    /// observed ones. `self_exe` is what `{autonomic}` expands to.
    pub fn resolve(config: &Config, self_exe: &Path) -> std::io::Result<Self> {
        let needed: usize = config
            .services
            .iter()
            .filter_map(|s| s.run.as_ref().filter(|r| r.port.is_none()).map(|r| r.replicas))
            .sum();
        let mut ports = free_ports(needed)?.into_iter();
        let mut addrs: BTreeMap<String, Vec<(String, Option<u16>)>> = BTreeMap::new();
        for s in &config.services {
            let list = match &s.run {
                Some(run) => (0..run.replicas)
                    .map(|i| {
                        let port = match run.port {
                            // Checked by the configuration: every replica's port fits.
                            Some(first) => first.saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
                            None => ports.next().unwrap_or(0),
                        };
                        (format!("127.0.0.1:{port}"), Some(port))
                    })
                    .collect(),
                None => {
                    s.targets.iter().map(|t| (t.clone(), t.rsplit(':').next().and_then(|p| p.parse().ok()))).collect()
                }
            };
            addrs.insert(s.name.clone(), list);
        }
        let all_addrs: BTreeMap<String, String> = addrs
            .iter()
            .map(|(name, list)| {
                (format!("addrs:{name}"), list.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(","))
            })
            .collect();
        let mut services = BTreeMap::new();
        for s in &config.services {
            let replicas = addrs
                .get(&s.name)
                .map(|list| {
                    list.iter()
                        .enumerate()
                        .map(|(index, (addr, port))| {
                            let mut vars = all_addrs.clone();
                            vars.insert("addr".into(), addr.clone());
                            vars.insert("port".into(), port.map(|p| p.to_string()).unwrap_or_default());
                            vars.insert("replica".into(), index.to_string());
                            vars.insert("service".into(), s.name.clone());
                            vars.insert("autonomic".into(), self_exe.display().to_string());
                            Replica { index, addr: addr.clone(), vars }
                        })
                        .collect()
                })
                .unwrap_or_default();
            services.insert(s.name.clone(), replicas);
        }
        Ok(Self { services })
    }

    /// Replicas of `service`.
    pub fn replicas(&self, service: &str) -> &[Replica] {
        self.services.get(service).map(Vec::as_slice).unwrap_or_default()
    }

    /// Addresses of `service`'s replicas.
    pub fn addrs(&self, service: &str) -> Vec<String> {
        self.replicas(service).iter().map(|r| r.addr.clone()).collect()
    }

    /// The replica index of `instance` (an address) in `service`.
    pub fn replica_of(&self, service: &str, instance: &str) -> Option<usize> {
        self.replicas(service).iter().find(|r| r.addr == instance).map(|r| r.index)
    }
}

/// The probe check a health template describes for one replica.
pub fn health_check(service: &ServiceConfig, replica: &Replica) -> Option<monitor::ProbeCheck> {
    let url = expand(service.health.as_deref()?, &replica.vars);
    Some(match url.strip_prefix("tcp://") {
        Some(addr) => monitor::ProbeCheck::Tcp { addr: addr.to_owned() },
        None => monitor::ProbeCheck::Http { url },
    })
}
