//! The cause and trigger of a history entry, from what the reconciler knows of
//! a pass (kept here so the history store knows nothing of the reconciler).

use super::assess;
use crate::history::{Cause, Trigger};

/// `cause`: the reconciler's reason to apply (`None` for a removal);
/// `requested`: a plan's apply through the API; `granted`: a sync or an
/// acknowledgement; `queued`: who queued the key. An operator's request names
/// the entry whatever the reconciler found or the queue says, since the
/// operator is why it ran now (and the queue keeps only the first reason of
/// a key that waited).
pub fn origin(
    cause: Option<assess::Divergence>,
    requested: bool,
    granted: bool,
    queued: Trigger,
) -> (Cause, Trigger) {
    if requested {
        (Cause::Manual, Trigger::Api)
    } else if granted {
        (Cause::Manual, Trigger::Sync)
    } else if cause == Some(assess::Divergence::Drift) {
        (Cause::Drift, queued)
    } else {
        (Cause::Git, queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_names_the_entry_before_the_reconciler_s_reason() {
        use assess::Divergence::{Desired, Drift};
        assert_eq!(
            origin(Some(Desired), false, false, Trigger::Refresh),
            (Cause::Git, Trigger::Refresh)
        );
        assert_eq!(
            origin(None, false, false, Trigger::Refresh),
            (Cause::Git, Trigger::Refresh)
        );
        assert_eq!(
            origin(Some(Drift), false, false, Trigger::DockerEvent),
            (Cause::Drift, Trigger::DockerEvent)
        );
        assert_eq!(
            origin(Some(Drift), false, false, Trigger::Resync),
            (Cause::Drift, Trigger::Resync),
            "a drift the resync found is not a Docker event"
        );
        assert_eq!(
            origin(Some(Drift), false, true, Trigger::DockerEvent),
            (Cause::Manual, Trigger::Sync)
        );
        assert_eq!(
            origin(Some(Desired), true, true, Trigger::Refresh),
            (Cause::Manual, Trigger::Api)
        );
    }
}
