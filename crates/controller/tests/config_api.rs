//! The `api:` and `sources:` sections: tokens read from their files with every problem
//! located, no open API off loopback, pushed sources by `type:`, fixed ports for services an
//! outside Prometheus must find.

use std::path::Path;

use model::Role;

fn compile_in(dir: &Path, text: &str) -> Result<controller::Config, Vec<String>> {
    controller::compile("c.yaml", text, dir).map_err(|d| d.0.iter().map(ToString::to_string).collect())
}

fn refused(dir: &Path, text: &str, expect: &[(&str, &str)]) {
    let shown = compile_in(dir, text).expect_err("refused");
    for (prefix, text) in expect {
        assert!(
            shown.iter().any(|s| s.starts_with(prefix) && s.contains(text)),
            "missing {prefix:?} … {text:?} in {shown:#?}"
        );
    }
    assert_eq!(shown.len(), expect.len(), "each error once, nothing else: {shown:#?}");
}

#[test]
fn tokens_are_read_from_their_files_with_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.token"), "  grafana-secret\n").unwrap();
    std::fs::write(dir.path().join("p.token"), "prom-secret").unwrap();
    let config = compile_in(
        dir.path(),
        "api:\n  listen: 0.0.0.0:9464\n  tokens:\n    - { name: grafana, role: read, file: g.token }\n    - { name: prometheus, role: write, file: p.token }\n",
    )
    .expect("valid");
    let access = &config.api.access;
    assert!(!access.is_open());
    assert_eq!(access.authorize(Some(b"Bearer grafana-secret"), Role::Read), Ok(Some("grafana")));
    assert!(access.authorize(Some(b"Bearer grafana-secret"), Role::Write).is_err());
    assert_eq!(access.authorize(Some(b"Bearer prom-secret"), Role::Write), Ok(Some("prometheus")));
    assert!(!format!("{config:?}").contains("grafana-secret"), "a token never shows in Debug output");
}

#[test]
fn every_problem_of_a_token_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.token"), "\n").unwrap();
    std::fs::write(dir.path().join("a.token"), "same").unwrap();
    std::fs::write(dir.path().join("b.token"), "same").unwrap();
    std::fs::write(dir.path().join("two.token"), "two words").unwrap();
    let text = r#"api:
  tokens:
    - { name: a, role: read, file: missing.token }
    - { name: b, role: read, file: empty.token }
    - { name: c, role: root, file: a.token }
    - { name: c, role: read, file: b.token }
    - { name: e, role: read, file: two.token }
"#;
    refused(
        dir.path(),
        text,
        &[
            ("c.yaml:3:36: api.tokens[0].file", "cannot read the token from"),
            ("c.yaml:4:36: api.tokens[1].file", "is empty: it must hold the token"),
            ("c.yaml:5:24: api.tokens[2].role", "expected read, write or admin"),
            ("c.yaml:6:15: api.tokens[3].name", "another token has this name"),
            ("c.yaml:6:36: api.tokens[3].file", "holds the same token as \"c\""),
            ("c.yaml:7:36: api.tokens[4].file", "must hold one token, one word of text"),
        ],
    );
}

#[test]
fn without_tokens_the_api_listens_only_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        dir.path(),
        "api: { listen: \"0.0.0.0:9464\" }\n",
        &[("c.yaml:1:16: api.listen", "no api.tokens are configured")],
    );
    assert!(compile_in(dir.path(), "api: { listen: \"127.0.0.1:9464\" }\n").is_ok());
}

#[test]
fn pushed_sources_are_chosen_by_type_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ok = compile_in(
        dir.path(),
        "sources:\n  - { type: remote_write, max_request_size: 8MiB }\n  - { type: alertmanager, max_alerts: 50 }\n",
    )
    .expect("valid");
    assert_eq!(ok.push_sources.len(), 2);
    match &ok.push_sources[0] {
        monitor::SourceSpec::RemoteWrite(s) => assert_eq!(s.max_request_bytes, 8 << 20),
        other => panic!("{other:?}"),
    }
    let text = r#"sources:
  - { type: kafka }
  - { type: scrape }
  - { type: remote_write, max_alerts: 5 }
  - { type: alertmanager, max_alerts: 0, max_request_size: 1B }
  - { type: remote_write }
"#;
    refused(
        dir.path(),
        text,
        &[
            (
                "c.yaml:2:13: sources[0].type",
                "unknown source type; expected one of scrape, probe, remote_write, alertmanager",
            ),
            ("c.yaml:3:13: sources[1].type", "declared on a service"),
            ("c.yaml:4:39: sources[2].max_alerts", "only type alertmanager"),
            ("c.yaml:5:39: sources[3].max_alerts", "must be from 1 to 1000000"),
            ("c.yaml:5:60: sources[3].max_request_size", "must be from 1024"),
            ("c.yaml:6:13: sources[4].type", "a second remote_write source"),
        ],
    );
}

#[test]
fn a_fixed_port_must_fit_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let text = "services:\n  a:\n    run: { command: [\"./a\"], replicas: 3, port: 65534 }\n  b:\n    run: { command: [\"./b\"], port: 0 }\n";
    refused(
        dir.path(),
        text,
        &[
            ("c.yaml:3:49: services.a.run.port", "the last would be 65536"),
            ("c.yaml:5:36: services.b.run.port", "must be 1 to 65535"),
        ],
    );
    let ok =
        compile_in(dir.path(), "services:\n  a:\n    run: { command: [\"./a\"], replicas: 2, port: 8080 }\n").unwrap();
    assert_eq!(ok.services[0].run.as_ref().and_then(|r| r.port), Some(8080));
}

#[test]
fn a_tls_certificate_and_key_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.crt"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("bad.key"), "not a key").unwrap();
    refused(
        dir.path(),
        "api:\n  tls: { cert_file: missing.crt, key_file: bad.key }\n",
        &[("c.yaml:2:21: api.tls.cert_file", "cannot read")],
    );
    refused(
        dir.path(),
        "api:\n  tls: { cert_file: bad.crt, key_file: bad.key }\n",
        &[("c.yaml:2:21: api.tls.cert_file", "no valid PEM certificate")],
    );
}
