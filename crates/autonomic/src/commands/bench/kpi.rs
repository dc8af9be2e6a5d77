//! `autonomic bench kpi`: a detector on operator-labelled web-service KPIs, scored with the
//! metrics of the corpus' reference scorer, beside its three simple baselines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use analyze::detect::{self, Calibration, Prior};
use indicatif::{ProgressBar, ProgressStyle};
use kpi::metrics::{self, SeriesScore, Summary};

#[derive(Debug, clap::Args)]
pub struct KpiArgs {
    /// The corpus: one folder per set, each of `timestamp,value,label` CSV files (the label is
    /// read only to score).
    #[arg(default_value = "../shared/kpi")]
    dir: PathBuf,
    /// Which detector (see `autonomic bench nab --help`).
    #[arg(long, default_value = "ensemble")]
    detector: String,
    /// Print only a JSON summary.
    #[arg(long)]
    json: bool,
    /// Write each series' output here as `<set>/<series>.csv`
    /// (`timestamp,value,anomaly_score,alarm`), the layout `score_kpi.py` reads.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Records each series is learnt from before it is scored, as in the live loop.
    #[arg(long, default_value_t = 300)]
    probation: usize,
    /// The false-alarm budget: a clean series alarms about once per this span.
    #[arg(long, default_value = "1w", value_parser = crate::commands::parse_span)]
    false_alarm_every: i64,
    /// The fixed threshold of the operator's view (flag when the score is at least this).
    #[arg(long, default_value_t = detect::ALERT_THRESHOLD)]
    threshold: f64,
    /// Grid points after a segment's onset within which a flag finds it in full.
    #[arg(long, default_value_t = 7)]
    delay: usize,
    /// Skip the baselines (they take longer than the detector).
    #[arg(long)]
    no_baselines: bool,
}

/// One detector's run over a set.
struct Run {
    name: String,
    summary: Summary,
    records_per_s: f64,
}

