//! The replica's own telemetry, in the shape real services expose.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DownstreamLabels {
    pub downstream: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SignalLabels {
    pub signal: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReleaseLabels {
    pub version: String,
}

/// Every metric a replica exports.
pub(crate) struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, Histogram>,
    pub downstream: Family<DownstreamLabels, Counter>,
    pub signals: Family<SignalLabels, Counter>,
}

impl Metrics {
    pub fn new(release: &str) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served, by route and status code", requests.clone());
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register("http_request_duration_seconds", "Time to answer an HTTP request", duration.clone());
        let downstream = Family::<DownstreamLabels, Counter>::default();
        registry.register(
            "downstream_requests",
            "Calls to downstream services, by outcome (ok, error, timeout, unreachable)",
            downstream.clone(),
        );
        let signals = Family::<SignalLabels, Counter>::default();
        registry.register("demo_signals_received", "Unix signals received", signals.clone());
        let build = Family::<ReleaseLabels, Gauge>::default();
        build.get_or_create(&ReleaseLabels { version: release.to_owned() }).set(1);
        registry.register("demo_build_info", "The release this process runs", build);
        registry.register_collector(Box::new(ProcessCollector));
        Self { registry, requests, duration, downstream, signals }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Process metrics read from /proc at scrape time, as the Go and Java clients export them.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = ProcStats::read();
        let rss = ConstGauge::new(stats.rss_bytes as i64);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            None,
            rss.metric_type(),
        )?)?;
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let start = ConstGauge::new(stats.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            None,
            start.metric_type(),
        )?)?;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct ProcStats {
    rss_bytes: u64,
    cpu_seconds: f64,
    start_time_seconds: i64,
}

impl ProcStats {
    fn read() -> Self {
        let page = page_size();
        let ticks = clock_ticks();
        let mut stats = Self::default();
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
            && let Some(rss_pages) = statm.split_whitespace().nth(1).and_then(|s| s.parse::<u64>().ok())
        {
            stats.rss_bytes = rss_pages * page;
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name; the name may contain spaces.
            if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let field = |n: usize| fields.get(n).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                // utime and stime are fields 14 and 15 of stat, 11 and 12 after the name.
                stats.cpu_seconds = (field(11) + field(12)) as f64 / ticks as f64;
                let start_ticks = field(19);
                stats.start_time_seconds = boot_time() + (start_ticks / ticks) as i64;
            }
        }
        stats
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_process_and_request_metrics() {
        let m = Metrics::new("1.0.0");
        m.requests.get_or_create(&RequestLabels { route: "/work".into(), status: "200".into() }).inc();
        let text = m.encode();
        assert!(text.contains("http_requests_total{route=\"/work\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("demo_build_info{version=\"1.0.0\"} 1"), "{text}");
        let rss_line = text.lines().find(|l| l.starts_with("process_resident_memory_bytes ")).expect("rss");
        let rss: f64 = rss_line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("number");
        assert!(rss > 1e6, "{rss_line}");
        assert!(text.ends_with("# EOF\n"));
    }
}
