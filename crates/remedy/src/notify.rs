//! What a page says, in the shape its receiver expects: a generic webhook, PagerDuty's
//! Events API v2, or a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat
//! take the same `text` payload).

use model::Action;
use serde_json::{Value, json};

/// The action parameter naming a page's format.
pub const FORMAT: &str = "format";

/// The action parameter carrying the incident a page is about (PagerDuty's `dedup_key`).
pub const INCIDENT: &str = "incident";

/// PagerDuty's limit on `payload.summary`, in characters.
pub const PAGERDUTY_SUMMARY_CHARS: usize = 1024;

/// A page's payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageFormat {
    /// `{"service", "summary", "details", "source"}`: for any receiver that takes JSON.
    #[default]
    Webhook,
    /// PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`): a
    /// `trigger` event with the routing key, deduplicated per incident.
    PagerDuty,
    /// A Slack-compatible incoming webhook: `{"text": …}` with the summary in bold and the
    /// timeline as a code block.
    Slack,
}

impl PageFormat {
    /// Every format, by its name in the configuration.
    pub const ALL: [PageFormat; 3] = [PageFormat::Webhook, PageFormat::PagerDuty, PageFormat::Slack];

    /// Its name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::PagerDuty => "pagerduty",
            Self::Slack => "slack",
        }
    }

    /// Parses a configured name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The first `max` characters of `text`.
fn chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The body of a page about `action` (its `reason` is the incident's summary and timeline),
/// in `format`. `routing_key` is PagerDuty's integration key; `None` for the other formats.
pub fn body(format: PageFormat, action: &Action, routing_key: Option<&str>) -> Value {
    let summary = action.reason.lines().next().unwrap_or_default();
    match format {
        PageFormat::Webhook => json!({
            "service": action.service,
            "summary": summary,
            "details": action.reason,
            "source": "autonomic",
        }),
        PageFormat::PagerDuty => {
            let incident = action.param(INCIDENT).unwrap_or("none");
            json!({
                "routing_key": routing_key.unwrap_or_default(),
                "event_action": "trigger",
                "dedup_key": format!("autonomic/{}/{incident}", action.service),
                "payload": {
                    "summary": chars(if summary.is_empty() { "incident" } else { summary }, PAGERDUTY_SUMMARY_CHARS),
                    "source": action.service,
                    "severity": "critical",
                    "component": action.service,
                    "custom_details": { "details": action.reason },
                },
                "client": "autonomic",
            })
        }
        PageFormat::Slack => {
            let rest: Vec<&str> = action.reason.lines().skip(1).collect();
            let text = if rest.is_empty() {
                format!("*{summary}*")
            } else {
                // Backticks in the timeline would end the code block early.
                format!("*{summary}*\n```\n{}\n```", rest.join("\n").replace("```", "'''"))
            };
            json!({ "text": text })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pager::page_action;

    fn action() -> Action {
        let mut a = page_action("checkout", "http://x/", "Incident #7 on checkout: errors\n  intent: restart ```x```");
        a.params.insert(INCIDENT.into(), "7".into());
        a
    }

    #[test]
    fn pagerduty_events_v2_trigger_is_deduplicated_per_incident() {
        let b = body(PageFormat::PagerDuty, &action(), Some("R0UT1NGKEY"));
        assert_eq!(b["routing_key"], "R0UT1NGKEY");
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["dedup_key"], "autonomic/checkout/7");
        assert_eq!(b["payload"]["summary"], "Incident #7 on checkout: errors");
        assert_eq!(b["payload"]["source"], "checkout");
        assert_eq!(b["payload"]["severity"], "critical");
        assert!(b["payload"]["custom_details"]["details"].as_str().is_some_and(|d| d.contains("intent: restart")));
        let long = page_action("s", "http://x/", &"é".repeat(5000));
        let summary = body(PageFormat::PagerDuty, &long, Some("k"))["payload"]["summary"].as_str().map(str::len);
        assert_eq!(summary, Some(2 * PAGERDUTY_SUMMARY_CHARS), "1024 two-byte characters, cut on a character");
    }

    #[test]
    fn slack_text_has_the_summary_in_bold_and_the_timeline_in_one_code_block() {
        let b = body(PageFormat::Slack, &action(), None);
        let text = b["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("*Incident #7 on checkout: errors*\n```\n"), "{text}");
        assert_eq!(text.matches("```").count(), 2, "the timeline's own backticks cannot end the block: {text}");
    }

    #[test]
    fn the_generic_webhook_keeps_its_shape_and_names_parse() {
        let b = body(PageFormat::Webhook, &action(), None);
        assert_eq!((b["service"].as_str(), b["source"].as_str()), (Some("checkout"), Some("autonomic")));
        for f in PageFormat::ALL {
            assert_eq!(PageFormat::parse(f.as_str()), Some(f));
        }
        assert_eq!(PageFormat::parse("email"), None);
    }
}
