//! The one place a pass is written: its [`Report`] goes to the status table
//! (whose changes the SSE stream and the status metrics follow), the history,
//! the health gate's series and events. A pass writes here twice at most:
//! when compose starts (the stack is `syncing` or `deleting` while it runs,
//! and a rollback is announced) and when the pass ends.

use controller::Action;

use super::Failure;
use crate::docker::state::ContainerInfo;
use crate::events::{Event, EventBus};
use crate::history::{self, GateResult, GateVerdict, History, Operation, Run};
use crate::labels::Synced;
use crate::metrics::AppMetrics;
use crate::reconcile::ReconcileError;
use crate::reconcile::gate::Settled;
use crate::reconcile::series::GateSeries;
use crate::stack::DesiredStack;
use crate::stack::health::StackHealth;
use crate::status::{LastResult, Outcome, Status, StatusTable};
use crate::transitions::{Transition, TransitionKind, Transitions};

/// What one pass did, written once by [`Recorder::write`].
#[derive(Debug)]
pub(crate) struct Report {
    /// When the worker looks at the stack again, or why the pass failed.
    pub(crate) next: Result<Action, ReconcileError>,
    /// The stack's record after the pass; `None` keeps it. A pass that
    /// failed other than by a refusal is `failed` with its error.
    pub(crate) status: Option<StatusChange>,
    /// A health gate's verdict reached in the pass, and the revision it is of.
    pub(crate) verdict: Option<(Settled, Option<String>)>,
    /// `dockercd_stack_health` of the stack after the pass.
    pub(crate) health: Option<HealthChange>,
    /// The pass's apply corrected drift.
    pub(crate) drift_corrected: bool,
    /// After a restart, the last result the history recalls (kept only where
    /// the record has none).
    pub(crate) recalled: Option<LastResult>,
    /// The revision the pass's `compose up` ran, whether or not it ended
    /// well: what a status change is about, more than what runs.
    pub(crate) applied: Option<String>,
}

/// A change of a stack's status record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StatusChange {
    /// Nothing ran: the status and its error, and the labels of what runs.
    Seen {
        /// The new status.
        status: Status,
        /// Why it is failed or drifted.
        error: Option<String>,
        /// The running apply's labels; `None` keeps the record's.
        synced: Option<Synced>,
    },
    /// Failed, with a last result saying so; `repeated`: a failure found
    /// again by a pass (an invalid revision) keeps the time of the first.
    Failed {
        /// The stack's error: why it failed.
        error: String,
        /// Not a new attempt, the same finding again.
        repeated: bool,
        /// The running apply's labels; `None` keeps the record's.
        synced: Option<Synced>,
    },
    /// An apply's containers run: `synced`, or `syncing` while its gate is open.
    Applied {
        /// The gate passed as compose returned.
        settled: bool,
        /// The labels of what now runs.
        synced: Option<Synced>,
    },
    /// The gate failed and a rollback follows on the next pass: `syncing`, not
    /// `failed` for the moment (a watcher would report a failure about to be
    /// repaired).
    RollingBack {
        /// The gate's reason.
        reason: String,
    },
    /// `compose down` removed the stack.
    Removed,
    /// Neither desired nor running: the record goes.
    Forgotten,
}

/// A change of `dockercd_stack_health` for the stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HealthChange {
    /// The fraction of its services that are ready.
    Set(f64),
    /// The stack left Git: no series.
    Remove,
}

impl HealthChange {
    /// The fraction of `desired`'s services ready among `containers`,
    /// counted as the API counts it.
    pub(crate) fn of(desired: &DesiredStack, containers: &[ContainerInfo]) -> Self {
        Self::Set(StackHealth::of(Some(desired), containers).fraction())
    }
}

impl Report {
    /// A report that only says when to look again.
    pub(crate) fn next(next: Result<Action, ReconcileError>) -> Self {
        Self {
            next,
            status: None,
            verdict: None,
            health: None,
            drift_corrected: false,
            recalled: None,
            applied: None,
        }
    }

    /// A report with a status change.
    pub(crate) fn with(next: Result<Action, ReconcileError>, status: StatusChange) -> Self {
        Self {
            status: Some(status),
            ..Self::next(next)
        }
    }
}

/// Writes what passes did and do.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(super) status: StatusTable,
    pub(super) history: History,
    pub(super) metrics: AppMetrics,
    pub(super) gate_series: GateSeries,
    pub(super) events: EventBus,
    pub(super) transitions: Transitions,
}

