//! Configuration checking: the shipped demo configuration is valid, and a broken one is
//! rejected with every error at once, each with file:line:column, field and value.

use std::path::Path;
use std::time::Duration;

#[test]
fn the_demo_configuration_checks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo/autonomic.yaml");
    let config = controller::load(Path::new(dir)).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.services.len(), 4);
    assert_eq!(config.rule_groups.len(), 1);
    assert_eq!(config.rule_groups[0].interval, Duration::from_millis(500));
    assert!(config.playbooks.iter().any(|p| p.name == "bad-release"));
    let downstream = config.downstream_of("gateway");
    assert_eq!(downstream.into_iter().collect::<Vec<_>>(), vec!["checkout", "inventory", "payments"]);
}

#[test]
fn every_error_is_reported_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad-rules.yaml"),
        "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n",
    )
    .expect("write");
    let text = r#"scrape: { interval: fast }
services:
  api:
    run: { command: ["./api", "--port", "{prot}"], replicas: 0 }
    targets: ["127.0.0.1:80"]
    depends_on: [db]
  a: { targets: ["127.0.0.1:1"], depends_on: [b] }
  b: { targets: ["127.0.0.1:2"], depends_on: [a] }
  web: { targets: ["http://127.0.0.1:3"], helth: "x" }