/// Runs the benchmark.
pub fn run(args: KpiArgs) -> anyhow::Result<ExitCode> {
    if detect::build(&args.detector, Prior::default()).is_none() {
        anyhow::bail!("--detector {:?}: {}", args.detector, detect::unavailable(&args.detector));
    }
    if !(0.0..=1.0).contains(&args.threshold) {
        anyhow::bail!("--threshold {}: must lie in [0, 1]", args.threshold);
    }
    let prior = Prior {
        min: None,
        max: None,
        probation: args.probation,
        calibration: Calibration::FalseAlarmEvery(args.false_alarm_every),
    };
    let mut report = serde_json::Map::new();
    for set_dir in kpi::sets_in(&args.dir)? {
        let set = kpi::load_set(&set_dir)?;
        let passes = if args.no_baselines { 1 } else { 1 + kpi::baselines::NAMES.len() };
        let bar = progress(args.json, (set.series.len() * passes) as u64, &set.name);
        let ours =
            run_scored(format!("autonomic {}", args.detector), &set, &args, &bar, args.out.as_deref(), |series| {
                let mut detector = detect::build_live(&args.detector, prior)
                    .ok_or_else(|| anyhow::anyhow!("detector {} vanished", args.detector))?;
                let scores = series.timestamps.iter().zip(&series.values);
                Ok(scores.map(|(t, v)| detector.observe(t.saturating_mul(1000), *v)).collect())
            })?;
        let mut baselines = Vec::new();
        if !args.no_baselines {
            for name in kpi::baselines::NAMES {
                baselines.push(run_scored(name.to_owned(), &set, &args, &bar, None, |series| {
                    kpi::baselines::run(name, &series.timestamps, &series.values)
                        .ok_or_else(|| anyhow::anyhow!("no baseline {name}"))
                })?);
            }
        }
        bar.finish_and_clear();
        if args.json {
            let mut json = as_json(&ours);
            let others: serde_json::Map<_, _> = baselines.iter().map(|b| (b.name.clone(), as_json(b).into())).collect();
            json.insert("baselines".into(), others.into());
            json.insert("detector".into(), args.detector.clone().into());
            json.insert("false_alarm_every_ms".into(), args.false_alarm_every.into());
            json.insert("threshold".into(), args.threshold.into());
            report.insert(set.name.clone(), json.into());
        } else {
            print_table(&set, &ours, &baselines, &args);
        }
    }
    if args.json {
        // One set (the usual case) prints its figures at the top level.
        let value = if report.len() == 1 {
            report.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        } else {
            serde_json::Value::Object(report)
        };
        println!("{value}");
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(hidden: bool, len: u64, set: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{set:>10} {{bar:40}} {{pos}}/{{len}} series·detectors {{elapsed}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Scores every series of the set with `score` (timed: records per second count only its
/// time) and the corpus' metrics, writing each series' output under `write_to` if given.
fn run_scored(
    name: String,
    set: &kpi::Set,
    args: &KpiArgs,
    bar: &ProgressBar,
    write_to: Option<&Path>,
    mut score: impl FnMut(&kpi::Series) -> anyhow::Result<Vec<f64>>,
) -> anyhow::Result<Run> {
    let mut per: Vec<SeriesScore> = Vec::with_capacity(set.series.len());
    let mut busy = Duration::ZERO;
    for series in &set.series {
        let started = Instant::now();
        let scores = score(series)?;
        busy += started.elapsed();
        if let Some(out) = write_to {
            write_output(&out.join(&set.name), series, &scores, args.threshold)?;
        }
        per.push(metrics::score_series(&series.timestamps, &series.labels, &scores, args.threshold, args.delay));
        bar.inc(1);
    }
    let summary = metrics::summarize(&per, args.threshold);
    Ok(Run { name, summary, records_per_s: summary.rows as f64 / busy.as_secs_f64().max(1e-9) })
}

/// `timestamp,value,anomaly_score,alarm`, every number written so that it reads back
/// exactly (the scorer must see the scores ranked as the bench ranked them).
fn write_output(dir: &Path, series: &kpi::Series, scores: &[f64], threshold: f64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.csv", series.name));
    let file = std::fs::File::create(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "timestamp,value,anomaly_score,alarm")?;
    for ((t, v), s) in series.timestamps.iter().zip(&series.values).zip(scores) {
        writeln!(w, "{t},{v:?},{s:?},{}", u8::from(*s >= threshold))?;
    }
    w.flush()?;
    Ok(())
}

fn as_json(run: &Run) -> serde_json::Map<String, serde_json::Value> {
    let s = &run.summary;
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("ap", s.ap),
        ("f1_best_d7_mean", s.f1_best_d7_mean),
        ("f1_best_d7_pooled", s.f1_best_d7_pooled),
        ("f1_d7_at_thr", s.f1_d7_at_thr),
        ("event_recall_at_thr", s.event_recall_at_thr),
        ("recall_d7_at_thr", s.recall_d7_at_thr),
        ("fa_per_1k_at_thr", s.fa_per_1k_at_thr),
        ("alarmed_share", s.flagged_share),
    ] {
        m.insert(k.into(), v.map_or(serde_json::Value::Null, Into::into));
    }
    m.insert("records_per_s".into(), run.records_per_s.into());
    m
}

fn print_table(set: &kpi::Set, ours: &Run, baselines: &[Run], args: &KpiArgs) {
    let s = &ours.summary;
    println!(
        "{}: {} series ({} with anomalies), {} records, {} labelled segments; threshold {}, delay {}",
        set.name, s.series, s.series_with_anomalies, s.rows, s.events, args.threshold, args.delay
    );
    println!(
        "{:<26} {:>7} {:>12} {:>14} {:>10} {:>13} {:>10} {:>9} {:>9} {:>12}",
        "detector",
        "AP",
        "F1*-d7 mean",
        "F1*-d7 pooled",
        "F1-d7@thr",
        "ev.recall@thr",
        "rec-d7@thr",
        "FA/1k",
        "alarmed",
        "records/s"
    );
    let f = |x: Option<f64>, nd: usize| x.map_or("-".to_owned(), |v| format!("{v:.nd$}"));
    for (mark, run) in std::iter::once(("▶ ", ours)).chain(baselines.iter().map(|b| ("  ", b))) {
        let s = &run.summary;
        println!(
            "{mark}{:<24} {:>7} {:>12} {:>14} {:>10} {:>13} {:>10} {:>9} {:>8}% {:>12.0}",
            run.name,
            f(s.ap, 3),
            f(s.f1_best_d7_mean, 3),
            f(s.f1_best_d7_pooled, 3),
            f(s.f1_d7_at_thr, 3),
            f(s.event_recall_at_thr, 3),
            f(s.recall_d7_at_thr, 3),
            f(s.fa_per_1k_at_thr, 2),
            f(s.flagged_share.map(|x| 100.0 * x), 3),
            run.records_per_s
        );
    }
    println!(
        "false-alarm budget: one per {} on a clean series; {:.3}% of records alarmed",
        model::format_duration(Duration::from_millis(args.false_alarm_every.unsigned_abs())),
        100.0 * s.flagged_share.unwrap_or(0.0)
    );
    if let Some(out) = &args.out {
        println!("per-series outputs: {}", out.display());
    }
}
