//! Optimises and scores a detector's results over the NAB corpus, printing NAB's numbers and the time taken.
//!
//! ```sh
//! cargo run --release -p nab --example nab_score -- <nab root> <scores dir> [file prefix]
//! # e.g. ARTime's golden scores:
//! cargo run --release -p nab --example nab_score -- ../shared/nab ../shared/nab/golden/ARTime_anomaly_scores
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(root), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: nab_score <nab root> <scores dir> [file prefix]");
        return ExitCode::FAILURE;
    };
    let prefix = args.get(2).map_or("", String::as_str);
    match run(&PathBuf::from(root), &PathBuf::from(dir), prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &std::path::Path, dir: &std::path::Path, prefix: &str) -> Result<(), nab::NabError> {
    let t = Instant::now();
    let corpus = nab::Corpus::load(root)?;
    let scores = corpus.load_scores(dir, prefix)?;
    let profiles = nab::Profile::load_all(root)?;
    println!(
        "loaded {} files, {} rows, {} windows in {:.3?}",
        corpus.files.len(),
        corpus.rows(),
        corpus.windows(),
        t.elapsed()
    );
    let t_all = Instant::now();
    for profile in &profiles {
        let t = Instant::now();
        let (threshold, pooled) = nab::optimize_threshold(&corpus, &scores, profile)?;
        let t_opt = t.elapsed();
        let t = Instant::now();
        let (raw, _) = nab::score_at_threshold(&corpus, &scores, profile, threshold)?;
        let t_score = t.elapsed();
        let normalized = nab::normalize(raw, profile, corpus.windows());
        println!(
            "{:<20} threshold {threshold:<20} optimiser raw {pooled:<20} scored raw {raw:<20} normalised {normalized:.4}  (optimise {t_opt:.1?}, score {t_score:.1?})",
            profile.name
        );
    }
    println!("optimise + score, all profiles: {:.1?}", t_all.elapsed());
    Ok(())
}
