//! Steady open-loop traffic at the gateway, measuring what users would see: every request
//! counts, successes are 2xx answers within the timeout.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One second of traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Second {
    /// Requests finished in this second.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    ok: AtomicU64,
    timeline: Mutex<Vec<Second>>,
}

/// A running traffic generator.
#[derive(Debug)]
pub struct Traffic {
    counters: Arc<Counters>,
    started: Instant,
    task: JoinHandle<()>,
}

/// Totals so far.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TrafficTotals {
    /// Requests finished.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
}

impl TrafficTotals {
    /// Successful requests / all requests (1.0 with no requests).
    pub fn availability(&self) -> f64 {
        if self.requests == 0 { 1.0 } else { self.ok as f64 / self.requests as f64 }
    }
}

impl Traffic {
    /// Sends `rate` requests per second to `GET http://ADDR/work`, spreading them over the
    /// gateway replicas like an edge load balancer (a refused connection is retried on the
    /// next replica, since the request never reached a server).
    pub fn start(gateways: Vec<String>, rate: u32, timeout: Duration) -> Self {
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let c = counters.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
            let next = Arc::new(AtomicUsize::new(0));
            let in_flight = Arc::new(AtomicUsize::new(0));
            let gateways = Arc::new(gateways);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                // Past 256 in flight the generator itself would be the bottleneck; count
                // those as failures rather than silently sending less.
                if in_flight.load(Ordering::Relaxed) > 256 {
                    record(&c, started, false);
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (client, next, gateways, c, in_flight) =
                    (client.clone(), next.clone(), gateways.clone(), c.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let ok = one_request(&client, &gateways, &next).await;
                    record(&c, started, ok);
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Self { counters, started, task }
    }

    /// Totals so far.
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            requests: self.counters.requests.load(Ordering::Relaxed),
            ok: self.counters.ok.load(Ordering::Relaxed),
        }
    }

    /// Per-second counts since the start.
    pub fn timeline(&self) -> Vec<Second> {
        self.counters.timeline.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Success ratio over the last `seconds` full seconds (1.0 when idle).
    pub fn recent_availability(&self, seconds: usize) -> f64 {
        let timeline = self.timeline();
        let now = self.started.elapsed().as_secs() as usize;
        let from = now.saturating_sub(seconds);
        let (req, ok) =
            timeline.iter().skip(from).take(now - from).fold((0, 0), |(r, o), s| (r + s.requests, o + s.ok));
        if req == 0 { 1.0 } else { ok as f64 / req as f64 }
    }

    /// Stops sending.
    pub fn stop(self) -> (TrafficTotals, Vec<Second>) {
        self.task.abort();
        (self.totals(), self.timeline())
    }
}

fn record(c: &Counters, started: Instant, ok: bool) {
    c.requests.fetch_add(1, Ordering::Relaxed);
    if ok {
        c.ok.fetch_add(1, Ordering::Relaxed);
    }
    let second = started.elapsed().as_secs() as usize;
    let mut t = c.timeline.lock().unwrap_or_else(|p| p.into_inner());
    if t.len() <= second {
        t.resize(second + 1, Second::default());
    }
    t[second].requests += 1;
    if ok {
        t[second].ok += 1;
    }
}

async fn one_request(client: &reqwest::Client, gateways: &[String], next: &AtomicUsize) -> bool {
    if gateways.is_empty() {
        return false;
    }
    let first = next.fetch_add(1, Ordering::Relaxed);
    for attempt in 0..gateways.len() {
        let addr = &gateways[(first + attempt) % gateways.len()];
        match client.get(format!("http://{addr}/work")).send().await {
            Ok(r) => return r.status().is_success(),
            Err(e) if e.is_connect() => continue,
            Err(_) => return false,
        }
    }
    false
}
