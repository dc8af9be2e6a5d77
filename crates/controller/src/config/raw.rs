//! The configuration as written: serde structs that mirror the YAML, unknown fields rejected.
//! They are read with `yamlspan`'s lenient deserialization, so each bad entry is reported
//! and left out while the rest is still checked.

use std::collections::BTreeMap;

use remedy::playbook::RawGuards;
use serde::Deserialize;
use serde::de::IgnoredAny;
use yamlspan::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) journal: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) journal_retention: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) snapshot: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) scrape: Option<RawScrape>,
    #[serde(default)]
    pub(super) evaluation_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) group_wait: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) echo_window: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) resume_within: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) retention: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_series: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) escalation: Option<RawEscalation>,
    #[serde(default)]
    pub(super) api: Option<super::api::RawApi>,
    #[serde(default)]
    pub(super) kubernetes: Option<super::kubernetes::RawKubernetes>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) services: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) sources: IgnoredAny,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) rule_groups: IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) playbooks: IgnoredAny,
    #[serde(default)]
    pub(super) playbook_files: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) defaults: Option<RawDefaults>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) anomaly_detection: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScrape {
    #[serde(default)]
    pub(super) interval: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) down_after: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) sample_limit: Option<Spanned<usize>>,
    /// A size: bytes, or a number with a unit (`16MiB`).
    #[serde(default)]
    pub(super) body_size_limit: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) label_limit: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) label_name_length_limit: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) label_value_length_limit: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalation {
    pub(super) webhook: Spanned<String>,
    #[serde(default)]
    pub(super) retry_for: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) format: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) routing_key_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    #[serde(default)]
    pub(super) guards: Option<RawGuards>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    #[serde(default, rename = "type")]
    pub(super) kind: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) run: Option<RawRun>,
    #[serde(default)]
    pub(super) kubernetes: Option<super::kubernetes::RawWorkload>,
    #[serde(default)]
    pub(super) targets: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) metrics: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) health: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) probe: Option<RawProbe>,
    #[serde(default)]
    pub(super) depends_on: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) command: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) replicas: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) port: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) release: Option<String>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) stop_grace: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ready_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) restart: Option<RawRestart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestart {
    #[serde(default)]
    pub(super) enabled: Option<bool>,
    #[serde(default)]
    pub(super) backoff: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_backoff: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) reset_after: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) burst: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    #[serde(default)]
    pub(super) period: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) failure_threshold: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) success_threshold: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    // Optional here so that a bad `name` or `expr` does not end the lenient reading of the
    // rest of the entry; their absence is reported by the compiler.
    #[serde(default)]
    pub(super) name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) expr: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) detector: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) threshold: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) direction: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) probation: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) max_series: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) quiet: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) missing_after: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) restart_grace: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) accept_after: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) min_change: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) false_alarm_every: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) interval: Option<Spanned<String>>,
}
