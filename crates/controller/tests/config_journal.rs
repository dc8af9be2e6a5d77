//! The journal's and the pager's keys: `journal_retention` and `escalation.retry_for`, their
//! defaults, and their errors with file:line:column.

use std::path::Path;
use std::time::Duration;

fn compile(text: &str) -> Result<controller::Config, String> {
    controller::compile("c.yaml", text, Path::new(".")).map_err(|d| d.to_string())
}

#[test]
fn defaults_are_ninety_days_and_ten_minutes() {
    let config = compile("services: {}\n").expect("config");
    assert_eq!(config.journal_retention, Duration::from_secs(90 * 86_400));
    assert_eq!(config.journal_retention, controller::config::DEFAULT_JOURNAL_RETENTION);
    assert_eq!(config.escalation_retry_for, Duration::from_secs(600));
}

#[test]
fn both_keys_are_read() {
    let config = compile(
        "journal_retention: 30d\nescalation: { webhook: \"http://127.0.0.1:9/page\", retry_for: 2m }\nservices: {}\n",
    )
    .expect("config");
    assert_eq!(config.journal_retention, Duration::from_secs(30 * 86_400));
    assert_eq!(config.escalation_retry_for, Duration::from_secs(120));
    assert_eq!(config.escalation_url.as_deref(), Some("http://127.0.0.1:9/page"));
}

#[test]
fn zero_short_long_and_garbage_are_refused_with_their_position() {
    for (text, want) in [
        ("journal_retention: 0s\n", "c.yaml:1:20: journal_retention = \"0s\": must be at least 1h"),
        ("journal_retention: 30m\n", "c.yaml:1:20: journal_retention = \"30m\": must be at least 1h"),
        ("journal_retention: -1d\n", "c.yaml:1:20: journal_retention = \"-1d\": not a duration"),
        ("journal_retention: forever\n", "c.yaml:1:20: journal_retention = \"forever\": not a duration"),
        (
            "escalation: { webhook: \"http://127.0.0.1:9/page\", retry_for: 0s }\n",
            "c.yaml:1:62: escalation.retry_for = \"0s\": must be from 1s to 1d",
        ),
        (
            "escalation: { webhook: \"http://127.0.0.1:9/page\", retry_for: 2d }\n",
            "c.yaml:1:62: escalation.retry_for = \"2d\": must be from 1s to 1d",
        ),
    ] {
        let err = compile(&format!("{text}services: {{}}\n")).expect_err(text);
        assert!(err.contains(want), "{text}: expected {want:?} in:\n{err}");
    }
}
