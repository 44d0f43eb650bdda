//! The redb store on a real file in a temporary folder.

use super::*;
use crate::history::{Action, Cause, Trigger};
use crate::status::Outcome;

fn entry(revision: &str) -> Entry {
    Entry {
        revision: Some(revision.to_string()),
        stack_hash: Some(format!("hash-{revision}")),
        cause: Cause::Git,
        trigger: Trigger::Refresh,
        action: Action::Apply,
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 12,
        outcome: Outcome::Success,
        error: None,
    }
}

fn revisions(entries: &[Entry]) -> Vec<String> {
    entries.iter().filter_map(|e| e.revision.clone()).collect()
}

#[test]
fn lists_newest_first_and_keeps_only_the_last_hundred() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(&dir.path().join("history.redb")).expect("open");
    assert!(store.list("web").expect("list").is_empty());
    for i in 0..KEEP + 5 {
        store
            .record("web", &entry(&format!("r{i}")))
            .expect("record");
    }
    let listed = store.list("web").expect("list");
    assert_eq!(listed.len(), KEEP);
    assert_eq!(listed[0].revision.as_deref(), Some("r104"), "newest first");
    assert_eq!(
        listed[KEEP - 1].revision.as_deref(),
        Some("r5"),
        "r0..r4 dropped"
    );
}

#[test]
fn stacks_are_kept_apart_even_when_one_name_prefixes_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(&dir.path().join("history.redb")).expect("open");
    store.record("web", &entry("a")).expect("record");
    store.record("web-2", &entry("b")).expect("record");
    store.record("web", &entry("c")).expect("record");
    assert_eq!(revisions(&store.list("web").expect("list")), ["c", "a"]);
    assert_eq!(revisions(&store.list("web-2").expect("list")), ["b"]);
    assert!(store.list("we").expect("list").is_empty());
}

#[test]
fn a_reopened_file_keeps_every_entry_and_numbers_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.redb");
    let mut failed = entry("a");
    failed.outcome = Outcome::Failure;
    failed.error = Some("compose up failed".into());
    {
        let store = RedbStore::open(&path).expect("open");
        store.record("web", &failed).expect("record");
    }
    let store = RedbStore::open(&path).expect("reopen");
    store.record("web", &entry("b")).expect("record");
    let listed = store.list("web").expect("list");
    assert_eq!(revisions(&listed), ["b", "a"]);
    assert_eq!(listed[1], failed, "every field survives");
}

#[test]
fn a_file_in_use_or_an_unwritable_folder_fails_the_open_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.redb");
    let _first = RedbStore::open(&path).expect("open");
    let error = RedbStore::open(&path).err().expect("second open refused");
    assert!(error.to_string().contains("history.redb"), "{error}");
    let missing = dir.path().join("no-such-folder/history.redb");
    assert!(RedbStore::open(&missing).is_err());
}
