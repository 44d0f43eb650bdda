//! Delivery ids seen lately: a replayed webhook is recognised and answered
//! without a second refresh.
//!
//! Ids are kept as SHA-256 digests, so a long header costs no more memory than
//! a short one, and only the last [`Deliveries::CAPACITY`] are remembered.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};

/// The headers forges put a delivery's unique id in. Gitea and Forgejo also
/// send GitHub's, with the same value.
const DELIVERY_HEADERS: [&str; 4] = [
    "x-github-delivery",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gitlab-event-uuid",
];

/// The request's delivery id, if its forge sent one.
pub fn delivery_id(headers: &HeaderMap) -> Option<&[u8]> {
    DELIVERY_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|value| value.as_bytes())
        .filter(|id| !id.is_empty())
}

type Digest = [u8; 32];

/// The last delivery ids of verified webhooks, oldest first.
#[derive(Debug, Default)]
pub struct Deliveries {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<Digest>,
    set: HashSet<Digest>,
}

impl Deliveries {
    /// How many ids are remembered: far more than a forge retries, a few
    /// dozen KiB of memory.
    pub const CAPACITY: usize = 1024;

    /// Records `id`; `false` when it was already among the last ones.
    pub fn first_time(&self, id: &[u8]) -> bool {
        let digest: Digest = Sha256::digest(id).into();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !seen.set.insert(digest) {
            return false;
        }
        seen.order.push_back(digest);
        if seen.order.len() > Self::CAPACITY
            && let Some(oldest) = seen.order.pop_front()
        {
            seen.set.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_replay_is_recognised_until_it_falls_out_of_the_window() {
        let deliveries = Deliveries::default();
        assert!(deliveries.first_time(b"a"));
        assert!(!deliveries.first_time(b"a"));
        for n in 0..Deliveries::CAPACITY {
            assert!(deliveries.first_time(n.to_string().as_bytes()));
        }
        assert!(
            deliveries.first_time(b"a"),
            "forgotten after CAPACITY others"
        );
        assert!(!deliveries.first_time(b"a"));
    }

    #[test]
    fn each_forge_names_its_delivery_header() {
        for name in DELIVERY_HEADERS {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static("72d3162e"));
            assert_eq!(delivery_id(&headers), Some(&b"72d3162e"[..]), "{name}");
        }
        assert_eq!(delivery_id(&HeaderMap::new()), None);
    }
}
