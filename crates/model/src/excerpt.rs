//! Quoting input back in messages. A value a user (or a file, or a caller) sent can be
//! megabytes long; an error that echoes it whole is as big as the input and buries its own
//! point. Every message that quotes input goes through [`excerpt`]: the first
//! [`EXCERPT_CHARS`] characters, then the size of what was left out.

use std::fmt;

/// Characters of an input value that a message quotes before cutting it short.
pub const EXCERPT_CHARS: usize = 80;

/// Characters of a whole message (which may embed input, e.g. a parser's error) that a
/// diagnostic prints before cutting it short.
pub const MESSAGE_CHARS: usize = 400;

/// `text` as a message may quote it: whole when it has at most [`EXCERPT_CHARS`]
/// characters, else its first ones followed by `… (N bytes)`. `{}` prints it plain, `{:?}`
/// quotes the kept part as Rust's `{:?}` quotes a string.
pub fn excerpt(text: &str) -> Excerpt<'_> {
    excerpt_to(text, EXCERPT_CHARS)
}

/// Like [`excerpt`], keeping at most `max_chars` characters.
pub fn excerpt_to(text: &str, max_chars: usize) -> Excerpt<'_> {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => Excerpt { head: &text[..cut], total_bytes: Some(text.len()) },
        None => Excerpt { head: text, total_bytes: None },
    }
}

/// A possibly shortened view of an input, for messages; see [`excerpt`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Excerpt<'a> {
    head: &'a str,
    /// The whole input's size when `head` is only its beginning.
    total_bytes: Option<usize>,
}

impl Excerpt<'_> {
    /// Whether the input was cut short.
    pub fn is_cut(&self) -> bool {
        self.total_bytes.is_some()
    }

    fn tail(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.total_bytes {
            Some(n) => write!(f, "… ({n} bytes)"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head)?;
        self.tail(f)
    }
}

impl fmt::Debug for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.head)?;
        self.tail(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(excerpt("5 minutes").to_string(), "5 minutes");
        assert_eq!(format!("{:?}", excerpt("5 minutes")), "\"5 minutes\"");
        assert!(!excerpt(&"x".repeat(EXCERPT_CHARS)).is_cut());
    }

    #[test]
    fn long_text_keeps_its_beginning_and_says_how_long_it_was() {
        let long = "y".repeat(1_000_000);
        let shown = format!("{:?}", excerpt(&long));
        assert_eq!(shown, format!("{:?}… (1000000 bytes)", "y".repeat(EXCERPT_CHARS)));
        assert!(excerpt(&long).is_cut());
    }

    #[test]
    fn cuts_between_characters_not_inside_one() {
        let text = "é".repeat(EXCERPT_CHARS + 1);
        assert_eq!(excerpt(&text).to_string(), format!("{}… ({} bytes)", "é".repeat(EXCERPT_CHARS), text.len()));
        assert_eq!(excerpt_to("abc", 0).to_string(), "… (3 bytes)");
    }
}
