//! Issue 24, the client commands: `docker-cd status|plan|apply|sync|history|
//! rollback|refresh` against a real docker-cd, its exit codes and one-line errors.

use serde_json::Value;

use crate::health_gate::stack;
use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::free_port;
use crate::support::process::{DockerCd, Exit};
use crate::support::repo::TestRepo;

/// `docker-cd <args> --server <server>` with `API_TOKEN` when given.
fn cli(server: &str, token: Option<&str>, args: &[&str]) -> Exit {
    let mut command = DockerCd::builder().args(args).args(&["--server", server]);
    if let Some(token) = token {
        command = command.env("API_TOKEN", token);
    }
    command.run_to_exit()
}

/// Asserts that `exit` ended with `code`, its stderr one line holding each of `words`.
fn failed_with(exit: &Exit, code: i32, words: &[&str]) {
    assert_eq!(exit.code, Some(code), "{exit:?}");
    assert_eq!(exit.stderr.lines().count(), 1, "one line: {exit:?}");
    for word in words {
        assert!(exit.stderr.contains(word), "{word:?} in {exit:?}");
    }
}

/// Asserts a success with `code`; returns stdout.
fn ok(exit: Exit, code: i32) -> String {
    assert_eq!(exit.code, Some(code), "{exit:?}");
    exit.stdout
}

/// A deployment of one stack, `web`, whose one service has `REV=a`, committed
/// (not started); its stack name and commit.
fn at_revision_a(label: &str) -> (Deployment, String, String) {
    let d = Deployment::new(label);
    let web = d.stack("web");
    let a = commit_rev(&d, "a");
    (d, web, a)
}

/// Commits `REV=<rev>` into `web`'s compose file; the commit id.
fn commit_rev(d: &Deployment, rev: &str) -> String {
    let file = format!("{}/compose.yaml", d.stack("web"));
    d.repo
        .write(&file, &stack(&format!("    environment: [REV={rev}]\n")));
    d.repo.commit(&rev.to_uppercase())
}

