use rstest::rstest;

use super::*;
use crate::notify::request::{outgoing, signature};
use crate::notify::target::Target;
use crate::secret::Secret;
use crate::status::Status;

const REVISION: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

/// A message of `event` for the stack `web`, with a known commit and link.
pub(crate) fn message(event: NotifyEvent, status: Status, reason: Option<&str>) -> Message {
    Message {
        notice: Notice {
            event,
            stack: Some("web".into()),
            status: Some(status),
            previous: Some(Status::Syncing),
            revision: Some(REVISION.into()),
            from_revision: None,
            reason: reason.map(str::to_string),
        },
        commit: Some(CommitView {
            revision: REVISION.into(),
            subject: Some("web: nginx 1.27".into()),
            author: Some("Ada Lovelace".into()),
            time: Some("2026-01-02T03:04:05Z".into()),
            url: None,
        }),
        instance: "prod-1".into(),
        dashboard: Some("https://cd.example.com/#/stacks/web".into()),
        time: "2026-01-02T03:05:00Z".parse().expect("time"),
    }
}

fn synced() -> Message {
    message(NotifyEvent::Synced, Status::Synced, None)
}

#[test]
fn the_generic_payload_carries_every_documented_field() {
    let body = generic(&synced());
    assert_eq!(
        body,
        json!({
            "event": "synced", "severity": "success", "stack": "web",
            "status": "synced", "previous_status": "syncing",
            "revision": REVISION, "revision_short": "1a2b3c4", "from_revision": null,
            "commit": {"subject": "web: nginx 1.27", "author": "Ada Lovelace",
                       "time": "2026-01-02T03:04:05Z", "url": null},
            "reason": null, "message": "web: synced at 1a2b3c4",
            "dashboard_url": "https://cd.example.com/#/stacks/web",
            "instance": "prod-1", "time": "2026-01-02T03:05:00Z"
        })
    );
}

#[rstest]
#[case(NotifyEvent::Started, Status::Syncing, "web: deploying 1a2b3c4")]
#[case(NotifyEvent::Failed, Status::Failed, "web: failed")]
#[case(
    NotifyEvent::GateFailed,
    Status::Failed,
    "web: health gate failed at 1a2b3c4"
)]
#[case(
    NotifyEvent::Drifted,
    Status::Syncing,
    "web: drift detected, reverting"
)]
#[case(
    NotifyEvent::Drifted,
    Status::Drifted,
    "web: drift detected, flagged (not reverted)"
)]
#[case(
    NotifyEvent::Orphaned,
    Status::Orphaned,
    "web: orphaned: no longer in Git, still running"
)]
#[case(
    NotifyEvent::Removed,
    Status::Missing,
    "web: removed 1a2b3c4: it left Git"
)]
#[case(
    NotifyEvent::Recovered,
    Status::Synced,
    "web: recovered: synced at 1a2b3c4"
)]
#[case(
    NotifyEvent::Recovered,
    Status::RolledBack,
    "web: recovered: runs 1a2b3c4 again, still rolled back"
)]
fn each_event_has_a_headline(
    #[case] event: NotifyEvent,
    #[case] status: Status,
    #[case] expected: &str,
) {
    assert_eq!(message(event, status, None).headline(), expected);
}

#[test]
fn a_removal_of_an_unknown_revision_names_none() {
    let mut m = message(NotifyEvent::Removed, Status::Missing, None);
    m.notice.revision = None;
    assert_eq!(m.headline(), "web: removed: it left Git");
}

#[test]
fn a_rollback_names_the_good_revision_and_the_one_it_replaced() {
    let mut m = message(NotifyEvent::RolledBack, Status::RolledBack, None);
    m.notice.from_revision = Some("ffeeddccbbaa".into());
    assert_eq!(m.headline(), "web: rolled back to 1a2b3c4 (from ffeeddc)");
    assert_eq!(generic(&m)["from_revision"], "ffeeddccbbaa");
}

