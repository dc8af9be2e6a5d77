//! Game-day reports: per fault, when it was injected, detected, which actions ran, when
//! recovery was seen and verified; availability measured at the gateway.

use serde::Serialize;

use crate::faults::FaultKind;
use crate::load::{LoadTotals, LoopTiming};
use crate::traffic::Second;

/// What happened to one injected fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultResult {
    /// The fault.
    pub fault: FaultKind,
    /// Where.
    pub service: String,
    /// Which replica (`null`: all).
    pub replica: Option<usize>,
    /// When it was injected, ms since the epoch.
    pub injected_at: i64,
    /// Time to the first signal about the service (MTTD), if any.
    pub detected_after_ms: Option<i64>,
    /// What raised that first signal: `rule NAME`, `learned baseline WATCH (DETECTOR)`,
    /// `probe failed`, `process exited`, …
    pub detected_by: Option<String>,
    /// That first signal's summary.
    pub detection: Option<String>,
    /// Time until an outside check found the fault gone and the service healthy (MTTR).
    pub recovered_after_ms: Option<i64>,
    /// Time until the controller verified recovery and closed the incident.
    pub verified_after_ms: Option<i64>,
    /// Actions on the service between injection and recovery, as journaled.
    pub actions: Vec<String>,
    /// Recovered within the budget.
    pub healed: bool,
    /// The controller verified the recovery itself.
    pub verified: bool,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `autonomic` or `baseline`.
    pub mode: String,
    /// Per fault.
    pub faults: Vec<FaultResult>,
    /// Successful / all requests at the gateway over the run.
    pub availability: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failed_requests: u64,
    /// Pages received by the on-call webhook.
    pub pages: usize,
    /// Wall time of the run.
    pub duration_ms: i64,
    /// Requests and successes per second, for charts.
    pub traffic: Vec<Second>,
    /// How late the loop ran at its worst (autonomic mode).
    pub loop_timing: Option<LoopTiming>,
    /// The hostile query load run beside it, if any.
    pub query_load: Option<LoadTotals>,
}

impl Report {
    /// Every fault healed and (in autonomic mode) verified.
    pub fn all_healed(&self) -> bool {
        !self.faults.is_empty() && self.faults.iter().all(|f| f.healed && (self.mode == "baseline" || f.verified))
    }
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1}s", m as f64 / 1000.0)).unwrap_or_else(|| "—".into())
}

fn place(f: &FaultResult) -> String {
    match f.replica {
        Some(r) => format!("{}[{r}]", f.service),
        None => f.service.clone(),
    }
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let mut out = format!("{} run\n", report.mode);
    out.push_str(&format!(
        "{:<19} {:<13} {:>7} {:>7} {:>8}  {:<6} {:<40} actions\n",
        "fault", "where", "MTTD", "MTTR", "verified", "healed", "detected by"
    ));
    for f in &report.faults {
        let actions = if f.actions.is_empty() { "—".to_owned() } else { f.actions.join("; ") };
        out.push_str(&format!(
            "{:<19} {:<13} {:>7} {:>7} {:>8}  {:<6} {:<40} {}\n",
            f.fault.name(),
            place(f),
            secs(f.detected_after_ms),
            secs(f.recovered_after_ms),
            secs(f.verified_after_ms),
            if f.healed { "yes" } else { "NO" },
            f.detected_by.as_deref().unwrap_or("—"),
            actions
        ));
    }
    out.push_str(&format!(
        "availability {:.3}% ({} of {} requests failed), {} page(s), {:.0}s\n",
        report.availability * 100.0,
        report.failed_requests,
        report.requests,
        report.pages,
        report.duration_ms as f64 / 1000.0
    ));
    if let Some(t) = &report.loop_timing {
        out.push_str(&loop_line(t));
    }
    if let Some(q) = &report.query_load {
        out.push_str(&format!(
            "beside {} hostile query clients: {} queries answered, {} refused by the sample or size limit, {} out of time or pool full, {} without an answer; the query threads used {:.0} CPU seconds in {:.0} s ({:.2} cores)\n",
            q.clients, q.answered, q.refused, q.busy, q.failed, q.query_cpu_seconds, q.seconds, q.query_cpu_seconds / q.seconds.max(1.0)
        ));
    }
    out
}

fn loop_line(t: &LoopTiming) -> String {
    format!(
        "loop timing: largest scrape gap {:.2}s ({:.2} intervals), largest evaluation gap {:.2}s ({:.2} intervals)\n",
        t.largest_scrape_gap_ms as f64 / 1000.0,
        t.largest_scrape_gap_ms as f64 / t.scrape_interval_ms.max(1) as f64,
        t.largest_evaluation_gap_ms as f64 / 1000.0,
        t.largest_evaluation_gap_intervals
    )
}

/// Two runs side by side.
pub fn compare_table(autonomic: &Report, baseline: &Report) -> String {
    let mut out = String::from("autonomic vs baseline (restart on exit + liveness probe 10s×3)\n");
    out.push_str(&format!(
        "{:<19} {:<13} | {:>7} {:>7} {:<6} | {:>7} {:>7} {:<6}\n",
        "fault", "where", "MTTD", "MTTR", "healed", "MTTD", "MTTR", "healed"
    ));
    for (a, b) in autonomic.faults.iter().zip(&baseline.faults) {
        out.push_str(&format!(
            "{:<19} {:<13} | {:>7} {:>7} {:<6} | {:>7} {:>7} {:<6}\n",
            a.fault.name(),
            place(a),
            secs(a.detected_after_ms),
            secs(a.recovered_after_ms),
            if a.healed { "yes" } else { "NO" },
            secs(b.detected_after_ms),
            secs(b.recovered_after_ms),
            if b.healed { "yes" } else { "NO" },
        ));
    }
    out.push_str(&format!(
        "{:<33} | {:>22} | {:>22}\n",
        "availability",
        format!("{:.3}%", autonomic.availability * 100.0),
        format!("{:.3}%", baseline.availability * 100.0)
    ));
    out
}
