//! Which transitions become messages (`NOTIFY_EVENTS`), and the rule that a
//! stack's same news is sent once. Pure: the feed goes in, notices come out.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use crate::named::named_enum;
use crate::setting::Invalid;
use crate::status::Status;
use crate::transitions::{Transition, TransitionKind};

/// Consecutive failed refreshes that make Git "failing": one is a blip.
pub const REFRESH_FAILURES: u32 = 3;

/// How the reason of a `drifted` status begins when `RECONCILE_ENABLED=false`
/// leaves a change unapplied (`reconcile::decide`, `needs_apply`): a Git change
/// waiting for an apply, not drift. The transition carries no cause, so the
/// reason is the signal; decide's tests pin these words.
pub const PENDING_CHANGE: &str = "out of sync (automatic apply is off)";

named_enum! {
    /// A kind of message, as `NOTIFY_EVENTS` names it.
    pub enum NotifyEvent {
        /// An apply of a revision starts (off by default: one per apply).
        Started = "started",
        /// A change was applied and passed its health gate.
        Synced = "synced",
        /// The stack is `failed` (an apply, a removal, or the revision itself).
        Failed = "failed",
        /// An apply's health gate failed.
        GateFailed = "gate-failed",
        /// The last good revision runs again after a failed gate.
        RolledBack = "rolled-back",
        /// Drift found: reverted (`DRIFT_POLICY=revert`) or flagged.
        Drifted = "drifted",
        /// Running, no longer in Git, removal disabled.
        Orphaned = "orphaned",
        /// A stack that left Git was removed.
        Removed = "removed",
        /// A failed, drifted or rolled-back stack is `synced` again.
        Recovered = "recovered",
        /// Git refreshes failed [`REFRESH_FAILURES`] times in a row.
        RefreshFailing = "refresh-failing",
        /// A refresh worked again after those failures.
        RefreshRecovered = "refresh-recovered",
    }
}

/// `NOTIFY_EVENTS`: comma-separated names, or `all`; the default is every
/// event but `started`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSet(BTreeSet<NotifyEvent>);

impl Default for EventSet {
    fn default() -> Self {
        Self(
            NotifyEvent::ALL
                .iter()
                .copied()
                .filter(|e| *e != NotifyEvent::Started)
                .collect(),
        )
    }
}

impl EventSet {
    /// Whether `event` is sent.
    pub fn contains(&self, event: NotifyEvent) -> bool {
        self.0.contains(&event)
    }
}

impl FromStr for EventSet {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let mut set = BTreeSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            // Names are read whatever their case, as `all`.
            let lower = name.to_ascii_lowercase();
            if lower == "all" {
                set.extend(NotifyEvent::ALL.iter().copied());
                continue;
            }
            let event = lower.parse::<NotifyEvent>().map_err(|_| {
                let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
                Invalid::new(format!(
                    "unknown event '{name}' in NOTIFY_EVENTS (one of: {}, or all)",
                    names.join(", ")
                ))
            })?;
            set.insert(event);
        }
        if set.is_empty() {
            return Err(Invalid::new("names no event: unset it for the default"));
        }
        Ok(Self(set))
    }
}

/// One message to send, before the commit and links are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What happened.
    pub event: NotifyEvent,
    /// The stack; `None` for Git refresh news.
    pub stack: Option<String>,
    /// Its status now.
    pub status: Option<Status>,
    /// Its status before.
    pub previous: Option<Status>,
    /// The commit concerned (after a rollback: the good one that runs again).
    pub revision: Option<String>,
    /// A rollback's failed commit, replaced by `revision`.
    pub from_revision: Option<String>,
    /// Why, as the stack's error says it (masked already).
    pub reason: Option<String>,
}

