//! Tests of playbook checking and matching.

use super::*;
use model::Labels;

fn compile(text: &str) -> Result<Vec<Playbook>, Diagnostics> {
    let root = yamlspan::parse_document("p.yaml", text).map_err(|d| Diagnostics(vec![d]))?;
    let mut diags = Diagnostics::new();
    let expr = |e: &str| {
        if e.contains("((") { Err("bad expr".to_owned()) } else { Ok(()) }
    };
    let services = BTreeMap::new();
    let checks = Checks { defaults: &Guards::default(), expr: &expr, services: &services };
    let node = root.get("playbooks").cloned().unwrap_or(root.clone());
    let out = compile_playbooks(&node, "playbooks", &checks, &mut PlaybookNames::new(), &mut diags);
    diags.sort();
    diags.into_result(out)
}

#[test]
fn compiles_a_ladder_with_guards() {
    let p = compile(
        "playbooks:\n  - name: errors\n    match: {alert: HighErrorRate, labels: {severity: page}}\n    steps:\n      - {action: restart, scope: replica, verify: recovered, within: 20s}\n      - {action: rollback, verify: healthy, within: 1m}\n      - {action: page, url: 'http://127.0.0.1:9/hook'}\n    guards: {cooldown: 30s, max_actions_per_hour: 3, max_unavailable: 50%}\n",
    )
    .expect("valid");
    let p = &p[0];
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[0].action, Some(StepAction::act("restart", Some(Scope::Replica))));
    assert_eq!(p.steps[1].within, Duration::from_secs(60));
    assert!(matches!(p.steps[1].verify, Verify::Healthy));
    assert_eq!(p.guards.cooldown, Duration::from_secs(30));
    assert_eq!(p.guards.max_unavailable.of(4), 2);
    assert_eq!(p.guards.max_unavailable.of(1), 1);
}

#[test]
fn reports_all_step_errors_with_positions() {
    let text = "playbooks:\n  - name: a\n    match: {signal: bogus}\n    steps:\n      - {action: reboot}\n      - {action: signal, signal: NOPE}\n      - {action: restart, within: soon}\n      - {verify: 'rate(x[5m]) (('}\n      - {action: rollback, scope: all}\n  - name: a\n    match: {}\n    steps: []\n";
    let diags = compile(text).expect_err("invalid");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        "p.yaml:3:21: playbooks[0].match.signal = \"bogus\": unknown signal kind",
        "p.yaml:5:18: playbooks[0].steps[0].action = \"reboot\": unknown action",
        "p.yaml:6:34: playbooks[0].steps[1].signal = \"NOPE\": unknown Unix signal",
        "p.yaml:7:35: playbooks[0].steps[2].within = \"soon\": not a duration",
        "p.yaml:8:18: playbooks[0].steps[3].verify",
        "p.yaml:9:35: playbooks[0].steps[4].scope = \"all\": `scope` only applies to restart and signal",
        "p.yaml:10:11: playbooks[1].name = \"a\": playbook name is used twice (first at p.yaml:2:11)",
        "p.yaml:12:12: playbooks[1].steps",
    ];
    for (got, want) in shown.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
    assert_eq!(shown.len(), expect.len(), "{shown:#?}");
}

