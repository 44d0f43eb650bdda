//! Which transitions become commit statuses, and what they say.
//!
//! A status tells the commit's author what became of *their* change: the
//! apply of a revision starts (`pending`), its health gate passes (`success`),
//! or it fails or is rolled back (`failure`, naming why and what runs
//! instead). Re-runs of a revision that already has its verdict post nothing:
//! a drift revert or a rollback to a good revision is no news about that
//! commit, would flip a green commit to pending and back at every drift, and
//! GitHub keeps at most 1000 statuses per commit and context. Nor do other
//! applies of a commit this process already posted a verdict for (an ack of
//! flagged drift, a sync, each retry of a failed compose up): only a changed
//! state is posted (`success` → `failure`, `failure` → `success`). What was
//! posted is remembered per stack: its last commit and state.

use std::collections::HashMap;

use super::request::{DESCRIPTION_MAX, State, Update};
use crate::status::Status;
use crate::text::{cut, one_line, short_commit as short};
use crate::transitions::{Transition, TransitionKind};

/// Why a stack's current apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Run {
    /// A revision deployed for the first time (a Git change, a retry, a sync).
    Deploy(String),
    /// A revision run again: a drift revert or the target of a rollback.
    Rerun(String),
}

/// Turns transitions into updates; remembers, per stack, the apply under way.
#[derive(Debug)]
pub struct Translator {
    instance: String,
    /// `EXTERNAL_URL`'s origin, for links to the dashboard.
    site: Option<String>,
    runs: HashMap<String, Run>,
    /// Per stack, the last status posted.
    posted: HashMap<String, Posted>,
}

/// The last status posted for a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Posted {
    sha: String,
    state: State,
    description: String,
}

impl Translator {
    /// Statuses of instance `instance`, linking to the dashboard at `site`.
    pub fn new(instance: String, site: Option<String>) -> Self {
        Self {
            instance,
            site,
            runs: HashMap::new(),
            posted: HashMap::new(),
        }
    }

    /// The status `transition` posts, if any.
    pub fn update(&mut self, t: &Transition) -> Option<Update> {
        let revision = t.revision.clone().filter(|r| is_commit_id(r));
        let (sha, state, description) = match &t.kind {
            TransitionKind::ApplyStarted { drift } => {
                let sha = revision?;
                if *drift {
                    self.runs.insert(t.stack.clone(), Run::Rerun(sha));
                    return None;
                }
                self.runs.insert(t.stack.clone(), Run::Deploy(sha.clone()));
                (sha, State::Pending, format!("deploying {}", t.stack))
            }
            TransitionKind::RollbackStarted { from, .. } => {
                let to = revision?;
                self.runs.insert(t.stack.clone(), Run::Rerun(to.clone()));
                let from = from.clone().filter(|r| is_commit_id(r) && *r != to)?;
                let why = t.reason.as_deref().unwrap_or("by an operator");
                (
                    from,
                    State::Failure,
                    format!("rolled back to {}: {why}", short(&to)),
                )
            }
            TransitionKind::GatePassed => {
                let sha = self.verdict(&t.stack, revision?)?;
                (
                    sha,
                    State::Success,
                    format!("{} runs and is healthy", t.stack),
                )
            }
            TransitionKind::GateFailed { failure } => {
                let sha = self.verdict(&t.stack, revision?)?;
                let why = t.reason.as_deref().unwrap_or(failure.as_str());
                (sha, State::Failure, why.to_string())
            }
            TransitionKind::StatusChanged => {
                let (sha, description) = self.ended(t)?;
                (sha, State::Failure, description)
            }
            TransitionKind::RemoveStarted => {
                self.runs.remove(&t.stack);
                self.posted.remove(&t.stack);
                return None;
            }
        };
        let rollback = matches!(t.kind, TransitionKind::RollbackStarted { .. });
        if !self.is_news(&t.stack, &sha, state, &description, rollback) {
            return None;
        }
        let update = self.make(&t.stack, &sha, state, &description);
        self.posted.insert(
            t.stack.clone(),
            Posted {
                sha,
                state,
                description,
            },
        );
        Some(update)
    }