/// What the selector remembers of one stack between transitions.
#[derive(Debug, Default)]
struct Memory {
    /// Failed, drifted or rolled back since it was last `synced`.
    troubled: bool,
    /// An automatic rollback runs, from this commit.
    rollback: Option<Option<String>>,
    /// A removal runs, of this commit (the one that ran, if known).
    removing: Option<Option<String>>,
    /// An apply, rollback or removal of it started in this process.
    acted: bool,
    /// Its status is `drifted` for a change waiting for an apply ([`PENDING_CHANGE`]).
    pending: bool,
    /// The gate of this pass passed: the status that follows it in the same
    /// pass says whether that is `synced` or the rolled-back state again.
    passed: Option<Transition>,
    /// What was last sent: event, status, revision and reason.
    sent: Option<Sent>,
}

/// The news last sent of a stack: event, status, revision, reason.
type Sent = (NotifyEvent, Option<Status>, Option<String>, Option<String>);

/// Turns the transition feed and refresh outcomes into notices.
#[derive(Debug, Default)]
pub struct Selector {
    events: EventSet,
    stacks: HashMap<String, Memory>,
    refresh_failures: u32,
}

impl Selector {
    /// A selector sending `events`.
    pub fn new(events: EventSet) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// The notice `transition` makes, if it makes one that is chosen and new.
    pub fn transition(&mut self, t: &Transition) -> Option<Notice> {
        let memory = self.stacks.entry(t.stack.clone()).or_default();
        // No status record yet (the first pass after a start), no compose
        // run of the stack and no gate verdict in this process: the state
        // found at start, which the last process told already.
        let found = t.kind == TransitionKind::StatusChanged
            && t.previous.is_none()
            && !memory.acted
            && memory.passed.is_none();
        let told = classify(memory, t);
        let trouble = matches!(
            t.status,
            Status::Failed | Status::Drifted | Status::RolledBack
        );
        if trouble && !pending_change(t) {
            memory.troubled = true;
        }
        let Told {
            event,
            from_revision,
            of,
        } = told.filter(|_| !found)?;
        // The transition the news speaks of: the gate's, where the status
        // after it confirmed it.
        let t = of.as_ref().unwrap_or(t);
        if t.status == Status::Synced {
            memory.troubled = false;
        }
        if !self.events.contains(event) {
            return None;
        }
        // The same news again (a crash loop, a retried apply failing alike)
        // is sent once; anything else sent in between makes it news again. A
        // failed gate and the `failed` status it leads to are one news.
        let news = match event {
            NotifyEvent::GateFailed => NotifyEvent::Failed,
            other => other,
        };
        let key = (news, Some(t.status), t.revision.clone(), t.reason.clone());
        if memory.sent.as_ref() == Some(&key) {
            return None;
        }
        memory.sent = Some(key);
        Some(Notice {
            event,
            stack: Some(t.stack.clone()),
            status: Some(t.status),
            previous: t.previous,
            revision: t.revision.clone(),
            from_revision,
            reason: t.reason.clone(),
        })
    }

    /// The notice a refresh outcome makes: the third failure in a row, and
    /// the first success after it.
    pub fn refresh(
        &mut self,
        failed: bool,
        revision: Option<String>,
        error: Option<String>,
    ) -> Option<Notice> {
        let event = if failed {
            self.refresh_failures = self.refresh_failures.saturating_add(1);
            (self.refresh_failures == REFRESH_FAILURES).then_some(NotifyEvent::RefreshFailing)
        } else {
            let was = std::mem::take(&mut self.refresh_failures);
            (was >= REFRESH_FAILURES).then_some(NotifyEvent::RefreshRecovered)
        }?;
        self.events.contains(event).then_some(Notice {
            event,
            stack: None,
            status: None,
            previous: None,
            revision,
            from_revision: None,
            reason: error,
        })
    }
}

/// The news one transition makes.
struct Told {
    event: NotifyEvent,
    /// A rollback's failed commit, replaced by the one that runs.
    from_revision: Option<String>,
    /// The transition the news speaks of, when not the one classified.
    of: Option<Transition>,
}

impl Told {
    fn of(event: NotifyEvent) -> Self {
        Self {
            event,
            from_revision: None,
            of: None,
        }
    }
}

