//! Guard state: cooldowns per service and playbook, and the hourly action budget per
//! service. Seeded from the journal at startup, so a restarted controller keeps its limits.

use std::collections::{HashMap, VecDeque};

use model::{IncidentId, Millis};

use crate::playbook::Guards;

const HOUR_MS: Millis = 3_600_000;

/// What the guards remember.
#[derive(Debug, Default)]
pub struct GuardState {
    last_action: HashMap<(String, String), (Millis, IncidentId)>,
    recent: HashMap<String, VecDeque<Millis>>,
}

impl GuardState {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `playbook` may act on `service` for `incident` at `now`; the error says
    /// which guard stops it. The cooldown spaces out incidents: the steps of one incident's
    /// ladder are not held back by each other.
    pub fn check(
        &self,
        service: &str,
        playbook: &str,
        incident: IncidentId,
        guards: &Guards,
        now: Millis,
    ) -> Result<(), String> {
        if let Some((last, by)) =
            self.last_action.get(&(service.to_owned(), playbook.to_owned())).filter(|(_, by)| *by != incident)
        {
            let cooldown = guards.cooldown.as_millis() as Millis;
            if now - last < cooldown {
                return Err(format!(
                    "cooldown: playbook {playbook} acted on {service} {}s ago for incident {by} (cooldown {}s)",
                    (now - last) / 1000,
                    cooldown / 1000
                ));
            }
        }
        let in_hour = self.recent.get(service).map(|q| q.iter().filter(|t| now - **t < HOUR_MS).count()).unwrap_or(0);
        if in_hour as u32 >= guards.max_actions_per_hour {
            return Err(format!(
                "budget: {in_hour} actions on {service} in the last hour (max_actions_per_hour {})",
                guards.max_actions_per_hour
            ));
        }
        Ok(())
    }

    /// Remembers actions journaled by earlier runs, oldest first.
    pub fn seed(&mut self, actions: impl IntoIterator<Item = (String, String, IncidentId, Millis)>) {
        for (service, playbook, incident, at) in actions {
            self.record(&service, &playbook, incident, at);
        }
    }

    /// Records an action of `playbook` on `service` for `incident` at `at`.
    pub fn record(&mut self, service: &str, playbook: &str, incident: IncidentId, at: Millis) {
        self.last_action.insert((service.to_owned(), playbook.to_owned()), (at, incident));
        let q = self.recent.entry(service.to_owned()).or_default();
        q.push_back(at);
        while q.front().is_some_and(|t| at - *t >= HOUR_MS) {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::MaxUnavailable;
    use std::time::Duration;

    fn guards() -> Guards {
        Guards { cooldown: Duration::from_secs(60), max_actions_per_hour: 3, max_unavailable: MaxUnavailable::Count(1) }
    }

    #[test]
    fn cooldown_is_per_service_and_playbook() {
        let mut g = GuardState::new();
        let (one, two) = (IncidentId(1), IncidentId(2));
        g.record("a", "p", one, 0);
        assert!(g.check("a", "p", two, &guards(), 59_000).expect_err("cooling down").starts_with("cooldown"));
        assert!(g.check("a", "p", one, &guards(), 1_000).is_ok(), "the same incident's next step");
        assert!(g.check("a", "q", two, &guards(), 1_000).is_ok(), "other playbook");
        assert!(g.check("b", "p", two, &guards(), 1_000).is_ok(), "other service");
        assert!(g.check("a", "p", two, &guards(), 60_000).is_ok());
    }

    #[test]
    fn seeded_history_counts_like_live_actions() {
        let mut g = GuardState::new();
        g.seed([
            ("a".to_owned(), "p".to_owned(), IncidentId(1), 0),
            ("a".to_owned(), "p".to_owned(), IncidentId(1), 10),
        ]);
        assert!(g.check("a", "p", IncidentId(2), &guards(), 20).is_err(), "cooldown survives a restart");
        g.seed([("a".to_owned(), "q".to_owned(), IncidentId(3), 30)]);
        assert!(g.check("a", "r", IncidentId(4), &guards(), 100_000).expect_err("budget").starts_with("budget"));
    }

    #[test]
    fn hourly_budget_counts_all_playbooks_and_slides() {
        let mut g = GuardState::new();
        let i = IncidentId(1);
        g.record("a", "p1", i, 0);
        g.record("a", "p2", i, 1_000);
        g.record("a", "p3", i, 2_000);
        assert!(g.check("a", "p4", i, &guards(), 3_000).expect_err("spent").starts_with("budget"));
        assert!(g.check("a", "p4", i, &guards(), HOUR_MS + 1).is_ok(), "the first action left the window");
    }
}
