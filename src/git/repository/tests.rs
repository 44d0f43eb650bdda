//! The mirror against real repositories made with the git CLI.

use std::process::Command;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::git::tree::Entry;

static NO_INTERRUPT: AtomicBool = AtomicBool::new(false);

struct Upstream {
    dir: tempfile::TempDir,
}

impl Upstream {
    fn new() -> Self {
        let upstream = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        upstream.git(&["init", "-q", "-b", "main"]);
        upstream
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(&self, path: &str, content: &str) -> String {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", path]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn source(&self, reference: Option<&str>, cache: &Path) -> GitSource {
        GitSource::new(
            GitSettings {
                reference: reference.map(str::to_string),
                ..settings(&self.dir.path().to_string_lossy())
            },
            cache.to_path_buf(),
        )
    }
}

/// Settings for `url`: default ref, no credentials.
fn settings(url: &str) -> GitSettings {
    GitSettings {
        url: RepoUrl::parse(url).unwrap(),
        reference: None,
        token: None,
        username: "x-access-token".into(),
        ssh_key_file: None,
    }
}

/// A source for `url` that holds `token`.
fn with_token(url: &str, token: &str, cache: &Path) -> GitSource {
    let settings = GitSettings {
        token: Some(Secret::new(token)),
        ..settings(url)
    };
    GitSource::new(settings, cache.to_path_buf())
}

#[test]
fn clones_then_fetches_new_commits_of_the_default_branch() {
    let upstream = Upstream::new();
    let first = upstream.commit("stacks/web/compose.yaml", "services: {}\n");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    let fetched = source.fetch(&NO_INTERRUPT).unwrap();
    assert_eq!(
        fetched,
        Fetched {
            commit: first,
            reference: "refs/heads/main".into()
        }
    );
    assert!(
        source.mirror_path().join("HEAD").is_file(),
        "bare mirror in the cache"
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".clone-"))
        .collect();
    assert!(leftovers.is_empty(), "staging folder removed");

    let second = upstream.commit("stacks/web/.env", "A=1\n");
    assert_eq!(source.fetch(&NO_INTERRUPT).unwrap().commit, second);
    assert_eq!(
        source.fetch(&NO_INTERRUPT).unwrap().commit,
        second,
        "no-change fetch"
    );
}

#[test]
fn resolves_branches_tags_and_commit_ids() {
    let upstream = Upstream::new();
    let first = upstream.commit("a", "1");
    upstream.git(&["tag", "v1"]);
    upstream.git(&["tag", "-a", "v1-annotated", "-m", "annotated"]);
    upstream.git(&["checkout", "-q", "-b", "release"]);
    let release = upstream.commit("b", "2");
    upstream.git(&["checkout", "-q", "main"]);
    let main = upstream.commit("c", "3");
    let cache = tempfile::tempdir().unwrap();

    let cases = [
        ("main", &main, "refs/heads/main"),
        ("refs/heads/release", &release, "refs/heads/release"),
        ("release", &release, "refs/heads/release"),
        ("v1", &first, "refs/tags/v1"),
        ("v1-annotated", &first, "refs/tags/v1-annotated"),
        ("refs/tags/v1", &first, "refs/tags/v1"),
        (first.as_str(), &first, first.as_str()),
    ];
    for (wanted, commit, reference) in cases {
        let fetched = upstream
            .source(Some(wanted), cache.path())
            .fetch(&NO_INTERRUPT)
            .unwrap();
        assert_eq!(
            (fetched.commit.as_str(), fetched.reference.as_str()),
            (commit.as_str(), reference),
            "GIT_REF={wanted}"
        );
    }
}

#[test]
fn an_unknown_ref_is_a_clear_error() {
    let upstream = Upstream::new();
    upstream.commit("a", "1");
    let cache = tempfile::tempdir().unwrap();
    let error = upstream
        .source(Some("nope"), cache.path())
        .fetch(&NO_INTERRUPT)
        .unwrap_err();
    assert_eq!(error.reason(), "ref_not_found");
    assert!(error.to_string().contains("'nope'"), "{error}");
}

#[test]
fn an_unreachable_remote_fails_without_leaving_a_mirror() {
    let cache = tempfile::tempdir().unwrap();
    let source = GitSource::new(settings("/nonexistent/repo"), cache.path().to_path_buf());
    let error = source.fetch(&NO_INTERRUPT).unwrap_err();
    assert_eq!(error.reason(), "clone", "{error}");
    assert!(!source.mirror_path().exists());
}