/// The news a transition is, updating what is remembered of its stack.
fn classify(memory: &mut Memory, t: &Transition) -> Option<Told> {
    // The status of the pass that passed a gate comes next, in that pass.
    let passed = memory.passed.take();
    memory.acted |= matches!(
        t.kind,
        TransitionKind::ApplyStarted { .. }
            | TransitionKind::RollbackStarted { .. }
            | TransitionKind::RemoveStarted
    );
    let event = match &t.kind {
        TransitionKind::ApplyStarted { drift: false } => NotifyEvent::Started,
        // Drift reverted: said as the revert starts (no verdict follows it).
        TransitionKind::ApplyStarted { drift: true } => NotifyEvent::Drifted,
        TransitionKind::RollbackStarted { from, failure } => {
            // An operator's rollback is a deploy like any other: its gate says synced.
            if failure.is_some() {
                memory.rollback = Some(from.clone());
            }
            return None;
        }
        TransitionKind::RemoveStarted => {
            memory.removing = Some(t.revision.clone());
            return None;
        }
        // Told once the status says what it led to: `synced`, or (an
        // automatic rollback's target, an ack's repair) `rolled-back`.
        TransitionKind::GatePassed => {
            memory.passed = Some(t.clone());
            return None;
        }
        TransitionKind::GateFailed { .. } => {
            memory.rollback = None;
            NotifyEvent::GateFailed
        }
        TransitionKind::StatusChanged => return status_changed(memory, t, passed),
    };
    Some(Told::of(event))
}

/// The news of a pass that ended in another status than it began with,
/// `passed` its gate if one passed in it.
fn status_changed(memory: &mut Memory, t: &Transition, passed: Option<Transition>) -> Option<Told> {
    let rollback = if t.status == Status::Syncing {
        None
    } else {
        memory.rollback.take()
    };
    let removing = memory.removing.take();
    let was_pending = std::mem::replace(&mut memory.pending, pending_change(t));
    let after_trouble = match t.previous {
        Some(Status::Failed) => true,
        Some(Status::Drifted) => !was_pending,
        _ => false,
    };
    let event = match t.status {
        // An apply passed its gate.
        Status::Synced if passed.is_some() => {
            let event = if memory.troubled {
                NotifyEvent::Recovered
            } else {
                NotifyEvent::Synced
            };
            return Some(Told {
                event,
                from_revision: None,
                of: passed,
            });
        }
        // Found synced without an apply (drift gone, acknowledged): news only
        // after trouble; a first pass after a restart says nothing.
        Status::Synced if memory.troubled || after_trouble => NotifyEvent::Recovered,
        Status::Failed => NotifyEvent::Failed,
        Status::Drifted if memory.pending => return None,
        Status::Drifted => NotifyEvent::Drifted,
        Status::Orphaned => NotifyEvent::Orphaned,
        // An automatic rollback ended: news, naming the commit it replaced.
        Status::RolledBack if rollback.is_some() => {
            return Some(Told {
                event: NotifyEvent::RolledBack,
                from_revision: rollback.flatten(),
                of: None,
            });
        }
        // No rollback ran: the rolled-back state again after drift or a
        // failure was repaired (an ack's apply, a container back).
        Status::RolledBack if passed.is_some() || after_trouble => NotifyEvent::Recovered,
        // The status no longer names a commit: the removal's does.
        Status::Missing if removing.is_some() => {
            return Some(Told {
                event: NotifyEvent::Removed,
                from_revision: None,
                of: Some(Transition {
                    revision: removing.flatten(),
                    ..t.clone()
                }),
            });
        }
        _ => return None,
    };
    Some(Told::of(event))
}

/// Whether `t` says a change waits for an apply ([`PENDING_CHANGE`]).
fn pending_change(t: &Transition) -> bool {
    t.status == Status::Drifted
        && t.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(PENDING_CHANGE))
}

#[cfg(test)]
mod tests;
