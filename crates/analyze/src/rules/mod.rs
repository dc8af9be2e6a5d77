//! Prometheus alerting and recording rules: loading with located errors, templates, the
//! alert state machine, and group evaluation.

pub mod alerting;
pub mod file;
pub mod group;
pub mod printf;
pub mod template;

pub use alerting::{Alert, AlertState, AlertingRule};
pub use file::{compile_groups, load_rule_files, parse_rule_file};
pub use group::{RecordingRule, Rule, RuleFailure, RuleGroup};
pub use template::Template;
