//! Reading a labelled corpus: `DIR/<set>/<series>.csv` with the header
//! `timestamp,value,label` (in any order; other columns are ignored).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::KpiError;

/// The longest line read; a longer one is an error, not an allocation.
const MAX_LINE: usize = 1 << 20;

/// One labelled series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The file's stem (`48` for `48.csv`).
    pub name: String,
    /// Unix seconds, strictly increasing.
    pub timestamps: Vec<i64>,
    /// The values as recorded.
    pub values: Vec<f64>,
    /// 1 inside an anomaly an operator marked, else 0.
    pub labels: Vec<u8>,
}

/// One set of series (a sub-folder of the corpus).
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    /// The folder's name.
    pub name: String,
    /// Its series, in the reference scorer's order (shorter names first, then by name).
    pub series: Vec<Series>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KpiError + '_ {
    move |source| KpiError::Io { path: path.to_owned(), source }
}

/// The set folders under `dir`, sorted by name.
pub fn sets_in(dir: &Path) -> Result<Vec<PathBuf>, KpiError> {
    let mut sets = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() && csv_files(&path)?.next().is_some() {
            sets.push(path);
        }
    }
    if sets.is_empty() {
        return Err(KpiError::NoSets { path: dir.to_owned() });
    }
    sets.sort();
    Ok(sets)
}

fn csv_files(dir: &Path) -> Result<impl Iterator<Item = PathBuf>, KpiError> {
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "csv")))
}

/// Every series of the set in `dir`.
pub fn load_set(dir: &Path) -> Result<Set, KpiError> {
    let mut files: Vec<PathBuf> = csv_files(dir)?.collect();
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    files.sort_by_key(|p| {
        let name = stem(p);
        (name.len(), name)
    });
    let series = files.iter().map(|p| read_series(p)).collect::<Result<Vec<_>, _>>()?;
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Set { name, series })
}

/// Reads one labelled file.
pub fn read_series(path: &Path) -> Result<Series, KpiError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    parse_series(path, file)
}

/// Reads one labelled series from `input`; `path` names it (its stem is the series' name)
/// and is what errors point at.
pub fn parse_series(path: &Path, input: impl Read) -> Result<Series, KpiError> {
    let mut reader = BufReader::new(input);
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Result<bool, KpiError> {
        line.clear();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_line(line).map_err(io(path))?;
        Ok(n > 0)
    };
    read_line(&mut line)?;
    let header: Vec<String> = line.trim_end().split(',').map(|h| h.trim().to_ascii_lowercase()).collect();
    let column = |name: &'static str| {
        header.iter().position(|h| h == name).ok_or_else(|| KpiError::MissingColumn {
            path: path.to_owned(),
            column: name,
            header: line.trim_end().to_owned(),
        })
    };
    let (it, iv, il) = (column("timestamp")?, column("value")?, column("label")?);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut series = Series { name: stem, timestamps: Vec::new(), values: Vec::new(), labels: Vec::new() };
    let mut number = 1;
    while read_line(&mut line)? {
        number += 1;
        let bad = |column: &'static str, value: &str, why: &'static str| KpiError::BadField {
            path: path.to_owned(),
            line: number,
            column,
            value: value.chars().take(64).collect(),
            why,
        };
        if line.len() > MAX_LINE {
            return Err(bad("line", "", "longer than 1 MiB"));
        }
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split(',').collect();
        let field = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
        let t: i64 = match field(it).parse::<i64>() {
            Ok(t) => t,
            Err(_) => match field(it).parse::<f64>() {
                Ok(f) if f.is_finite() && f.abs() < 1e15 => f as i64,
                _ => return Err(bad("timestamp", field(it), "not a Unix time in seconds")),
            },
        };
        let v: f64 = field(iv).parse().map_err(|_| bad("value", field(iv), "not a number"))?;
        let l: u8 = match field(il) {
            "0" => 0,
            "1" => 1,
            other => return Err(bad("label", other, "not 0 or 1")),
        };
        if let Some(&previous) = series.timestamps.last()
            && t <= previous
        {
            return Err(KpiError::NotIncreasing { path: path.to_owned(), line: number, timestamp: t, previous });
        }
        series.timestamps.push(t);
        series.values.push(v);
        series.labels.push(l);
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the bytes, reading returns a series or an error naming the file; rows
        /// written from a series read back as that series.
        #[test]
        fn any_input_reads_or_is_refused_and_good_rows_round_trip(
            junk in prop::collection::vec(any::<u8>(), 0..400),
            rows in prop::collection::vec((1i64..1_000, -1e9f64..1e9, 0u8..2), 0..50),
        ) {
            let path = Path::new("s/1.csv");
            if let Err(e) = parse_series(path, junk.as_slice()) {
                prop_assert!(e.to_string().starts_with("s/1.csv"), "{}", e);
            }
            let mut text = String::from("timestamp,value,label\n");
            let mut t = 0;
            let mut want = Series { name: "1".into(), timestamps: vec![], values: vec![], labels: vec![] };
            for (dt, v, l) in rows {
                t += dt;
                text.push_str(&format!("{t},{v:?},{l}\n"));
                want.timestamps.push(t);
                want.values.push(v);
                want.labels.push(l);
            }
            prop_assert_eq!(parse_series(path, text.as_bytes()).expect("good rows"), want);
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn a_file_reads_in_any_column_order() {
        let dir = tempfile::tempdir().expect("dir");
        let p = write(dir.path(), "7.csv", "label,timestamp,value\n0,60,1.5\n1,120,-2\n");
        let s = read_series(&p).expect("read");
        assert_eq!(s.timestamps, vec![60, 120]);
        assert_eq!(s.values, vec![1.5, -2.0]);
        assert_eq!(s.labels, vec![0, 1]);
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let dir = tempfile::tempdir().expect("dir");
        let p = write(dir.path(), "a.csv", "timestamp,value,label\n60,1,0\n120,x,0\n");
        let e = read_series(&p).expect_err("bad value").to_string();
        assert!(e.ends_with("a.csv:3: value \"x\": not a number"), "{e}");
        let p = write(dir.path(), "b.csv", "timestamp,value,label\n60,1,0\n60,2,0\n");
        let e = read_series(&p).expect_err("repeat").to_string();
        assert!(e.contains("b.csv:3: timestamp 60 does not follow 60"), "{e}");
        let p = write(dir.path(), "c.csv", "timestamp,value,label\n60,1,2\n");
        assert!(read_series(&p).expect_err("label").to_string().contains("c.csv:2: label \"2\""));
        let p = write(dir.path(), "d.csv", "time,value,label\n");
        assert!(read_series(&p).expect_err("header").to_string().contains("no \"timestamp\" column"));
    }

    #[test]
    fn a_set_lists_shorter_names_first_as_the_scorer_does() {
        let dir = tempfile::tempdir().expect("dir");
        let set = dir.path().join("s");
        std::fs::create_dir(&set).expect("mkdir");
        for name in ["10.csv", "2.csv", "100.csv", "1.csv"] {
            write(&set, name, "timestamp,value,label\n1,1,0\n");
        }
        let loaded = load_set(&set).expect("set");
        let names: Vec<&str> = loaded.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["1", "2", "10", "100"]);
        assert_eq!(sets_in(dir.path()).expect("sets"), vec![set]);
        assert!(matches!(sets_in(&dir.path().join("s")), Err(KpiError::NoSets { .. })));
    }
}
