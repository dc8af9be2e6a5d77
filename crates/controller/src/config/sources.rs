//! The `sources:` section: telemetry pushed to Autonomic, each source by `type:`.
//!
//! ```yaml
//! sources:
//!   - type: remote_write        # Prometheus remote write 1.0 at POST /api/v1/write
//!     max_request_size: 32MiB   # decompressed
//!   - type: alertmanager        # Alertmanager's webhook (version 4) at POST /api/v1/alerts
//!     max_request_size: 4MiB
//!     max_alerts: 10000         # firing alerts tracked at once
//! ```
//!
//! Scrape targets and probes are declared on services (`targets:`, `metrics:`, `probe:`).
//! A pushed source is served on the API's listener (`api.listen` or `--listen`), behind a
//! `write` token when tokens are configured.

use std::ops::RangeInclusive;
use std::time::Duration;

use model::Diagnostics;
use monitor::SourceSpec;
use monitor::alertmanager::AlertmanagerSettings;
use monitor::remote_write::RemoteWriteSettings;
use serde::Deserialize;
use yamlspan::{Node, Spanned};

use super::bounds::count;
use super::limits::parse_size;

/// `max_request_size` of a pushed source: 1 KiB to 256 MiB.
pub const MAX_REQUEST_SIZE: RangeInclusive<u64> = 1024..=256 << 20;
/// `max_alerts` of an `alertmanager` source: 1 to 1,000,000.
pub const MAX_ALERTS: RangeInclusive<usize> = 1..=1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    max_request_size: Option<Spanned<String>>,
    #[serde(default)]
    max_alerts: Option<Spanned<usize>>,
}

/// The sources the section declares. `retention` is the store's (remote-written samples
/// older than it are refused).
pub(super) fn compile_sources(node: &Node, retention: Duration, diags: &mut Diagnostics) -> Vec<SourceSpec> {
    let mut out = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for (i, raw, _, _) in node.each_lenient::<RawSource>("sources", diags) {
        let at = format!("sources[{i}]");
        let size = |default: usize, diags: &mut Diagnostics| {
            let Some(v) = &raw.max_request_size else { return default };
            match parse_size(&v.value).and_then(|n| model::bounds::count_in(n, &MAX_REQUEST_SIZE)) {
                Ok(n) => usize::try_from(n).unwrap_or(default),
                Err(e) => {
                    diags.push(v.diagnostic(format!("{at}.max_request_size"), e));
                    default
                }
            }
        };
        let spec = match raw.kind.value.as_str() {
            "remote_write" => {
                if let Some(m) = &raw.max_alerts {
                    diags.push(m.diagnostic(format!("{at}.max_alerts"), "only type alertmanager has max_alerts"));
                }
                let d = RemoteWriteSettings::default();
                SourceSpec::RemoteWrite(RemoteWriteSettings {
                    max_request_bytes: size(d.max_request_bytes, diags),
                    retention,
                })
            }
            "alertmanager" => {
                let d = AlertmanagerSettings::default();
                SourceSpec::Alertmanager(AlertmanagerSettings {
                    max_request_bytes: size(d.max_request_bytes, diags),
                    max_alerts: count(&raw.max_alerts, &format!("{at}.max_alerts"), d.max_alerts, &MAX_ALERTS, diags),
                })
            }
            "scrape" | "probe" => {
                diags.push(raw.kind.diagnostic(
                    format!("{at}.type"),
                    "scrape targets and probes are declared on a service (targets:, metrics:, probe:)",
                ));
                continue;
            }
            _ => {
                diags.push(raw.kind.diagnostic(
                    format!("{at}.type"),
                    format!("unknown source type; expected one of {}", monitor::sources::TYPES.join(", ")),
                ));
                continue;
            }
        };
        let type_name = match spec {
            SourceSpec::RemoteWrite(_) => "remote_write",
            _ => "alertmanager",
        };
        if seen.contains(&type_name) {
            diags.push(raw.kind.diagnostic(
                format!("{at}.type"),
                format!("a second {type_name} source: both would serve the same path"),
            ));
            continue;
        }
        seen.push(type_name);
        out.push(spec);
    }
    out
}