#[test]
fn reads_the_deploy_folder_with_relative_paths_symlinks_and_modes() {
    let upstream = Upstream::new();
    upstream.commit("stacks/web/compose.yaml", "services: {}\n");
    upstream.commit("stacks/web/run.sh", "#!/bin/sh\n");
    let script = upstream.dir.path().join("stacks/web/run.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", upstream.dir.path().join("stacks/web/evil")).unwrap();
    let commit = upstream.commit("outside/readme", "x");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    source.fetch(&NO_INTERRUPT).unwrap();

    let tree = source.read_tree(&commit, Path::new("stacks")).unwrap();
    let paths: Vec<&str> = tree.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["web/compose.yaml", "web/evil", "web/run.sh"]);
    assert_eq!(
        tree.get("web/evil"),
        Some(&Entry::Symlink {
            target: "/etc/passwd".into()
        }),
        "the link is read, never followed"
    );
    assert!(matches!(
        tree.get("web/run.sh"),
        Some(Entry::File {
            executable: true,
            ..
        })
    ));

    let whole = source.read_tree(&commit, Path::new("")).unwrap();
    assert!(whole.get("outside/readme").is_some());

    let error = source.read_tree(&commit, Path::new("missing")).unwrap_err();
    assert_eq!(error.reason(), "deploy_dir_missing", "{error}");
}

#[test]
fn a_corrupt_mirror_is_cloned_again() {
    let upstream = Upstream::new();
    let commit = upstream.commit("a", "1");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    source.fetch(&NO_INTERRUPT).unwrap();
    std::fs::remove_file(source.mirror_path().join("HEAD")).unwrap();
    std::fs::remove_dir_all(source.mirror_path().join("objects")).unwrap();
    assert_eq!(source.fetch(&NO_INTERRUPT).unwrap().commit, commit);
}

#[test]
fn force_pushed_history_is_followed() {
    let upstream = Upstream::new();
    upstream.commit("a", "1");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(Some("main"), cache.path());
    source.fetch(&NO_INTERRUPT).unwrap();
    upstream.git(&["checkout", "-q", "--orphan", "rewritten"]);
    let rewritten = upstream.commit("b", "2");
    upstream.git(&["branch", "-f", "-M", "main"]);
    assert_eq!(source.fetch(&NO_INTERRUPT).unwrap().commit, rewritten);
}

#[test]
fn the_token_travels_only_in_memory() {
    let cache = tempfile::tempdir().unwrap();
    let source = with_token("https://git.example/r.git", "s3cr3t-token", cache.path());
    let header = source
        .overrides
        .iter()
        .find(|o| o.starts_with("http.extraHeader="))
        .expect("header override");
    // base64("x-access-token:s3cr3t-token")
    assert_eq!(
        header,
        "http.extraHeader=Authorization: Basic eC1hY2Nlc3MtdG9rZW46czNjcjN0LXRva2Vu"
    );
    let error = source.remote_error(false, &std::io::Error::other("HTTP 401 for s3cr3t-token"));
    assert_eq!(error.reason(), "auth");
    assert!(!error.to_string().contains("s3cr3t-token"), "{error}");
}

#[test]
fn a_remote_head_on_an_unborn_branch_falls_back_to_main() {
    let upstream = Upstream::new();
    let commit = upstream.commit("a", "1");
    upstream.git(&["symbolic-ref", "HEAD", "refs/heads/gone"]);
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    let fetched = source.fetch(&NO_INTERRUPT).unwrap();
    assert_eq!(fetched.commit, commit);
    assert_eq!(fetched.reference, "refs/heads/main");
    assert_eq!(source.fetch(&NO_INTERRUPT).unwrap().commit, commit, "fetch");
}

#[test]
fn the_default_branch_is_followed_when_the_remote_changes_it() {
    let upstream = Upstream::new();
    upstream.commit("a", "1");
    upstream.git(&["checkout", "-q", "-b", "trunk"]);
    let trunk = upstream.commit("b", "2");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    let fetched = source.fetch(&NO_INTERRUPT).unwrap();
    assert_eq!(
        (fetched.commit.as_str(), fetched.reference.as_str()),
        (trunk.as_str(), "refs/heads/trunk")
    );
    upstream.git(&["checkout", "-q", "main"]);
    let main = upstream.commit("c", "3");
    let fetched = source.fetch(&NO_INTERRUPT).unwrap();
    assert_eq!(
        (fetched.commit.as_str(), fetched.reference.as_str()),
        (main.as_str(), "refs/heads/main")
    );
}

