//! Issue 24, commit statuses: a real docker-cd deploying from a real repository
//! posts to forge stand-ins on loopback, which check each forge's path, auth
//! header and body: `pending` as the apply starts, `success` once the health
//! gate passes, `failure` naming why; a forge that fails or refuses is retried,
//! logged and counted, and never holds up a deploy.

use std::time::Duration;

use rstest::rstest;
use serde_json::Value;

use crate::health_gate::{FAILING, stack};
use crate::require_docker;
use crate::support::api::Api;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::forge::{Answer, ForgeStandIn, Posted};
use crate::support::process::DockerCd;
use crate::support::wait::wait_until;

const TOKEN: &str = "forge-t0ken-5ecret";
const SITE: &str = "https://cd.example.com";
/// The first healthcheck runs 3 s after the start: the gate stays open that long.
const SLOW_HEALTHY: &str =
    "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 3s\n";

/// The settings pointing `forge` at the stand-in.
fn settings<'a>(forge: &'a str, api: &'a str, repo: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("COMMIT_STATUS", forge),
        ("FORGE_API_URL", api),
        ("FORGE_REPO", repo),
        ("FORGE_TOKEN", TOKEN),
        ("EXTERNAL_URL", SITE),
    ]
}

/// The states posted for `sha`, in order.
fn states(posted: &[Posted], sha: &str) -> Vec<String> {
    posted
        .iter()
        .filter(|p| p.path.ends_with(sha))
        .map(|p| p.body["state"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Waits until the stand-in accepted a status `state` for `sha`.
async fn wait_for_state(forge: &ForgeStandIn, sha: &str, state: &str) -> Posted {
    wait_until(
        &format!("a '{state}' status for {sha}"),
        CONVERGE,
        || async {
            let accepted = forge.accepted();
            accepted
                .iter()
                .rev()
                .find(|p| p.path.ends_with(sha) && p.body["state"] == state)
                .cloned()
                .ok_or_else(|| format!("{:?}", states(&accepted, sha)))
        },
    )
    .await
}

/// The request, its token masked, for the record.
fn shown(p: &Posted) -> String {
    let headers: Vec<String> = p
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length" | "accept-encoding"))
        .map(|(k, v)| format!("{k}: {}", v.replace(TOKEN, "<token>")))
        .collect();
    format!("POST {}\n{}\n{}", p.path, headers.join("\n"), p.body)
}

/// What a forge's status API expects.
struct ForgeApi {
    /// Added to the stand-in's URL in `FORGE_API_URL`.
    api_suffix: &'static str,
    repo: &'static str,
    path: &'static str,
    auth: &'static str,
    scheme: &'static str,
    pending: &'static str,
    context_key: &'static str,
}

fn expected(forge: &str) -> ForgeApi {
    let (github, gitea) = (
        (
            "",
            "acme/stacks",
            "/repos/acme/stacks/statuses/",
            "authorization",
            "Bearer ",
        ),
        (
            "",
            "acme/stacks",
            "/api/v1/repos/acme/stacks/statuses/",
            "authorization",
            "token ",
        ),
    );
    let (api_suffix, repo, path, auth, scheme) = match forge {
        "github" => github,
        "gitea" => gitea,
        // The API version given in FORGE_API_URL, as Forgejo's docs show it.
        "forgejo" => ("/api/v1", gitea.1, gitea.2, gitea.3, gitea.4),
        _ => (
            "",
            "acme/infra/stacks",
            "/api/v4/projects/acme%2Finfra%2Fstacks/statuses/",
            "private-token",
            "",
        ),
    };
    let gitlab = forge == "gitlab";
    ForgeApi {
        api_suffix,
        repo,
        path,
        auth,
        scheme,
        pending: if gitlab { "running" } else { "pending" },
        context_key: if gitlab { "name" } else { "context" },
    }
}

#[rstest]
#[case::github("github")]
#[case::gitea("gitea")]
#[case::forgejo("forgejo")]
#[case::gitlab("gitlab")]
#[tokio::test]
async fn a_deployed_change_is_pending_then_success_after_its_gate(#[case] forge_kind: &str) {
    let ForgeApi {
        api_suffix,
        repo,
        path,
        auth,
        scheme,
        pending,
        context_key,
    } = expected(forge_kind);
    require_docker!();
    let forge = ForgeStandIn::start(Vec::new(), None).await;
    let mut d = Deployment::new(&format!("cs{}", &forge_kind[..3]));
    let web = d.stack("web");
    d.repo
        .write(&format!("{web}/compose.yaml"), &stack(SLOW_HEALTHY));
    let sha = d.repo.commit("web with a healthcheck");
    let api_url = format!("{}{api_suffix}", forge.url);
    let api = d.start(&settings(forge_kind, &api_url, repo));

    let first = wait_for_state(&forge, &sha, pending).await;
    // The gate is still open: nothing says success yet.
    assert_eq!(
        states(&forge.posted(), &sha),
        [pending],
        "{}",
        shown(&first)
    );
    let success = wait_for_state(&forge, &sha, "success").await;
    assert_eq!(api.stack(&web).await.expect("stack")["status"], "synced");
    assert_eq!(states(&forge.posted(), &sha), [pending, "success"]);
    for p in [&first, &success] {
        assert_eq!(p.path, format!("{path}{sha}"));
        assert_eq!(
            p.headers.get(auth),
            Some(&format!("{scheme}{TOKEN}")),
            "{p:?}"
        );
        assert_eq!(
            p.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        let context = format!("docker-cd/{}/{web}", d.instance);
        assert_eq!(p.body[context_key], Value::String(context), "{}", p.body);
        assert_eq!(p.body["target_url"], format!("{SITE}/#/stacks/{web}"));
    }
    assert_eq!(
        success.body["description"],
        format!("{web} runs and is healthy")
    );
    eprintln!(
        "--- {forge_kind} ---\n{}\n{}",
        shown(&first),
        shown(&success)
    );
    assert!(!d.logs().contains(TOKEN), "the token reached the log");
}

#[tokio::test]
async fn a_revision_that_fails_its_gate_and_is_rolled_back_fails_its_commit() {
    require_docker!();
    let forge = ForgeStandIn::start(Vec::new(), None).await;
    let mut d = Deployment::new("csfail");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack(""));
    let good = d.repo.commit("A: healthy");
    let mut env = settings("gitea", &forge.url, "acme/stacks");
    env.push(("ROLLBACK_ENABLED", "true"));
    let api = d.start(&env);
    wait_for_state(&forge, &good, "success").await;

    d.repo.write(&file, &stack(FAILING));
    let bad = d.repo.commit("B: its healthcheck fails");
    refresh(&api).await;
    api.wait_status(&web, "rolled-back", CONVERGE).await;
    let failure = wait_until("the rollback's failure status", CONVERGE, || async {
        let accepted = forge.accepted();
        accepted
            .iter()
            .rev()
            .find(|p| {
                p.path.ends_with(&bad)
                    && p.body["description"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("rolled back"))
            })
            .cloned()
            .ok_or_else(|| format!("{:?}", states(&accepted, &bad)))
    })
    .await;
    let description = failure.body["description"].as_str().unwrap_or_default();
    assert_eq!(failure.body["state"], "failure");
    assert!(
        description.starts_with(&format!(
            "rolled back to {}: health gate failed",
            &good[..7]
        )) && description.contains("unhealthy")
            && description.chars().count() <= 140,
        "{description}"
    );
    assert_eq!(
        states(&forge.posted(), &bad).first().map(String::as_str),
        Some("pending")
    );
    eprintln!("--- gitea failure ---\n{}", shown(&failure));
    // Running A again is no news about A: no second pending or success.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(states(&forge.posted(), &good), ["pending", "success"]);
}

/// Deploys one stack against a forge answering `script`, then `always`.
async fn deploy_against(
    label: &str,
    script: Vec<Answer>,
    always: Option<Answer>,
) -> (Deployment, Api, ForgeStandIn, String, String) {
    let forge = ForgeStandIn::start(script, always).await;
    let mut d = Deployment::new(label);
    let web = d.stack("web");
    d.repo.write(&format!("{web}/compose.yaml"), &stack(""));
    let sha = d.repo.commit("web");
    let api = d.start(&settings("github", &forge.url, "acme/stacks"));
    (d, api, forge, web, sha)
}

async fn count(api: &Api, outcome: &str) -> f64 {
    let label = format!("outcome=\"{outcome}\"");
    api.metric_sum(
        "dockercd_commit_statuses_total{",
        &["forge=\"github\"", &label],
    )
    .await
}

#[tokio::test]
async fn a_forge_answering_500_then_429_is_retried_until_it_takes_the_status() {
    require_docker!();
    let script = vec![(500, Vec::new()), (429, vec![("retry-after", "1")])];
    let (_d, api, forge, web, sha) = deploy_against("csretry", script, None).await;
    api.wait_status(&web, "synced", CONVERGE).await;
    wait_for_state(&forge, &sha, "success").await;
    let answered: Vec<u16> = forge.posted().iter().map(|p| p.answered).collect();
    assert_eq!(answered[..2], [500, 429], "{answered:?}");
    assert_eq!(count(&api, "error").await, 2.0);
    assert!(count(&api, "delivered").await >= 1.0);
    assert_eq!(count(&api, "dropped").await, 0.0);
}

#[tokio::test]
async fn a_forge_refusing_the_token_is_logged_and_counted_and_the_deploy_goes_on() {
    require_docker!();
    let (d, api, forge, web, _sha) =
        deploy_against("cs401", Vec::new(), Some((401, Vec::new()))).await;
    api.wait_status(&web, "synced", CONVERGE).await;
    wait_until("a counted 401", CONVERGE, || async {
        let errors = count(&api, "error").await;
        if errors >= 1.0 && d.logs().contains("answered 401") {
            Ok(())
        } else {
            Err(format!("{errors} errors"))
        }
    })
    .await;
    assert!(forge.accepted().is_empty());
    assert!(!d.logs().contains(TOKEN), "the token reached the log");
    let (_, stacks) = api.get("/api/stacks").await;
    assert!(!stacks.to_string().contains(TOKEN));
}

#[rstest]
#[case(&[("COMMIT_STATUS", "bitbucket")], "COMMIT_STATUS")]
#[case(&[("COMMIT_STATUS", "gitea"), ("FORGE_TOKEN", TOKEN)], "FORGE_API_URL")]
#[case(&[("COMMIT_STATUS", "github"), ("FORGE_API_URL", "http://127.0.0.1:9"), ("FORGE_TOKEN", TOKEN)], "FORGE_REPO")]
#[case(&[("COMMIT_STATUS", "gitlab"), ("FORGE_API_URL", "https://g"), ("FORGE_REPO", "a/b")], "FORGE_TOKEN")]
fn a_setting_that_cannot_work_exits_2_naming_it(
    #[case] env: &[(&str, &str)],
    #[case] setting: &str,
) {
    let out = DockerCd::builder()
        .env("GIT_REPO_URL", ".")
        .envs(env)
        .run_to_exit();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!("error: {setting} ")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(TOKEN));
}
