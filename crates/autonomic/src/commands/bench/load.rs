//! `autonomic bench query-load`: the demo twice, once quiet and once beside hostile query
//! clients, with MTTD, MTTR and the loop's worst lateness side by side.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chaos::{DemoOptions, Report};
use controller::Mode;

/// Arguments of `bench query-load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Hostile query clients in the loaded run.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Only these faults (comma-separated), as `demo --faults`.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Requests per second sent to the gateway.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Also write both reports as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The goal: the loop is never later than this many of its intervals under the load.
const GOAL_INTERVALS: f64 = 2.0;

/// Runs both demos; exits 1 unless both healed every fault and the loaded loop met the goal.
pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    super::super::init_logging("error");
    let journal = std::env::temp_dir().join(format!("autonomic-bench-load-{}.db", std::process::id()));
    let opts = DemoOptions {
        self_exe: std::env::current_exe()?,
        journal: journal.clone(),
        plan: super::super::demo::plan(&args.faults)?,
        rate: args.rate,
        budget: Duration::from_secs(60),
        query_load: 0,
    };
    let quiet = chaos::run_once(&opts, Mode::Autonomic).await;
    let loaded = match &quiet {
        Ok(_) => chaos::run_once(&DemoOptions { query_load: args.clients, ..opts.clone() }, Mode::Autonomic).await,
        Err(_) => Err(chaos::DemoError::Interrupted("the quiet run failed".into())),
    };
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    let (quiet, loaded) = (quiet?, loaded?);
    println!("{}", chaos::table(&quiet));
    println!("{}", chaos::table(&loaded));
    println!("{}", side_by_side(&quiet, &loaded));
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "quiet": quiet, "loaded": loaded });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        println!("reports written to {}", path.display());
    }
    let on_time = loaded.loop_timing.is_some_and(|t| {
        t.largest_scrape_gap_ms as f64 <= GOAL_INTERVALS * t.scrape_interval_ms as f64
            && t.largest_evaluation_gap_intervals <= GOAL_INTERVALS
    });
    let ok = quiet.all_healed() && loaded.all_healed() && on_time;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1}s", m as f64 / 1000.0)).unwrap_or_else(|| "—".into())
}

fn ratio(loaded: Option<i64>, quiet: Option<i64>) -> String {
    match (loaded, quiet) {
        (Some(l), Some(q)) if q > 0 => format!("{:.2}×", l as f64 / q as f64),
        _ => "—".into(),
    }
}

/// Per fault, quiet vs loaded, and the loop's timing in both.
fn side_by_side(quiet: &Report, loaded: &Report) -> String {
    let clients = loaded.query_load.map_or(0, |q| q.clients);
    let mut out = format!("quiet vs beside {clients} hostile query clients (ratio: loaded / quiet)\n");
    out.push_str(&format!(
        "{:<19} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7}\n",
        "fault", "MTTD", "MTTR", "MTTD", "MTTR", "MTTD ×", "MTTR ×"
    ));
    for (q, l) in quiet.faults.iter().zip(&loaded.faults) {
        out.push_str(&format!(
            "{:<19} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7}\n",
            q.fault.name(),
            secs(q.detected_after_ms),
            secs(q.recovered_after_ms),
            secs(l.detected_after_ms),
            secs(l.recovered_after_ms),
            ratio(l.detected_after_ms, q.detected_after_ms),
            ratio(l.recovered_after_ms, q.recovered_after_ms),
        ));
    }
    let timing = |r: &Report| {
        r.loop_timing.map_or("—".to_owned(), |t| {
            format!(
                "scrape {:.2}s, evaluation {:.2} intervals",
                t.largest_scrape_gap_ms as f64 / 1000.0,
                t.largest_evaluation_gap_intervals
            )
        })
    };
    out.push_str(&format!("largest gap quiet:  {}\n", timing(quiet)));
    out.push_str(&format!("largest gap loaded: {} (goal: at most {GOAL_INTERVALS} intervals)\n", timing(loaded)));
    out.push_str(&format!(
        "availability: quiet {:.3}%, loaded {:.3}%\n",
        quiet.availability * 100.0,
        loaded.availability * 100.0
    ));
    out
}
