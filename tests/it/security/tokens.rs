//! Items 6, 8 (names) and 9: bearer tokens and stack names from requests.

use std::time::Duration;

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;

const TOKEN: &str = "s3cr3t-api-token";

fn with_token(repo: &TestRepo) -> DockerCd {
    DockerCd::on(repo)
        .env("RECONCILE_ENABLED", "false")
        .env("API_TOKEN", TOKEN)
        .start()
}

/// Item 6: the scheme is case-insensitive (RFC 9110), a second `Authorization`
/// header is refused rather than one of them picked, and a token of another
/// length is refused like any wrong token.
#[tokio::test]
async fn bearer_is_case_insensitive_and_two_authorization_headers_are_refused() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = with_token(&repo);
    let api = app.api();
    let good = format!("Bearer {TOKEN}");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let value = format!("{scheme} {TOKEN}");
        let (status, _) = api
            .get_with("/api/stacks", &[("authorization", &value)])
            .await;
        assert_eq!(status, 200, "{scheme}");
    }
    let (status, body) = api
        .get_with(
            "/api/stacks",
            &[("authorization", &good), ("authorization", "Bearer nope")],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = api
        .get_with(
            "/api/stacks",
            &[("authorization", &good), ("authorization", &good)],
        )
        .await;
    assert_eq!(status, 401, "two headers, even equal ones");
    for wrong in [
        "Bearer s3cr3t",
        "Bearer s3cr3t-api-token-and-more",
        "Basic czNjcjN0",
    ] {
        let (status, _) = api
            .get_with("/api/stacks", &[("authorization", wrong)])
            .await;
        assert_eq!(status, 401, "{wrong}");
    }
}

/// Items 8 and 9: an apply of a stack nobody knows is a 404 before any lock or
/// Docker call, and a name with a line break never reaches the log as a line.
#[tokio::test]
async fn unknown_and_malformed_stack_names_are_404_and_forge_no_log_line() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .start();
    let api = app.api();
    api.wait_status("web", "missing", Duration::from_secs(30))
        .await;
    let body = br#"{"token": "whatever"}"#;
    let json = [("content-type", "application/json")];
    let (status, answer) = api.post("/api/stacks/nosuch/apply", &json, body).await;
    assert_eq!(status, 404, "{answer}");
    for path in [
        "/api/stacks/alpha%0d%0aX-Injected:1/apply",
        "/api/stacks/alpha%0aX-Injected:1/sync",
        "/api/stacks/Web/plan",
    ] {
        let (status, answer) = api.post(path, &json, body).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let logs = app.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.trim_start().starts_with("X-Injected")),
        "a request forged a log line:\n{logs}"
    );
}
