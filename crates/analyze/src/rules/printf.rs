//! `printf` in templates: Go's verbs for one argument (`%f %e %g %d %v %s %%`, flags `-+0 `,
//! width and precision), checked when the template loads. Widths and precisions come from
//! rule files, so they are bounded there: `%.70000f` once passed `check` and then panicked
//! the rule group at its first evaluation.

use std::fmt::Write;

/// The widest field a verb may ask for.
pub const MAX_WIDTH: usize = 64;
/// The most digits a verb may ask for after the point.
pub const MAX_PRECISION: usize = 32;

/// A checked `printf` format.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Verb(Verb),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Verb {
    kind: char,
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
}

impl Format {
    /// Parses a format; the error names the verb and the bound it breaks.
    pub fn parse(fmt: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let mut verb =
                Verb { kind: 'v', left: false, plus: false, space: false, zero: false, width: 0, precision: None };
            while let Some(flag) = chars.peek().copied().filter(|f| matches!(f, '-' | '+' | ' ' | '0' | '#')) {
                match flag {
                    '-' => verb.left = true,
                    '+' => verb.plus = true,
                    ' ' => verb.space = true,
                    '0' => verb.zero = true,
                    _ => {}
                }
                chars.next();
            }
            verb.width = number(&mut chars, "width", MAX_WIDTH)?.unwrap_or(0);
            if chars.peek() == Some(&'.') {
                chars.next();
                verb.precision = Some(number(&mut chars, "precision", MAX_PRECISION)?.unwrap_or(0));
            }
            match chars.next() {
                Some('%') => text.push('%'),
                Some(kind @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'd' | 'v' | 's')) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Verb(Verb { kind, ..verb }));
                }
                Some(other) => return Err(format!("printf verb %{other} is not supported (use f, e, g, d, v or s)")),
                None => return Err("printf format ends in the middle of a verb".into()),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// Formats `value` (a sample value) into every verb.
    pub fn float(&self, value: f64) -> String {
        self.render(|verb| verb.float(value))
    }

    /// Formats `text` (a label value) into every verb; numeric verbs format it as a number
    /// when it is one.
    pub fn text(&self, text: &str) -> String {
        self.render(|verb| match (verb.kind, text.trim().parse::<f64>()) {
            ('s' | 'v', _) | (_, Err(_)) => verb.pad(text.to_owned(), false),
            (_, Ok(v)) => verb.float(v),
        })
    }

    fn render(&self, mut verb: impl FnMut(&Verb) -> String) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Verb(v) => out.push_str(&verb(v)),
            }
        }
        out
    }
}

fn number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    what: &str,
    max: usize,
) -> Result<Option<usize>, String> {
    let mut digits = String::new();
    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
        digits.push(d);
        chars.next();
    }
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<usize>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(format!("printf {what} {} is out of range (0 to {max})", model::excerpt_to(&digits, 12))),
    }
}

impl Verb {
    fn float(&self, v: f64) -> String {
        let mut s = String::new();
        let precision = self.precision.unwrap_or(6);
        let _ = match self.kind {
            'f' | 'F' => write!(s, "{v:.precision$}"),
            'e' => write!(s, "{}", go_exponent(&format!("{v:.precision$e}"))),
            'E' => write!(s, "{}", go_exponent(&format!("{v:.precision$E}"))),
            'd' if v.is_finite() => write!(s, "{}", v.trunc() as i64),
            _ => write!(s, "{}", crate::promql::format_float(v)),
        };
        if v.is_finite() && !s.starts_with('-') {
            if self.plus {
                s.insert(0, '+');
            } else if self.space {
                s.insert(0, ' ');
            }
        }
        self.pad(s, v.is_finite())
    }

    fn pad(&self, s: String, numeric: bool) -> String {
        let len = s.chars().count();
        if len >= self.width {
            return s;
        }
        let fill = self.width - len;
        if self.left {
            format!("{s}{}", " ".repeat(fill))
        } else if self.zero && numeric {
            let sign = s.starts_with(['-', '+', ' ']);
            let (head, tail) = s.split_at(usize::from(sign));
            format!("{head}{}{tail}", "0".repeat(fill))
        } else {
            format!("{}{s}", " ".repeat(fill))
        }
    }
}

/// Rust writes `1.5e3`; Go writes `1.5e+03`.
fn go_exponent(s: &str) -> String {
    match s.split_once(['e', 'E']) {
        Some((mantissa, exp)) => {
            let marker = if s.contains('E') { 'E' } else { 'e' };
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}{marker}{sign}{digits:0>2}")
        }
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, v: f64) -> String {
        Format::parse(fmt).expect("parses").float(v)
    }

    #[test]
    fn verbs_flags_width_and_precision_format_as_go_does() {
        assert_eq!(f("%.2f", 1.0 / 3.0), "0.33");
        assert_eq!(f("%f", 1.5), "1.500000");
        assert_eq!(f("%8.3f|", 3.2468), "   3.247|");
        assert_eq!(f("%-8.1f|", 3.2468), "3.2     |");
        assert_eq!(f("%08.2f", -3.2468), "-0003.25");
        assert_eq!(f("%+.1f", 2.0), "+2.0");
        assert_eq!(f("%e", 1500.0), "1.500000e+03");
        assert_eq!(f("%.1E", 0.00015), "1.5E-04");
        assert_eq!(f("%d items", 42.9), "42 items");
        assert_eq!(f("%v and %g and %s", 0.25), "0.25 and 0.25 and 0.25");
        assert_eq!(f("100%%", 1.0), "100%");
        assert_eq!(Format::parse("[%5s]").expect("parses").text("ab"), "[   ab]");
        assert_eq!(Format::parse("%.1f").expect("parses").text("2.25"), "2.2");
    }

    #[test]
    fn out_of_range_widths_and_precisions_are_load_errors() {
        let err = Format::parse("%.70000f").expect_err("too precise");
        assert!(err.contains("precision") && err.contains("0 to 32"), "{err}");
        assert!(err.len() < 80, "{err}");
        assert!(Format::parse("%99999999999999999999999f").expect_err("too wide").contains("width"));
        assert!(Format::parse(&format!("%.{}f", MAX_PRECISION)).is_ok());
        assert!(Format::parse(&format!("%{}f", MAX_WIDTH + 1)).is_err());
        assert!(Format::parse("%q").is_err());
        assert!(Format::parse("50%").is_err());
    }

    #[test]
    fn extreme_values_never_panic() {
        for v in [f64::MAX, f64::MIN, f64::MIN_POSITIVE, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0] {
            for fmt in ["%.32f", "%64.32e", "%d", "%-64g", "%064.32f"] {
                let out = f(fmt, v);
                assert!(out.len() <= 400, "{fmt} {v}: {} bytes", out.len());
            }
        }
    }
}