    /// Whether `state` is news for `sha` after what was last posted for
    /// `stack`: a commit with a status gets no new `pending` and no repeat of
    /// its state; a rollback's failure is posted once per reason and target.
    fn is_news(
        &self,
        stack: &str,
        sha: &str,
        state: State,
        description: &str,
        rollback: bool,
    ) -> bool {
        let Some(last) = self.posted.get(stack).filter(|last| last.sha == sha) else {
            return true;
        };
        match state {
            State::Pending => false,
            _ if last.state != state => true,
            _ => rollback && last.description != description,
        }
    }

    /// The commit a gate's verdict on `revision` is posted for; `None` for a
    /// re-run. Without a record (docker-cd restarted mid-gate) it is posted.
    fn verdict(&mut self, stack: &str, revision: String) -> Option<String> {
        match self.runs.remove(stack) {
            Some(Run::Rerun(rerun)) if rerun == revision => None,
            _ => Some(revision),
        }
    }

    /// A pass ended: an apply that failed before any gate (compose failed)
    /// fails its commit, naming what runs instead: compose's error is cut,
    /// never the name of the running commit.
    fn ended(&mut self, t: &Transition) -> Option<(String, String)> {
        if !matches!(t.status, Status::Failed | Status::Synced) {
            return None;
        }
        let Some(Run::Deploy(sha)) = self.runs.remove(&t.stack) else {
            return None;
        };
        if t.status == Status::Synced {
            // A gate that passed as compose returned was posted by GatePassed.
            return None;
        }
        let why = one_line(t.reason.as_deref().unwrap_or("the apply failed"));
        let description = match t.revision.as_deref().filter(|r| *r != sha) {
            Some(running) => {
                let suffix = format!("; {} still runs", short(running));
                let room = DESCRIPTION_MAX.saturating_sub(suffix.chars().count());
                format!("{}{suffix}", cut(&why, room))
            }
            None => why,
        };
        Some((sha, description))
    }

    fn make(&self, stack: &str, sha: &str, state: State, description: &str) -> Update {
        let link = self
            .site
            .as_ref()
            .map(|site| format!("{site}/#/stacks/{stack}"));
        let context = format!("docker-cd/{}/{stack}", self.instance);
        Update::new(sha, context, state, description, link)
    }
}

