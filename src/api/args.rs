//! The HTTP API's settings: where it listens and the secrets it checks.

use std::net::SocketAddr;
use std::str::FromStr;

use super::origin::Origin;
use crate::secret::Secret;
use crate::setting::Blankable;

/// An HTTP listen address; `:8080` is the common shorthand for every interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(SocketAddr);

/// Why a listen address does not parse (the value is shown: it is no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected IP:PORT such as 0.0.0.0:8080 or [::1]:8080")]
pub struct BadListenAddr;

impl ListenAddr {
    /// The socket address.
    pub fn get(self) -> SocketAddr {
        self.0
    }
}

impl FromStr for ListenAddr {
    type Err = BadListenAddr;

    fn from_str(text: &str) -> Result<Self, BadListenAddr> {
        let text = text.trim();
        let full = if text.starts_with(':') {
            format!("0.0.0.0{text}")
        } else {
            text.to_string()
        };
        full.parse().map(Self).map_err(|_| BadListenAddr)
    }
}

/// `EXTERNAL_URL`: the URL the dashboard is reached at from outside this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUrl(Origin);

/// Why an external URL does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an http(s) URL without credentials such as https://cd.example.com")]
pub struct BadExternalUrl;

impl ExternalUrl {
    /// Its origin: what a browser sends as `Origin` from a page of the dashboard.
    pub fn origin(&self) -> &Origin {
        &self.0
    }
}

impl FromStr for ExternalUrl {
    type Err = BadExternalUrl;

    fn from_str(text: &str) -> Result<Self, BadExternalUrl> {
        Origin::parse(text).map(Self).ok_or(BadExternalUrl)
    }
}

/// `WEBHOOK_SECRET`, `LISTEN_ADDR`, `API_TOKEN` and `EXTERNAL_URL`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Secret for webhook signatures; unset refuses every webhook (403).
    #[arg(
        long = "webhook-secret",
        env = "WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        display_order = 8
    )]
    pub webhook_secret: Option<Secret>,

    /// HTTP listen address.
    #[arg(
        long = "listen-addr",
        env = "LISTEN_ADDR",
        value_name = "ADDR",
        default_value = "0.0.0.0:8080",
        display_order = 12
    )]
    pub listen_addr: ListenAddr,

    /// When set, every POST except /api/webhook needs `Authorization: Bearer <token>`.
    #[arg(
        long = "api-token",
        env = "API_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        display_order = 17
    )]
    pub api_token: Option<Secret>,

    /// The dashboard's public URL: its host is accepted besides loopback names
    /// and IP addresses, and its origin may send POSTs.
    #[arg(
        long = "external-url",
        env = "EXTERNAL_URL",
        value_name = "URL",
        display_order = 21
    )]
    external_url: Option<Blankable<ExternalUrl>>,
}

impl ApiArgs {
    /// `EXTERNAL_URL`; `None` when unset or blank.
    pub fn external_url(&self) -> Option<&ExternalUrl> {
        self.external_url.as_ref().and_then(Blankable::as_option)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("https://cd.example.com/", "https://cd.example.com")]
    #[case("HTTP://CD.lan:8080/dashboard", "http://cd.lan:8080")]
    fn external_url_keeps_its_origin(#[case] text: &str, #[case] expected: &str) {
        let url: ExternalUrl = text.parse().expect("valid");
        assert_eq!(url.origin().to_string(), expected);
    }

    #[rstest]
    #[case("cd.example.com")]
    #[case("ftp://cd.example.com")]
    #[case("https://user:pw@cd.example.com")]
    fn external_url_refuses_what_is_no_web_origin(#[case] text: &str) {
        assert_eq!(text.parse::<ExternalUrl>(), Err(BadExternalUrl));
    }

    #[rstest]
    #[case(":8080", "0.0.0.0:8080")]
    #[case("127.0.0.1:0", "127.0.0.1:0")]
    #[case("[::1]:9000", "[::1]:9000")]
    fn listen_addr_accepts_the_port_shorthand(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(
            text.parse::<ListenAddr>().map(|a| a.get().to_string()),
            Ok(expected.to_string())
        );
    }
}
