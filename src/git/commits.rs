//! What the API shows of a commit: subject, author and time read from the mirror
//! once per id (a commit never changes), and its page on a known forge.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::forge::Forge;
use super::repository::commit::CommitInfo;

/// Reads commits from the mirror (blocking: Git object reads); `None` for one
/// that is missing or unreadable. One call per batch, answers in order.
pub type ReadCommits = Arc<dyn Fn(&[String]) -> Vec<Option<CommitInfo>> + Send + Sync>;

/// Commits kept in memory: more than the stacks and history entries one page
/// shows, few enough to stay small (each is a few hundred bytes).
pub const CACHE_SIZE: usize = 512;

/// Longest a request waits for the mirror: a stalled disk costs the page its
/// commit details, not its answer (the read goes on and fills the cache).
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The contract's `commit` object: a revision and, where known, what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitView {
    /// Full commit id.
    pub revision: String,
    /// First line of its message; `null` when the mirror cannot read it.
    pub subject: Option<String>,
    /// Author's name.
    pub author: Option<String>,
    /// Commit time, RFC 3339.
    pub time: Option<String>,
    /// Its page on the forge of `GIT_REPO_URL`; `null` for an unknown host.
    pub url: Option<String>,
}

/// Cached commit reads; cheap to clone.
#[derive(Clone, Default)]
pub struct Commits {
    read: Option<ReadCommits>,
    forge: Option<Forge>,
    cache: Arc<Mutex<Cache>>,
}

impl Commits {
    /// Commits read through `read`, linked to `forge`'s pages.
    pub fn new(read: ReadCommits, forge: Option<Forge>) -> Self {
        Self {
            read: Some(read),
            forge,
            cache: Arc::default(),
        }
    }

    /// Every one of `revisions`, reading those not cached yet in one blocking
    /// call. A commit that cannot be read is not cached: a later fetch may bring it.
    pub async fn describe<'a>(&self, revisions: impl IntoIterator<Item = &'a str>) -> Described {
        let mut wanted: Vec<String> = revisions.into_iter().map(str::to_string).collect();
        wanted.sort();
        wanted.dedup();
        let missing: Vec<String> = {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            wanted
                .iter()
                .filter(|id| !cache.by_id.contains_key(*id))
                .cloned()
                .collect()
        };
        if let Some(read) = self.read.clone().filter(|_| !missing.is_empty()) {
            let cache = self.cache.clone();
            let task = tokio::task::spawn_blocking(move || {
                let found = read(&missing);
                let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
                for (id, info) in missing.into_iter().zip(found) {
                    if let Some(info) = info {
                        cache.insert(id, Arc::new(info));
                    }
                }
            });
            if tokio::time::timeout(READ_TIMEOUT, task).await.is_err() {
                tracing::warn!(
                    "reading commit details from the git mirror is slow; shown without them"
                );
            }
        }
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Described {
            found: wanted
                .into_iter()
                .filter_map(|id| cache.by_id.get(&id).cloned().map(|info| (id, info)))
                .collect(),
            forge: self.forge.clone(),
        }
    }
}

/// The answer of [`Commits::describe`].
#[derive(Debug)]
pub struct Described {
    found: HashMap<String, Arc<CommitInfo>>,
    forge: Option<Forge>,
}

impl Described {
    /// The `commit` object of `revision`; `None` without a revision.
    pub fn view(&self, revision: Option<&str>) -> Option<CommitView> {
        let revision = revision?;
        let info = self.found.get(revision);
        Some(CommitView {
            revision: revision.to_string(),
            subject: info.map(|i| i.subject.clone()),
            author: info.map(|i| i.author.clone()),
            time: info.map(|i| i.time.clone()),
            url: self.forge.as_ref().and_then(|f| f.commit_url(revision)),
        })
    }
}

/// At most [`CACHE_SIZE`] commits; the oldest read goes first.
#[derive(Default)]
struct Cache {
    by_id: HashMap<String, Arc<CommitInfo>>,
    order: VecDeque<String>,
}

impl Cache {
    fn insert(&mut self, id: String, info: Arc<CommitInfo>) {
        if self.by_id.contains_key(&id) {
            return;
        }
        if self.order.len() >= CACHE_SIZE
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, info);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::git::RepoUrl;

    /// Commits whose reader knows ids starting with `a` and counts the ids it is asked.
    fn counting() -> (Commits, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let read: ReadCommits = Arc::new(move |ids: &[String]| {
            counter.fetch_add(ids.len(), Ordering::SeqCst);
            ids.iter()
                .map(|id| {
                    id.starts_with('a').then(|| CommitInfo {
                        subject: format!("subject of {id}"),
                        author: "Ada".into(),
                        time: "2026-01-02T03:04:05Z".into(),
                    })
                })
                .collect()
        });
        let forge = Forge::of(&RepoUrl::parse("https://github.com/acme/stacks").expect("url"));
        (Commits::new(read, forge), asked)
    }

    #[tokio::test]
    async fn a_commit_is_read_once_and_a_missing_one_again() {
        let (commits, asked) = counting();
        let id = "a".repeat(40);
        let described = commits.describe([id.as_str(), "b1", id.as_str()]).await;
        assert_eq!(asked.load(Ordering::SeqCst), 2, "one read per distinct id");
        let view = described.view(Some(&id)).expect("a view");
        assert_eq!(view.subject.as_deref(), Some(&*format!("subject of {id}")));
        assert_eq!(
            view.url,
            Some(format!("https://github.com/acme/stacks/commit/{id}"))
        );
        let unknown = described.view(Some("b1")).expect("a view");
        assert_eq!(
            (unknown.subject, unknown.author, unknown.time),
            (None, None, None)
        );
        assert_eq!(described.view(None), None);

        commits.describe([id.as_str(), "b1"]).await;
        assert_eq!(
            asked.load(Ordering::SeqCst),
            3,
            "only the missing one again"
        );
    }

    #[tokio::test]
    async fn the_cache_keeps_the_newest_reads_only() {
        let (commits, asked) = counting();
        let ids: Vec<String> = (0..=CACHE_SIZE).map(|n| format!("a{n}")).collect();
        commits.describe(ids.iter().map(String::as_str)).await;
        let before = asked.load(Ordering::SeqCst);
        commits.describe([ids[CACHE_SIZE].as_str()]).await;
        assert_eq!(asked.load(Ordering::SeqCst), before, "the newest is cached");
        // `describe` sorts: "a0" went in first, and out first.
        commits.describe(["a0"]).await;
        assert_eq!(
            asked.load(Ordering::SeqCst),
            before + 1,
            "the oldest was dropped"
        );
    }

    #[tokio::test]
    async fn without_a_reader_only_the_revision_is_known() {
        let described = Commits::default().describe(["abc"]).await;
        let view = described.view(Some("abc")).expect("a view");
        assert_eq!(view.revision, "abc");
        assert_eq!(view.subject, None);
    }
}
