//! `docker-cd healthcheck`: asks the running process's `/healthz` over loopback,
//! for the image's HEALTHCHECK (no curl in the image, no settings needed).

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe for a `LISTEN_ADDR`: an unspecified IP becomes loopback.
fn probe_address(listen: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = listen.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Some(addr)
}

fn check(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| format!("read: {e}"))?;
    let status = String::from_utf8_lossy(&head);
    if status.ends_with(" 200") {
        Ok(())
    } else {
        Err(format!("/healthz answered {status}"))
    }
}

/// Exit 0 when `/healthz` answers 200, else 1 with the reason on stderr.
pub fn run() -> ExitCode {
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "0.0.0.0:8080".into());
    let Some(addr) = probe_address(&listen) else {
        eprintln!("unhealthy: LISTEN_ADDR '{listen}' is not an address");
        return ExitCode::FAILURE;
    };
    match check(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("unhealthy: {why}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_are_probed_on_loopback() {
        assert_eq!(probe_address("0.0.0.0:8080"), "127.0.0.1:8080".parse().ok());
        assert_eq!(probe_address("[::]:9000"), "[::1]:9000".parse().ok());
        assert_eq!(probe_address("10.0.0.5:80"), "10.0.0.5:80".parse().ok());
        assert_eq!(probe_address("nonsense"), None);
    }
}
