//! Discovery over in-memory trees.

use super::*;

const COMPOSE: &str = "services:\n  web:\n    image: busybox\n";

fn tree(files: &[(&str, &str)]) -> FileTree {
    let mut tree = FileTree::new();
    for (path, data) in files {
        tree.insert_file(*path, data.as_bytes());
    }
    tree
}

fn link(tree: &mut FileTree, path: &str, target: &str) {
    tree.insert(
        path,
        Entry::Symlink {
            target: target.into(),
        },
    );
}

#[test]
fn finds_stacks_at_any_depth_with_names_and_paths() {
    let stacks = discover(&tree(&[
        ("apps/web/compose.yaml", COMPOSE),
        ("apps/Web.v2/docker-compose.yml", COMPOSE),
        ("infra/deep/db/compose.yml", COMPOSE),
        ("README.md", "not a stack"),
    ]));
    let summary: Vec<(&str, &str, &str)> = stacks
        .values()
        .map(|s| (s.name.as_str(), s.path.as_str(), s.compose_file.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("apps-web", "apps/web", "compose.yaml"),
            ("apps-web-v2", "apps/Web.v2", "docker-compose.yml"),
            ("infra-deep-db", "infra/deep/db", "compose.yml"),
        ]
    );
    assert!(stacks.values().all(|s| s.error.is_none()));
    assert_eq!(stacks["apps-web"].services, vec!["web".to_string()]);
}

#[test]
fn the_deploy_folder_itself_is_the_root_stack() {
    let stacks = discover(&tree(&[("compose.yaml", COMPOSE)]));
    assert_eq!(stacks["root"].path, ".");
}

#[test]
fn compose_file_precedence_follows_the_contract() {
    let stacks = discover(&tree(&[
        ("s/docker-compose.yml", "services: {}\n"),
        ("s/compose.yml", COMPOSE),
        ("s/docker-compose.yaml", "services: {}\n"),
    ]));
    assert_eq!(stacks["s"].compose_file, "compose.yml");
    assert_eq!(stacks["s"].compose_hash, compose_hash(COMPOSE.as_bytes()));
}

#[test]
fn nested_stacks_own_their_files() {
    let outer_only = discover(&tree(&[("a/compose.yaml", COMPOSE), ("a/.env", "X=1")]));
    let with_nested = discover(&tree(&[
        ("a/compose.yaml", COMPOSE),
        ("a/.env", "X=1"),
        ("a/b/compose.yaml", COMPOSE),
        ("a/b/.env", "Y=2"),
    ]));
    assert_eq!(
        outer_only["a"].stack_hash, with_nested["a"].stack_hash,
        "files of a nested stack are not part of the outer stack"
    );
    let inner: Vec<&str> = with_nested["a-b"]
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(inner, vec![".env", "compose.yaml"]);
}

#[test]
fn a_change_to_env_or_config_changes_stack_hash_only() {
    let before = discover(&tree(&[
        ("s/compose.yaml", COMPOSE),
        ("s/conf/app.ini", "a"),
    ]));
    let after = discover(&tree(&[
        ("s/compose.yaml", COMPOSE),
        ("s/conf/app.ini", "b"),
    ]));
    assert_eq!(before["s"].compose_hash, after["s"].compose_hash);
    assert_ne!(before["s"].stack_hash, after["s"].stack_hash);
}

#[test]
fn clashing_names_fail_both_with_the_paths() {
    let stacks = discover(&tree(&[
        ("a.b/compose.yaml", COMPOSE),
        ("a-b/compose.yaml", COMPOSE),
    ]));
    assert_eq!(stacks.len(), 1, "one name, one entry");
    let first = &stacks["a-b"];
    let other = first.clashes_with.first().expect("the other path is kept");
    assert_eq!((first.path.as_str(), other.path.as_str()), ("a-b", "a.b"));
    for stack in [first, other] {
        let error = stack.error.as_deref().expect("clash error");
        assert!(
            error.contains("'a-b'") && error.contains("'a.b'"),
            "{error}"
        );
    }
}

#[test]
fn a_broken_compose_file_fails_that_stack_alone() {
    let stacks = discover(&tree(&[
        ("good/compose.yaml", COMPOSE),
        ("bad/compose.yaml", "services:\n  web: [oops\n"),
    ]));
    assert!(stacks["good"].error.is_none());
    let error = stacks["bad"].error.as_deref().expect("error");
    assert!(error.starts_with("compose.yaml: invalid YAML"), "{error}");
}

#[test]
fn symlinks_out_of_the_stack_fail_that_stack_only() {
    for target in ["/etc/passwd", "../other/secret", "../../../etc", "nested/x"] {
        let mut t = tree(&[
            ("s/compose.yaml", COMPOSE),
            ("other/secret", "x"),
            ("s/nested/compose.yaml", COMPOSE),
            ("ok/compose.yaml", COMPOSE),
        ]);
        link(&mut t, "s/link", target);
        let stacks = discover(&t);
        let error = stacks["s"].error.as_deref().unwrap_or_default();
        assert!(
            error.contains("leaves the stack folder"),
            "{target}: {error:?}"
        );
        assert!(stacks["ok"].error.is_none());
        assert!(stacks["s-nested"].error.is_none());
    }
}

