//! `autonomic bench nab`: the streaming detectors on the Numenta Anomaly Benchmark.

use std::path::PathBuf;
use std::process::ExitCode;

use analyze::detect::{self, Calibration, Prior};

#[derive(Debug, clap::Args)]
pub struct NabArgs {
    /// The NAB folder (data/, labels/, config/, results/).
    #[arg(long, default_value = "../shared/nab")]
    data: PathBuf,
    /// Which detector: ensemble (default), ewma, mad, seasonal, cusum, context, novelty, periodic;
    /// or a reference with unbounded memory, not offered to the live loop: cad (NAB's CAD OSE,
    /// ported step for step), ensemble-cad (the default with CAD as a third channel).
    #[arg(long, default_value = "ensemble")]
    detector: String,
    /// Also write per-file results in NAB's layout under this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print only a JSON summary.
    #[arg(long)]
    json: bool,
    /// Withhold each file's min and max (which NAB's rules allow a detector to know): the
    /// detectors learn the range online, as they do in the live loop and in `detect`.
    #[arg(long)]
    learn_range: bool,
    /// Calibrate scores as the live loop does, to about one false alarm per this span on a
    /// clean series (for example `1w`), instead of NAB's records-seen weighting: the
    /// fixed-threshold figure is then what a watch would have raised.
    #[arg(long, value_parser = crate::commands::parse_span)]
    false_alarm_every: Option<i64>,
}

/// Runs the benchmark.
pub fn run(args: NabArgs) -> anyhow::Result<ExitCode> {
    let known = detect::DETECTORS.iter().chain(detect::REFERENCE_DETECTORS);
    if !known.clone().any(|d| *d == args.detector) {
        let names: Vec<&str> = known.copied().collect();
        anyhow::bail!("--detector {:?}: expected one of {}", args.detector, names.join(", "));
    }
    let corpus = nab::Corpus::load(&args.data)?;
    let profiles = nab::Profile::load_all(&args.data)?;
    let name = args.detector.clone();
    let run = nab::bench::run(&corpus, |file| {
        let (min, max) = if args.learn_range {
            (None, None)
        } else {
            let (lo, hi) = file.min_max();
            (Some(lo), Some(hi))
        };
        let calibration = args.false_alarm_every.map_or(Calibration::RecordsSeen, Calibration::FalseAlarmEvery);
        let prior = Prior { min, max, probation: file.probationary_length(), calibration };
        let mut d = detect::build(&name, prior)
            .or_else(|| detect::build_reference(&name, prior))
            .unwrap_or_else(|| Box::new(detect::Ensemble::new(prior)));
        Box::new(move |t, v| d.observe(t, v))
    });
    // A run without the ranges is a different detector as far as NAB's layout and the
    // scoreboard are concerned: name it so that its results do not overwrite the other's.
    let mut label = args.detector.clone();
    if args.learn_range {
        label.push_str("-learnt-range");
    }
    if args.false_alarm_every.is_some() {
        label.push_str("-live-calibration");
    }
    if let Some(out) = &args.out {
        nab::bench::write_results(out, &format!("autonomic-{label}"), &corpus, &run.scores)?;
    }
    let results = profiles
        .iter()
        .take(3)
        .map(|p| nab::bench::evaluate(&corpus, &run.scores, p, detect::ALERT_THRESHOLD))
        .collect::<Result<Vec<_>, _>>()?;
    let records_per_s = run.records_per_s(&corpus);
    if args.json {
        let mut json = serde_json::Map::new();
        for r in &results {
            json.insert(r.profile.clone(), r.score.into());
        }
        json.insert("records_per_s".into(), records_per_s.into());
        json.insert("detector".into(), args.detector.clone().into());
        json.insert("range".into(), if args.learn_range { "learnt" } else { "given" }.into());
        json.insert("fixed_threshold".into(), detect::ALERT_THRESHOLD.into());
        json.insert("profiles".into(), serde_json::to_value(&results)?);
        println!("{}", serde_json::Value::Object(json));
        return Ok(ExitCode::SUCCESS);
    }
    let board = nab::bench::scoreboard(&args.data)?;
    let mut rows: Vec<(String, [f64; 3])> = board
        .iter()
        .map(|(d, p)| {
            let get = |k: &str| p.get(k).copied().unwrap_or(f64::NAN);
            (d.clone(), [get("standard"), get("reward_low_FP_rate"), get("reward_low_FN_rate")])
        })
        .collect();
    let ours = format!("autonomic {label} (this run)");
    rows.push((ours.clone(), [results[0].score, results[1].score, results[2].score]));
    rows.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    println!("{:<34} {:>9} {:>14} {:>14}", "detector", "standard", "reward_low_FP", "reward_low_FN");
    for (d, s) in &rows {
        let mark = if *d == ours { "▶ " } else { "  " };
        println!("{mark}{d:<32} {:>9.2} {:>14.2} {:>14.2}", s[0], s[1], s[2]);
    }
    println!();
    println!("{:<34} {:>9} {:>14} {:>14}", "this run, per profile", "standard", "reward_low_FP", "reward_low_FN");
    let line = |label: &str, f: &dyn Fn(&nab::bench::ProfileResult) -> String| {
        println!("  {label:<32} {:>9} {:>14} {:>14}", f(&results[0]), f(&results[1]), f(&results[2]));
    };
    line("optimised threshold", &|r| format!("{:.6}", r.threshold));
    line("score (NAB, threshold on labels)", &|r| format!("{:.2}", r.score));
    line(&format!("score at fixed threshold {}", detect::ALERT_THRESHOLD), &|r| {
        format!("{:.2}", r.fixed_threshold_score)
    });
    line("score, threshold from other half", &|r| format!("{:.2}", r.split_half_score));
    println!();
    println!(
        "{} records in {:.3}s on one core: {:.0} records/s ({:.2} µs/record)",
        corpus.rows(),
        run.elapsed.as_secs_f64(),
        records_per_s,
        1e6 / records_per_s
    );
    if let Some(out) = &args.out {
        println!("per-file results in NAB's layout: {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
