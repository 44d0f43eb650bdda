use serde_json::json;

use super::*;
use crate::cli::views::{History, Plan, StackList};

fn plan() -> Plan {
    serde_json::from_value(json!({
        "stack": "apps-web", "token": "t", "desired_revision": "0123456789abcdef",
        "changes": [
            {"action": "+", "service": "cache", "source": "git",
             "fields": [{"field": "image", "old": null, "new": "redis:7"}]},
            {"action": "~", "service": "web", "source": "git",
             "fields": [{"field": "image", "old": "nginx:1.26", "new": "nginx:1.27"},
                        {"field": "ports", "old": ["80:80"], "new": null}]},
            {"action": "~", "service": "api", "source": "runtime",
             "fields": [{"field": "state", "old": "exited", "new": "running"}]},
            {"action": "-", "service": "old", "source": "git", "fields": []}
        ],
        "summary": {"add": 1, "change": 2, "remove": 1}
    }))
    .unwrap()
}

#[test]
fn a_plan_reads_as_terraform_prints_one() {
    let expected = "\
Stack apps-web (revision 0123456):
  + cache
      image: \"redis:7\"
  ~ web
      image: \"nginx:1.26\" → \"nginx:1.27\"
      ports: [\"80:80\"] → (none)
  ~ api (runtime drift)
      state: \"exited\" → \"running\"
  - old

Plan: 1 to add, 2 to change, 1 to remove.
";
    assert_eq!(plan_text(&plan(), false), expected);
}

#[test]
fn colour_only_when_asked_and_only_around_the_text() {
    let plain = plan_text(&plan(), false);
    assert!(!plain.contains('\x1b'), "{plain}");
    let coloured = plan_text(&plan(), true);
    assert!(coloured.contains("\x1b[32m  + cache\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[33m  ~ web\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[31m  - old\x1b[0m"), "{coloured}");
    let stripped = coloured
        .replace("\x1b[32m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[1m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}

#[test]
fn an_empty_plan_says_so_in_one_line() {
    let empty: Plan =
        serde_json::from_value(json!({"stack": "web", "token": "t", "changes": []})).unwrap();
    assert_eq!(plan_text(&empty, true), "web: no changes (revision -).\n");
    assert_eq!(summary(&empty), "Plan: 0 to add, 0 to change, 0 to remove.");
}

#[test]
fn the_status_table_aligns_columns_and_dashes_unknowns() {
    let list: StackList = serde_json::from_value(json!({
        "revision": "abc",
        "stacks": [
            {"name": "apps-web", "status": "synced", "health": {"ready": 2, "total": 2},
             "synced_revision": "0123456789", "synced_at": "2025-01-02T03:04:05Z",
             "error": null, "services": []},
            {"name": "db", "status": "failed", "health": {"ready": 0, "total": 1},
             "synced_revision": null, "synced_at": null,
             "error": "compose up failed:\nno such image"}
        ]
    }))
    .unwrap();
    let expected = "\
NAME      STATUS  HEALTH  REVISION  SYNCED AT             ERROR
apps-web  synced  2/2     0123456   2025-01-02T03:04:05Z  -
db        failed  0/1     -         -                     compose up failed: no such image
";
    assert_eq!(status_table(&list), expected);
    assert_eq!(status_table(&StackList::default()), "no stacks\n");
}

#[test]
fn long_errors_are_clipped_in_tables() {
    let long = "x".repeat(300);
    let clipped = clipped(&long);
    assert_eq!(clipped.chars().count(), ERROR_WIDTH);
    assert!(clipped.ends_with('…'));
}

#[test]
fn history_rows_name_action_revision_and_outcome() {
    let history: History = serde_json::from_value(json!({
        "stack": "web",
        "entries": [{"revision": "fedcba9876", "stack_hash": "h", "cause": "manual",
                     "trigger": "api", "action": "rollback", "started_at": "2025-01-02T03:04:05Z",
                     "duration_ms": 1500, "outcome": "success", "error": null, "gate": "passed",
                     "commit": null}]
    }))
    .unwrap();
    let text = history_table(&history);
    let row = text.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "2025-01-02T03:04:05Z",
            "rollback",
            "fedcba9",
            "manual",
            "api",
            "success",
            "passed",
            "1.5s",
            "-"
        ]
    );
    let none: History = serde_json::from_value(json!({"stack": "web", "entries": []})).unwrap();
    assert_eq!(history_table(&none), "web: no history yet\n");
}

#[test]
fn apply_outcomes_are_one_line() {
    let ok: Applied = serde_json::from_value(json!({
        "stack": "web", "outcome": "success", "status": "synced", "revision": "0123456789", "error": null
    }))
    .unwrap();
    assert_eq!(
        applied_line(&ok),
        "web: success (status synced, revision 0123456)"
    );
    let failed: Applied = serde_json::from_value(json!({
        "stack": "web", "outcome": "failure", "status": "failed", "revision": null,
        "error": "compose up:\nexit 1"
    }))
    .unwrap();
    assert_eq!(
        applied_line(&failed),
        "web: failure (status failed, revision -): compose up: exit 1"
    );
}