/// A full commit id: the only thing a forge's status path may carry.
fn is_commit_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::GateFailure;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn t(kind: TransitionKind, status: Status, revision: &str, reason: Option<&str>) -> Transition {
        Transition {
            stack: "web".into(),
            kind,
            previous: None,
            status,
            revision: Some(revision.into()),
            reason: reason.map(str::to_string),
        }
    }

    fn run(transitions: &[Transition]) -> Vec<(String, State, String)> {
        let mut translator = Translator::new("prod".into(), Some("https://cd.example.com".into()));
        transitions
            .iter()
            .filter_map(|t| translator.update(t))
            .map(|u| {
                assert_eq!(u.context, "docker-cd/prod/web");
                assert_eq!(
                    u.target_url.as_deref(),
                    Some("https://cd.example.com/#/stacks/web")
                );
                (u.sha[..1].to_string(), u.state, u.description)
            })
            .collect()
    }

    fn started(drift: bool, revision: &str) -> Transition {
        t(
            TransitionKind::ApplyStarted { drift },
            Status::Syncing,
            revision,
            None,
        )
    }

    #[test]
    fn a_deploy_is_pending_then_success_once_its_gate_passes() {
        let seen = run(&[
            started(false, B),
            t(TransitionKind::GatePassed, Status::Synced, B, None),
            t(TransitionKind::StatusChanged, Status::Synced, B, None),
        ]);
        assert_eq!(
            seen,
            [
                ("b".into(), State::Pending, "deploying web".into()),
                ("b".into(), State::Success, "web runs and is healthy".into()),
            ]
        );
    }

    #[test]
    fn a_failed_gate_then_a_rollback_fail_the_commit_naming_why_and_what_runs() {
        let failure = GateFailure::Unhealthy;
        let why = Some("health gate failed: web: unhealthy");
        let rollback = TransitionKind::RollbackStarted {
            from: Some(B.into()),
            failure: Some(failure),
        };
        let seen = run(&[
            started(false, B),
            t(
                TransitionKind::GateFailed { failure },
                Status::Failed,
                B,
                why,
            ),
            t(rollback, Status::Syncing, A, why),
            t(TransitionKind::GatePassed, Status::Synced, A, None),
        ]);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(
            seen[1],
            (
                "b".into(),
                State::Failure,
                "health gate failed: web: unhealthy".into()
            )
        );
        assert_eq!(
            seen[2],
            (
                "b".into(),
                State::Failure,
                "rolled back to aaaaaaa: health gate failed: web: unhealthy".into()
            )
        );
    }

    #[test]
    fn a_failed_compose_fails_the_commit_and_names_the_running_one() {
        let seen = run(&[
            started(false, B),
            t(
                TransitionKind::StatusChanged,
                Status::Failed,
                A,
                Some("compose up failed: boom"),
            ),
        ]);
        assert_eq!(
            seen[1],
            (
                "b".into(),
                State::Failure,
                "compose up failed: boom; aaaaaaa still runs".into()
            )
        );
    }

    #[test]
    fn drift_reverts_post_nothing() {
        let seen = run(&[
            started(true, A),
            t(TransitionKind::GatePassed, Status::Synced, A, None),
            t(TransitionKind::StatusChanged, Status::Failed, A, Some("x")),
        ]);
        assert_eq!(seen, []);
    }

    #[test]
    fn a_verdict_after_a_restart_is_posted_and_non_commits_are_not() {
        let seen = run(&[t(TransitionKind::GatePassed, Status::Synced, A, None)]);
        assert_eq!(seen.len(), 1);
        assert_eq!(run(&[started(false, "main")]), []);
    }

    #[test]
    fn an_ack_or_sync_of_a_commit_with_its_verdict_posts_nothing_but_news() {
        let passed = || t(TransitionKind::GatePassed, Status::Synced, A, None);
        let failed = t(
            TransitionKind::GateFailed {
                failure: GateFailure::Unhealthy,
            },
            Status::Failed,
            A,
            Some("health gate failed: web: unhealthy"),
        );
        let seen = run(&[
            started(false, A),
            passed(),
            started(false, A),
            passed(),
            started(false, A),
            failed,
        ]);
        assert_eq!(
            seen,
            [
                ("a".into(), State::Pending, "deploying web".into()),
                ("a".into(), State::Success, "web runs and is healthy".into()),
                (
                    "a".into(),
                    State::Failure,
                    "health gate failed: web: unhealthy".into()
                ),
            ]
        );
    }

    #[test]
    fn retries_of_a_failed_compose_post_nothing_until_the_state_changes() {
        let failed = |why: &str| t(TransitionKind::StatusChanged, Status::Failed, A, Some(why));
        let seen = run(&[
            started(false, B),
            failed("compose up failed: boom"),
            started(false, B),
            failed("compose up failed: boom"),
            started(false, B),
            failed("compose up failed: other"),
            started(false, B),
            t(TransitionKind::GatePassed, Status::Synced, B, None),
        ]);
        let states: Vec<State> = seen.iter().map(|s| s.1).collect();
        assert_eq!(
            states,
            [State::Pending, State::Failure, State::Success],
            "{seen:?}"
        );
    }

    #[test]
    fn compose_output_is_one_line_and_the_running_commit_is_kept() {
        let why = format!("compose up failed:\n{}\n  done", "x".repeat(200));
        let seen = run(&[
            started(false, B),
            t(TransitionKind::StatusChanged, Status::Failed, A, Some(&why)),
        ]);
        let description = &seen[1].2;
        assert!(
            description.starts_with("compose up failed: xxx"),
            "{description}"
        );
        assert!(
            description.ends_with("…; aaaaaaa still runs"),
            "{description}"
        );
        assert!(!description.contains('\n'), "{description}");
        assert_eq!(description.chars().count(), DESCRIPTION_MAX);
    }
}
