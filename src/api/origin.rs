//! Web origins (`scheme://host:port`) and `Host` values: what the cross-site
//! and DNS-rebinding checks compare.

use std::net::IpAddr;

use axum::http::Uri;
use axum::http::uri::Authority;

/// A web origin with its port made explicit, so `https://a` and `https://a:443` are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl Origin {
    /// Reads an `http(s)://host[:port]` URL (a path is ignored); `None` for
    /// anything else, `null` and URLs with credentials included.
    pub fn parse(text: &str) -> Option<Self> {
        let uri: Uri = text.trim().parse().ok()?;
        let scheme = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            host: normal_host(authority.host()),
            port: authority.port_u16().unwrap_or(default_port(scheme)),
        })
    }

    /// The host name or IP literal (IPv6 in brackets), lower-case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether a request with this `Host` value was sent to this origin. The
    /// scheme is not compared: a proxy in front may end TLS.
    pub fn is_served_as(&self, host_header: &str) -> bool {
        let Ok(authority) = host_header.parse::<Authority>() else {
            return false;
        };
        normal_host(authority.host()) == self.host
            && authority.port_u16().unwrap_or(default_port(self.scheme)) == self.port
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if self.port != default_port(self.scheme) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// The host of a `Host` value, lower-case and without port; `None` when it does not parse.
pub fn host_of(host_header: &str) -> Option<String> {
    let authority = host_header.parse::<Authority>().ok()?;
    Some(normal_host(authority.host()))
}

/// Whether `host` (as [`host_of`] gives it) cannot be a name an attacker's DNS
/// points here: an IP literal, or `localhost`.
pub fn is_ip_or_localhost(host: &str) -> bool {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || literal.parse::<IpAddr>().is_ok()
}

/// Lower-case, without the trailing dot of a fully qualified name.
fn normal_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_with_explicit_ports() {
        let a = Origin::parse("https://CD.example.com").expect("origin");
        assert_eq!(
            Origin::parse("https://cd.example.com:443/x"),
            Some(a.clone())
        );
        assert_ne!(Origin::parse("http://cd.example.com"), Some(a.clone()));
        assert_eq!(a.to_string(), "https://cd.example.com");
        for refused in ["null", "cd.example.com", "ftp://a", "https://u:p@a", ""] {
            assert_eq!(Origin::parse(refused), None, "{refused}");
        }
    }

    #[test]
    fn an_origin_is_served_as_its_host_and_port() {
        let local = Origin::parse("http://127.0.0.1:8080").expect("origin");
        assert!(local.is_served_as("127.0.0.1:8080"));
        assert!(!local.is_served_as("127.0.0.1:8081"));
        assert!(!local.is_served_as("evil.example:8080"));
        let public = Origin::parse("https://cd.example.com").expect("origin");
        assert!(public.is_served_as("cd.example.com"));
        assert!(public.is_served_as("cd.example.com:443"));
        assert!(
            Origin::parse("http://[::1]:80")
                .expect("v6")
                .is_served_as("[::1]")
        );
    }

    #[test]
    fn ip_literals_and_localhost_cannot_be_rebound() {
        for host in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "192.168.1.5",
            "LOCALHOST:1",
            "localhost.",
        ] {
            let host = host_of(host).expect("parses");
            assert!(is_ip_or_localhost(&host), "{host}");
        }
        for host in ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io"] {
            let host = host_of(host).expect("parses");
            assert!(!is_ip_or_localhost(&host), "{host}");
        }
    }
}
