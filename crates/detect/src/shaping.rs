//! Output shaping: report a surprise once, as a spike, not as a plateau. NAB (and an on-call
//! human) counts every alarmed record outside an anomaly as a separate false alarm, so one
//! problem should be reported by one record.
//!
//! An *event* is a run of non-zero scores (gaps of up to [`EVENT_GAP`] quiet records are
//! bridged). The event is reported once, at its peak: on the first record that does not
//! rise above the event's running maximum, with that maximum as the score. This costs one
//! record of delay for a spike and avoids reporting every step of a rising surprise.
//!
//! After a report the shaper is refractory for a while: a new event is reported only if it
//! is more surprising than the last report. The refractory period scales with the probation
//! length, the one hint we have of how long the series' structure takes to play out.

/// Quiet records that end an event.
const EVENT_GAP: usize = 10;

/// Reports each event once, at its peak, with a refractory period after each report.
pub(crate) struct Peak {
    refractory: usize,
    since_report: usize,
    last_report: f64,
    event_max: f64,
    reported: bool,
    quiet: usize,
}

impl Peak {
    /// After a report, events must beat it for `refractory` records to be reported.
    pub(crate) fn new(refractory: usize) -> Self {
        Self { refractory, since_report: usize::MAX, last_report: 0.0, event_max: 0.0, reported: false, quiet: 0 }
    }

    /// Reports `score` (the event's peak) unless it is refractory.
    fn report(&mut self, score: f64) -> f64 {
        self.reported = true;
        if self.since_report <= self.refractory && score <= self.last_report {
            return 0.0;
        }
        self.last_report = score;
        self.since_report = 0;
        score
    }

    /// Takes the next combined score; returns the shaped one.
    pub(crate) fn shape(&mut self, score: f64) -> f64 {
        self.since_report = self.since_report.saturating_add(1);
        if score > 0.0 {
            self.quiet = 0;
            if score > self.event_max {
                // Still rising: wait for the peak.
                self.event_max = score;
                self.reported = false;
                return 0.0;
            }
            return if self.reported { 0.0 } else { self.report(self.event_max) };
        }
        self.quiet += 1;
        let out = if !self.reported && self.event_max > 0.0 { self.report(self.event_max) } else { 0.0 };
        if self.quiet > EVENT_GAP {
            self.event_max = 0.0;
            self.reported = false;
        }
        out
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_event_is_reported_once_at_its_peak() {
        let mut p = Peak::new(100);
        let out: Vec<f64> = [0.0, 0.2, 0.5, 0.9, 0.7, 0.3, 0.0, 0.0].iter().map(|s| p.shape(*s)).collect();
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn refractory_period_keeps_only_stronger_events() {
        let mut p = Peak::new(100);
        let mut reports = Vec::new();
        for (i, s) in [0.8, 0.6, 0.95].iter().enumerate() {
            for k in 0..30 {
                let r = p.shape(if k == 0 { *s } else { 0.0 });
                if r > 0.0 {
                    reports.push((i, r));
                }
            }
        }
        assert_eq!(reports, vec![(0, 0.8), (2, 0.95)]);
    }
}
