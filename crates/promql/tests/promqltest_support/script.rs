//! Parser for Prometheus' promqltest script language (`load`, `clear`, `eval`).

use model::{Labels, STALE_NAN};

/// One value of a series description; `None` is an omitted (`_`) slot.
pub type Slot = Option<f64>;

/// A series line: labels and values, or a native histogram we do not support.
#[derive(Debug, Clone)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<Slot>,
    /// The values contain native histograms (`{{…}}`).
    pub histogram: bool,
}

#[derive(Debug, Clone)]
pub enum Expectation {
    Scalar(f64),
    Series(SeriesDesc),
}

#[derive(Debug, Clone)]
pub enum FailMatch {
    Any,
    Message(String),
    Regex(String),
}

#[derive(Debug, Clone)]
pub struct Eval {
    pub line: usize,
    pub expr: String,
    /// Instant: `start == end`, `step == 0`.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub instant: bool,
    pub fail: Option<FailMatch>,
    pub ordered: bool,
    pub expected: Vec<Expectation>,
    pub expect_string: Option<String>,
    /// `expect range vector from … to … step …`.
    pub range_vector: Option<(i64, i64, i64)>,
    /// The expected output mentions native histograms.
    pub histogram_output: bool,
}

#[derive(Debug, Clone)]
pub enum Command {
    Clear,
    Load { interval: i64, with_nhcb: bool, series: Vec<SeriesDesc> },
    Eval(Box<Eval>),
}

/// Parses a Prometheus duration (`1h30m`, `10s53ms`, `0`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.is_empty() {
        return Err(format!("empty duration {s:?}"));
    }
    let mut total: i64 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("bad duration {s:?}"));
        }
        let n: i64 = rest[..digits].parse().map_err(|e| format!("bad duration {s:?}: {e}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(format!("bad unit in duration {s:?}")),
        };
        total = total.checked_add(n.checked_mul(mult).ok_or("duration overflow")?).ok_or("duration overflow")?;
    }
    Ok(if neg { -total } else { total })
}

/// Parses a float as Go's `strconv.ParseFloat` (and the PromQL lexer) accept it.
pub fn parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches('+') {
        "inf" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    s.parse::<f64>().ok()
}

fn parse_value(s: &str) -> Result<f64, String> {
    if s == "stale" {
        return Ok(STALE_NAN);
    }
    parse_float(s).ok_or_else(|| format!("bad value {s:?}"))
}

/// Expands one item of the series notation: `_`, `_x3`, `5`, `1+2x3`, `1-2x3`, `7x2`, `stale`.
fn expand_item(item: &str) -> Result<Vec<Slot>, String> {
    if item == "_" {
        return Ok(vec![None]);
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad repeat {item:?}"))?;
        return Ok(vec![None; n]);
    }
    let (body, times) = match item.rfind('x') {
        Some(i) if i + 1 < item.len() && item[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let n: u64 = item[i + 1..].parse().map_err(|_| format!("bad repeat {item:?}"))?;
            (&item[..i], Some(n))
        }
        _ => (item, None),
    };
    // Split `a+b` / `a-b` at a sign that is not the leading one or part of an exponent.
    let bytes = body.as_bytes();
    let split =
        (1..bytes.len()).find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, inc) = match split {
        Some(i) => (parse_value(&body[..i])?, Some(parse_value(&body[i..])?)),
        None => (parse_value(body)?, None),
    };
    Ok(match (times, inc) {
        (None, None) => vec![Some(start)],
        (None, Some(_)) => return Err(format!("increment without repeat in {item:?}")),
        (Some(n), inc) => {
            let mut out = Vec::new();
            let mut v = start;
            for _ in 0..=n {
                out.push(Some(v));
                v += inc.unwrap_or(0.0);
            }
            out
        }
    })
}

