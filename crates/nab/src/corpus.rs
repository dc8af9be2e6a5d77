//! The NAB corpus: data files and their label windows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::NabError;
use crate::time::parse_timestamp_us;

/// One series of the corpus, with its ground-truth windows.
#[derive(Clone, Debug, PartialEq)]
pub struct DataFile {
    /// `"<category>/<file>.csv"`, as NAB names it.
    pub key: String,
    /// The `timestamp` column, as written in the file.
    pub timestamps: Vec<String>,
    /// The timestamps parsed as UTC, in milliseconds since the Unix epoch. Not necessarily increasing: some
    /// NAB files repeat timestamps (daylight-saving artefacts) or step back.
    pub times_ms: Vec<i64>,
    /// The `value` column.
    pub values: Vec<f64>,
    /// Label windows as inclusive row-index ranges `(first, last)`, sorted and non-overlapping. A window's
    /// ends are the first rows whose timestamps equal the label's ends, as NAB matches them.
    pub windows: Vec<(usize, usize)>,
}

impl DataFile {
    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the file has no data rows (never true for a loaded corpus).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The number of leading rows NAB excludes from scoring; see [`probationary_length`].
    pub fn probationary_length(&self) -> usize {
        probationary_length(self.len())
    }

    /// The smallest and largest value, the only prior knowledge NAB allows a detector
    /// (`(inf, -inf)` for an empty file).
    pub fn min_max(&self) -> (f64, f64) {
        self.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }

    /// The category, the part of the key before `/` (e.g. `realTweets`).
    pub fn category(&self) -> &str {
        self.key.split_once('/').map_or("", |(category, _)| category)
    }

    /// The file stem (e.g. `Twitter_volume_AAPL`).
    pub fn name(&self) -> &str {
        let file = self.key.rsplit_once('/').map_or(self.key.as_str(), |(_, file)| file);
        file.strip_suffix(".csv").unwrap_or(file)
    }

    /// For every row, the index into [`DataFile::windows`] of the window containing it, if any.
    pub fn window_of_rows(&self) -> Vec<Option<usize>> {
        let mut out = vec![None; self.len()];
        for (id, &(first, last)) in self.windows.iter().enumerate() {
            if let Some(slots) = out.get_mut(first..=last) {
                slots.fill(Some(id));
            }
        }
        out
    }
}

/// Rows at the start of a file of `n` rows that NAB drops from scoring:
/// `min(floor(0.15 * n), 0.15 * 5000)`, i.e. 15% of the file capped at 750 rows.
pub fn probationary_length(n: usize) -> usize {
    // NAB computes this in floating point (`nab/sweeper.py` `_getProbationaryLength`); do the same.
    (0.15 * n as f64).floor().min(0.15 * 5000.0) as usize
}

/// The whole corpus (or a subset of it).
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    /// The data files, sorted by key.
    pub files: Vec<DataFile>,
}

impl Corpus {
    /// Loads `root/data/<category>/<file>.csv` and the windows of `root/labels/combined_windows.json`.
    ///
    /// Every data file must have an entry in the labels (possibly empty) and every labelled key a data
    /// file. Window ends must be timestamps of the file, in order, non-overlapping and at least two rows wide.
    pub fn load(root: &Path) -> Result<Self, NabError> {
        let data_dir = root.join("data");
        let labels_path = root.join("labels").join("combined_windows.json");
        let labels_text = std::fs::read_to_string(&labels_path).map_err(|e| NabError::io(&labels_path, e))?;
        let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&labels_text)
            .map_err(|source| NabError::Json { path: labels_path.clone(), source })?;

