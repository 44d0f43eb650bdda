//! Git repositories made with the git CLI in temporary folders.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::docker::TEST_IMAGE;

/// A work tree on branch `main`; removed on drop.
pub struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty repository.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A repository whose one commit holds one stack at `folder` (see
    /// [`TestRepo::write_stack`]).
    pub fn with_stack(folder: &str, services: &[&str]) -> Self {
        let repo = Self::new();
        repo.write_stack(folder, services).commit(folder);
        repo
    }

    /// The work tree (also usable as `GIT_REPO_URL`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `GIT_REPO_URL` for this repository.
    pub fn url(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }

    /// Runs git in the work tree; panics with its output on failure.
    pub fn git(&self, args: &[&str]) -> String {
        super::run_ok(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=test",
                    "-c",
                    "user.email=test@example.invalid",
                ])
                .args([
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(self.path()),
        )
    }

    /// Writes `content` at `path` (folders created).
    pub fn write(&self, path: &str, content: &str) -> &Self {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
        self
    }

    /// Writes `{folder}/compose.yaml` with one test-image service per name
    /// (see [`compose`]; not committed).
    pub fn write_stack(&self, folder: &str, services: &[&str]) -> &Self {
        self.write(
            &format!("{folder}/compose.yaml"),
            &compose(TEST_IMAGE, services),
        )
    }

    /// Deletes `path` (a file or a folder).
    pub fn remove(&self, path: &str) -> &Self {
        let full: PathBuf = self.path().join(path);
        if full.is_dir() {
            std::fs::remove_dir_all(full).expect("rm -r");
        } else {
            std::fs::remove_file(full).expect("rm");
        }
        self
    }

    /// Commits everything; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Commits everything as `author` with `message`; returns the new commit id.
    pub fn commit_as(&self, author: &str, message: &str) -> String {
        self.git(&["add", "-A"]);
        let name = format!("user.name={author}");
        self.git(&["-c", &name, "commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The commit `main` points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A compose file with one long-running service per name, run as its image
/// says (the test image's default is a healthy service that exits 0 when
/// stopped). `network_mode: bridge` keeps compose from creating a network per
/// project: Docker's default address pools run out near 30 of them, and tests
/// run in parallel.
pub fn compose(image: &str, services: &[&str]) -> String {
    let mut text = String::from("services:\n");
    for service in services {
        text.push_str(&format!(
            "  {service}:\n    image: {image}\n    network_mode: bridge\n"
        ));
    }
    text
}
