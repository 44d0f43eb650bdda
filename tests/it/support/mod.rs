//! Shared test support: unique names, the Docker test environment, the binary under test.

#![allow(dead_code)] // each test module uses a different part

pub mod api;
pub mod browser;
pub mod deployment;
pub mod docker;
pub mod forge;
pub mod private_dockerd;
pub mod process;
pub mod repo;
pub mod servers;
pub mod wait;
pub mod webhook;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name unique to this test process and call, usable as an instance name or a
/// stack-folder prefix: `t<pid>x<n>-<label>`, lower-case.
pub fn unique_name(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t{}x{n}-{label}", std::process::id())
}

/// Runs `command`; panics naming it, with its stderr, unless it succeeds;
/// returns its stdout, trimmed.
pub fn run_ok(command: &mut std::process::Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// True when running under CI: tests that need Docker must fail, not skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// An HTTP client for talking to the binary under test over loopback.
pub fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider (ring is installed at
    // start-up by the binary); tests install the same one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}