        let mut paths = csv_files(&data_dir)?;
        if paths.is_empty() {
            return Err(NabError::Corpus { path: data_dir, message: "no <category>/<file>.csv data files".into() });
        }
        paths.sort();
        for key in labels.keys() {
            if paths.binary_search_by(|(k, _)| k.as_str().cmp(key)).is_err() {
                return Err(NabError::Corpus {
                    path: labels_path,
                    message: format!("labels name {key}, which is not a data file under {}", data_dir.display()),
                });
            }
        }
        let mut files = Vec::with_capacity(paths.len());
        for (key, path) in paths {
            let Some(windows) = labels.get(&key) else {
                return Err(NabError::Corpus { path: labels_path, message: format!("no entry for data file {key}") });
            };
            files.push(load_file(key, &path, windows)?);
        }
        Ok(Self { files })
    }

    /// Total number of data rows.
    pub fn rows(&self) -> usize {
        self.files.iter().map(DataFile::len).sum()
    }

    /// Total number of label windows.
    pub fn windows(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }

    /// The file with this key.
    pub fn get(&self, key: &str) -> Option<&DataFile> {
        self.files.binary_search_by(|f| f.key.as_str().cmp(key)).ok().and_then(|i| self.files.get(i))
    }

    /// The files whose keys are listed (in key order); an unknown key is an error.
    pub fn subset<S: AsRef<str>>(&self, keys: &[S]) -> Result<Self, NabError> {
        for key in keys {
            if self.get(key.as_ref()).is_none() {
                return Err(NabError::Corpus {
                    path: PathBuf::from(key.as_ref()),
                    message: "no such file in the corpus".into(),
                });
            }
        }
        Ok(self.filter(|f| keys.iter().any(|k| k.as_ref() == f.key)))
    }

    /// The files for which `keep` is true.
    pub fn filter(&self, keep: impl Fn(&DataFile) -> bool) -> Self {
        Self { files: self.files.iter().filter(|f| keep(f)).cloned().collect() }
    }

    /// Loads one score vector per file from `dir/<category>/<prefix><file>.csv`, each a CSV with an
    /// `anomaly_score` column (NAB's results layout uses `prefix = "<detector>_"`).
    pub fn load_scores(&self, dir: &Path, prefix: &str) -> Result<Vec<Vec<f64>>, NabError> {
        self.files
            .iter()
            .map(|f| read_anomaly_scores(&dir.join(f.category()).join(format!("{prefix}{}.csv", f.name()))))
            .collect()
    }
}

