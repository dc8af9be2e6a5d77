//! `autonomic check`: the configuration's compile step (or a rule or playbook file's, on its own),
//! without running anything.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration files, Prometheus rule files (recognised by their `groups:` key) or
    /// playbook files (recognised by a `playbooks:` key without `services:`). A playbook
    /// file checked on its own gets the default guards, and its `match.service` names are
    /// not checked: check the configuration that lists it under `playbook_files:` for that.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Checks every file and prints every problem.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in &args.files {
        let shown = path.display().to_string();
        // Only a regular file, and at most `MAX_SOURCE_BYTES` of it: `check /dev/zero` or a
        // FIFO must answer at once, not read forever or wait for a writer.
        let text = match yamlspan::read_source(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{shown}:0:0: {e}");
                failed = true;
                continue;
            }
        };
        let root = yamlspan::parse_document(&shown, &text).ok();
        let is_rule_file = root.as_ref().is_some_and(|root| root.get("groups").is_some());
        let is_playbook_file =
            root.as_ref().is_some_and(|root| root.get("playbooks").is_some() && root.get("services").is_none());
        let result = if is_rule_file {
            analyze::rules::parse_rule_file(&shown, &text, Duration::from_secs(60)).map(|groups| {
                format!(
                    "{} rule group(s), {} rule(s)",
                    groups.len(),
                    groups.iter().map(|g| g.rules.len()).sum::<usize>()
                )
            })
        } else if is_playbook_file {
            controller::check_playbook_file(&shown, &text).map(|playbooks| {
                format!("{} playbook(s); service names not checked without a configuration", playbooks.len())
            })
        } else {
            controller::load(path).map(|c| {
                format!(
                    "{} service(s), {} rule group(s), {} anomaly watch(es), {} playbook(s)",
                    c.services.len(),
                    c.rule_groups.len(),
                    c.anomaly_watches.len(),
                    c.playbooks.len()
                )
            })
        };
        match result {
            Ok(summary) => println!("{shown}: ok ({summary})"),
            Err(diags) => {
                failed = true;
                for d in &diags.0 {
                    eprintln!("{d}");
                }
                eprintln!("{shown}: {} error(s)", diags.len());
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