/// Reads a quoted string (`"…"`, `'…'` or `` `…` ``) at the start of `s`; returns it and
/// the rest.
pub fn read_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let Some((_, q)) = chars.next() else {
        return Err("expected string".into());
    };
    if !matches!(q, '"' | '\'' | '`') {
        return Err(format!("expected string at {s:?}"));
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c == '\\' && q != '`' {
            let Some((_, e)) = chars.next() else { break };
            let hex = |chars: &mut std::str::CharIndices, n: usize| -> Result<u32, String> {
                let h: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                u32::from_str_radix(&h, 16).map_err(|_| format!("bad escape in {s:?}"))
            };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'v' => out.push('\x0b'),
                'x' => out.push(char::from_u32(hex(&mut chars, 2)?).unwrap_or('\u{fffd}')),
                'u' => out.push(char::from_u32(hex(&mut chars, 4)?).unwrap_or('\u{fffd}')),
                'U' => out.push(char::from_u32(hex(&mut chars, 8)?).unwrap_or('\u{fffd}')),
                c => out.push(c),
            }
            continue;
        }
        out.push(c);
    }
    Err(format!("unterminated string in {s:?}"))
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

/// Parses `name{a="b", "c.d"="e"}` (either part optional); returns the labels and the rest.
pub fn parse_metric(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let mut labels = Labels::new();
    let name_len: usize =
        s.char_indices().take_while(|&(i, c)| is_name_char(c, i == 0)).map(|(_, c)| c.len_utf8()).sum();
    if name_len > 0 {
        labels.set("__name__", &s[..name_len]);
    }
    let mut rest = &s[name_len..];
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner.trim_start();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (name, r) = if rest.starts_with(['"', '\'', '`']) {
                read_quoted(rest)?
            } else {
                let n: usize =
                    rest.char_indices().take_while(|&(i, c)| is_name_char(c, i == 0)).map(|(_, c)| c.len_utf8()).sum();
                if n == 0 {
                    return Err(format!("bad label list at {rest:?}"));
                }
                (rest[..n].to_string(), &rest[n..])
            };
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix('=') {
                let (value, r) = read_quoted(r.trim_start())?;
                labels.set(name, value);
                rest = r.trim_start();
            } else {
                // A bare quoted string is the metric name.
                labels.set("__name__", name);
                rest = r;
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            }
        }
    }
    Ok((labels, rest))
}

/// Parses a series line: metric and values.
pub fn parse_series(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_metric(line)?;
    if rest.contains("{{") {
        return Ok(SeriesDesc { labels, values: Vec::new(), histogram: true });
    }
    let mut values = Vec::new();
    for item in rest.split_whitespace() {
        values.extend(expand_item(item)?);
    }
    Ok(SeriesDesc { labels, values, histogram: false })
}

