//! Loop tasks that survive their own panics. A scraper, a prober, a rule group or an anomaly
//! watch that panics is started again after a backoff, and each panic is reported: a
//! `controller_fault` signal named `task_panicked` (journaled like every signal), a problem
//! in the controller's [`Health`] until the task has run for a while again, and an error
//! log line. A panicking rule group used to stop silently, recording rules included, and
//! the panic hook killed the whole fleet with it.

use std::future::Future;
use std::time::Duration;

use model::{Clock, Health, Labels, Signal, SignalKind};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The first wait before a panicked task starts again; it doubles with each panic.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between restarts of a task that keeps panicking.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A restarted task that has run this long without panicking counts as healthy again: its
/// problem is cleared and its backoff starts over.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Where a panic is reported.
#[derive(Clone)]
pub struct PanicReport {
    /// The controller's own problems.
    pub health: Health,
    /// The loop's signal channel (the incident manager journals the signal).
    pub signals: mpsc::UnboundedSender<Signal>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl PanicReport {
    /// Reports that the task `name` panicked with `message` and restarts after `backoff`.
    pub fn panicked(&self, name: &str, message: &str, backoff: Duration) {
        tracing::error!(task = name, panic = message, restart_in = ?backoff, "a loop task panicked; it will be restarted");
        let labels = Labels::from_pairs([("task", name.to_owned())]);
        let mut signal = Signal::firing(SignalKind::ControllerFault, "task_panicked", labels, self.clock.now());
        signal.annotations.insert(
            "summary".into(),
            format!("loop task {name} panicked: {message}; restarting in {}", model::format_duration(backoff)),
        );
        // The resolved edge follows at once, so that the next panic is journaled again.
        let resolved = signal.resolved(signal.at);
        let _ = self.signals.send(signal);
        let _ = self.signals.send(resolved);
        self.health.set_problem(&component(name), format!("panicked: {message}"));
    }

    /// Reports that the task `name` has run long enough after a restart.
    pub fn recovered(&self, name: &str) {
        if self.health.clear(&component(name)) {
            tracing::info!(task = name, "a restarted loop task has run without panicking since");
        }
    }
}

fn component(name: &str) -> String {
    format!("task {name}")
}

/// Aborts the task when dropped, so that aborting the supervisor stops what it supervises.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `make()`'s task until it ends on its own; each time it panics, reports it and starts
/// a new one from `make` after a backoff ([`FIRST_BACKOFF`] doubling to [`MAX_BACKOFF`]).
pub async fn supervise<F, Fut>(name: String, make: F, report: PanicReport)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    let mut after_panic = false;
    loop {
        let mut task = AbortOnDrop(tokio::spawn(make()));
        let joined = if after_panic {
            tokio::select! {
                joined = &mut task.0 => joined,
                () = tokio::time::sleep(HEALTHY_AFTER) => {
                    report.recovered(&name);
                    backoff = FIRST_BACKOFF;
                    (&mut task.0).await
                }
            }
        } else {
            (&mut task.0).await
        };
        match joined {
            Ok(()) => return,
            Err(e) if e.is_cancelled() => return,
            Err(e) => {
                report.panicked(&name, &panic_message(e.into_panic()), backoff);
                after_panic = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// A panic's message, shortened for logs and signals.
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).unwrap_or_else(|| "panic".to_owned()),
    };
    model::excerpt_to(&text, 200).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn report() -> (PanicReport, mpsc::UnboundedReceiver<Signal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let clock: Arc<dyn Clock> = Arc::new(model::TokioClock::anchored_at(1_000_000));
        (PanicReport { health: Health::new(), signals: tx, clock }, rx)
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_with_backoff_and_each_panic_reported() {
        let (report, mut rx) = report();
        let health = report.health.clone();
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = starts.clone();
        let started_at = tokio::time::Instant::now();
        let supervisor = tokio::spawn(supervise(
            "rule group errors".into(),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        panic!("printf overflow #{n}");
                    }
                    std::future::pending::<()>().await;
                }
            },
            report,
        ));
        // Panics at 0 s and after the first backoff (1 s); the third start at 1 + 2 s runs on.
        tokio::time::sleep(Duration::from_millis(3_100)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        let mut firing = Vec::new();
        while let Ok(s) = rx.try_recv() {
            if s.state == model::SignalState::Firing {
                firing.push(s);
            }
        }
        assert_eq!(firing.len(), 2);
        assert_eq!(firing[0].kind, SignalKind::ControllerFault);
        assert_eq!(firing[0].name, "task_panicked");
        assert!(firing[1].annotations["summary"].contains("printf overflow #1"), "{:?}", firing[1].annotations);
        assert!(!health.is_healthy());
        // Healthy again once the restarted task has run for a while.
        tokio::time::sleep(HEALTHY_AFTER).await;
        assert!(health.is_healthy(), "{:?}", health.problems());
        assert!(started_at.elapsed() >= Duration::from_secs(3));
        supervisor.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn aborting_the_supervisor_stops_the_task_and_a_finished_task_is_not_restarted() {
        let (report, _rx) = report();
        let running = Arc::new(AtomicUsize::new(0));
        let counted = running.clone();
        let supervisor = tokio::spawn(supervise(
            "scrape".into(),
            move || {
                let running = counted.clone();
                async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    let _leave = Leave(running);
                    std::future::pending::<()>().await;
                }
            },
            report.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(running.load(Ordering::SeqCst), 1);
        supervisor.abort();
        let _ = supervisor.await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(running.load(Ordering::SeqCst), 0, "the supervised task outlived its supervisor");

        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        supervise(
            "once".into(),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async {}
            },
            report,
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    struct Leave(Arc<AtomicUsize>);

    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
