//! The Git source against real servers on loopback: `git://` (git daemon),
//! `http://` with a token (nginx + fcgiwrap + git http-backend, basic auth),
//! and `ssh://` with a key (sshd).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use docker_cd::git::RepoUrl;
use docker_cd::git::repository::{GitError, GitSettings, GitSource};
use docker_cd::secret::Secret;

use crate::support::repo::TestRepo;
use crate::support::servers::{Server, require_program};

static NO_INTERRUPT: AtomicBool = AtomicBool::new(false);
const TOKEN: &str = "tok-3f9a1c2e77";

fn source(url: &str, token: Option<&str>, key: Option<PathBuf>, cache: &Path) -> GitSource {
    GitSource::new(
        GitSettings {
            url: RepoUrl::parse(url).expect("url"),
            reference: None,
            token: token.map(Secret::new),
            username: "x-access-token".into(),
            ssh_key_file: key,
        },
        cache.to_path_buf(),
    )
}

/// A work tree with one stack and one commit.
fn upstream() -> (TestRepo, String) {
    let repo = TestRepo::new();
    repo.write("stacks/web/compose.yaml", "services: {}\n");
    let commit = repo.commit("web");
    (repo, commit)
}

/// Clones through `url`, then sees a pushed commit on the next fetch.
fn clone_then_fetch(server: &Server, work: &TestRepo, first: &str, source: &GitSource) {
    let fetched = source.fetch(&NO_INTERRUPT).expect("clone");
    assert_eq!(fetched.commit, first);
    assert_eq!(fetched.reference, "refs/heads/main");
    let tree = source
        .read_tree(&fetched.commit, Path::new("stacks"))
        .expect("read tree");
    assert!(tree.get("web/compose.yaml").is_some());

    work.write("stacks/db/compose.yaml", "services: {}\n");
    let second = work.commit("db");
    server.push(work.path(), "repo.git");
    assert_eq!(source.fetch(&NO_INTERRUPT).expect("fetch").commit, second);
}

#[test]
fn git_protocol_through_git_daemon() {
    if !require_program("/usr/lib/git-core/git-daemon") {
        return;
    }
    let server = Server::git_daemon();
    let (work, first) = upstream();
    server.publish(work.path(), "repo.git");
    let cache = tempfile::tempdir().expect("tempdir");
    let url = format!("git://127.0.0.1:{}/repo.git", server.port);
    clone_then_fetch(
        &server,
        &work,
        &first,
        &source(&url, None, None, cache.path()),
    );
}

#[test]
fn http_with_a_token_and_a_wrong_token_that_never_leaks() {
    if !require_program("nginx") || !require_program("fcgiwrap") {
        return;
    }
    let server = Server::http_backend("x-access-token", TOKEN);
    let (work, first) = upstream();
    server.publish(work.path(), "repo.git");
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);

    let cache = tempfile::tempdir().expect("tempdir");
    let good = source(&url, Some(TOKEN), None, cache.path());
    clone_then_fetch(&server, &work, &first, &good);
    let config = std::fs::read_to_string(good.mirror_path().join("config")).expect("mirror config");
    assert!(
        !config.contains(TOKEN),
        "the token is never written to disk:\n{config}"
    );

    let other_cache = tempfile::tempdir().expect("tempdir");
    let wrong = "wrong-token-5be1";
    let error = source(&url, Some(wrong), None, other_cache.path())
        .fetch(&NO_INTERRUPT)
        .expect_err("a wrong token is refused");
    let text = error.to_string();
    assert!(matches!(error, GitError::Auth { .. }), "{error:?}");
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");

    let none = source(&url, None, None, other_cache.path())
        .fetch(&NO_INTERRUPT)
        .expect_err("no token is refused");
    assert!(matches!(none, GitError::Auth { .. }), "{none:?}");
}

#[test]
fn ssh_with_a_key_file() {
    if !require_program("/usr/sbin/sshd") || !require_program("ssh") {
        return;
    }
    let (server, key) = Server::sshd();
    let (work, first) = upstream();
    let path = server.publish(work.path(), "repo.git");
    let url = format!("ssh://root@127.0.0.1:{}{}", server.port, path.display());
    let cache = tempfile::tempdir().expect("tempdir");
    clone_then_fetch(
        &server,
        &work,
        &first,
        &source(&url, None, Some(key), cache.path()),
    );
}
