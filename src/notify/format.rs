//! Each service's documented payload, built from one [`Message`]: pure
//! functions from a message to JSON (the request around it is in `send`).
//!
//! | service | documented shape |
//! |---|---|
//! | webhook | docker-cd's own JSON ([`generic`]) |
//! | Slack | `{"text"}` (api.slack.com/messaging/webhooks) |
//! | Discord | `{"username","embeds":[…]}` (execute webhook) |
//! | ntfy | `{"topic","title","message","tags","priority","click"}` (publish as JSON) |
//! | Gotify | `{"title","message","priority","extras"}` (gotify.net/docs/pushmsg) |
//! | Teams | `{"type":"message","attachments":[Adaptive Card]}` (Workflows) |
//! | Apprise | `{"title","body","type","format"}` (+ `tag`/`urls`) (apprise-api) |

use serde_json::{Value, json};

use super::select::{Notice, NotifyEvent};
use crate::git::commits::CommitView;
use crate::status::Status;

/// A notice with what the sender adds: commit, instance, link and time.
#[derive(Debug, Clone)]
pub struct Message {
    /// What happened.
    pub notice: Notice,
    /// The revision's subject and author, where the mirror knows them.
    pub commit: Option<CommitView>,
    /// `INSTANCE_NAME`.
    pub instance: String,
    /// The stack's page on the dashboard (`EXTERNAL_URL` set), or the dashboard.
    pub dashboard: Option<String>,
    /// When it happened.
    pub time: jiff::Timestamp,
}

/// How bad the news is, in each service's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something started or ended as planned.
    Info,
    /// Running as Git says.
    Success,
    /// Needs a look.
    Warning,
    /// Broken.
    Failure,
}

impl Severity {
    fn of(event: NotifyEvent) -> Self {
        match event {
            NotifyEvent::Started | NotifyEvent::Removed => Self::Info,
            NotifyEvent::Synced | NotifyEvent::Recovered | NotifyEvent::RefreshRecovered => {
                Self::Success
            }
            NotifyEvent::RolledBack
            | NotifyEvent::Drifted
            | NotifyEvent::Orphaned
            | NotifyEvent::RefreshFailing => Self::Warning,
            NotifyEvent::Failed | NotifyEvent::GateFailed => Self::Failure,
        }
    }

    /// Apprise's `type` (and the generic payload's `severity`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Failure => "failure",
        }
    }
}

pub use crate::text::short_commit as short;

impl Message {
    /// How bad the news is.
    pub fn severity(&self) -> Severity {
        Severity::of(self.notice.event)
    }

    /// One line: `web: synced at 1a2b3c4` (no instance: the title's prefix says it).
    pub fn headline(&self) -> String {
        let n = &self.notice;
        let at = n.revision.as_deref().map(short);
        let what = match (n.event, at) {
            (NotifyEvent::Started, Some(at)) => format!("deploying {at}"),
            (NotifyEvent::Synced, Some(at)) => format!("synced at {at}"),
            (NotifyEvent::Recovered, Some(at)) if n.status == Some(Status::RolledBack) => {
                format!("recovered: runs {at} again, still rolled back")
            }
            (NotifyEvent::Recovered, Some(at)) => format!("recovered: synced at {at}"),
            (NotifyEvent::Failed, _) => "failed".to_string(),
            (NotifyEvent::GateFailed, Some(at)) => format!("health gate failed at {at}"),
            (NotifyEvent::RolledBack, Some(at)) => match n.from_revision.as_deref() {
                Some(from) => format!("rolled back to {at} (from {})", short(from)),
                None => format!("rolled back to {at}"),
            },
            (NotifyEvent::Drifted, _) if n.status == Some(Status::Syncing) => {
                "drift detected, reverting".to_string()
            }
            (NotifyEvent::Drifted, _) => "drift detected, flagged (not reverted)".to_string(),
            (NotifyEvent::Orphaned, _) => "orphaned: no longer in Git, still running".to_string(),
            (NotifyEvent::Removed, Some(at)) => format!("removed {at}: it left Git"),
            (NotifyEvent::Removed, None) => "removed: it left Git".to_string(),
            (NotifyEvent::RefreshFailing, _) => {
                format!(
                    "Git refresh failing ({} in a row)",
                    super::select::REFRESH_FAILURES
                )
            }
            (NotifyEvent::RefreshRecovered, _) => "Git refresh works again".to_string(),
            (event, None) => event.as_str().replace('-', " "),
        };
        match &n.stack {
            Some(stack) => format!("{stack}: {what}"),
            None => what,
        }
    }

    /// The title services show in bold: `[docker-cd] web: synced at 1a2b3c4`.
    pub fn title(&self) -> String {
        format!("[{}] {}", self.instance, self.headline())
    }

    /// The commit line: `1a2b3c4 "Subject" by Author`.
    pub fn commit_line(&self) -> Option<String> {
        let revision = self.notice.revision.as_deref()?;
        let commit = self.commit.as_ref();
        let mut line = short(revision).to_string();
        if let Some(subject) = commit.and_then(|c| c.subject.as_deref()) {
            line.push_str(&format!(" \"{subject}\""));
        }
        if let Some(author) = commit.and_then(|c| c.author.as_deref()) {
            line.push_str(&format!(" by {author}"));
        }
        Some(line)
    }