impl Recorder {
    /// Writes to these records.
    pub(crate) fn new(
        status: StatusTable,
        history: History,
        metrics: AppMetrics,
        gate_series: GateSeries,
        events: EventBus,
        transitions: Transitions,
    ) -> Self {
        Self {
            status,
            history,
            metrics,
            gate_series,
            events,
            transitions,
        }
    }

    /// The status of `name` now (a pass reads it as it begins).
    pub(crate) fn status_of(&self, name: &str) -> Option<Status> {
        self.status.get(name).map(|r| r.status)
    }

    /// The labels of the last apply the status table knows: they survive a
    /// container's removal, which the runtime's labels do not.
    pub(crate) fn last_synced(&self, name: &str) -> Option<Synced> {
        self.status.get(name).and_then(|r| r.synced)
    }

    /// Compose starts `run`: the stack is `status` (syncing, deleting) while it runs.
    pub(crate) fn started(&self, name: &str, run: Run, status: Status) {
        let kind = match run.operation() {
            Operation::Apply => Some(TransitionKind::ApplyStarted {
                drift: run.cause() == history::Cause::Drift,
            }),
            Operation::Remove => Some(TransitionKind::RemoveStarted),
            // Announced with its reason by `rollback_started`.
            Operation::Rollback => None,
        };
        if let Some(kind) = kind {
            self.transitions.send(Transition {
                stack: name.to_string(),
                kind,
                previous: self.status_of(name),
                status,
                revision: run.revision().map(str::to_string),
                reason: None,
            });
        }
        self.history.begin(name, run);
        self.status.update(name, |r| {
            r.status = status;
            r.error = None;
        });
    }

    /// A rollback starts: from the `from_stack_hash` applied from commit
    /// `from`, to commit `to`, because its gate failed as `why` says
    /// (counted), or because an operator asked (`None`: reason `manual`).
    pub(crate) fn rollback_started(
        &self,
        name: &str,
        from: Option<String>,
        from_stack_hash: &str,
        to: &str,
        why: Option<&Failure>,
    ) {
        if let Some(why) = why {
            self.gate_series
                .rollbacks
                .with_label_values(&[why.failure.as_str()])
                .inc();
        }
        self.transitions.send(Transition {
            stack: name.to_string(),
            kind: TransitionKind::RollbackStarted {
                from: from.clone(),
                failure: why.map(|w| w.failure),
            },
            previous: self.status_of(name),
            status: Status::Syncing,
            revision: Some(to.to_string()),
            reason: why.map(|w| w.reason.clone()),
        });
        self.events.publish(Event::Rollback {
            name: name.to_string(),
            from_revision: from,
            from_stack_hash: from_stack_hash.to_string(),
            to_revision: to.to_string(),
            reason: why.map_or("manual", |w| w.failure.as_str()).to_string(),
            error: why.map(|w| w.reason.clone()),
        });
    }

    /// Writes `report`, the end of a pass of `name`, which began `before`.
    pub(crate) async fn write(&self, name: &str, report: &Report, before: Option<Status>) {
        let mut verdict = None;
        if let Some((settled, revision)) = &report.verdict {
            verdict = Some(
                self.verdict(name, revision.clone(), settled.clone(), before)
                    .await,
            );
        }
        let error = report.next.as_ref().err().map(ToString::to_string);
        self.history.end(name, error.clone()).await;
        // `syncing` while compose ran, else what the pass began with: a
        // failed stack whose next apply fails too ends a change.
        let previous = self.status_of(name);
        match (&report.next, &report.status) {
            // A pass that failed is `failed` with its error, whatever it
            // reported before failing; a refusal says why itself.
            (Err(failure), _) if !matches!(failure, ReconcileError::Invalid(_)) => {
                tracing::warn!(stack = %name, error = %failure, "reconcile failed");
                let failed = StatusChange::Failed {
                    error: failure.to_string(),
                    repeated: false,
                    synced: None,
                };
                self.change_status(name, &failed);
            }
            (_, Some(change)) => self.change_status(name, change),
            (_, None) => {}
        }
        // Once the status says it: a reader of the feed (a commit status
        // posted as `success`) finds the API agreeing.
        if let Some(mut verdict) = verdict {
            // What the stack is now: `syncing` while a rollback follows a
            // failed gate, not `failed`.
            verdict.status = self.status_of(name).unwrap_or(verdict.status);
            self.transitions.send(verdict);
        }
        let after = self.status.get(name);
        let now = after.as_ref().map(|r| r.status);
        if let Some(record) = after.filter(|_| now != previous) {
            self.transitions.send(Transition {
                stack: name.to_string(),
                kind: TransitionKind::StatusChanged,
                previous,
                status: record.status,
                revision: report
                    .applied
                    .clone()
                    .or_else(|| record.synced.map(|s| s.revision)),
                reason: record.error,
            });
        }
        if let Some(recalled) = &report.recalled {
            self.status.update(name, |r| {
                r.last_result.get_or_insert_with(|| recalled.clone());
            });
        }
        let health = &self.gate_series.stack_health;
        match report.health {
            Some(HealthChange::Set(fraction)) => health.with_label_values(&[name]).set(fraction),
            // Absent already is the common case for a stack gone from Git.
            Some(HealthChange::Remove) => {
                let _ = health.remove_label_values(&[name]);
            }
            None => {}
        }
        if report.drift_corrected {
            self.metrics.drift_corrections.inc();
        }
    }

