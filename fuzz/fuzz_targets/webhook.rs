//! Webhook signature checks and event parsing never panic, and a signature
//! made with another secret never verifies.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use docker_cd::secret::Secret;
use docker_cd::webhook::{parse_event, verify};
use libfuzzer_sys::fuzz_target;

const HEADERS: [(&str, &str); 4] = [
    ("x-hub-signature-256", "x-github-event"),
    ("x-gitea-signature", "x-gitea-event"),
    ("x-forgejo-signature", "x-forgejo-event"),
    ("x-gitlab-token", "x-gitlab-event"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    // <signature>\n<event>\n<body>
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let (signature, event, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (sig_header, event_header) = HEADERS[usize::from(choice) % HEADERS.len()];
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(signature) {
        headers.insert(HeaderName::from_static(sig_header), value);
    }
    if let Ok(value) = HeaderValue::from_bytes(event) {
        headers.insert(HeaderName::from_static(event_header), value);
    }
    if choice & 0x80 != 0 {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    // The fuzzer cannot know this secret: nothing it makes may verify.
    let secret = Secret::new("fuzz-secret-3c9d1e7a0b");
    if let Ok(provider) = verify(&headers, body, &secret) {
        panic!("verified without the secret: {provider:?}");
    }
    if let Some(provider) = docker_cd::webhook::Provider::detect(&headers) {
        let _ = parse_event(provider, &headers, body);
    }
});
