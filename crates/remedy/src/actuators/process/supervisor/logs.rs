//! Bounded capture of a replica's output: the last lines, never unbounded memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The last `capacity` lines a process wrote to stdout or stderr.
#[derive(Debug, Clone)]
pub struct LogRing {
    inner: Arc<Mutex<Ring>>,
}

#[derive(Debug)]
struct Ring {
    lines: VecDeque<String>,
    capacity: usize,
    dropped: u64,
}

/// Longest line kept; a process that writes megabytes without a newline cannot blow memory.
const MAX_LINE: usize = 4096;

impl LogRing {
    /// A ring that keeps `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(Ring { lines: VecDeque::new(), capacity: capacity.max(1), dropped: 0 })) }
    }

    /// Appends a line, evicting the oldest when full.
    pub fn push(&self, line: impl Into<String>) {
        let mut line = line.into();
        if line.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if r.lines.len() == r.capacity {
            r.lines.pop_front();
            r.dropped += 1;
        }
        r.lines.push_back(line);
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).lines.iter().cloned().collect()
    }

    /// How many lines were evicted.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_lines() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            ring.push(format!("line {i}"));
        }
        assert_eq!(ring.lines(), vec!["line 2", "line 3", "line 4"]);
        assert_eq!(ring.dropped(), 2);
    }

    #[test]
    fn truncates_huge_lines_on_a_char_boundary() {
        let ring = LogRing::new(1);
        ring.push("é".repeat(5000));
        let kept = &ring.lines()[0];
        assert!(kept.len() <= MAX_LINE + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }
}
