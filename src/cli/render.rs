//! Text for people: pure functions from the API's answers to what is printed.

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use serde_json::Value;

use super::views::{Applied, Change, FieldChange, History, Plan, StackList};
use crate::text::{cut, one_line, short_commit};

/// How many characters of an error a table row shows (`--output json` has all).
const ERROR_WIDTH: usize = 100;

/// ANSI colours of the plan's symbols, as Terraform uses them.
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The stack table of `status`.
pub fn status_table(list: &StackList) -> String {
    if list.stacks.is_empty() {
        return "no stacks\n".to_string();
    }
    let rows = list.stacks.iter().map(|s| {
        vec![
            s.name.clone(),
            s.status.clone(),
            s.health
                .map_or_else(dash, |h| format!("{}/{}", h.ready, h.total)),
            s.synced_revision.as_deref().map_or_else(dash, short),
            s.synced_at.clone().unwrap_or_else(dash),
            s.error.as_deref().map_or_else(dash, clipped),
        ]
    });
    let head = ["NAME", "STATUS", "HEALTH", "REVISION", "SYNCED AT", "ERROR"];
    table(&head, rows.collect())
}

/// The entries of `history`, newest first.
pub fn history_table(history: &History) -> String {
    if history.entries.is_empty() {
        return format!("{}: no history yet\n", history.stack);
    }
    let rows = history.entries.iter().map(|e| {
        vec![
            e.started_at.clone(),
            e.action.clone(),
            e.revision.as_deref().map_or_else(dash, short),
            e.cause.clone(),
            e.trigger.clone(),
            e.outcome.clone(),
            e.gate.clone().unwrap_or_else(dash),
            format!("{:.1}s", e.duration_ms as f64 / 1000.0),
            e.error.as_deref().map_or_else(dash, clipped),
        ]
    });
    let head = [
        "STARTED AT",
        "ACTION",
        "REVISION",
        "CAUSE",
        "TRIGGER",
        "OUTCOME",
        "GATE",
        "DURATION",
        "ERROR",
    ];
    table(&head, rows.collect())
}

/// A plan as Terraform prints one: a symbol per service, `old → new` per
/// field, a summary line; ANSI colours only when `colour`.
pub fn plan_text(plan: &Plan, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let revision = plan.desired_revision.as_deref().map_or_else(dash, short);
    if plan.changes.is_empty() {
        return format!("{}: no changes (revision {revision}).\n", plan.stack);
    }
    let mut out = paint(
        BOLD,
        &format!("Stack {} (revision {revision}):", plan.stack),
    );
    out.push('\n');
    for change in &plan.changes {
        let symbol = match change.action.as_str() {
            "+" => GREEN,
            "-" => RED,
            _ => YELLOW,
        };
        let drift = if change.source == "runtime" {
            " (runtime drift)"
        } else {
            ""
        };
        let head = format!("  {} {}", change.action, change.service);
        let _ = writeln!(out, "{}{drift}", paint(symbol, &head));
        for field in &change.fields {
            let _ = writeln!(out, "      {}", field_text(change, field));
        }
    }
    let _ = writeln!(out, "\n{}", summary(plan));
    out
}

/// `field: old → new`; only the new value for an added service.
fn field_text(change: &Change, field: &FieldChange) -> String {
    if change.action == "+" {
        return format!("{}: {}", field.field, value_text(&field.new));
    }
    format!(
        "{}: {} → {}",
        field.field,
        value_text(&field.old),
        value_text(&field.new)
    )
}

/// `Plan: 1 to add, 2 to change, 0 to remove.`
pub fn summary(plan: &Plan) -> String {
    let count = |symbol: &str| plan.changes.iter().filter(|c| c.action == symbol).count();
    format!(
        "Plan: {} to add, {} to change, {} to remove.",
        count("+"),
        count("~"),
        count("-")
    )
}

/// The outcome of an apply or rollback, on one line.
pub fn applied_line(applied: &Applied) -> String {
    let revision = applied.revision.as_deref().map_or_else(dash, short);
    let status = applied.status.as_deref().unwrap_or("-");
    match &applied.error {
        Some(error) if !applied.succeeded() => format!(
            "{}: {} (status {status}, revision {revision}): {}",
            applied.stack,
            applied.outcome,
            one_line(error)
        ),
        _ => format!(
            "{}: {} (status {status}, revision {revision})",
            applied.stack, applied.outcome
        ),
    }
}

/// A JSON value as a plan shows it: strings quoted, `(none)` for null.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let head = head.iter().map(|h| (*h).to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(head).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first characters of a commit id.
pub fn short(revision: &str) -> String {
    short_commit(revision).to_string()
}

/// An error on one line, cut to a table cell's width.
fn clipped(error: &str) -> String {
    cut(&one_line(error), ERROR_WIDTH)
}

fn dash() -> String {
    "-".to_string()
}
