//! One docker-cd on one test repository against the main Docker engine, with
//! its own instance name and stack prefix, cleaned up on drop.

use std::time::Duration;

use super::api::Api;
use super::docker::{Cleanup, docker_ok};
use super::process::DockerCd;
use super::repo::TestRepo;
use super::unique_name;

/// How long a test waits for a stack to converge.
pub const CONVERGE: Duration = Duration::from_secs(90);

/// One docker-cd on one repository, with its own instance name and stack prefix.
pub struct Deployment {
    /// The repository docker-cd deploys from.
    pub repo: TestRepo,
    data: tempfile::TempDir,
    /// `INSTANCE_NAME`.
    pub instance: String,
    prefix: String,
    app: Option<DockerCd>,
    // Declared last: removes containers after the app stopped.
    _cleanup: Cleanup,
}

impl Deployment {
    /// A fresh repository, data folder, instance name and stack prefix.
    pub fn new(label: &str) -> Self {
        let prefix = unique_name(label);
        let instance = format!("{prefix}-cd");
        Self {
            repo: TestRepo::new(),
            data: tempfile::tempdir().expect("tempdir"),
            _cleanup: Cleanup::new(&instance, &prefix),
            instance,
            prefix,
            app: None,
        }
    }

    /// The stack name (and folder) for `short`.
    pub fn stack(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// Writes a stack with `services` into the work tree (not committed).
    pub fn write_stack(&self, short: &str, services: &[&str]) -> &Self {
        self.repo.write_stack(&self.stack(short), services);
        self
    }

    /// Starts docker-cd (polling off) with `extra` settings.
    pub fn start(&mut self, extra: &[(&str, &str)]) -> Api {
        let app = DockerCd::on(&self.repo)
            .env("INSTANCE_NAME", &self.instance)
            .env("DATA_DIR", self.data.path())
            .envs(extra)
            .start();
        let api = app.api();
        self.app = Some(app);
        api
    }

    /// SIGKILL: no shutdown, no drain (a crash or an OOM kill).
    pub fn kill(&mut self) {
        if let Some(mut app) = self.app.take() {
            app.signal("KILL");
            let _ = app.wait_exit(Duration::from_secs(30));
        }
    }

    /// The running docker-cd.
    pub fn app(&self) -> &DockerCd {
        self.app.as_ref().expect("docker-cd is running")
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut app) = self.app.take() {
            app.signal("TERM");
            let status = app.wait_exit(Duration::from_secs(60));
            assert!(
                status.success(),
                "docker-cd exit: {status:?}\n{}",
                app.logs()
            );
        }
    }

    /// What docker-cd logged so far.
    pub fn logs(&self) -> String {
        self.app.as_ref().map(DockerCd::logs).unwrap_or_default()
    }

    /// `(service, id, state)` of every container of stack `short`, by name.
    pub fn containers(&self, short: &str) -> Vec<(String, String, String)> {
        let project = format!("label=com.docker.compose.project={}", self.stack(short));
        let out = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &project,
            "--format",
            "{{.Label \"com.docker.compose.service\"}}\t{{.ID}}\t{{.State}}",
        ]);
        let mut rows: Vec<_> = out
            .lines()
            .filter_map(|l| {
                let mut parts = l.split('\t');
                Some((
                    parts.next()?.into(),
                    parts.next()?.into(),
                    parts.next()?.into(),
                ))
            })
            .collect();
        rows.sort();
        rows
    }

    /// One label of a container.
    pub fn label(&self, container: &str, label: &str) -> String {
        docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
            container,
        ])
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // Stop the controller before the cleanup guard removes its containers,
        // or it would recreate them.
        if let Some(mut app) = self.app.take() {
            if std::thread::panicking() {
                eprintln!("--- docker-cd log ---\n{}", app.logs());
            }
            app.signal("KILL");
            let _ = app.wait_exit(Duration::from_secs(10));
        }
    }
}

/// Compose runs so far, from `/metrics`.
pub async fn compose_runs(api: &Api) -> u64 {
    api.metric_sum("dockercd_compose_runs_total{", &[]).await as u64
}

/// `compose up` runs so far (each apply also runs `compose config` first).
pub async fn compose_ups(api: &Api) -> u64 {
    api.metric_sum("dockercd_compose_runs_total{", &["command=\"up\""])
        .await as u64
}

/// The container ids of `containers` rows.
pub fn ids(rows: &[(String, String, String)]) -> Vec<String> {
    rows.iter().map(|(_, id, _)| id.clone()).collect()
}

/// `POST /api/refresh` and wait until it completed.
pub async fn refresh(api: &Api) {
    let after = api.refresh().await;
    assert_eq!(after["last"]["outcome"], "completed", "{after}");
}