#[test]
fn ssh_never_prompts_even_without_a_key() {
    let cache = tempfile::tempdir().unwrap();
    let source = with_token(
        "git@git.example:acme/r.git",
        "ignored-for-ssh",
        cache.path(),
    );
    let command = source
        .overrides
        .iter()
        .find(|o| o.starts_with("core.sshCommand="))
        .expect("ssh command override");
    assert!(command.contains("BatchMode=yes"), "{command}");
    assert!(!command.contains(" -i "), "{command}");
    assert!(
        !source
            .overrides
            .iter()
            .any(|o| o.starts_with("http.extraHeader=")),
        "a token is only sent over HTTP"
    );
}

#[test]
fn the_encoded_token_is_scrubbed_too() {
    let cache = tempfile::tempdir().unwrap();
    let source = with_token("http://git.example/r.git", "s3cr3t-token", cache.path());
    let error = source.remote_error(
        false,
        &std::io::Error::other("bad header Basic eC1hY2Nlc3MtdG9rZW46czNjcjN0LXRva2Vu"),
    );
    assert!(!error.to_string().contains("eC1hY2Nl"), "{error}");
}

#[test]
fn a_mirror_with_a_damaged_pack_is_cloned_again() {
    let upstream = Upstream::new();
    upstream.commit("a", "1");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    source.fetch(&NO_INTERRUPT).unwrap();
    // It still opens as a repository, but its refs lead nowhere.
    for entry in std::fs::read_dir(source.mirror_path().join("objects/pack")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let second = upstream.commit("b", "2");
    let fetched = source.fetch(&NO_INTERRUPT).unwrap();
    assert_eq!(fetched.commit, second);
    let tree = source.read_tree(&fetched.commit, Path::new("")).unwrap();
    assert_eq!(tree.len(), 2);
}

#[test]
fn a_failing_fetch_keeps_an_intact_mirror() {
    let upstream = Upstream::new();
    let commit = upstream.commit("a", "1");
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    source.fetch(&NO_INTERRUPT).unwrap();
    let moved = upstream.dir.path().with_extension("moved");
    std::fs::rename(upstream.dir.path(), &moved).unwrap();
    let error = source.fetch(&NO_INTERRUPT).unwrap_err();
    std::fs::rename(&moved, upstream.dir.path()).unwrap();
    assert_eq!(error.reason(), "fetch", "{error}");
    // The commit already fetched is still readable while the remote is away.
    assert!(
        source
            .read_tree(&commit, Path::new(""))
            .unwrap()
            .get("a")
            .is_some()
    );
}

#[test]
fn a_commit_is_described_by_its_subject_author_and_commit_time() {
    let upstream = Upstream::new();
    let first = upstream.commit("a", "1");
    std::fs::write(upstream.dir.path().join("b"), "2").unwrap();
    upstream.git(&["add", "-A"]);
    // The author date is long past: the commit's time is the committer's.
    upstream.git(&[
        "-c",
        "user.name=Grace Hopper",
        "commit",
        "-q",
        "--date=2001-02-03T04:05:06Z",
        "-m",
        "<b>deploy</b>\tthe web\n\nA body line\nthat is not shown",
    ]);
    let second = upstream.git(&["rev-parse", "HEAD"]);
    let committed: i64 = upstream
        .git(&["show", "-s", "--format=%ct"])
        .parse()
        .unwrap();
    let committed = jiff::Timestamp::from_second(committed).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let source = upstream.source(None, cache.path());
    let unfetched = source.read_commits(std::slice::from_ref(&second));
    assert!(unfetched[0].is_err(), "no mirror yet: {unfetched:?}");
    source.fetch(&NO_INTERRUPT).unwrap();

    let missing = "0".repeat(40);
    let read = source.read_commits(&[second, "not-an-id".into(), missing, first]);
    assert_eq!(
        read[0].as_ref().unwrap(),
        &commit::CommitInfo {
            subject: "<b>deploy</b> the web".into(),
            author: "Grace Hopper".into(),
            time: committed.to_string(),
        }
    );
    assert!(read[1].is_err() && read[2].is_err(), "{read:?}");
    assert_eq!(read[3].as_ref().map(|c| c.subject.as_str()).unwrap(), "a");
}

#[rstest::rstest]
#[case::http_401("HTTP status 401 Unauthorized", true)]
#[case::http_403("received HTTP status: 403", true)]
#[case::ssh("Permission denied (publickey).", true)]
#[case::no_credentials("could not obtain credentials", true)]
#[case::an_object_id_with_401_in_it(
    "Could not peel reference to an object: object could not be found, object_id=\"b90501f9a401bffa5eb05f03fb5bb19d31455193\"",
    false
)]
#[case::an_object_id_with_403_in_it("object 403ab12c is missing", false)]
#[case::unreachable("connection refused", false)]
fn only_a_refusal_of_the_credentials_is_an_auth_error(#[case] message: &str, #[case] auth: bool) {
    assert_eq!(is_refusal(message), auth, "{message}");
}
