//! `autonomic check`: the configuration's compile step, without running anything.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration files or Prometheus rule files (recognised by their `groups:` key).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Checks every file and prints every problem.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in &args.files {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{shown}:0:0: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        let is_rule_file =
            yamlspan::parse_document(&shown, &text).ok().is_some_and(|root| root.get("groups").is_some());
        let result = if is_rule_file {
            analyze::rules::parse_rule_file(&shown, &text, Duration::from_secs(60)).map(|groups| {
                format!(
                    "{} rule group(s), {} rule(s)",
                    groups.len(),
                    groups.iter().map(|g| g.rules.len()).sum::<usize>()
                )
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
