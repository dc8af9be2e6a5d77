//! Checking services: commands and their placeholders, targets, URLs, probes, dependencies.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::{Diagnostics, excerpt};
use remedy::actuators::process::RestartPolicy;
use remedy::endpoint::{check_host_port, check_url};
use yamlspan::{Node, Spanned};

use super::bounds::{self, count, dur, timeout};
use super::raw::RawService;
use super::{ProbeSettings, RunConfig, ServiceConfig};

/// Placeholders a command, environment value or URL template may use.
pub const PLACEHOLDERS: &[&str] = &["port", "addr", "replica", "service", "autonomic"];

/// Checks `{…}` placeholders in `text`; `services` are the names `{addrs:NAME}` may use.
pub(super) fn check_placeholders(
    text: &Spanned<String>,
    path: &str,
    services: &BTreeSet<String>,
    allow_port: bool,
    diags: &mut Diagnostics,
) {
    let mut rest = text.value.as_str();
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        let known = match name.strip_prefix("addrs:") {
            Some(svc) => services.contains(svc),
            None => PLACEHOLDERS.contains(&name) && (allow_port || name != "port"),
        };
        if !known && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            diags.push(text.diagnostic(
                path,
                format!("unknown placeholder {{{}}}; known: {{port}} {{addr}} {{replica}} {{service}} {{autonomic}} {{addrs:SERVICE}}", excerpt(name)),
            ));
        }
        rest = &rest[open + close + 1..];
    }
}