/// Links are followed before the `..` after them, as the kernel does: on paper
/// each of these stays in `s`, on disk each climbs out.
#[test]
fn a_chain_of_links_is_resolved_as_the_kernel_does() {
    let escapes: [&[(&str, &str)]; 4] = [
        &[("d", "."), ("e1", "d/..")],
        &[("d", "."), ("e1", "d/../s"), ("e2", "e1/..")],
        &[("sub/up", ".."), ("x", "sub/up/..")],
        &[("d", "."), ("e1", "d/d/d/../../.."), ("e2", "e1/etc")],
    ];
    for links in escapes {
        let mut t = tree(&[("s/compose.yaml", COMPOSE), ("s/sub/a", "x")]);
        for (path, target) in links {
            link(&mut t, &format!("s/{path}"), target);
        }
        let error = discover(&t)["s"].error.clone().unwrap_or_default();
        assert!(
            error.contains("leaves the stack folder"),
            "{links:?}: {error}"
        );
    }
}

/// A path of the compose file is followed through the stack's links too.
#[test]
fn a_compose_path_through_links_must_land_inside() {
    let compose = "services:\n  web:\n    image: busybox\n    env_file: d/d/../passwd\n";
    let mut t = tree(&[("s/compose.yaml", compose)]);
    link(&mut t, "s/d", ".");
    let error = discover(&t)["s"].error.clone().unwrap_or_default();
    assert!(
        error.contains("env_file 'd/d/../passwd' is outside the stack folder"),
        "{error}"
    );
    // The same link used without `..` after it is fine.
    let compose = "services:\n  web:\n    image: busybox\n    env_file: d/d/web.env\n";
    let mut t = tree(&[("s/compose.yaml", compose), ("s/web.env", "A=1\n")]);
    link(&mut t, "s/d", ".");
    assert_eq!(discover(&t)["s"].error, None);
}

#[test]
fn symlinks_inside_the_stack_are_fine_and_compose_file_may_be_one() {
    let mut t = tree(&[("s/prod.yaml", COMPOSE), ("s/conf/a.ini", "x")]);
    link(&mut t, "s/compose.yaml", "prod.yaml");
    link(&mut t, "s/conf/b.ini", "./a.ini");
    let stacks = discover(&t);
    assert_eq!(stacks["s"].error, None);
    assert_eq!(stacks["s"].compose_hash, compose_hash(COMPOSE.as_bytes()));
    assert_eq!(stacks["s"].services, vec!["web".to_string()]);
}

#[test]
fn symlink_loops_and_dangling_compose_links_fail_cleanly() {
    let mut t = FileTree::new();
    link(&mut t, "s/compose.yaml", "a");
    link(&mut t, "s/a", "compose.yaml");
    link(&mut t, "d/compose.yaml", "missing.yaml");
    let stacks = discover(&t);
    assert!(
        stacks["s"]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("more than")
    );
    assert!(
        stacks["d"]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("does not exist")
    );
}

#[test]
fn unsupported_entries_fail_their_stack() {
    let mut t = tree(&[("s/compose.yaml", COMPOSE)]);
    t.insert(
        "s/vendor",
        Entry::Unsupported {
            reason: "git submodules are not supported".into(),
        },
    );
    let stacks = discover(&t);
    assert_eq!(
        stacks["s"].error.as_deref(),
        Some("vendor: git submodules are not supported")
    );
}

#[test]
fn names_compose_cannot_use_fail_with_a_reason() {
    let stacks = discover(&tree(&[(".hidden/compose.yaml", COMPOSE)]));
    let error = stacks["-hidden"].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("not a valid compose project name"),
        "{error}"
    );
}

#[test]
fn an_empty_tree_has_no_stacks() {
    assert!(discover(&FileTree::new()).is_empty());
}

#[test]
fn a_stack_knows_its_secret_values_from_compose_files_and_env_files() {
    let stacks = discover(&tree(&[
        (
            "web/compose.yaml",
            "include:\n  - more.yaml\nservices:\n  web:\n    image: busybox\n    environment:\n      DATABASE_URL: postgres://u:pw-secret-1@h/db\n      PRIVATE: ${DB_PASSWORD}\n",
        ),
        (
            "web/more.yaml",
            "services:\n  extra:\n    image: busybox\n    build:\n      context: .\n      args:\n        NPM_TOKEN: build-token-1\n",
        ),
        ("web/.env", "DB_PASSWORD=dotenv-pw-1\nLEVEL=debug\n"),
        ("web/conf/app.env", "SMTP_PASSWORD=env-file-pw\n"),
    ]));
    let secrets: Vec<&str> = stacks["web"].secrets.iter().collect();
    assert_eq!(
        secrets,
        ["build-token-1", "dotenv-pw-1", "env-file-pw", "pw-secret-1"]
    );
}

#[test]
fn an_undeployable_stack_s_error_shows_no_secret() {
    let stacks = discover(&tree(&[
        (
            "web/compose.yaml",
            "services:\n  web:\n    image: busybox\n    env_file: /etc/dotenv-pw-1\n",
        ),
        ("web/.env", "DB_PASSWORD=dotenv-pw-1\n"),
    ]));
    let error = stacks["web"].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("(redacted)") && !error.contains("dotenv-pw-1"),
        "{error}"
    );
}
