//! `autonomic incidents`: what the journal says happened.

use std::path::PathBuf;
use std::process::ExitCode;

use knowledge::Journal;

/// Arguments of `incidents`.
#[derive(Debug, clap::Args)]
pub struct IncidentsArgs {
    /// Journal file.
    #[arg(long, default_value_os_t = crate::default_journal())]
    journal: PathBuf,
    /// How many incidents, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn clock_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}.{:03} UTC", ms.rem_euclid(1000))
}

/// Lists incidents.
pub fn run(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    if !args.journal.exists() {
        anyhow::bail!(
            "no journal at {} (run `autonomic demo` or `autonomic run` first, or pass --journal)",
            args.journal.display()
        );
    }
    // Read-only and without the lock: a running controller owns the journal.
    let journal = Journal::open_read_only(&args.journal)?;
    let incidents = journal.incidents(args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&incidents)?);
        return Ok(ExitCode::SUCCESS);
    }
    if incidents.is_empty() {
        println!("no incidents in {}", args.journal.display());
    }
    for r in incidents.iter().rev() {
        let i = &r.incident;
        let took = i.closed_at.map(|c| format!(" after {:.1}s", (c - i.opened_at) as f64 / 1000.0)).unwrap_or_default();
        // An escalation nobody received must not read like one somebody did.
        let unpaged = if r.timeline.iter().any(|e| e.kind == "escalation_failed") { " (NOBODY PAGED)" } else { "" };
        println!(
            "{} {} {}{unpaged}{took}: {}  [playbook: {}]",
            i.id,
            i.service,
            i.state.as_str(),
            i.title,
            i.playbook.as_deref().unwrap_or("none")
        );
        println!("    {}  opened by {}", clock_time(i.opened_at), model::excerpt_to(&r.trigger_key, 400));
        for e in &r.timeline {
            println!("    +{:>6.1}s  {:<9} {}", (e.at - i.opened_at) as f64 / 1000.0, e.kind, e.text);
        }
    }
    // The controller's own notes: when the journal could not be written, and for how long.
    let notes = journal.controller_notes(args.limit)?;
    if !notes.is_empty() {
        println!("controller:");
        for n in notes.iter().rev() {
            println!("    {}  {} {}", clock_time(n.at), n.kind, n.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