/// `(key, path)` of every `dir/<category>/<file>.csv`.
fn csv_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, NabError> {
    let mut out = Vec::new();
    for category in read_dir_sorted(dir)? {
        if !category.is_dir() {
            continue;
        }
        let Some(cat_name) = category.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        for file in read_dir_sorted(&category)? {
            let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else { continue };
            if file.is_file() && file_name.ends_with(".csv") {
                out.push((format!("{cat_name}/{file_name}"), file.clone()));
            }
        }
    }
    Ok(out)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, NabError> {
    let entries = std::fs::read_dir(dir).map_err(|e| NabError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        out.push(entry.map_err(|e| NabError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

/// Non-empty lines of a text file, with their 1-based line numbers and without `\r`.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l))).filter(|(_, l)| !l.is_empty())
}

fn read_text(path: &Path) -> Result<String, NabError> {
    std::fs::read_to_string(path).map_err(|e| NabError::io(path, e))
}

fn load_file(key: String, path: &Path, windows: &[(String, String)]) -> Result<DataFile, NabError> {
    let text = read_text(path)?;
    let mut lines = lines(&text);
    match lines.next() {
        Some((_, header)) if header.trim() == "timestamp,value" => {}
        Some((line, header)) => {
            return Err(NabError::parse(path, line, format!("expected header \"timestamp,value\", found {header:?}")));
        }
        None => return Err(NabError::parse(path, 1, "empty file")),
    }
    let (mut timestamps, mut times_us, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (line, row) in lines {
        let mut fields = row.split(',');
        let (Some(ts), Some(value), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(NabError::parse(path, line, format!("expected 2 fields (timestamp,value), found {row:?}")));
        };
        let t = parse_timestamp_us(ts.trim()).map_err(|m| NabError::parse(path, line, m))?;
        let v: f64 = match value.trim().parse() {
            Ok(v) if f64::is_finite(v) => v,
            _ => return Err(NabError::parse(path, line, format!("value {value:?} is not a finite number"))),
        };
        timestamps.push(ts.to_owned());
        times_us.push(t);
        values.push(v);
    }
    if values.is_empty() {
        return Err(NabError::parse(path, 2, "no data rows"));
    }
    let windows = map_windows(&key, &times_us, windows)?;
    let times_ms = times_us.iter().map(|t| t.div_euclid(1000)).collect();
    Ok(DataFile { key, timestamps, times_ms, values, windows })
}

/// Maps label windows to row ranges the way NAB does: each end is the first row with that timestamp.
fn map_windows(key: &str, times_us: &[i64], windows: &[(String, String)]) -> Result<Vec<(usize, usize)>, NabError> {
    let err = |message: String| NabError::Window { key: key.to_owned(), message };
    let row_of = |ts: &str| -> Result<usize, NabError> {
        let t = parse_timestamp_us(ts).map_err(err)?;
        times_us.iter().position(|&x| x == t).ok_or_else(|| err(format!("window timestamp {ts} is not in the file")))
    };
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(windows.len());
    for (start, end) in windows {
        let (first, last) = (row_of(start)?, row_of(end)?);
        if last <= first {
            return Err(err(format!(
                "window [{start}, {end}] maps to rows [{first}, {last}]; it must span at least 2 rows"
            )));
        }
        if let Some(&(_, prev_last)) = out.last()
            && first <= prev_last
        {
            return Err(err(format!("window [{start}, {end}] overlaps or precedes the previous window")));
        }
        out.push((first, last));
    }
    Ok(out)
}

/// Reads the `anomaly_score` column of a CSV file (NAB's results format, or a file with only that column).
/// Values are parsed but not range-checked; scoring checks them.
pub fn read_anomaly_scores(path: &Path) -> Result<Vec<f64>, NabError> {
    let text = read_text(path)?;
    let mut lines = lines(&text);
    let Some((_, header)) = lines.next() else { return Err(NabError::parse(path, 1, "empty file")) };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let Some(col) = columns.iter().position(|c| *c == "anomaly_score") else {
        return Err(NabError::parse(path, 1, format!("no anomaly_score column in header {header:?}")));
    };
    let mut out = Vec::new();
    for (line, row) in lines {
        let fields: Vec<&str> = row.split(',').collect();
        if fields.len() != columns.len() {
            return Err(NabError::parse(path, line, format!("expected {} fields, found {row:?}", columns.len())));
        }
        let field = fields.get(col).map_or("", |f| f.trim());
        let v: f64 = field
            .parse()
            .map_err(|_| NabError::parse(path, line, format!("anomaly_score {field:?} is not a number")))?;
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probationary_length_matches_nab() {
        assert_eq!(probationary_length(0), 0);
        assert_eq!(probationary_length(6), 0);
        assert_eq!(probationary_length(7), 1);
        assert_eq!(probationary_length(1127), 169);
        assert_eq!(probationary_length(4032), 604);
        assert_eq!(probationary_length(4999), 749);
        assert_eq!(probationary_length(5000), 750);
        assert_eq!(probationary_length(5001), 750);
        assert_eq!(probationary_length(22_695), 750);
    }

    fn file(key: &str, values: Vec<f64>) -> DataFile {
        DataFile { key: key.into(), timestamps: vec![], times_ms: vec![], values, windows: vec![] }
    }

    #[test]
    fn names_and_min_max() {
        let f = file("realTweets/Twitter_volume_AAPL.csv", vec![3.0, -1.5, 7.25]);
        assert_eq!(f.category(), "realTweets");
        assert_eq!(f.name(), "Twitter_volume_AAPL");
        assert_eq!(f.min_max(), (-1.5, 7.25));
        assert_eq!(f.probationary_length(), 0);
    }

    #[test]
    fn windows_map_to_first_occurrence() {
        let t = |s: &str| parse_timestamp_us(s).unwrap_or(i64::MIN);
        let times =
            [t("2014-01-01 00:00:00"), t("2014-01-01 00:05:00"), t("2014-01-01 00:05:00"), t("2014-01-01 00:10:00")];
        let w = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        let windows = [w("2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000")];
        assert_eq!(map_windows("k", &times, &windows).ok(), Some(vec![(1, 3)]));
        let missing = [w("2014-01-01 00:05:00", "2014-01-01 00:15:00")];
        let e = map_windows("k", &times, &missing).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "labels of k: window timestamp 2014-01-01 00:15:00 is not in the file");
        let overlapping =
            [w("2014-01-01 00:00:00", "2014-01-01 00:05:00"), w("2014-01-01 00:05:00", "2014-01-01 00:10:00")];
        assert!(map_windows("k", &times, &overlapping).is_err());
        let one_row = [w("2014-01-01 00:10:00", "2014-01-01 00:10:00")];
        assert!(map_windows("k", &times, &one_row).is_err());
    }
}
