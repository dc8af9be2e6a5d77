//! The query pool: a few threads of their own, at a lower CPU priority than the rest of the
//! process, with a bounded queue. Queries are CPU work that a caller chooses; run on the
//! control loop's async runtime, one expensive query stopped scraping and rule evaluation
//! for 54 s. Here they cannot take the loop's threads, and when they compete with it for a
//! core the kernel prefers the loop.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, oneshot};

/// Niceness of the query threads: the loop runs at the process' own (usually 0).
const QUERY_NICENESS: libc::c_int = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run to an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every thread is busy and the queue is full.
    #[error("too many queries are running or waiting ({threads} running, {queued} waiting); try again later")]
    Busy {
        /// Threads in the pool.
        threads: usize,
        /// Queue length.
        queued: usize,
    },
    /// The job panicked; the panic was caught on the query thread.
    #[error("the query failed unexpectedly: {0}")]
    Panicked(String),
    /// The pool is gone (the controller is stopping).
    #[error("the query pool is shutting down")]
    Closed,
}

/// A fixed set of query threads.
#[derive(Debug, Clone)]
pub struct QueryPool {
    jobs: SyncSender<Job>,
    /// One permit per job running or waiting: `threads + queued` in all. Counting them here,
    /// not by the channel's capacity, keeps a pool without a queue from refusing work while
    /// a thread is idle but not yet (or not again) blocked in `recv`.
    slots: Arc<Semaphore>,
    threads: usize,
    queued: usize,
}

impl QueryPool {
    /// Starts `threads` threads (at least one) with `stack_bytes` of stack each, and a queue
    /// of `queued` jobs. The threads end when the last clone of the pool is dropped.
    pub fn start(threads: usize, queued: usize, stack_bytes: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, rx) = sync_channel::<Job>(threads + queued);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("autonomic-query-{i}"))
                .stack_size(stack_bytes)
                .spawn(move || work(&rx))?;
        }
        Ok(Self { jobs, slots: Arc::new(Semaphore::new(threads + queued)), threads, queued })
    }

    /// Runs `job` on a query thread and waits for its answer. Refused at once when the
    /// pool is full; a panic in `job` becomes [`PoolError::Panicked`]. If the caller stops
    /// waiting (it is dropped), the answer is thrown away; the job itself should watch an
    /// interrupt flag to stop early.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolError> {
        let busy = PoolError::Busy { threads: self.threads, queued: self.queued };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else { return Err(busy) };
        let (tx, rx) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let answer = std::panic::catch_unwind(AssertUnwindSafe(job)).map_err(|panic| panic_message(&panic));
            // The slot is free again before the caller hears the answer.
            drop(slot);
            let _ = tx.send(answer);
        });
        match self.jobs.try_send(wrapped) {
            Ok(()) => {}
            // Cannot happen while permits bound the jobs in flight to the channel's capacity.
            Err(TrySendError::Full(_)) => return Err(busy),
            Err(TrySendError::Disconnected(_)) => return Err(PoolError::Closed),
        }
        match rx.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(message)) => Err(PoolError::Panicked(message)),
            Err(_) => Err(PoolError::Closed),
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Gives this thread a higher niceness, so the kernel runs the loop's threads first when
/// both want a core. Best effort: without it queries still run, only at equal priority.
fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers; on Linux, PRIO_PROCESS with a thread
    // id changes that thread only.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, QUERY_NICENESS)
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the query threads' priority");
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    model::excerpt_to(&text, 200).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_off_the_runtime_and_catches_their_panics() {
        let pool = QueryPool::start(1, 4, 1 << 20).expect("pool");
        let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await.expect("answer");
        assert_eq!(name.as_deref(), Some("autonomic-query-0"));
        let err = pool.run(|| -> u8 { panic!("boom at step 3") }).await.expect_err("panicked");
        assert_eq!(err, PoolError::Panicked("boom at step 3".into()));
        // The thread survived its job's panic.
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = QueryPool::start(1, 1, 1 << 20).expect("pool");
        let (started, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let running = tokio::spawn({
            let (pool, started, release) = (pool.clone(), started.clone(), release.clone());
            async move {
                pool.run(move || {
                    started.store(true, Ordering::Relaxed);
                    while !release.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await
            }
        });
        while !started.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The one thread is busy; one job fits in the queue, the next is refused.
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 1).await }
        });
        while pool.slots.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.run(|| 2).await, Err(PoolError::Busy { threads: 1, queued: 1 }));
        release.store(true, Ordering::Relaxed);
        assert_eq!(running.await.expect("joined"), Ok(()));
        assert_eq!(queued.await.expect("joined"), Ok(1), "the queued job ran");
        assert_eq!(pool.run(|| 3).await, Ok(3), "every slot is free again");
    }

    #[tokio::test]
    async fn a_pool_without_a_queue_takes_a_job_whenever_a_thread_is_free() {
        // Before the threads have even started, and right after each job: a pool whose
        // queue is a rendezvous with a blocked thread refused both.
        for _ in 0..50 {
            let pool = QueryPool::start(1, 0, 1 << 20).expect("pool");
            for i in 0..5 {
                assert_eq!(pool.run(move || i).await, Ok(i));
            }
        }
    }
}