    /// The body as plain lines: commit, reason, link.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        lines.extend(self.commit_line().map(|c| format!("Commit: {c}")));
        lines.extend(self.notice.reason.as_ref().map(|r| format!("Reason: {r}")));
        lines.extend(self.dashboard.as_ref().map(|d| format!("Dashboard: {d}")));
        lines
    }

    /// The body as Markdown (the link as a link).
    fn markdown(&self) -> String {
        let mut lines = Vec::new();
        lines.extend(self.commit_line().map(|c| format!("**Commit:** {c}")));
        lines.extend(
            self.notice
                .reason
                .as_ref()
                .map(|r| format!("**Reason:** {r}")),
        );
        lines.extend(
            self.dashboard
                .as_ref()
                .map(|d| format!("[Open in docker-cd]({d})")),
        );
        lines.join("\n\n")
    }
}

/// docker-cd's generic JSON (`webhook+https://`).
pub fn generic(m: &Message) -> Value {
    let n = &m.notice;
    json!({
        "event": n.event,
        "severity": m.severity().as_str(),
        "stack": n.stack,
        "status": n.status,
        "previous_status": n.previous,
        "revision": n.revision,
        "revision_short": n.revision.as_deref().map(short),
        "from_revision": n.from_revision,
        "commit": m.commit.as_ref().map(|c| json!({
            "subject": c.subject, "author": c.author, "time": c.time, "url": c.url,
        })),
        "reason": n.reason,
        "message": m.headline(),
        "dashboard_url": m.dashboard,
        "instance": m.instance,
        "time": m.time.to_string(),
    })
}

/// Slack's incoming webhook: `text` in Slack's mrkdwn.
pub fn slack(m: &Message) -> Value {
    let mut text = format!("*{}*", m.title());
    for line in m.lines() {
        text.push('\n');
        text.push_str(&line);
    }
    json!({ "text": text })
}

/// Discord's execute webhook: one embed, coloured by severity.
pub fn discord(m: &Message) -> Value {
    let colour = match m.severity() {
        Severity::Info => 0x3B82F6,
        Severity::Success => 0x2EB67D,
        Severity::Warning => 0xECB22E,
        Severity::Failure => 0xE01E5A,
    };
    let mut fields = Vec::new();
    if let Some(status) = m.notice.status {
        fields.push(json!({"name": "Status", "value": status.as_str(), "inline": true}));
    }
    if let Some(commit) = m.commit_line() {
        fields.push(json!({"name": "Commit", "value": commit, "inline": true}));
    }
    let mut embed = json!({
        "title": m.title(),
        "color": colour,
        "fields": fields,
        "timestamp": m.time.to_string(),
        "footer": {"text": m.instance},
    });
    if let Some(reason) = &m.notice.reason {
        embed["description"] = json!(reason);
    }
    if let Some(url) = &m.dashboard {
        embed["url"] = json!(url);
    }
    json!({ "username": "docker-cd", "embeds": [embed] })
}

/// ntfy's JSON publish: to the server root, with the topic in the body.
pub fn ntfy(m: &Message, topic: &str) -> Value {
    let (tag, priority) = match m.severity() {
        Severity::Info => ("information_source", 3),
        Severity::Success => ("white_check_mark", 3),
        Severity::Warning => ("warning", 4),
        Severity::Failure => ("rotating_light", 5),
    };
    let mut body = json!({
        "topic": topic,
        "title": m.title(),
        "message": non_empty(m.lines().join("\n"), m.headline()),
        "tags": [tag, "docker-cd"],
        "priority": priority,
    });
    if let Some(url) = &m.dashboard {
        body["click"] = json!(url);
    }
    body
}

/// Gotify's message API, its body rendered as Markdown.
pub fn gotify(m: &Message) -> Value {
    let priority = match m.severity() {
        Severity::Info | Severity::Success => 2,
        Severity::Warning => 5,
        Severity::Failure => 8,
    };
    let mut extras = json!({"client::display": {"contentType": "text/markdown"}});
    if let Some(url) = &m.dashboard {
        extras["client::notification"] = json!({"click": {"url": url}});
    }
    json!({
        "title": m.title(),
        "message": non_empty(m.markdown(), m.headline()),
        "priority": priority,
        "extras": extras,
    })
}

/// A Teams Workflows message: one Adaptive Card (connectors' MessageCard is retired).
pub fn teams(m: &Message) -> Value {
    let colour = match m.severity() {
        Severity::Info => "Accent",
        Severity::Success => "Good",
        Severity::Warning => "Warning",
        Severity::Failure => "Attention",
    };
    let mut facts = vec![json!({"title": "Instance", "value": m.instance})];
    if let Some(status) = m.notice.status {
        facts.push(json!({"title": "Status", "value": status.as_str()}));
    }
    facts.extend(
        m.commit_line()
            .map(|c| json!({"title": "Commit", "value": c})),
    );
    facts.extend(
        m.notice
            .reason
            .as_ref()
            .map(|r| json!({"title": "Reason", "value": r})),
    );
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {"type": "TextBlock", "text": m.title(), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true},
            {"type": "FactSet", "facts": facts},
        ],
    });
    if let Some(url) = &m.dashboard {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open in docker-cd", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The Apprise API's `/notify/`: `fields` are the URL's `tag` and `urls`.
pub fn apprise(m: &Message, fields: &[(String, String)]) -> Value {
    let mut body = json!({
        "title": m.title(),
        "body": non_empty(m.markdown(), m.headline()),
        "type": m.severity().as_str(),
        "format": "markdown",
    });
    for (key, value) in fields {
        body[key.as_str()] = json!(value);
    }
    body
}

fn non_empty(text: String, otherwise: String) -> String {
    if text.is_empty() { otherwise } else { text }
}

#[cfg(test)]
pub(crate) mod tests;
