//! The cause and trigger of a history entry, from what the reconciler knows of
//! a pass (kept here so the history store knows nothing of the reconciler).

use super::assess;
use crate::history::{Cause, Trigger};

/// `cause`: the reconciler's reason to apply (`None` for a removal);
/// `requested`: a plan's apply through the API; `granted`: a sync or an
/// acknowledgement. An operator's request names the entry whatever the
/// reconciler found, since the operator is why it ran now.
pub fn origin(cause: Option<assess::Cause>, requested: bool, granted: bool) -> (Cause, Trigger) {
    if requested {
        (Cause::Manual, Trigger::Api)
    } else if granted {
        (Cause::Manual, Trigger::Sync)
    } else if cause == Some(assess::Cause::Drift) {
        (Cause::Drift, Trigger::DockerEvent)
    } else {
        (Cause::Git, Trigger::Refresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_names_the_entry_before_the_reconciler_s_reason() {
        use assess::Cause::{Desired, Drift};
        assert_eq!(
            origin(Some(Desired), false, false),
            (Cause::Git, Trigger::Refresh)
        );
        assert_eq!(origin(None, false, false), (Cause::Git, Trigger::Refresh));
        assert_eq!(
            origin(Some(Drift), false, false),
            (Cause::Drift, Trigger::DockerEvent)
        );
        assert_eq!(
            origin(Some(Drift), false, true),
            (Cause::Manual, Trigger::Sync)
        );
        assert_eq!(
            origin(Some(Desired), true, true),
            (Cause::Manual, Trigger::Api)
        );
    }
}