fn parse_eval(lines: &[(usize, String)], i: &mut usize) -> Result<Eval, String> {
    let (line_no, line) = &lines[*i];
    let mut words = line.splitn(2, char::is_whitespace);
    let head = words.next().unwrap_or("");
    let mut rest = words.next().unwrap_or("").trim_start();
    let mut ev = Eval {
        line: *line_no,
        expr: String::new(),
        start: 0,
        end: 0,
        step: 0,
        instant: true,
        fail: None,
        ordered: false,
        expected: Vec::new(),
        expect_string: None,
        range_vector: None,
        histogram_output: false,
    };
    match head {
        "eval_fail" => ev.fail = Some(FailMatch::Any),
        "eval_ordered" => ev.ordered = true,
        _ => {}
    }
    let take = |rest: &mut &str| -> String {
        let r = rest.trim_start();
        let n = r.find(char::is_whitespace).unwrap_or(r.len());
        let w = r[..n].to_string();
        *rest = r[n..].trim_start();
        w
    };
    match take(&mut rest).as_str() {
        "instant" => {
            if rest.starts_with("at ") {
                take(&mut rest);
                ev.start = parse_duration(&take(&mut rest))?;
                ev.end = ev.start;
            }
        }
        "range" => {
            ev.instant = false;
            let expect_word = |w: &str, rest: &mut &str| -> Result<i64, String> {
                if take(rest) != w {
                    return Err(format!("expected {w:?} in {line:?}"));
                }
                parse_duration(&take(rest))
            };
            ev.start = expect_word("from", &mut rest)?;
            ev.end = expect_word("to", &mut rest)?;
            ev.step = expect_word("step", &mut rest)?;
        }
        other => return Err(format!("bad eval kind {other:?}")),
    }
    ev.expr = rest.trim().to_string();
    while *i + 1 < lines.len() && !lines[*i + 1].1.is_empty() {
        *i += 1;
        let l = lines[*i].1.as_str();
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            ev.fail = Some(FailMatch::Message(m.trim().to_string()));
        } else if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            ev.fail = Some(FailMatch::Regex(m.trim().to_string()));
        } else if let Some(r) = l.strip_prefix("expect range vector") {
            let w: Vec<&str> = r.split_whitespace().collect();
            if w.len() != 6 || w[0] != "from" || w[2] != "to" || w[4] != "step" {
                return Err(format!("bad range vector line {l:?}"));
            }
            ev.range_vector = Some((parse_duration(w[1])?, parse_duration(w[3])?, parse_duration(w[5])?));
        } else if let Some(r) = l.strip_prefix("expect string") {
            ev.expect_string = Some(read_quoted(r.trim())?.0);
        } else if l.split(' ').next() == Some("expect") {
            let body = l["expect".len()..].trim();
            let kind = body.split(|c: char| c.is_whitespace() || c == ':').next().unwrap_or("");
            match kind {
                "fail" => {
                    let tail = body["fail".len()..].trim();
                    ev.fail = Some(if let Some(m) = tail.strip_prefix("msg:") {
                        FailMatch::Message(m.trim().to_string())
                    } else if let Some(r) = tail.strip_prefix("regex:") {
                        FailMatch::Regex(r.trim().to_string())
                    } else {
                        FailMatch::Any
                    });
                }
                "ordered" => ev.ordered = true,
                // Annotations (info/warn) are not produced by this engine.
                _ => {}
            }
        } else if let Some(v) = parse_number_line(l) {
            ev.expected.push(Expectation::Scalar(v));
        } else {
            if l.contains("{{") {
                ev.histogram_output = true;
            }
            ev.expected.push(Expectation::Series(parse_series(l)?));
        }
    }
    Ok(ev)
}

fn parse_number_line(l: &str) -> Option<f64> {
    if l.split_whitespace().count() != 1 || l.starts_with('{') {
        return None;
    }
    parse_float(l.trim())
}

/// Parses a whole script.
pub fn parse_script(input: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<(usize, String)> = input
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = l.trim();
            (i + 1, if l.starts_with('#') { String::new() } else { l.to_string() })
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, l) = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let head = l.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if head == "clear" {
            cmds.push(Command::Clear);
        } else if head.starts_with("load") {
            let with_nhcb = head == "load_with_nhcb";
            let interval = parse_duration(l.split_whitespace().nth(1).unwrap_or(""))?;
            let mut series = Vec::new();
            while i + 1 < lines.len() && !lines[i + 1].1.is_empty() {
                i += 1;
                let def = &lines[i].1;
                let first = def.split_whitespace().next().unwrap_or("");
                if first.ends_with("@st") {
                    continue; // Start timestamps are not supported.
                }
                series.push(parse_series(def).map_err(|e| format!("line {}: {e}", lines[i].0))?);
            }
            cmds.push(Command::Load { interval, with_nhcb, series });
        } else if head.starts_with("eval") {
            let ev = parse_eval(&lines, &mut i).map_err(|e| format!("line {line_no}: {e}"))?;
            cmds.push(Command::Eval(Box::new(ev)));
        } else {
            return Err(format!("line {line_no}: unknown command {l:?}"));
        }
        i += 1;
    }
    Ok(cmds)
}