#[test]
fn deadlines_guards_and_page_urls_are_bounded() {
    let text = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps:\n      - {action: restart, within: 0s}\n      - {action: restart, within: 25h}\n      - {action: page, url: 'http://pager:70000/'}\n      - {action: page, url: 'http://my pager/'}\n    guards: {cooldown: 8d, max_actions_per_hour: 4294967295}\n";
    let diags = compile(text).expect_err("out of range");
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        "p.yaml:5:35: playbooks[0].steps[0].within = \"0s\": must be from 1s to 1d",
        "p.yaml:6:35: playbooks[0].steps[1].within = \"25h\": must be from 1s to 1d",
        "p.yaml:7:29: playbooks[0].steps[2].url = \"http://pager:70000/\": not a valid URL: invalid port number",
        "p.yaml:8:29: playbooks[0].steps[3].url = \"http://my pager/\": not a valid URL",
        "p.yaml:9:24: playbooks[0].guards.cooldown = \"8d\": must be from 0s to 7d",
        "p.yaml:9:50: playbooks[0].guards.max_actions_per_hour = \"4294967295\": must be from 0 to 1000",
    ];
    for (got, want) in shown.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
    assert_eq!(shown.len(), expect.len(), "{shown:#?}");
    let ok = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps: [{action: restart, within: 1s}, {action: restart, within: 24h}]\n    guards: {cooldown: 7d, max_actions_per_hour: 1000}\n";
    compile(ok).unwrap_or_else(|d| panic!("{d}"));
}

#[test]
fn a_playbook_file_reports_its_own_errors_and_shares_names() {
    let expr = |_: &str| Ok(());
    let services = BTreeMap::new();
    let checks = Checks { defaults: &Guards::default(), expr: &expr, services: &services };
    let mut names = PlaybookNames::new();
    let mut diags = Diagnostics::new();
    let first = "playbooks:\n  - name: a\n    match: {alert: X}\n    steps: [{action: rollback}]\n";
    let file = compile_playbook_file("one.yaml", first, &checks, &mut names, &mut diags);
    assert!(diags.is_empty(), "{diags}");
    assert_eq!(file.playbooks.len(), 1);
    assert!(file.node.is_some());

    let second = "services: {}\nplaybooks:\n  - name: a\n    match: {alert: Y}\n    steps: [{action: reboot}]\n  - name: b\n    match: {alert: Z}\n    steps: [{action: page}]\n";
    let file = compile_playbook_file("two.yaml", second, &checks, &mut names, &mut diags);
    diags.sort();
    let shown: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
    let expect = [
        "two.yaml:1:1: services = \"services\": unknown field `services`",
        "two.yaml:3:11: playbooks[0].name = \"a\": playbook name is used twice (first at one.yaml:2:11)",
        "two.yaml:5:22: playbooks[0].steps[0].action = \"reboot\": unknown action",
    ];
    for (got, want) in shown.iter().zip(expect) {
        assert!(got.starts_with(want), "got {got:?}, want prefix {want:?}");
    }
    assert_eq!(shown.len(), expect.len(), "{shown:#?}");
    assert_eq!(file.playbooks.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b"]);

    let mut diags = Diagnostics::new();
    let empty = compile_playbook_file("e.yaml", "", &checks, &mut names, &mut diags);
    assert!(diags.is_empty() && empty.playbooks.is_empty() && empty.node.is_none());
    let list = compile_playbook_file("l.yaml", "- name: c\n", &checks, &mut names, &mut diags);
    assert!(list.playbooks.is_empty());
    assert!(diags.0[0].to_string().starts_with("l.yaml:1:1: "), "{diags}");
}

#[test]
fn matching_respects_kind_name_labels_and_recent_deploys() {
    let m = Match {
        kind: Some(SignalKind::Alert),
        name: Some("HighErrorRate".into()),
        labels: BTreeMap::from([("severity".to_owned(), "page".to_owned())]),
        deployed_within: Some(Duration::from_secs(600)),
        ..Match::default()
    };
    let s = Signal::firing(
        SignalKind::Alert,
        "HighErrorRate",
        Labels::from_pairs([("severity", "page"), ("service", "checkout")]),
        0,
    );
    assert!(m.matches(&s, Some(Duration::from_secs(60))));
    assert!(!m.matches(&s, Some(Duration::from_secs(601))), "deploy too long ago");
    assert!(!m.matches(&s, None), "never deployed");
    let other = Signal::firing(SignalKind::Alert, "Other", s.labels.clone(), 0);
    assert!(!m.matches(&other, Some(Duration::ZERO)));
}
