//! `NOTIFY_URLS`: one target per comma-separated entry, its scheme naming the
//! service (and so the payload), the rest the service's own URL.
//!
//! `<service>[+https|+http]://<the endpoint without its scheme>`: `https` is
//! the default; `+http` sends in clear text (loopback, a receiver on the same
//! compose network). What each service makes of the rest is in
//! [`Target::parse`]; the README's Notifications section has the table.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

use crate::setting::Invalid;

/// The service a target is: it decides the payload and the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Generic JSON, signed with `NOTIFY_SECRET` as Flux's `generic-hmac`.
    Webhook,
    /// Slack incoming webhook.
    Slack,
    /// Discord execute webhook.
    Discord,
    /// ntfy's JSON publish (to the server root, with `topic`).
    Ntfy,
    /// Gotify's message API.
    Gotify,
    /// Microsoft Teams Workflows webhook (an Adaptive Card).
    Teams,
    /// An Apprise API server's `/notify/…`.
    Apprise,
}

impl Service {
    const ALL: [(&'static str, Self); 7] = [
        ("webhook", Self::Webhook),
        ("slack", Self::Slack),
        ("discord", Self::Discord),
        ("ntfy", Self::Ntfy),
        ("gotify", Self::Gotify),
        ("teams", Self::Teams),
        ("apprise", Self::Apprise),
    ];

    /// The scheme's name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("webhook", |(name, _)| name)
    }
}

/// How a request proves who sends it.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic …`.
    Basic(String, String),
    /// Gotify's `X-Gotify-Key: <app token>`.
    GotifyKey(String),
}

/// One checked entry of `NOTIFY_URLS`. `Display` and `Debug` show only
/// `service://host[:port]` (its [`label`](Target::label)): the rest carries tokens.
#[derive(Clone)]
pub struct Target {
    /// The service.
    pub service: Service,
    /// Where the request goes (no user info; ntfy's root, Gotify's `/message`).
    pub endpoint: Url,
    /// The request's credentials, if the URL holds some.
    pub auth: Option<Auth>,
    /// ntfy's topic; Apprise's `tag` and `urls` (moved from the query to the body).
    pub fields: Vec<(String, String)>,
    label: String,
    secrets: Vec<String>,
}

impl Target {
    /// The target's name in metrics and logs: `service://host[:port]`, no token.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The secret parts of its URL (tokens, passwords, signatures), for the
    /// redaction book: logs mask them wherever they appear.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Reads one entry; the error names no part of the URL beyond its scheme
    /// and host.
    pub fn parse(entry: &str) -> Result<Self, Invalid> {
        let entry = entry.trim();
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| {
            Invalid::new("expected <service>://…, e.g. slack://hooks.slack.com/services/…")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let (name, transport) = scheme.split_once('+').unwrap_or((&scheme, "https"));
        let service = Service::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| Invalid::new(format!("unknown service '{name}': use {}", names())))?;
        if !matches!(transport, "https" | "http") {
            return Err(Invalid::new(format!(
                "unknown transport '+{transport}': use +https (the default) or +http"
            )));
        }
        // `https:///x` would parse with `x` as its host.
        if rest.starts_with('/') {
            return Err(Invalid::new(format!("{name}://…: the URL has no host")));
        }
        let mut url = Url::parse(&format!("{transport}://{rest}"))
            .map_err(|e| Invalid::new(format!("{name}://…: not a URL ({e})")))?;
        let host = url.host_str().filter(|h| !h.is_empty()).map(str::to_string);
        let Some(host) = host else {
            return Err(Invalid::new(format!("{name}://…: the URL has no host")));
        };
        let label = match url.port() {
            Some(port) => format!("{name}://{host}:{port}"),
            None => format!("{name}://{host}"),
        };
        let user = percent_decoded(url.username());
        let password = url.password().map(percent_decoded);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_fragment(None);
        let mut target = Self {
            service,
            endpoint: url,
            auth: None,
            fields: Vec::new(),
            label,
            secrets: Vec::new(),
        };
        target.secrets.extend(password.clone());
        target.secrets.extend(
            target
                .endpoint
                .query_pairs()
                .map(|(_, v)| v.into_owned())
                .filter(|v| !v.is_empty()),
        );
        target
            .fit(user, password)
            .map_err(|what| Invalid::new(format!("{}/…: {what}", target.label)))?;
        Ok(target)
    }