rules: [bad-rules.yaml, missing/*.yaml]
playbooks:
  - name: p
    match: { service: nowhere }
    steps: [{ action: restart, within: 5 mins }]
"#;
    let diags = controller::compile("c.yaml", text, dir.path()).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        ("c.yaml:1:21: scrape.interval = \"fast\"", "not a duration"),
        ("c.yaml:3:3: services", "depends_on forms a cycle"),
        ("c.yaml:4:41: services.api.run.command[2] = \"{prot}\"", "unknown placeholder {prot}"),
        ("c.yaml:4:62: services.api.run.replicas", "must be from 1 to 256"),
        ("c.yaml:5:15: services.api.targets", "not both"),
        ("c.yaml:6:18: services.api.depends_on[0] = \"db\"", "no service with this name"),
        ("c.yaml:9:43: services.web.helth", "unknown field `helth`"),
        ("c.yaml:10:25: rules[1] = \"missing/*.yaml\"", "cannot list files"),
        ("c.yaml:13:23: playbooks[0].match.service = \"nowhere\"", "no service with this name"),
        ("c.yaml:14:40: playbooks[0].steps[0].within = \"5 mins\"", "not a duration"),
    ];
    for (want_prefix, want_text) in expect {
        assert!(
            shown.iter().any(|s| s.starts_with(want_prefix) && s.contains(want_text)),
            "missing {want_prefix:?} … {want_text:?} in {shown:#?}"
        );
    }
    assert!(
        shown.iter().any(|s| s.contains("bad-rules.yaml:5:15: groups[0].rules[0].expr = \"up ==\": invalid PromQL")),
        "errors inside rule files carry their own file name: {shown:#?}"
    );
}

#[test]
fn anomaly_watches_check_their_expression_detector_direction_and_threshold() {
    let good = "anomaly_detection:\n  - name: memory\n    expr: deriv(process_resident_memory_bytes[30s])\n    direction: up\n    probation: 30\n    min_change: 25%\n    false_alarm_every: 2d\n";
    let config = controller::compile("c.yaml", good, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.anomaly_watches.len(), 1);
    assert_eq!(config.anomaly_watches[0].direction, analyze::anomaly::Direction::Up);
    assert_eq!(config.anomaly_watches[0].probation, 30);
    assert_eq!(config.anomaly_watches[0].detector, "ensemble");
    assert_eq!(config.anomaly_watches[0].min_change, 0.25);
    assert_eq!(config.anomaly_watches[0].false_alarm_every, std::time::Duration::from_secs(2 * 86_400));

    let bad = "anomaly_detection:\n  - name: a\n    expr: rate(x)\n  - name: b\n    expr: up\n    detector: crystal-ball\n    direction: sideways\n    threshold: 3\n    min_change: lots\n  - name: c\n    expr: up\n    detector: cad\n    false_alarm_every: often\n";
    let diags = controller::compile("c.yaml", bad, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    for want in [
        "c.yaml:3:11: anomaly_detection[0].expr = \"rate(x)\": invalid PromQL",
        "c.yaml:6:15: anomaly_detection[1].detector = \"crystal-ball\": unknown detector",
        "c.yaml:7:16: anomaly_detection[1].direction = \"sideways\": expected up, down or both",
        "c.yaml:8:16: anomaly_detection[1].threshold = \"3\": a score threshold is in (0, 1]",
        "c.yaml:9:17: anomaly_detection[1].min_change = \"lots\": expected a fraction like 0.1 or a percentage like 10%",
        "c.yaml:12:15: anomaly_detection[2].detector = \"cad\": a benchmark reference with unbounded memory",
        "c.yaml:13:24: anomaly_detection[2].false_alarm_every = \"often\": not a duration",
    ] {
        assert!(shown.iter().any(|s| s.starts_with(want)), "missing {want:?} in {shown:#?}");
    }
}

#[test]
fn every_shape_error_of_an_anomaly_watch_is_reported_not_only_the_first() {
    // Wrong types for a required field and for optional ones, an unknown key, and a second
    // entry that misses `expr` altogether: none of them hides another.
    let bad = "anomaly_detection:\n  - name: [not, a, name]\n    expr: up\n    probation: soon\n    colour: red\n    threshold: high\n  - name: only-a-name\n";
    let diags = controller::compile("c.yaml", bad, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    for want in [
        "c.yaml:2:11: anomaly_detection[0].name",
        "c.yaml:4:16: anomaly_detection[0].probation",
        "c.yaml:5:5: anomaly_detection[0]",
        "c.yaml:6:16: anomaly_detection[0].threshold",
        "anomaly_detection[1]",
    ] {
        assert!(shown.iter().any(|s| s.starts_with(want) || s.contains(want)), "missing {want:?} in {shown:#?}");
    }
    assert!(
        shown.iter().any(|s| s.contains("anomaly_detection[1]") && s.contains("missing field `expr`")),
        "{shown:#?}"
    );
    assert!(shown.iter().any(|s| s.contains("colour")), "the unknown key is named: {shown:#?}");
    assert!(
        !shown.iter().any(|s| s.contains("anomaly_detection[0]") && s.contains("missing field `name`")),
        "a bad name is not reported again as missing: {shown:#?}"
    );
}

#[test]
fn errors_in_every_section_are_all_reported_unknown_keys_and_wrong_types_included() {
    // An unknown key at the top level, unknown keys and a wrong type inside `scrape`,
    // `escalation` and `defaults`, and errors in services and in a playbook step that also
    // has an unknown key: none of them hides another.
    let text = r#"jurnal: x.db
scrape: { interval: fast, down_after: two, jitter: 1s }
evaluation_interval: soon
escalation: { webhook: "ftp://pager", retries: 3 }
defaults: { guards: { cooldown: forever, budget: 3 }, colour: blue }
services:
  api: { targets: ["127.0.0.1:80"], depends_on: [zz] }
playbooks:
  - name: p
    priority: high
    match: { alert: X }
    steps:
      - { action: explode, verify: 'rate(x[1m]) ((', retry: 2 }
"#;
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        ("c.yaml:1:1: jurnal = \"jurnal\"", "unknown field `jurnal`"),
        ("c.yaml:2:21: scrape.interval = \"fast\"", "not a duration"),
        ("c.yaml:2:39: scrape.down_after = \"two\"", "expected a non-negative integer"),
        ("c.yaml:2:44: scrape.jitter = \"jitter\"", "unknown field `jitter`"),
        ("c.yaml:3:22: evaluation_interval = \"soon\"", "not a duration"),
        ("c.yaml:4:24: escalation.webhook = \"ftp://pager\"", "expected an http:// or https:// URL"),
        ("c.yaml:4:39: escalation.retries = \"retries\"", "unknown field `retries`"),
        ("c.yaml:5:33: defaults.guards.cooldown = \"forever\"", "not a duration"),
        ("c.yaml:5:42: defaults.guards.budget = \"budget\"", "unknown field `budget`"),
        ("c.yaml:5:55: defaults.colour = \"colour\"", "unknown field `colour`"),
        ("c.yaml:7:50: services.api.depends_on[0] = \"zz\"", "no service with this name"),
        ("c.yaml:10:5: playbooks[0].priority = \"priority\"", "unknown field `priority`"),
        ("c.yaml:13:19: playbooks[0].steps[0].action = \"explode\"", "unknown action"),
        ("c.yaml:13:36: playbooks[0].steps[0].verify", "expected `recovered`, `healthy`, `rolled_out` or PromQL"),
        ("c.yaml:13:54: playbooks[0].steps[0].retry = \"retry\"", "unknown field `retry`"),
    ];
    for (want_prefix, want_text) in expect {
        assert!(
            shown.iter().any(|s| s.starts_with(want_prefix) && s.contains(want_text)),
            "missing {want_prefix:?} … {want_text:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), expect.len(), "each error once, nothing made up: {shown:#?}");
}

#[test]
fn a_value_left_out_for_its_own_error_is_not_reported_again_as_missing() {
    let text = "escalation: { webhook: [a, b] }\nservices:\n  web: { targets: oops }\nplaybooks:\n  - name: p\n    match: { alert: X }\n    steps: [{ action: signal, signal: [HUP] }]\n";
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    for want in [
        "c.yaml:1:24: escalation.webhook: expected a string",
        "c.yaml:3:19: services.web.targets = \"oops\": expected a sequence",
        "c.yaml:7:39: playbooks[0].steps[0].signal: expected a string",
    ] {
        assert!(shown.iter().any(|s| s.starts_with(want)), "missing {want:?} in {shown:#?}");
    }
    assert_eq!(shown.len(), 3, "no follow-on `missing field` or `needs run or targets`: {shown:#?}");
}

#[test]
fn playbook_files_are_appended_after_the_inline_playbooks_in_file_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("playbooks")).expect("mkdir");
    let file = |name: &str, playbook: &str, extra: &str| {
        let text = format!(
            "playbooks:\n  - name: {playbook}\n    match: {{ alert: HighErrorRate, service: api }}\n    steps: [{{ action: restart, within: 10s }}]\n{extra}"
        );
        std::fs::write(dir.path().join(name), text).expect("write");
    };
    // The glob's files in name order, whatever order they were written in.
    file("playbooks/b-second.yaml", "from-b", "");
    file("playbooks/a-first.yaml", "from-a", "    guards: { cooldown: 7s }\n");
    file("playbooks/ignored.txt", "not-loaded", "");
    file("last.yaml", "from-last", "");
    let text = r#"services:
  api: { run: { command: [api] } }
defaults: { guards: { cooldown: 42s } }
playbooks:
  - name: inline
    match: { alert: HighErrorRate, service: api }
    steps: [{ action: rollback }]
playbook_files: [playbooks/*.yaml, last.yaml]
"#;
    let config = controller::compile("c.yaml", text, dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let names: Vec<&str> = config.playbooks.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["inline", "from-a", "from-b", "from-last"]);
    assert_eq!(config.playbooks[1].guards.cooldown, Duration::from_secs(7), "a playbook's own guards");
    assert_eq!(config.playbooks[2].guards.cooldown, Duration::from_secs(42), "the configuration's defaults");
    assert_eq!(config.playbooks[3].matcher.service.as_deref(), Some("api"));

    // Matching is first-match in that order: the inline playbook takes the alert.
    let signal = model::Signal::firing(
        model::SignalKind::Alert,
        "HighErrorRate",
        model::Labels::from_pairs([("service", "api")]),
        0,
    );
    let chosen = remedy::playbook::select(&config.playbooks, &signal, None).map(|p| p.name.as_str());
    assert_eq!(chosen, Some("inline"));
}

#[test]
fn errors_in_playbook_files_are_all_reported_with_their_own_file_and_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("playbooks")).expect("mkdir");
    std::fs::write(
        dir.path().join("playbooks/one.yaml"),
        r#"playbooks:
  - name: restart-api
    match: { alert: X, service: nowhere }
    steps:
      - { action: explode, within: soon }
      - { verify: 'rate(x[1m]) ((' }
  - name: dup
    match: { alert: Y }
    steps: [{ action: page }]
"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("playbooks/two.yaml"),
        "services: {}\nplaybooks:\n  - name: restart-api\n    match: { alert: Z }\n    steps: [{ action: restart, scope: some }]\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("syntax.yaml"), "playbooks: [\n").expect("write");
    let text = r#"services:
  api: { run: { command: [api] } }
playbooks:
  - name: dup
    match: { alert: Y, service: api }
    steps: [{ action: rollback, within: 1 minute }]
playbook_files: [playbooks/*.yaml, nothing/*.yaml, playbooks/one.yaml, syntax.yaml, absent.yaml]
"#;
    let diags = controller::compile("c.yaml", text, dir.path()).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let one = dir.path().join("playbooks/one.yaml").display().to_string();
    let two = dir.path().join("playbooks/two.yaml").display().to_string();
    let syntax = dir.path().join("syntax.yaml").display().to_string();
    let expect = [
        ("c.yaml:6:41: playbooks[0].steps[0].within = \"1 minute\"".to_owned(), "not a duration"),
        ("c.yaml:7:36: playbook_files[1] = \"nothing/*.yaml\"".to_owned(), "cannot list files"),
        ("c.yaml:7:52: playbook_files[2] = \"playbooks/one.yaml\"".to_owned(), "already loaded by an earlier entry"),
        ("c.yaml:7:85: playbook_files[4] = \"absent.yaml\"".to_owned(), "cannot read"),
        (format!("{one}:3:33: playbooks[0].match.service = \"nowhere\""), "no service with this name"),
        (format!("{one}:5:19: playbooks[0].steps[0].action = \"explode\""), "unknown action"),
        (format!("{one}:5:36: playbooks[0].steps[0].within = \"soon\""), "not a duration"),
        (
            format!("{one}:6:19: playbooks[0].steps[1].verify"),
            "expected `recovered`, `healthy`, `rolled_out` or PromQL",
        ),
        (format!("{one}:7:11: playbooks[1].name = \"dup\""), "playbook name is used twice (first at c.yaml:4:11)"),
        (format!("{two}:1:1: services = \"services\""), "unknown field `services`"),
        (format!("{two}:3:11: playbooks[0].name = \"restart-api\""), &format!("used twice (first at {one}:2:11)")),
        (format!("{two}:5:39: playbooks[0].steps[0].scope = \"some\""), "expected `replica` or `all`"),
        (format!("{syntax}:1:12: "), "invalid YAML"),
    ];
    for (want_prefix, want_text) in &expect {
        assert!(
            shown.iter().any(|s| s.starts_with(want_prefix.as_str()) && s.contains(want_text)),
            "missing {want_prefix:?} … {want_text:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), expect.len(), "each error once: {shown:#?}");
}

#[test]
fn scrape_limits_and_max_series_have_safe_defaults() {
    let config = controller::compile("c.yaml", "services: {}\n", Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.scrape.limits, monitor::ScrapeLimits::DEFAULT);
    assert_eq!(config.scrape.limits.sample_limit, 50_000);
    assert_eq!(config.scrape.limits.body_size_limit, 16 << 20);
    assert_eq!(config.max_series, 200_000);
}

#[test]
fn scrape_limits_and_max_series_are_configured() {
    let text = r#"max_series: 5000
scrape:
  sample_limit: 1000
  body_size_limit: 10MB
  label_limit: 30
  label_name_length_limit: 100
  label_value_length_limit: 2048
services: {}
"#;
    let config = controller::compile("c.yaml", text, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    let want = monitor::ScrapeLimits {
        sample_limit: 1000,
        body_size_limit: 10 << 20,
        label_limit: 30,
        label_name_length_limit: 100,
        label_value_length_limit: 2048,
    };
    assert_eq!(config.scrape.limits, want);
    assert_eq!(config.max_series, 5000);
    let plain = controller::compile("c.yaml", "scrape: { body_size_limit: 65536 }\n", Path::new("."))
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plain.scrape.limits.body_size_limit, 65536);
}

#[test]
fn out_of_range_limits_and_max_series_are_refused_with_their_position() {
    let text = r#"max_series: 0
scrape:
  sample_limit: 0
  body_size_limit: 16 mb
  label_limit: 2
  label_name_length_limit: 0
  label_value_length_limit: 99999999
services: {}
"#;
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        ("c.yaml:1:13: max_series", "must be from 1000 to 10000000 (0 does not mean \"no limit\""),
        ("c.yaml:3:17: scrape.sample_limit", "must be from 1 to 10000000 (0 does not mean \"no limit\""),
        ("c.yaml:4:20: scrape.body_size_limit = \"16 mb\"", "expected a size such as 16MiB"),
        ("c.yaml:5:16: scrape.label_limit", "must be from 5 to 10000"),
        ("c.yaml:6:28: scrape.label_name_length_limit", "must be from 17 to 65536"),
        ("c.yaml:7:29: scrape.label_value_length_limit", "must be from 64 to 1048576"),
    ];
    for (want_prefix, want_text) in expect {
        assert!(
            shown.iter().any(|s| s.starts_with(want_prefix) && s.contains(want_text)),
            "missing {want_prefix:?} … {want_text:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), expect.len(), "each error once: {shown:#?}");

    let too_few = controller::compile("c.yaml", "max_series: 999\nscrape: { body_size_limit: 2GiB }\n", Path::new("."))
        .expect_err("invalid");
    let shown: Vec<String> = too_few.0.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|s| s.starts_with("c.yaml:1:13: max_series") && s.contains("must be from 1000")),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("c.yaml:2:28: scrape.body_size_limit") && s.contains("must be from 1024 to")),
        "{shown:#?}"
    );
}

#[test]
fn a_step_is_checked_against_the_actuator_of_the_service_it_is_bound_to() {
    let text = r#"services:
  web: { targets: ["127.0.0.1:80"] }
  api: { run: { command: [api] } }
playbooks:
  - name: observed
    match: { alert: X, service: web }
    steps: [{ action: rollback }, { action: page, url: "http://127.0.0.1:9/" }]
  - name: run-here
    match: { alert: Y, service: api }
    steps:
      - { action: scale }
      - { action: restart, signal: USR1 }
      - { action: rollback, scope: replica }
      - { action: signal }
      - { action: signal, signal: HUP, replicas: 3 }
  - name: anywhere
    match: { alert: Z }
    steps: [{ action: restart, scope: all }, { action: reboot }]
"#;
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        "c.yaml:7:23: playbooks[0].steps[0].action = \"rollback\": service web is only observed (`targets`): it has no actuator, so its playbooks can only `page`",
        "c.yaml:11:19: playbooks[1].steps[0].action = \"scale\": unknown action for service api: a `process` service has restart, signal, rollback, and every service has page",
        "c.yaml:12:36: playbooks[1].steps[1].signal = \"USR1\": `signal` is not a parameter of `restart` on a `process` service (its parameters: none)",
        "c.yaml:13:36: playbooks[1].steps[2].scope = \"replica\": `scope` only applies to restart and signal",
        "c.yaml:14:9: playbooks[1].steps[3]: action `signal` needs `signal`: a Unix signal as `kill -l` names it, e.g. HUP",
        "c.yaml:15:50: playbooks[1].steps[4].replicas = \"3\": `replicas` is not a parameter of `signal` on a `process` service (its parameters: signal)",
        "c.yaml:18:56: playbooks[2].steps[1].action = \"reboot\": unknown action; expected restart, signal, rollback, scale, cordon, uncordon, drain or page",
    ];
    for (got, want) in shown.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
    assert_eq!(shown.len(), expect.len(), "{shown:#?}");
}

#[test]
fn pagerduty_escalation_reads_its_routing_key_from_a_file_and_never_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pd.key"), "R0UT1NGKEY\n").expect("write");
    std::fs::write(dir.path().join("empty.key"), "  \n").expect("write");
    let with = |escalation: &str| {
        format!(
            "escalation: {escalation}\nservices:\n  api: {{ run: {{ command: [api] }} }}\nplaybooks:\n  - name: p\n    match: {{ alert: X }}\n    steps: [{{ action: page, format: slack }}, {{ action: restart, format: slack }}, {{ action: page, format: email }}]\n"
        )
    };
    let ok = "{ webhook: 'https://events.pagerduty.com/v2/enqueue', format: pagerduty, routing_key_file: pd.key }";
    let diags = controller::compile("c.yaml", &with(ok), dir.path()).expect_err("two bad steps");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown[0].starts_with(
            "c.yaml:7:73: playbooks[0].steps[1].format = \"slack\": `format` only applies to action `page`"
        ),
        "{shown:#?}"
    );
    assert!(
        shown[1].starts_with(
            "c.yaml:7:106: playbooks[0].steps[2].format = \"email\": expected webhook, pagerduty or slack"
        ),
        "{shown:#?}"
    );

    let good = format!(
        "escalation: {ok}\nservices:\n  api: {{ run: {{ command: [api] }} }}\nplaybooks:\n  - name: p\n    match: {{ alert: X }}\n    steps: [{{ action: page, format: slack, url: 'http://127.0.0.1:9/' }}]\n"
    );
    let config = controller::compile("c.yaml", &good, dir.path()).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.escalation_format, remedy::PageFormat::PagerDuty);
    assert_eq!(config.escalation_routing_key.as_ref().map(|k| k.expose()), Some("R0UT1NGKEY"));
    assert!(!format!("{config:?}").contains("R0UT1NGKEY"), "the key never shows in Debug output");

    for (escalation, want) in [
        (
            "{ webhook: 'https://x/', format: pagerduty }",
            "c.yaml:1:24: escalation.routing_key_file = \"https://x/\": format `pagerduty` needs `routing_key_file`",
        ),
        (
            "{ webhook: 'https://x/', format: pagerduty, routing_key_file: nowhere.key }",
            "c.yaml:1:75: escalation.routing_key_file = \"nowhere.key\": cannot read the routing key from",
        ),
        (
            "{ webhook: 'https://x/', format: pagerduty, routing_key_file: empty.key }",
            "is empty: it must hold the routing key",
        ),
        (
            "{ webhook: 'https://x/', format: slack, routing_key_file: pd.key }",
            "only format `pagerduty` uses a routing key",
        ),
        (
            "{ webhook: 'https://x/', format: sms }",
            "c.yaml:1:46: escalation.format = \"sms\": expected webhook, pagerduty or slack",
        ),
    ] {
        let text = format!("escalation: {escalation}\nservices:\n  api: {{ run: {{ command: [api] }} }}\n");
        let diags = controller::compile("c.yaml", &text, dir.path()).expect_err(escalation);
        let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        assert!(
            shown.len() == 1 && (shown[0].starts_with(want) || shown[0].contains(want)),
            "{escalation}: {shown:#?}"
        );
    }
}

#[test]
fn a_service_names_its_actuator_type() {
    let ok = "services:\n  api: { type: process, run: { command: [api] } }\n";
    let config = controller::compile("c.yaml", ok, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.services[0].actuator_type().map(|t| t.name), Some("process"));
    let in_cluster = "services:\n  api: { type: kubernetes, kubernetes: { namespace: shop, deployment: api } }\n";
    let config = controller::compile("c.yaml", in_cluster, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(config.services[0].actuator_type().map(|t| t.name), Some("kubernetes"));
    let text = "services:\n  a: { type: nomad, run: { command: [a] } }\n  b: { type: process, targets: [\"127.0.0.1:80\"] }\n  c: { type: kubernetes, targets: [\"127.0.0.1:80\"] }\n";
    let diags = controller::compile("c.yaml", text, Path::new(".")).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "c.yaml:2:14: services.a.type = \"nomad\": unknown actuator type; known: process, kubernetes",
            "c.yaml:3:14: services.b.type = \"process\": a `process` service needs `run:` (the command to supervise here)",
            "c.yaml:4:14: services.c.type = \"kubernetes\": a `kubernetes` service needs `kubernetes:` (its namespace and deployment or statefulset)",
        ]
    );
}
