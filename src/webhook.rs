//! Push webhooks: who sent it (here), whether the signature holds
//! (`signature.rs`), what it asks for (`event.rs`), and whether it was
//! delivered before (`deliveries.rs`).

use std::time::Duration;

use axum::http::HeaderMap;

use crate::named::named_enum;

mod deliveries;
mod event;
mod signature;
#[cfg(test)]
mod tests;

pub use deliveries::{Deliveries, delivery_id};
pub use event::{WebhookEvent, parse_event, push_is_tracked};
pub use signature::{Signature, SignatureError, verify};

/// Largest body accepted; GitHub caps its payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// How long the whole body may take to arrive: a forge sends it at once; a
/// client that trickles it would otherwise hold one of the few body slots.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `provider` label of a request with no recognised signature header.
pub const UNKNOWN_PROVIDER: &str = "unknown";

named_enum! {
    /// The forge that sent a webhook, from its signature header.
    pub enum Provider {
        /// `X-Hub-Signature-256: sha256=<hex>`.
        GitHub = "github",
        /// `X-Gitea-Signature: <hex>`.
        Gitea = "gitea",
        /// `X-Forgejo-Signature: <hex>`.
        Forgejo = "forgejo",
        /// `X-Gitlab-Token: <secret>`.
        GitLab = "gitlab",
    }
}

named_enum! {
    /// How a webhook request ended: the `outcome` label of `webhook_requests_total`.
    pub enum WebhookOutcome {
        /// A tracked push: a refresh runs or is queued.
        Accepted = "accepted",
        /// Not a push, or a push to a ref docker-cd does not follow.
        Ignored = "ignored",
        /// The forge's set-up ping.
        Pong = "pong",
        /// The signature is missing, malformed or wrong.
        Unauthorized = "unauthorized",
        /// Webhooks are disabled (`WEBHOOK_SECRET` is not set).
        Forbidden = "forbidden",
        /// The body is over [`MAX_BODY_BYTES`].
        TooLarge = "too_large",
        /// More verified webhooks than the rate allows.
        RateLimited = "rate_limited",
        /// A push payload that cannot be read.
        BadRequest = "bad_request",
        /// The body did not arrive within [`BODY_TIMEOUT`].
        Timeout = "timeout",
        /// A delivery id seen before: a replay, answered without a refresh.
        Duplicate = "duplicate",
    }
}

impl Provider {
    /// The metric label and log value of a request's provider, if any.
    pub fn label(provider: Option<Self>) -> &'static str {
        provider.map_or(UNKNOWN_PROVIDER, Self::as_str)
    }

    /// Which provider's signature header is present. Forgejo and Gitea also send
    /// GitHub's header, so their own headers are looked at first.
    pub fn detect(headers: &HeaderMap) -> Option<Self> {
        [
            ("x-forgejo-signature", Self::Forgejo),
            ("x-gitea-signature", Self::Gitea),
            ("x-gitlab-token", Self::GitLab),
            ("x-hub-signature-256", Self::GitHub),
        ]
        .into_iter()
        .find(|(header, _)| headers.contains_key(*header))
        .map(|(_, provider)| provider)
    }
}
