//! The redb store on a real file in a temporary folder.

use super::*;
use crate::history::{Cause, Operation, Trigger};
use crate::status::Outcome;

fn entry(revision: &str) -> Entry {
    Entry {
        revision: Some(revision.to_string()),
        stack_hash: Some(format!("hash-{revision}")),
        cause: Cause::Git,
        trigger: Trigger::Refresh,
        action: Operation::Apply,
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 12,
        outcome: Outcome::Success,
        error: None,
        gate: None,
        gate_reason: None,
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

fn failed_gate(stack_hash: &str) -> GateVerdict {
    GateVerdict {
        stack_hash: stack_hash.into(),
        gate: crate::history::GateResult::Failed,
        failure: Some(crate::history::GateFailure::Unhealthy),
        error: Some("health gate failed: web: unhealthy".into()),
    }
}

#[test]
fn a_failed_gate_turns_the_newest_apply_of_its_hash_into_a_failure_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.redb");
    let store = RedbStore::open(&path).expect("open");
    store.record("web", &entry("a")).expect("record");
    store.record("web", &entry("b")).expect("record");
    store.record("web-2", &entry("b")).expect("record");
    store.settle("web", &failed_gate("hash-a")).expect("settle");
    assert!(
        store
            .list("web")
            .expect("list")
            .iter()
            .all(|e| e.gate.is_none()),
        "only the newest entry, and only for its own stack_hash"
    );
    store.settle("web", &failed_gate("hash-b")).expect("settle");
    let passed = GateVerdict {
        gate: crate::history::GateResult::Passed,
        failure: None,
        error: None,
        ..failed_gate("hash-b")
    };
    store.settle("web", &passed).expect("a second verdict");
    drop(store);
    let store = RedbStore::open(&path).expect("reopen");
    let listed = store.list("web").expect("list");
    assert_eq!(listed[0].revision.as_deref(), Some("b"));
    assert_eq!(listed[0].outcome, Outcome::Failure);
    assert_eq!(listed[0].gate, Some(crate::history::GateResult::Failed));
    assert_eq!(
        listed[0].gate_reason,
        Some(crate::history::GateFailure::Unhealthy),
        "kept across a reopen"
    );
    assert_eq!(
        listed[0].error.as_deref(),
        Some("health gate failed: web: unhealthy")
    );
    assert_eq!(listed[1], entry("a"), "older entries untouched");
    assert_eq!(store.list("web-2").expect("list")[0], entry("b"));
}

#[test]
fn a_record_written_before_gates_reads_with_no_verdict_and_takes_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(&dir.path().join("history.redb")).expect("open");
    let old = r#"{"revision":"a","stack_hash":"hash-a","cause":"git","trigger":"refresh","action":"apply","started_at":"2026-01-01T00:00:00Z","duration_ms":12,"outcome":"success","error":null}"#;
    store.append("web", old.as_bytes()).expect("append");
    assert_eq!(store.list("web").expect("list"), [entry("a")]);
    let passed = GateVerdict {
        stack_hash: "hash-a".into(),
        gate: crate::history::GateResult::Passed,
        failure: None,
        error: None,
    };
    store.settle("web", &passed).expect("settle");
    let listed = store.list("web").expect("list");
    assert_eq!(listed[0].gate, Some(crate::history::GateResult::Passed));
    assert_eq!(listed[0].outcome, Outcome::Success);
}