    fn change_status(&self, name: &str, change: &StatusChange) {
        let failure = |error: &str| Some(LastResult::now(Outcome::Failure, Some(error.into())));
        match change.clone() {
            StatusChange::Seen {
                status,
                error,
                synced,
            } => self.status.update(name, |r| {
                r.status = status;
                r.error = error;
                if synced.is_some() {
                    r.synced = synced;
                }
            }),
            StatusChange::Failed {
                error,
                repeated,
                synced,
            } => self.status.update(name, |r| {
                let known = repeated
                    && r.last_result.as_ref().is_some_and(|l| {
                        l.outcome == Outcome::Failure && l.error.as_deref() == Some(&error)
                    });
                if !known {
                    r.last_result = failure(&error);
                }
                r.status = Status::Failed;
                r.error = Some(error);
                if synced.is_some() {
                    r.synced = synced;
                }
            }),
            StatusChange::Applied { settled, synced } => self.status.update(name, |r| {
                r.status = if settled {
                    Status::Synced
                } else {
                    Status::Syncing
                };
                r.error = None;
                r.synced = synced;
                r.last_result = Some(LastResult::now(Outcome::Success, None));
            }),
            StatusChange::RollingBack { reason } => self.status.update(name, |r| {
                r.status = Status::Syncing;
                r.error = Some(format!("{reason}; rolling back"));
                r.last_result = failure(&reason);
            }),
            StatusChange::Removed => self.status.update(name, |r| {
                r.status = Status::Missing;
                r.error = None;
                r.synced = None;
                r.last_result = Some(LastResult::now(Outcome::Success, None));
            }),
            StatusChange::Forgotten => self.status.remove(name),
        }
    }

    /// The verdict of the gate of an apply of `revision`: its duration, a
    /// `gate` event, and the apply's history entry; returns its transition.
    async fn verdict(
        &self,
        name: &str,
        revision: Option<String>,
        settled: Settled,
        before: Option<Status>,
    ) -> Transition {
        let (gate, reason, error) = match settled.failure {
            Some((failure, reason)) => (GateResult::Failed, Some(failure), Some(reason)),
            None => (GateResult::Passed, None, None),
        };
        let transition = Transition {
            stack: name.to_string(),
            kind: match reason {
                Some(failure) => TransitionKind::GateFailed { failure },
                None => TransitionKind::GatePassed,
            },
            previous: before,
            status: if reason.is_some() {
                Status::Failed
            } else {
                Status::Synced
            },
            revision: revision.clone(),
            reason: error.clone(),
        };
        self.gate_series
            .duration
            .with_label_values(&[gate.as_str()])
            .observe(settled.took.as_secs_f64());
        self.events.publish(Event::Gate {
            name: name.to_string(),
            stack_hash: settled.stack_hash.clone(),
            revision,
            outcome: gate.as_str().to_string(),
            reason: reason.map(|r| r.as_str().to_string()),
            error: error.clone(),
            duration_ms: u64::try_from(settled.took.as_millis()).unwrap_or(u64::MAX),
        });
        let verdict = GateVerdict {
            stack_hash: settled.stack_hash,
            gate,
            failure: reason,
            error,
        };
        self.history.settle(name, verdict).await;
        transition
    }

    /// The history of `name`, newest first (after a restart: what it recalls).
    pub(crate) async fn history_of(&self, name: &str) -> Option<Vec<history::Entry>> {
        self.history.list(name).await.ok()
    }
}
