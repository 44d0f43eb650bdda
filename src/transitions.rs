//! What happened to a stack, as the one report of a pass says it: the feed
//! notifications and commit statuses read. Nothing here reads the world
//! again; each transition is made where a pass is written
//! (`reconcile::reconciler::report`).

use tokio::sync::broadcast;

use crate::history::GateFailure;
use crate::redact::SecretBook;
use crate::status::Status;

/// How many transitions a slow reader may lag behind before it misses some.
const CAPACITY: usize = 4096;

/// One change of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The stack.
    pub stack: String,
    /// What happened.
    pub kind: TransitionKind,
    /// The stack's status when the pass began (`None`: no record yet).
    pub previous: Option<Status>,
    /// The stack's status now.
    pub status: Status,
    /// The commit concerned: the one applied, whose gate reached a verdict,
    /// or that runs after a rollback.
    pub revision: Option<String>,
    /// Why, as the stack's error says it (secret values masked).
    pub reason: Option<String>,
}

/// The kinds of [`Transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionKind {
    /// `compose up` of a revision starts (a Git change, a drift revert, a retry, a sync).
    ApplyStarted {
        /// A drift revert: the revision already applied, run again.
        drift: bool,
    },
    /// A rollback starts: the revision whose gate failed (or that an
    /// operator left) is replaced by `revision`.
    RollbackStarted {
        /// The commit replaced, if known.
        from: Option<String>,
        /// Why: how the gate failed; `None` for an operator's rollback.
        failure: Option<GateFailure>,
    },
    /// `compose down` of a stack that left Git starts.
    RemoveStarted,
    /// An apply's health gate passed: the revision runs and is healthy.
    GatePassed,
    /// An apply's health gate failed.
    GateFailed {
        /// How it failed.
        failure: GateFailure,
    },
    /// A pass ended with another status than the stack had when it began.
    StatusChanged,
}

/// The sending end of the feed: cheap to clone; sending with no reader is
/// not an error. Every reason is masked with its stack's secret values.
#[derive(Debug, Clone)]
pub struct Transitions {
    sender: broadcast::Sender<Transition>,
    secrets: SecretBook,
}

impl Default for Transitions {
    fn default() -> Self {
        Self::masking(SecretBook::new())
    }
}

impl Transitions {
    /// A feed masking the values in `secrets`.
    pub fn masking(secrets: SecretBook) -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            secrets,
        }
    }

    /// Sends `transition`, its reason masked, to every current reader.
    pub fn send(&self, mut transition: Transition) {
        self.secrets
            .mask_option(&transition.stack, &mut transition.reason);
        let _ = self.sender.send(transition);
    }

    /// A reader of every transition sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.sender.subscribe()
    }
}
