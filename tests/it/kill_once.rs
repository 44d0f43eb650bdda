//! Issue 23, item 4: a `docker kill` costs one revert of the crash-loop
//! budget, not two (Docker sends `die` before its state says the container
//! stopped; a revert started then once found compose leaving the container
//! alone, and a second one followed).

use std::time::Duration;

use crate::require_docker;
use crate::support::api::Api;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::docker_ok;
use crate::support::wait::{holds_for, wait_until};

/// Longer than the look docker-cd takes 2 s after an apply that ended synced,
/// where a second revert would start.
const SECOND_LOOK: Duration = Duration::from_secs(4);

/// The drift reverts in `stack`'s history.
async fn reverts(api: &Api, stack: &str) -> usize {
    let (_, history) = api.get(&format!("/api/stacks/{stack}/history")).await;
    let entries = history["entries"].as_array().cloned().unwrap_or_default();
    entries.iter().filter(|e| e["cause"] == "drift").count()
}

#[tokio::test]
async fn each_docker_kill_costs_one_revert() {
    require_docker!();
    let mut d = Deployment::new("killonce");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    let api = d.start(&[]);
    let web = d.stack("web");
    api.wait_status(&web, "synced", CONVERGE).await;
    for kill in 1..=3 {
        let (_, id, _) = d.containers("web").remove(0);
        docker_ok(&["kill", &id]);
        wait_until("the killed container running again", CONVERGE, || async {
            let running = d.containers("web").iter().all(|(_, _, s)| s == "running");
            let count = reverts(&api, &web).await;
            if running && count >= kill {
                Ok(())
            } else {
                Err(format!("{count} reverts, running: {running}"))
            }
        })
        .await;
        holds_for("one revert per kill", SECOND_LOOK, || async {
            match reverts(&api, &web).await {
                count if count == kill => Ok(()),
                count => Err(format!("{count} reverts after {kill} kills")),
            }
        })
        .await;
    }
    let stack = api.stack(&web).await.unwrap_or_default();
    assert_eq!(stack["status"], "synced", "{stack}");
}