    /// What the service makes of the URL's path, query and credentials.
    fn fit(&mut self, user: String, password: Option<String>) -> Result<(), String> {
        let segments: Vec<String> = self
            .endpoint
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let last = segments.last().cloned();
        match self.service {
            Service::Webhook => {
                if let Some(password) = password {
                    self.auth = Some(Auth::Basic(user, password));
                }
            }
            Service::Slack | Service::Discord => {
                let token = last.ok_or("the webhook's path (with its token) is missing")?;
                // The path ends in the webhook's own segments, all present:
                // a token cut short is refused here, not by the first send.
                let (parent, ids, shape) = match self.service {
                    Service::Slack => ("services", 3, "/services/<T>/<B>/<X>"),
                    _ => ("webhooks", 2, "/api/webhooks/<id>/<token>"),
                };
                let tail = segments
                    .len()
                    .checked_sub(ids + 1)
                    .map(|at| &segments[at..]);
                if tail.is_none_or(|tail| tail[0] != parent) {
                    return Err(format!("expected the webhook URL's path: {shape}"));
                }
                if self.service == Service::Discord {
                    // Discord answers 204 without `wait`; with it, errors name the field.
                    self.endpoint.query_pairs_mut().append_pair("wait", "true");
                }
                self.secrets.push(token);
            }
            Service::Ntfy => {
                let topic = last.ok_or("the topic is missing: ntfy://host/<topic>")?;
                self.pop_segment();
                self.fields.push(("topic".into(), topic));
                self.auth = match (user.is_empty(), password) {
                    (_, None) if !user.is_empty() => {
                        return Err("a user needs a password (a token goes as :tk_…@)".into());
                    }
                    (true, Some(token)) => Some(Auth::Bearer(token)),
                    (false, Some(password)) => Some(Auth::Basic(user, password)),
                    (_, None) => None,
                };
            }
            Service::Gotify => {
                let token =
                    last.ok_or("the application token is missing: gotify://host/<token>")?;
                self.pop_segment();
                self.push_segment("message");
                self.secrets.push(token.clone());
                self.auth = Some(Auth::GotifyKey(token));
            }
            Service::Teams => {}
            Service::Apprise => {
                if segments.first().map(String::as_str) != Some("notify") {
                    return Err("expected the Apprise API's /notify/ or /notify/<key>".into());
                }
                self.secrets.extend(segments.get(1).cloned());
                let query: Vec<(String, String)> =
                    self.endpoint.query_pairs().into_owned().collect();
                let (body, kept): (Vec<_>, Vec<_>) = query
                    .into_iter()
                    .partition(|(k, _)| k == "tag" || k == "urls");
                self.fields = body;
                self.endpoint.set_query(None);
                if !kept.is_empty() {
                    self.endpoint.query_pairs_mut().extend_pairs(kept);
                }
                if let Some(password) = password {
                    self.auth = Some(Auth::Basic(user, password));
                }
            }
        }
        Ok(())
    }

    fn pop_segment(&mut self) {
        if let Ok(mut path) = self.endpoint.path_segments_mut() {
            path.pop_if_empty().pop().push("");
        }
    }

    fn push_segment(&mut self, segment: &str) {
        if let Ok(mut path) = self.endpoint.path_segments_mut() {
            path.pop_if_empty().push(segment);
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.label)
    }
}

/// `NOTIFY_URLS`: every target, in order; labels made unique (`#2`, …).
#[derive(Debug, Clone, Default)]
pub struct Targets(pub Vec<Target>);

impl FromStr for Targets {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let mut targets: Vec<Target> = Vec::new();
        let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (n, entry) in entries.enumerate() {
            let mut target =
                Target::parse(entry).map_err(|e| Invalid::new(format!("entry {}: {e}", n + 1)))?;
            let same = targets
                .iter()
                .filter(|t| t.label.split('#').next() == Some(&target.label))
                .count();
            if same > 0 {
                target.label = format!("{}#{}", target.label, same + 1);
            }
            targets.push(target);
        }
        Ok(Self(targets))
    }
}

fn names() -> String {
    Service::ALL
        .iter()
        .map(|(n, _)| format!("{n}://"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percent_decoded(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| text.to_string(), |(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests;