#[test]
fn git_news_has_no_stack() {
    let mut m = message(
        NotifyEvent::RefreshFailing,
        Status::Synced,
        Some("fetch: refused"),
    );
    m.notice.stack = None;
    m.notice.status = None;
    m.notice.revision = None;
    m.dashboard = Some("https://cd.example.com/".into());
    assert_eq!(m.title(), "[prod-1] Git refresh failing (3 in a row)");
    assert_eq!(generic(&m)["stack"], Value::Null);
    assert_eq!(
        slack(&m)["text"],
        "*[prod-1] Git refresh failing (3 in a row)*\nReason: fetch: refused\nDashboard: https://cd.example.com/"
    );
}

#[test]
fn slack_is_one_mrkdwn_text() {
    assert_eq!(
        slack(&synced()),
        json!({"text": "*[prod-1] web: synced at 1a2b3c4*\nCommit: 1a2b3c4 \"web: nginx 1.27\" by Ada Lovelace\nDashboard: https://cd.example.com/#/stacks/web"})
    );
}

#[test]
fn discord_is_one_embed_coloured_by_severity() {
    let body = discord(&message(
        NotifyEvent::Failed,
        Status::Failed,
        Some("compose up: port in use"),
    ));
    assert_eq!(body["username"], "docker-cd");
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "[prod-1] web: failed");
    assert_eq!(embed["description"], "compose up: port in use");
    assert_eq!(embed["color"], 0xE01E5A);
    assert_eq!(embed["url"], "https://cd.example.com/#/stacks/web");
    assert_eq!(embed["timestamp"], "2026-01-02T03:05:00Z");
    assert_eq!(
        embed["fields"][0],
        json!({"name": "Status", "value": "failed", "inline": true})
    );
}

#[test]
fn ntfy_gotify_and_apprise_carry_title_body_and_priority() {
    let failed = message(
        NotifyEvent::GateFailed,
        Status::Failed,
        Some("health gate failed: web: unhealthy"),
    );
    let n = ntfy(&failed, "deploys");
    assert_eq!(
        (n["topic"].as_str(), n["priority"].as_i64()),
        (Some("deploys"), Some(5))
    );
    assert_eq!(n["tags"], json!(["rotating_light", "docker-cd"]));
    assert_eq!(n["click"], "https://cd.example.com/#/stacks/web");
    assert!(
        n["message"]
            .as_str()
            .is_some_and(|m| m.contains("Reason: health gate failed"))
    );
    let g = gotify(&failed);
    assert_eq!(g["priority"], 8);
    assert_eq!(
        g["extras"]["client::display"]["contentType"],
        "text/markdown"
    );
    let fields = [("tag".to_string(), "ops".to_string())];
    let a = apprise(&failed, &fields);
    assert_eq!(
        (a["type"].as_str(), a["format"].as_str(), a["tag"].as_str()),
        (Some("failure"), Some("markdown"), Some("ops"))
    );
}

#[test]
fn teams_is_an_adaptive_card_in_a_message() {
    let body = teams(&synced());
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["contentUrl"], Value::Null);
    let card = &attachment["content"];
    assert_eq!(
        (card["type"].as_str(), card["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.2"))
    );
    assert_eq!(card["body"][0]["text"], "[prod-1] web: synced at 1a2b3c4");
    assert_eq!(
        card["actions"][0]["url"],
        "https://cd.example.com/#/stacks/web"
    );
}

#[test]
fn the_generic_body_is_signed_as_flux_generic_hmac() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    let secret = Secret::new("Jefe");
    assert_eq!(
        signature(&secret, b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let target = Target::parse("webhook+https://hooks.example.com/in").expect("target");
    let request = outgoing(&target, &synced(), Some(&secret));
    let header = request
        .headers
        .iter()
        .find(|(k, _)| *k == "X-Signature")
        .map(|(_, v)| v.clone());
    assert_eq!(
        header,
        Some(format!("sha256={}", signature(&secret, &request.body)))
    );
    let unsigned = outgoing(&target, &synced(), None);
    assert!(unsigned.headers.iter().all(|(k, _)| *k != "X-Signature"));
    let slack = Target::parse("slack://hooks.slack.com/services/T/B/X").expect("target");
    assert!(
        outgoing(&slack, &synced(), Some(&secret))
            .headers
            .iter()
            .all(|(k, _)| *k != "X-Signature"),
        "only the generic webhook is signed"
    );
}
