//! `check` refuses what `run` cannot survive: every number, duration, port and host of the
//! configuration has a range, and a value outside it is reported with file:line:column,
//! the field, the value and the allowed range. The README documents each bound.

use std::path::Path;
use std::time::Duration;

/// Compiles `text` and asserts that exactly the errors `expect` (prefix, text it contains)
/// are reported.
fn assert_refused(text: &str, expect: &[(&str, &str)]) {
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("out of bounds");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    for (want_prefix, want_text) in expect {
        assert!(
            shown.iter().any(|s| s.starts_with(want_prefix) && s.contains(want_text)),
            "missing {want_prefix:?} … {want_text:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), expect.len(), "each error once, nothing else: {shown:#?}");
}

#[test]
fn replicas_and_the_restart_policy_are_bounded() {
    let text = r#"services:
  a:
    run:
      command: ["./a"]
      replicas: 100000
      restart: { backoff: 0s, burst: 4294967295, interval: 1ms, reset_after: 0s }
  b:
    run:
      command: ["./b"]
      replicas: 0
      restart: { backoff: 2s, max_backoff: 1s, burst: 0, interval: 2d }
      stop_grace: 1h
      ready_timeout: 0s
  c:
    run:
      command: ["./c"]
      restart: { backoff: 2h, max_backoff: 90m, reset_after: 2d }
"#;
    assert_refused(
        text,
        &[
            ("c.yaml:5:17: services.a.run.replicas = \"100000\"", "must be from 1 to 256"),
            ("c.yaml:6:27: services.a.run.restart.backoff = \"0s\"", "must be from 10ms to 1h"),
            ("c.yaml:6:38: services.a.run.restart.burst = \"4294967295\"", "must be from 1 to 100"),
            ("c.yaml:6:60: services.a.run.restart.interval = \"1ms\"", "must be from 1s to 1d"),
            ("c.yaml:6:78: services.a.run.restart.reset_after = \"0s\"", "must be from 1s to 1d"),
            ("c.yaml:10:17: services.b.run.replicas = \"0\"", "must be from 1 to 256"),
            ("c.yaml:11:44: services.b.run.restart.max_backoff = \"1s\"", "must be from 2s to 1h"),
            ("c.yaml:11:55: services.b.run.restart.burst = \"0\"", "must be from 1 to 100"),
            ("c.yaml:11:68: services.b.run.restart.interval = \"2d\"", "must be from 1s to 1d"),
            ("c.yaml:12:19: services.b.run.stop_grace = \"1h\"", "must be from 0s to 10m"),
            ("c.yaml:13:22: services.b.run.ready_timeout = \"0s\"", "must be from 100ms to 1h"),
            ("c.yaml:17:27: services.c.run.restart.backoff = \"2h\"", "must be from 10ms to 1h"),
            // `backoff` is refused, so `max_backoff` is measured against the default backoff.
            ("c.yaml:17:44: services.c.run.restart.max_backoff = \"90m\"", "must be from 100ms to 1h"),
            ("c.yaml:17:62: services.c.run.restart.reset_after = \"2d\"", "must be from 1s to 1d"),
        ],
    );
}

#[test]
fn the_edges_of_each_range_are_accepted() {
    let text = r#"scrape: { interval: 100ms, timeout: 100ms, down_after: 100 }
evaluation_interval: 1h
group_wait: 1h
services:
  a:
    run:
      command: ["./a"]
      replicas: 256
      restart: { backoff: 10ms, max_backoff: 1h, burst: 100, interval: 1s, reset_after: 1d }
      stop_grace: 0s
      ready_timeout: 100ms
    probe: { period: 100ms, failure_threshold: 1, success_threshold: 100 }
  b:
    run: { command: ["./b"], restart: { backoff: 1h } }
    probe: { period: 1h, timeout: 1h }
  c:
    targets: ["10.0.0.7:65535", "[::1]:1", "db-1.internal:5432"]
    metrics: "https://{addr}/metrics"
    health: "tcp://{addr}"
anomaly_detection:
  - { name: w, expr: up, interval: 100ms, probation: 0, max_series: 100000, quiet: 1000, missing_after: 10000, restart_grace: 10000, false_alarm_every: 1m }
  - { name: v, expr: up, max_series: 1, quiet: 1, missing_after: 1, false_alarm_every: 3650d }
playbooks:
  - name: p
    match: { alert: X }
    steps: [{ action: restart, within: 1s }, { action: page, url: "http://[::1]:65535/page" }]
    guards: { cooldown: 7d, max_actions_per_hour: 0 }
"#;
    let config = controller::compile("c.yaml", text, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.scrape.timeout, Duration::from_millis(100));
    let a = config.service("a").and_then(|s| s.run.as_ref()).expect("a runs");
    assert_eq!((a.replicas, a.restart.burst), (256, 100));
    assert_eq!(
        config.service("a").map(|s| s.probe.timeout),
        Some(Duration::from_millis(100)),
        "the default probe timeout (500ms) gives way to a shorter period"
    );
    let b = config.service("b").and_then(|s| s.run.as_ref()).expect("b runs");
    assert_eq!(b.restart.max_backoff, Duration::from_secs(3600), "the default ceiling gives way to a longer backoff");
    assert_eq!(config.anomaly_watches[0].max_series, 100_000);
}

#[test]
fn intervals_have_a_floor_and_a_ceiling_and_timeouts_fit_their_interval() {
    let text = r#"scrape: { interval: 1ms, timeout: 1h, down_after: 0 }
evaluation_interval: 50ms
group_wait: 2h
services:
  a:
    targets: ["127.0.0.1:80"]
    probe: { period: 1s, timeout: 2s, failure_threshold: 0, success_threshold: 101 }
  b:
    targets: ["127.0.0.1:81"]
    probe: { period: 2h, timeout: 0s }
rule_groups:
  - name: g
    interval: 10ms
    rules: []
anomaly_detection:
  - { name: w, expr: up, interval: 1ms, false_alarm_every: 1s }
  - { name: v, expr: up, interval: 2h, false_alarm_every: 11y }
"#;
    assert_refused(
        text,
        &[
            ("c.yaml:1:21: scrape.interval = \"1ms\"", "must be from 100ms to 1h"),
            ("c.yaml:1:35: scrape.timeout = \"1h\"", "must be at most scrape.interval (1s)"),
            ("c.yaml:1:51: scrape.down_after = \"0\"", "must be from 1 to 100"),
            ("c.yaml:2:22: evaluation_interval = \"50ms\"", "must be from 100ms to 1h"),
            ("c.yaml:3:13: group_wait = \"2h\"", "must be from 0s to 1h"),
            ("c.yaml:7:35: services.a.probe.timeout = \"2s\"", "must be at most services.a.probe.period (1s)"),
            ("c.yaml:7:58: services.a.probe.failure_threshold = \"0\"", "must be from 1 to 100"),
            ("c.yaml:7:80: services.a.probe.success_threshold = \"101\"", "must be from 1 to 100"),
            ("c.yaml:10:22: services.b.probe.period = \"2h\"", "must be from 100ms to 1h"),
            ("c.yaml:10:35: services.b.probe.timeout = \"0s\"", "must be at least 1ms"),
            ("c.yaml:13:15: rule_groups[0].interval = \"10ms\"", "must be at least 100ms"),
            ("c.yaml:16:36: anomaly_detection[0].interval = \"1ms\"", "must be from 100ms to 1h"),
            ("c.yaml:16:60: anomaly_detection[0].false_alarm_every = \"1s\"", "must be from 1m to 3650d"),
            ("c.yaml:17:36: anomaly_detection[1].interval = \"2h\"", "must be from 100ms to 1h"),
            ("c.yaml:17:59: anomaly_detection[1].false_alarm_every = \"11y\"", "must be from 1m to 3650d"),
        ],
    );
}

#[test]
fn counts_of_an_anomaly_watch_are_bounded_and_zero_is_refused_where_it_means_nothing() {
    let text = "anomaly_detection:\n  - { name: w, expr: up, max_series: 0, quiet: 0, missing_after: 0 }\n  - { name: v, expr: up, probation: 2000000, max_series: 100001, quiet: 1001, missing_after: 10001, restart_grace: 10001 }\n";
    assert_refused(
        text,
        &[
            ("c.yaml:2:38: anomaly_detection[0].max_series = \"0\"", "must be from 1 to 100000"),
            ("c.yaml:2:48: anomaly_detection[0].quiet = \"0\"", "must be from 1 to 1000"),
            ("c.yaml:2:66: anomaly_detection[0].missing_after = \"0\"", "must be from 1 to 10000"),
            ("c.yaml:3:37: anomaly_detection[1].probation = \"2000000\"", "must be from 0 to 1000000"),
            ("c.yaml:3:58: anomaly_detection[1].max_series = \"100001\"", "must be from 1 to 100000"),
            ("c.yaml:3:73: anomaly_detection[1].quiet = \"1001\"", "must be from 1 to 1000"),
            ("c.yaml:3:94: anomaly_detection[1].missing_after = \"10001\"", "must be from 1 to 10000"),
            ("c.yaml:3:116: anomaly_detection[1].restart_grace = \"10001\"", "must be from 0 to 10000"),
        ],
    );
}

#[test]
fn ports_and_hosts_must_be_ones_that_can_be_connected_to() {
    let text = r#"escalation: { webhook: "http://pager:99999/page" }
services:
  a:
    targets: ["127.0.0.1:70000", "my host:80", "10.0.0.1:0", "10.0.0.1"]
    metrics: "http://metrics host/metrics"
    health: "tcp://127.0.0.1:65536"
  b:
    run: { command: ["./b", "--port", "{port}"] }
    metrics: "http://{addr}:8080/metrics"
playbooks:
  - name: p
    match: { alert: X }
    steps: [{ action: page, url: "https://bad_host name/" }]
"#;
    assert_refused(
        text,
        &[
            ("c.yaml:1:24: escalation.webhook = \"http://pager:99999/page\"", "not a valid URL: invalid port number"),
            (
                "c.yaml:4:15: services.a.targets[0] = \"127.0.0.1:70000\"",
                "port 70000 is out of range; ports are 1 to 65535",
            ),
            ("c.yaml:4:34: services.a.targets[1] = \"my host:80\"", "has the character ' '"),
            ("c.yaml:4:48: services.a.targets[2] = \"10.0.0.1:0\"", "port 0"),
            ("c.yaml:4:62: services.a.targets[3] = \"10.0.0.1\"", "expected host:port"),
            ("c.yaml:5:14: services.a.metrics = \"http://metrics host/metrics\"", "not a valid URL"),
            ("c.yaml:6:13: services.a.health = \"tcp://127.0.0.1:65536\"", "not a valid URL: invalid port number"),
            ("c.yaml:9:14: services.b.metrics = \"http://{addr}:8080/metrics\"", "not a valid URL"),
            ("c.yaml:13:34: playbooks[0].steps[0].url = \"https://bad_host name/\"", "not a valid URL"),
        ],
    );
}

#[test]
fn no_duration_can_overflow_a_timestamp() {
    let text = "group_wait: 99999999999y\nscrape: { interval: 500000000y }\nrule_groups:\n  - name: g\n    rules: [{ alert: A, expr: up, for: 293y, keep_firing_for: 18446744073709551615ms }]\n";
    assert_refused(
        text,
        &[
            ("c.yaml:1:13: group_wait = \"99999999999y\"", "too long (at most about 292y"),
            ("c.yaml:2:21: scrape.interval = \"500000000y\"", "too long"),
            ("c.yaml:5:40: rule_groups[0].rules[0].for = \"293y\"", "too long"),
            ("c.yaml:5:63: rule_groups[0].rules[0].keep_firing_for = \"18446744073709551615ms\"", "too long"),
        ],
    );
}

#[test]
fn a_huge_journal_path_is_refused_and_quoted_short() {
    let journal = "j".repeat(1 << 20);
    let text = format!("journal: {journal}\nservices:\n  a: {{ targets: [\"127.0.0.1:80\"] }}\n");
    let diags = controller::compile("c.yaml", &text, Path::new(".")).expect_err("too long a path");
    let shown = diags.to_string();
    assert!(shown.starts_with("c.yaml:1:10: journal = \"jjjj"), "{shown}");
    assert!(shown.contains("… (1048576 bytes): a path has at most 4096 bytes"), "{shown}");
    assert!(shown.len() < 300, "the message quotes an excerpt, not the value: {} bytes", shown.len());
    let nul = "journal: \"a\\0b.db\"\n";
    let diags = controller::compile("c.yaml", nul, Path::new(".")).expect_err("NUL in a path");
    assert!(
        diags.to_string().starts_with("c.yaml:1:10: journal = \"a\\0b.db\": a path cannot hold a NUL byte"),
        "{diags}"
    );
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn a_fifo_or_an_oversized_file_as_the_configuration_a_rule_file_or_a_playbook_file_is_refused_unread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("fifo.yaml");
    mkfifo(&config);
    let start = std::time::Instant::now();
    let diags = controller::load(&config).expect_err("a FIFO");
    assert_eq!(
        diags.to_string(),
        format!("{}:0:0: not a regular file but a FIFO; give a regular file", config.display())
    );

    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    mkfifo(&dir.path().join("rules/a.yaml"));
    mkfifo(&dir.path().join("playbook.yaml"));
    let big = std::fs::File::create(dir.path().join("rules/b.yaml")).expect("create");
    big.set_len(yamlspan::MAX_SOURCE_BYTES + 1).expect("a sparse file over the limit");
    let text = "rules: [rules/*.yaml]\nplaybook_files: [playbook.yaml]\n";
    let diags = controller::compile("c.yaml", text, dir.path()).expect_err("a FIFO and a big file");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        "c.yaml:1:9: rules[0] = \"rules/*.yaml\": cannot read",
        "c.yaml:1:9: rules[0] = \"rules/*.yaml\": cannot read",
        "c.yaml:2:18: playbook_files[0] = \"playbook.yaml\": cannot read",
    ];
    for (got, want) in shown.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(shown[0].ends_with("a.yaml: not a regular file but a FIFO; give a regular file"), "{shown:#?}");
    assert!(shown[1].ends_with("b.yaml: larger than the limit of 16777216 bytes (16777217 bytes)"), "{shown:#?}");
    assert!(shown[2].ends_with("playbook.yaml: not a regular file but a FIFO; give a regular file"), "{shown:#?}");
    assert!(start.elapsed() < Duration::from_secs(10), "nothing waited for a writer");
}
