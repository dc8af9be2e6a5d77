//! `autonomic detect`: what would the streaming detectors have flagged on this history?

use std::path::PathBuf;
use std::process::ExitCode;

use analyze::detect::replay::{Column, ReplayOptions, replay};
use analyze::detect::{self, Calibration, Prior};

/// Arguments of `detect`.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// A CSV with a timestamp column and a value column: a regular file, of any size, with
    /// lines of at most 1 MiB.
    file: PathBuf,
    /// Which detector (see `autonomic bench nab --help`).
    #[arg(long, default_value = "ensemble")]
    detector: String,
    /// Write `timestamp,value,anomaly_score,alarm` here (default: standard output): the score
    /// ranks rows by how surprising they are; `alarm` is 1 where it reaches the live loop's
    /// alert threshold.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Timestamp column: header name or 0-based position (default: `timestamp`, else the first).
    #[arg(long)]
    time_column: Option<Column>,
    /// Value column: header name or 0-based position (default: `value`, else the second).
    #[arg(long)]
    value_column: Option<Column>,
    /// The file has no header line.
    #[arg(long)]
    no_header: bool,
    /// Records to learn from before scoring, as in the live loop.
    #[arg(long, default_value_t = 300)]
    probation: usize,
    /// Known lowest value of the series (otherwise learnt online, as in the live loop).
    #[arg(long, requires = "max")]
    min: Option<f64>,
    /// Known highest value of the series.
    #[arg(long, requires = "min")]
    max: Option<f64>,
    /// The false-alarm budget, as in the live loop: a clean series should be flagged about
    /// once per this span (`1w`, `1d`, `12h`…), whatever its pace.
    #[arg(long, default_value = "1w", value_parser = super::parse_span)]
    false_alarm_every: i64,
}

/// Replays the file and prints what was flagged.
pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let prior = Prior {
        min: args.min,
        max: args.max,
        probation: args.probation,
        calibration: Calibration::FalseAlarmEvery(args.false_alarm_every),
    };
    // The live loop's detector: every row scored on its own, so that the score ranks.
    let Some(mut detector) = detect::build_live(&args.detector, prior) else {
        anyhow::bail!("--detector {:?}: {}", args.detector, detect::unavailable(&args.detector));
    };
    // A FIFO or a device (`/dev/zero`) is refused before reading; a history can be large,
    // so there is no size limit, only `replay`'s limit on a line.
    let (input, _) = yamlspan::open_regular(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let opts = ReplayOptions {
        time: args.time_column,
        value: args.value_column,
        header: !args.no_header,
        threshold: detect::ALERT_THRESHOLD,
    };
    let summary = match &args.out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            );
            replay(std::io::BufReader::new(input), &opts, detector.as_mut(), Some(&mut file))
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            replay(std::io::BufReader::new(input), &opts, detector.as_mut(), Some(&mut lock))
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
        }
    };
    let name = args.file.display();
    for m in summary.malformed.iter().take(20) {
        eprintln!("{name}:{}: skipped: {}", m.line, m.message);
    }
    if summary.skipped > 20 {
        eprintln!("{name}: … and {} more skipped rows", summary.skipped - 20);
    }
    let budget = model::format_duration(std::time::Duration::from_millis(args.false_alarm_every.unsigned_abs()));
    eprintln!(
        "{name}: {} rows scored with {}, {} skipped; {} rows ({:.3}%) at or above {} in {} alarms \
         (the live loop's alert threshold, calibrated to about one false alarm per {budget} on a series \
         with no anomaly); where each alarm starts:",
        summary.rows,
        args.detector,
        summary.skipped,
        summary.alarmed_rows,
        100.0 * summary.alarmed_share(),
        detect::ALERT_THRESHOLD,
        summary.alarms,
    );
    for f in summary.flagged.iter().take(50) {
        eprintln!("  line {:>7}  {}  value {}  score {:.3}", f.line, f.timestamp, f.value, f.score);
    }
    if summary.alarms > 50 {
        eprintln!("  … and {} more alarms", summary.alarms - 50);
    }
    Ok(ExitCode::SUCCESS)
}
