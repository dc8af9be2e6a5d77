//! Rule files that `run` could not survive are refused by `check` exactly as by `run`:
//! an expression deep enough to overflow a stack (it once passed `check`, on the main
//! thread's larger stack, and aborted `run` at its first evaluation, taking the fleet down)
//! and a template whose `printf` asks for 70,000 digits (it once panicked the rule group).
//! Both are reported with file:line:column and the limit, and `run` starts nothing.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Cleanup, autonomic, serial, tag, tagged_processes};

const CONFIG: &str = r#"
journal: j.db
services:
  app:
    run:
      command: ["{autonomic}", "fleet-service", "--name", "app", "--port", "{port}", "--exit-with-parent"]
    health: "http://{addr}/health"
rules: [rules.yaml]
"#;

fn rules() -> String {
    let chain = vec!["up"; 2_500].join(" + ");
    format!(
        "groups:\n  - name: hostile\n    rules:\n      - record: deep\n        expr: {chain}\n      - alert: Precise\n        expr: up == 0\n        annotations:\n          summary: '{{{{ printf \"%.70000f\" $value }}}}'\n"
    )
}

#[test]
fn check_and_run_refuse_what_run_could_not_survive_with_its_position() {
    let _one = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("autonomic.yaml"), CONFIG).expect("config");
    std::fs::write(dir.path().join("rules.yaml"), rules()).expect("rules");

    let check =
        Command::new(autonomic()).args(["check", "rules.yaml"]).current_dir(dir.path()).output().expect("check");
    let said = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(said.contains("rules.yaml:5:15:") && said.contains("the limit is 128"), "{said}");
    assert!(said.contains("rules.yaml:9:") && said.contains("precision 70000"), "{said}");
    assert!(said.len() < 4_000, "the errors echo the input: {} bytes", said.len());

    let tag = tag("hostile-rules");
    let _cleanup = Cleanup(tag.clone());
    let run = Command::new(autonomic())
        .args(["run", "--config", "autonomic.yaml"])
        .current_dir(dir.path())
        .env("AUTONOMIC_E2E_TAG", &tag)
        .output()
        .expect("run");
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(said.contains("the limit is 128") && said.contains("precision 70000"), "{said}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(tagged_processes(&tag).is_empty(), "run started a replica");
}