pub(super) fn compile_service(
    name: &str,
    raw: &RawService,
    node: &Node,
    clean: bool,
    names: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> ServiceConfig {
    let path = format!("services.{name}");
    let run = raw.run.as_ref().map(|r| {
        let rpath = format!("{path}.run");
        if r.command.value.is_empty() {
            diags.push(r.command.diagnostic(format!("{rpath}.command"), "command must name a program"));
        }
        for (i, arg) in r.command.value.iter().enumerate() {
            check_placeholders(arg, &format!("{rpath}.command[{i}]"), names, true, diags);
        }
        for (k, v) in &r.env {
            check_placeholders(v, &format!("{rpath}.env.{k}"), names, true, diags);
        }
        let replicas = count(&r.replicas, &format!("{rpath}.replicas"), 1, &bounds::REPLICAS, diags);
        let defaults = RestartPolicy::default();
        let restart = match &r.restart {
            None => defaults,
            Some(x) => {
                let p = format!("{rpath}.restart");
                let initial_backoff =
                    dur(&x.backoff, &format!("{p}.backoff"), defaults.initial_backoff, &bounds::BACKOFF, diags);
                // The default ceiling gives way to a longer first delay rather than refuse it.
                let max_backoff = dur(
                    &x.max_backoff,
                    &format!("{p}.max_backoff"),
                    defaults.max_backoff.max(initial_backoff),
                    &(initial_backoff..=bounds::MAX_BACKOFF),
                    diags,
                );
                RestartPolicy {
                    enabled: x.enabled.unwrap_or(true),
                    initial_backoff,
                    max_backoff,
                    reset_after: dur(
                        &x.reset_after,
                        &format!("{p}.reset_after"),
                        defaults.reset_after,
                        &bounds::RESET_AFTER,
                        diags,
                    ),
                    burst: count(&x.burst, &format!("{p}.burst"), defaults.burst, &bounds::BURST, diags),
                    interval: dur(
                        &x.interval,
                        &format!("{p}.interval"),
                        defaults.interval,
                        &bounds::RESTART_INTERVAL,
                        diags,
                    ),
                }
            }
        };
        let port = r.port.as_ref().and_then(|p| {
            let last = u64::from(p.value) + replicas as u64 - 1;
            if p.value == 0 {
                diags.push(p.diagnostic(format!("{rpath}.port"), "must be 1 to 65535"));
                None
            } else if last > u64::from(u16::MAX) {
                diags.push(p.diagnostic(
                    format!("{rpath}.port"),
                    format!("must leave a port for every replica (replica i gets port + i; the last would be {last})"),
                ));
                None
            } else {
                u16::try_from(p.value).ok()
            }
        });
        RunConfig {
            command: r.command.value.iter().map(|a| a.value.clone()).collect(),
            env: r.env.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            replicas,
            port,
            release: r.release.clone().unwrap_or_else(|| "initial".into()),
            stop_grace: dur(
                &r.stop_grace,
                &format!("{rpath}.stop_grace"),
                Duration::from_secs(5),
                &bounds::STOP_GRACE,
                diags,
            ),
            ready_timeout: dur(
                &r.ready_timeout,
                &format!("{rpath}.ready_timeout"),
                Duration::from_secs(15),
                &bounds::READY_TIMEOUT,
                diags,
            ),
            restart,
        }
    });
    let workload = raw.kubernetes.as_ref().and_then(|w| {
        let wnode = node.get("kubernetes").unwrap_or(node);
        super::kubernetes::compile_workload(w, wnode, &format!("{path}.kubernetes"), diags)
    });
    match (&run, raw.kubernetes.is_some(), raw.targets.is_empty()) {
        (Some(_), _, false) => diags.push(raw.targets[0].diagnostic(
            format!("{path}.targets"),
            "a service is either run here (`run`) or observed (`targets`), not both",
        )),
        (_, true, false) => diags.push(raw.targets[0].diagnostic(
            format!("{path}.targets"),
            "a `kubernetes` service's targets are its pods, found in the cluster: leave `targets` out",
        )),
        (Some(_), true, _) => diags.push(node.get("kubernetes").unwrap_or(node).diagnostic(
            format!("{path}.kubernetes"),
            "a service is either run here (`run`) or a Kubernetes workload (`kubernetes`), not both",
        )),
        // When `run`, `kubernetes` or `targets` was left out for an error of its own, that
        // error says it.
        (None, false, true) if node.missing_unreported(clean, &["run", "kubernetes", "targets"]) => {
            diags.push(node.diagnostic(
                path.clone(),
                "a service needs `run` (supervise it here), `kubernetes` (a workload in a cluster) or `targets` (observe it)",
            ))
        }
        _ => {}
    }
    for (i, t) in raw.targets.iter().enumerate() {
        let problem =
            if t.value.contains("://") { Err("expected host:port".into()) } else { check_host_port(&t.value) };
        if let Err(e) = problem {
            diags.push(t.diagnostic(format!("{path}.targets[{i}]"), e));
        }
    }
    let url_template =
        |v: &Option<Spanned<String>>, field: &str, default: Option<&str>, diags: &mut Diagnostics| -> Option<String> {
            match v {
                None => default.map(str::to_owned),
                Some(s) if s.value == "none" => None,
                Some(s) => {
                    let ok = s.value.starts_with("http://")
                        || s.value.starts_with("https://")
                        || (field == "health" && s.value.starts_with("tcp://"));
                    if !ok {
                        let schemes =
                            if field == "health" { "http://, https:// or tcp://" } else { "http:// or https://" };
                        diags.push(s.diagnostic(
                            format!("{path}.{field}"),
                            format!("expected a URL starting with {schemes}, or `none`"),
                        ));
                    } else if let Err(e) = check_url(&with_sample_placeholders(&s.value)) {
                        diags.push(s.diagnostic(format!("{path}.{field}"), e));
                    }
                    check_placeholders(s, &format!("{path}.{field}"), names, false, diags);
                    Some(s.value.clone())
                }
            }
        };
    let metrics = url_template(&raw.metrics, "metrics", Some("http://{addr}/metrics"), diags);
    let health = url_template(&raw.health, "health", None, diags);
    let probe = raw
        .probe
        .as_ref()
        .map(|p| {
            let d = ProbeSettings::default();
            let pp = format!("{path}.probe");
            let period = dur(&p.period, &format!("{pp}.period"), d.period, &bounds::INTERVAL, diags);
            let t = format!("{pp}.timeout");
            ProbeSettings {
                period,
                timeout: timeout(&p.timeout, &t, d.timeout, period, &format!("{pp}.period"), diags),
                failure_threshold: count(
                    &p.failure_threshold,
                    &format!("{pp}.failure_threshold"),
                    d.failure_threshold,
                    &bounds::CONSECUTIVE,
                    diags,
                ),
                success_threshold: count(
                    &p.success_threshold,
                    &format!("{pp}.success_threshold"),
                    d.success_threshold,
                    &bounds::CONSECUTIVE,
                    diags,
                ),
            }
        })
        .unwrap_or_default();
    if let Some(kind) = &raw.kind {
        check_type(kind, &path, run.is_some(), raw.kubernetes.is_some(), diags);
    }
    for (i, dep) in raw.depends_on.iter().enumerate() {
        if !names.contains(&dep.value) {
            diags.push(dep.diagnostic(format!("{path}.depends_on[{i}]"), "no service with this name"));
        } else if dep.value == name {
            diags.push(dep.diagnostic(format!("{path}.depends_on[{i}]"), "a service cannot depend on itself"));
        }
    }
    ServiceConfig {
        name: name.to_owned(),
        run,
        kubernetes: workload,
        targets: raw.targets.iter().map(|t| t.value.clone()).collect(),
        metrics,
        health,
        probe,
        depends_on: raw.depends_on.iter().map(|d| d.value.clone()).collect(),
    }
}

/// Checks a service's `type:`: a registered actuator type, given what its type needs (a
/// `process` service is one with `run:`).
fn check_type(kind: &Spanned<String>, path: &str, runs_here: bool, in_cluster: bool, diags: &mut Diagnostics) {
    let field = format!("{path}.type");
    match remedy::actuators::spec(&kind.value) {
        None => {
            let known: Vec<&str> = remedy::actuators::TYPES.iter().map(|t| t.name).collect();
            diags.push(kind.diagnostic(field, format!("unknown actuator type; known: {}", known.join(", "))));
        }
        Some(spec) if spec.name == remedy::actuators::PROCESS.name && !runs_here => {
            diags.push(kind.diagnostic(field, "a `process` service needs `run:` (the command to supervise here)"));
        }
        Some(spec) if spec.name == remedy::actuators::KUBERNETES.name && !in_cluster => {
            diags.push(kind.diagnostic(
                field,
                "a `kubernetes` service needs `kubernetes:` (its namespace and deployment or statefulset)",
            ));
        }
        Some(_) => {}
    }
}

/// `template` with each placeholder replaced by a value of its kind (an address, a port, a
/// name), so that the URL around the placeholders can be checked before any replica exists.
fn with_sample_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        out.push_str(match name {
            "addr" => "127.0.0.1:1",
            "port" => "1",
            "replica" => "0",
            "service" | "autonomic" => "x",
            n if n.starts_with("addrs:") => "127.0.0.1:1",
            // Unknown placeholders are reported on their own; leave them as written.
            _ => &rest[open..=open + close],
        });
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

pub(super) fn find_cycle(services: &[ServiceConfig]) -> Option<Vec<String>> {
    let graph: HashMap<&str, &[String]> = services.iter().map(|s| (s.name.as_str(), s.depends_on.as_slice())).collect();
    fn visit<'a>(
        n: &'a str,
        g: &HashMap<&'a str, &'a [String]>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == n) {
            let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for d in g.get(n).copied().unwrap_or_default() {
            if let Some(c) = visit(d, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    services.iter().find_map(|s| visit(&s.name, &graph, &mut Vec::new(), &mut done))
}

/// Expands `dir/*.yaml`-style patterns (a `*` in the file name only) to sorted paths.
pub(super) fn expand_glob(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = pattern.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !name.contains('*') {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let dir = pattern.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len())
        })
        .collect();
    out.sort();
    Ok(out)
}
