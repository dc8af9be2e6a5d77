//! The controller's own health: what is wrong with it, by component. Loop tasks report
//! problems here (the journal cannot be written, a task keeps panicking); the HTTP API's
//! `/-/healthy` and `/-/ready` read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Problems of the controller itself, by component (`journal`, `task:scrape`, …). Cheap to
/// clone; every clone sees the same problems.
#[derive(Debug, Clone, Default)]
pub struct Health {
    problems: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Health {
    /// A controller with no known problem.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.problems.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `component` is broken, and why. Returns `true` if it was healthy
    /// before (so a caller can report the change once).
    pub fn set_problem(&self, component: &str, why: impl Into<String>) -> bool {
        self.lock().insert(component.to_owned(), why.into()).is_none()
    }

    /// Records that `component` works again. Returns `true` if it had a problem.
    pub fn clear(&self, component: &str) -> bool {
        self.lock().remove(component).is_some()
    }

    /// Every current problem, by component name.
    pub fn problems(&self) -> Vec<(String, String)> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_shared_between_clones_and_reported_once() {
        let health = Health::new();
        let seen = health.clone();
        assert!(seen.is_healthy());
        assert!(health.set_problem("journal", "disk full"));
        assert!(!health.set_problem("journal", "still full"));
        assert_eq!(seen.problems(), vec![("journal".to_owned(), "still full".to_owned())]);
        assert!(health.clear("journal"));
        assert!(!health.clear("journal"));
        assert!(seen.is_healthy());
    }
}
