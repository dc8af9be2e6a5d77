//! The real peers of the Prometheus-shop tests: Debian's `prometheus` (2.42) and
//! `prometheus-alertmanager` (0.25), each started on 127.0.0.1 in a temporary directory and
//! killed when dropped.
//!
//! `.ci/run` installs both and sets `AUTONOMIC_REQUIRE_PROMETHEUS=1` and
//! `AUTONOMIC_REQUIRE_ALERTMANAGER=1`, so that in CI a test that needs them cannot pass by
//! skipping; elsewhere it says it skipped.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::free_port;
use super::wait_until;

/// A running peer, killed on drop.
pub struct Peer {
    child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    log: std::path::PathBuf,
}

impl Peer {
    /// What it logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Whether `tool` can run here; when it cannot and `require_var` is set, the test fails.
pub fn available(tool: &str, require_var: &str, package: &str) -> bool {
    if installed(tool) {
        return true;
    }
    assert!(std::env::var_os(require_var).is_none(), "{tool} is required here (apt-get install {package})");
    eprintln!("skipped: {tool} is not installed (apt-get install {package})");
    false
}

fn start(program: &str, args: &[String], dir: &Path, name: &str, addr: String) -> Peer {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let peer = Peer { child, addr, log };
    wait_until(Duration::from_secs(30), &format!("{name} to be ready"), || {
        super::http::get(&peer.addr, "/-/ready", Duration::from_secs(1)).is_some_and(|(status, _)| status == 200)
    });
    peer
}

/// Starts Prometheus with `config` (written to `dir/prometheus.yml`; other files it names
/// are relative to `dir`), alerts resent every second.
pub fn prometheus(dir: &Path, config: &str) -> Peer {
    std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        "--config.file=prometheus.yml".to_owned(),
        format!("--storage.tsdb.path={}", dir.join("prometheus-data").display()),
        format!("--web.listen-address={addr}"),
        "--rules.alert.resend-delay=1s".to_owned(),
        "--log.level=warn".to_owned(),
    ];
    start("prometheus", &args, dir, "prometheus", addr)
}

/// An Alertmanager configuration that sends every alert at once (no grouping delay) to
/// Autonomic's webhook at `api`, resolved ones too, with the bearer token in `token_file`
/// when given.
pub fn alertmanager_webhook_config(api: &str, token_file: Option<&str>) -> String {
    let auth = token_file
        .map(|f| format!("        http_config: {{ authorization: {{ credentials_file: {f} }} }}\n"))
        .unwrap_or_default();
    format!(
        "route:\n  receiver: autonomic\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  \
         repeat_interval: 1h\nreceivers:\n  - name: autonomic\n    webhook_configs:\n      - url: \
         http://{api}/api/v1/alerts\n        send_resolved: true\n{auth}"
    )
}

/// Starts Alertmanager with `config` (written to `dir/alertmanager.yml`), clustering off.
pub fn alertmanager(dir: &Path, config: &str) -> Peer {
    std::fs::write(dir.join("alertmanager.yml"), config).expect("alertmanager.yml");
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        "--config.file=alertmanager.yml".to_owned(),
        format!("--storage.path={}", dir.join("alertmanager-data").display()),
        format!("--web.listen-address={addr}"),
        "--cluster.listen-address=".to_owned(),
        "--log.level=warn".to_owned(),
    ];
    start("prometheus-alertmanager", &args, dir, "alertmanager", addr)
}
