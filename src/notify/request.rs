//! The HTTP request a message makes for one target: URL, headers, body bytes.
//! Pure, so the shape each service documents is tested without a network.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Url;
use sha2::Sha256;

use super::format::{self, Message};
use super::target::{Auth, Service, Target};
use crate::secret::Secret;

/// One request to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where it goes (it may hold the service's token: never logged).
    pub url: Url,
    /// Its headers, `Content-Type` first.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
}

/// The request `message` makes for `target`; the generic webhook's body is
/// signed with `secret` as Flux's `generic-hmac` provider signs it.
pub fn outgoing(target: &Target, message: &Message, secret: Option<&Secret>) -> Outgoing {
    let field = |name: &str| {
        target
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let json = match target.service {
        Service::Webhook => format::generic(message),
        Service::Slack => format::slack(message),
        Service::Discord => format::discord(message),
        Service::Ntfy => format::ntfy(message, field("topic")),
        Service::Gotify => format::gotify(message),
        Service::Teams => format::teams(message),
        Service::Apprise => format::apprise(message, &target.fields),
    };
    // A `Value` always serialises; an empty body would only be refused by the receiver.
    let body = serde_json::to_vec(&json).unwrap_or_default();
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    headers.push((
        "User-Agent",
        concat!("docker-cd/", env!("CARGO_PKG_VERSION")).to_string(),
    ));
    match &target.auth {
        Some(Auth::Bearer(token)) => headers.push(("Authorization", format!("Bearer {token}"))),
        Some(Auth::Basic(user, password)) => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.push(("Authorization", format!("Basic {pair}")));
        }
        Some(Auth::GotifyKey(token)) => headers.push(("X-Gotify-Key", token.clone())),
        None => {}
    }
    if target.service == Service::Webhook
        && let Some(secret) = secret
    {
        headers.push((
            "X-Signature",
            format!("sha256={}", signature(secret, &body)),
        ));
    }
    Outgoing {
        url: target.endpoint.clone(),
        headers,
        body,
    }
}

/// Hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and the auth headers carry tokens.
        f.debug_struct("Outgoing")
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}