#[tokio::test]
async fn plan_exits_2_with_changes_apply_deploys_and_then_plan_exits_0() {
    require_docker!();
    let (mut d, web, a) = at_revision_a("cliplan");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    let server = api.url("");
    api.wait_status(&web, "missing", CONVERGE).await;
    api.wait_ready().await;

    let table = ok(cli(&server, None, &["status"]), 0);
    let row = table.lines().find(|l| l.starts_with(&web));
    let cells: Vec<&str> = row
        .map(|r| r.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(cells.get(1), Some(&"missing"), "{table}");
    let listed: Value = serde_json::from_str(&ok(cli(&server, None, &["status", "-o", "json"]), 0))
        .expect("status -o json");
    assert_eq!(listed["stacks"][0]["name"], web, "{listed}");

    // Every stack in Git: one service to add, in text and as JSON; no colour in a pipe.
    let text = ok(cli(&server, None, &["plan"]), 2);
    assert!(text.contains("  + web\n"), "{text}");
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to remove."),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "{text}");
    let plans: Value =
        serde_json::from_str(&ok(cli(&server, None, &["plan", &web, "-o", "json"]), 2))
            .expect("plan -o json");
    assert_eq!(plans[0]["summary"]["add"], 1, "{plans}");
    assert_eq!(plans[0]["desired_revision"], a, "{plans}");

    // A script must say --yes; nothing is applied without it.
    let unasked = cli(&server, None, &["apply", &web]);
    failed_with(&unasked, 1, &["--yes"]);
    assert!(
        unasked.stdout.contains("+ web"),
        "the plan is shown: {unasked:?}"
    );
    assert!(d.containers("web").is_empty());

    let applied = ok(cli(&server, None, &["apply", &web, "--yes"]), 0);
    assert!(applied.contains(&format!("{web}: success")), "{applied}");
    api.wait_status(&web, "synced", CONVERGE).await;
    let clean = ok(cli(&server, None, &["plan"]), 0);
    assert!(clean.contains("no changes"), "{clean}");
    let nothing = ok(cli(&server, None, &["apply", &web, "--yes"]), 0);
    assert!(nothing.contains("Nothing to apply"), "{nothing}");

    // A commit not applied yet: `refresh` waits for it, `plan` shows the field.
    let b = commit_rev(&d, "b");
    let refreshed = ok(cli(&server, None, &["refresh"]), 0);
    assert!(refreshed.contains(&b[..7]), "{refreshed}");
    let changed = ok(cli(&server, None, &["plan", &web]), 2);
    assert!(changed.contains("  ~ web\n"), "{changed}");
    assert!(
        changed.contains(r#"environment.REV: "a" → "b""#),
        "{changed}"
    );
    eprintln!("$ docker-cd plan; echo $?\n{changed}2");

    // Unknown stacks: one line each, exit 1, the others still planned.
    failed_with(
        &cli(&server, None, &["plan", "nosuch"]),
        1,
        &["nosuch", "404"],
    );
    let mixed = cli(&server, None, &["plan", &web, "nosuch"]);
    failed_with(&mixed, 1, &["nosuch"]);
    assert!(mixed.stdout.contains("  ~ web"), "{mixed:?}");
    failed_with(
        &cli(&server, None, &["apply", "nosuch", "--yes"]),
        1,
        &["nosuch"],
    );

    // For scripts: the plan applied and its result, as one JSON document.
    let applied: Value = serde_json::from_str(&ok(
        cli(&server, None, &["apply", &web, "-y", "-o", "json"]),
        0,
    ))
    .expect("apply -o json");
    assert_eq!(applied["plan"]["summary"]["change"], 1, "{applied}");
    assert_eq!(applied["result"]["outcome"], "success", "{applied}");
    assert_eq!(applied["result"]["revision"], b, "{applied}");
}

#[tokio::test]
async fn history_rollback_and_sync_act_on_a_running_stack() {
    require_docker!();
    let (mut d, web, a) = at_revision_a("clihist");
    let api = d.start(&[]);
    let server = api.url("");
    api.wait_status(&web, "synced", CONVERGE).await;
    let b = commit_rev(&d, "b");
    ok(cli(&server, None, &["refresh"]), 0);
    let at = |revision: String| {
        move |s: &Value| s["status"] == "synced" && s["synced_revision"] == revision
    };
    api.wait_stack(&web, "B to run", CONVERGE, at(b.clone()))
        .await;

    let history = ok(cli(&server, None, &["history", &web]), 0);
    let revisions: Vec<&str> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(revisions, [&b[..7], &a[..7]], "newest first: {history}");

    let rolled = ok(cli(&server, None, &["rollback", &web, &a[..7]]), 0);
    assert!(
        rolled.contains(&format!("{web}: success")) && rolled.contains(&a[..7]),
        "{rolled}"
    );
    api.wait_stack(&web, "A to be held", CONVERGE, at(a.clone()))
        .await;
    let unknown = cli(&server, None, &["rollback", &web, "0000000"]);
    failed_with(&unknown, 1, &["404"]);

    let queued = ok(cli(&server, None, &["sync", &web]), 0);
    assert_eq!(queued.trim(), format!("{web}: sync queued"));
    api.wait_stack(&web, "the sync to bring B back", CONVERGE, at(b.clone()))
        .await;
    failed_with(&cli(&server, None, &["sync", "nosuch"]), 1, &["nosuch"]);

    // The stack leaves Git: a rollback is refused (409), one line.
    d.repo.remove(&web);
    d.repo.commit("web leaves");
    ok(cli(&server, None, &["refresh"]), 0);
    let refused = cli(&server, None, &["rollback", &web, &a]);
    failed_with(&refused, 1, &["409"]);
}

#[test]
fn a_wrong_or_missing_token_and_a_server_that_is_down_exit_1_with_one_line() {
    let repo = TestRepo::new();
    let app = DockerCd::on(&repo).env("API_TOKEN", "right-token").start();
    let server = app.base_url.clone();

    let wrong = cli(&server, Some("wrong-token"), &["status"]);
    failed_with(&wrong, 1, &["invalid API token", "API_TOKEN"]);
    assert!(!wrong.stderr.contains("wrong-token"), "{wrong:?}");
    failed_with(&cli(&server, None, &["plan"]), 1, &["API_TOKEN"]);
    let right = DockerCd::builder()
        .env("API_TOKEN", "right-token")
        .env("DOCKER_CD_SERVER", &server)
        .arg("status")
        .run_to_exit();
    assert_eq!(right.code, Some(0), "{right:?}");
    assert!(
        right.stdout.starts_with("NAME") || right.stdout == "no stacks\n",
        "{right:?}"
    );

    let down = format!("http://127.0.0.1:{}", free_port());
    for command in [
        &["status"][..],
        &["plan"],
        &["refresh"],
        &["apply", "web", "--yes"],
    ] {
        failed_with(
            &cli(&down, None, command),
            1,
            &["cannot reach docker-cd", &down],
        );
    }
    // Usage errors are errors too (1): 2 means changes, always.
    failed_with(
        &cli(&server, None, &["rollback", "web"]),
        1,
        &["<REVISION>"],
    );
    let help = cli(&server, None, &["apply", "--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(
        help.stdout.contains("--yes") && help.stdout.contains("Exit codes"),
        "{help:?}"
    );
}
