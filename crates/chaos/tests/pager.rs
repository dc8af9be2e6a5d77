//! Paging over a real socket: the pager POSTs the incident summary to a webhook, and a
//! receiver that is down turns into a failed outcome, not a lost page. (Retries and
//! deadlines are tested under paused time in `remedy::pager`.)

use chaos::pager::PageReceiver;
use model::OutcomeStatus;
use remedy::{PageRetry, Pager, page_action};

#[tokio::test]
async fn page_reaches_the_webhook_with_the_incident_summary() {
    let receiver = PageReceiver::start().await.expect("listen");
    let action = page_action(
        "checkout",
        &receiver.url,
        "Incident #4 on checkout: errors\n  intent: restart checkout all replicas",
    );
    let outcome = Pager::new().page(&receiver.url, &action).await;
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{outcome:?}");
    let pages = receiver.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["service"], "checkout");
    assert_eq!(pages[0]["summary"], "Incident #4 on checkout: errors");
    assert!(pages[0]["details"].as_str().is_some_and(|d| d.contains("restart checkout")));
}

#[tokio::test]
async fn a_receiver_that_is_down_is_a_failed_page() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let url = format!("http://{closed}/page");
    let action = page_action("x", &url, "r");
    // One attempt: the default retries for ten minutes.
    let pager = Pager::new().with_retry(PageRetry { retry_for: std::time::Duration::ZERO, ..PageRetry::default() });
    let outcome = pager.page(&url, &action).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.detail.contains("was NOT delivered (1 attempt in "), "{}", outcome.detail);
}

/// PagerDuty's Events API v2 and Slack's incoming webhooks are two receivers' real payload
/// shapes; here a local receiver (a test double of both services, which cannot be reached
/// from CI) takes them over a real socket.
#[tokio::test]
async fn pagerduty_and_slack_pages_carry_their_receivers_payloads() {
    let receiver = PageReceiver::start().await.expect("listen");
    let reason = "Incident #4 on checkout: errors\n  intent: restart checkout all replicas";
    let mut pd = remedy::page_action_as("checkout", &receiver.url, reason, remedy::PageFormat::PagerDuty);
    pd.params.insert(remedy::notify::INCIDENT.into(), "4".into());
    let without_key = Pager::new().page(&receiver.url, &pd).await;
    assert_eq!(without_key.status, OutcomeStatus::Failed, "no routing key, no PagerDuty page");
    assert!(without_key.detail.contains("routing key"), "{}", without_key.detail);
    let pager = Pager::new().with_routing_key(Some("R0UT1NGKEY".into()));
    assert_eq!(pager.page(&receiver.url, &pd).await.status, OutcomeStatus::Succeeded);
    let slack = remedy::page_action_as("checkout", &receiver.url, reason, remedy::PageFormat::Slack);
    assert_eq!(pager.page(&receiver.url, &slack).await.status, OutcomeStatus::Succeeded);
    let pages = receiver.pages();
    assert_eq!(pages.len(), 2, "{pages:#?}");
    assert_eq!(pages[0]["routing_key"], "R0UT1NGKEY");
    assert_eq!(pages[0]["event_action"], "trigger");
    assert_eq!(pages[0]["dedup_key"], "autonomic/checkout/4");
    assert_eq!(pages[0]["payload"]["summary"], "Incident #4 on checkout: errors");
    assert!(
        pages[1]["text"].as_str().is_some_and(|t| t.starts_with("*Incident #4 on checkout: errors*")),
        "{pages:#?}"
    );
}
