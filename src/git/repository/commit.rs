//! Reading who made a commit, when, and its subject, straight from the object database.

use gix::bstr::{BStr, ByteSlice as _};
use jiff::Timestamp;

use super::{GitError, GitSource, chain};

/// Longest subject kept, in characters: a commit message is written by anyone
/// with push access, and the list shows one per stack.
pub const SUBJECT_MAX: usize = 200;
/// Longest author name kept, in characters.
pub const AUTHOR_MAX: usize = 100;

/// What a commit says about itself. Text is single-line, free of control
/// characters and capped, but otherwise untrusted (HTML, quotes, anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// First line of the message.
    pub subject: String,
    /// Author's name.
    pub author: String,
    /// Commit (committer) time, RFC 3339 in UTC.
    pub time: String,
}

impl GitSource {
    /// Subject, author and time of each of `commits`, in order, opening the
    /// mirror once; an entry fails alone when its commit is missing or unreadable.
    pub fn read_commits(&self, commits: &[String]) -> Vec<Result<CommitInfo, GitError>> {
        let Some(repo) = self.open_mirror() else {
            let missing = |commit: &String| GitError::Read {
                commit: commit.clone(),
                message: "no local mirror yet".into(),
            };
            return commits.iter().map(|c| Err(missing(c))).collect();
        };
        commits.iter().map(|c| read_commit(&repo, c)).collect()
    }
}

fn read_commit(repo: &gix::Repository, commit: &str) -> Result<CommitInfo, GitError> {
    let read = |message: String| GitError::Read {
        commit: commit.to_string(),
        message,
    };
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| read(e.to_string()))?;
    let object = repo
        .find_object(id)
        .map_err(|e| read(chain(&e)))?
        .try_into_commit()
        .map_err(|e| read(chain(&e)))?;
    let decoded = object.decode().map_err(|e| read(chain(&e)))?;
    let seconds = decoded
        .committer()
        .map_err(|e| read(chain(&e)))?
        .time()
        .map_err(|e| read(chain(&e)))?
        .seconds;
    let time = Timestamp::from_second(seconds).map_err(|e| read(e.to_string()))?;
    let author = decoded.author().map_err(|e| read(chain(&e)))?.name;
    let subject = decoded.message.lines().next().unwrap_or_default();
    Ok(CommitInfo {
        subject: clean(subject.as_bstr(), SUBJECT_MAX),
        author: clean(author, AUTHOR_MAX),
        time: time.to_string(),
    })
}

/// `text` as one trimmed line of at most `max` characters (an ellipsis marks a
/// cut): invalid UTF-8 replaced, tabs made spaces, control characters (terminal
/// escapes, NUL) and bidi overrides (which make text read other than it is) dropped.
fn clean(text: &BStr, max: usize) -> String {
    let lossy = text.to_str_lossy();
    let line: String = lossy
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let line = line.trim();
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Unicode's explicit direction marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("fix: the web service", "fix: the web service")]
    #[case("  padded\t tab ", "padded  tab")]
    #[case("bell\u{7}and \u{1b}[31mred", "belland [31mred")]
    #[case("evil\u{202E}txt.exe", "eviltxt.exe")]
    #[case("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>")]
    fn cleaning_keeps_one_printable_line(#[case] raw: &str, #[case] shown: &str) {
        assert_eq!(clean(raw.as_bytes().as_bstr(), SUBJECT_MAX), shown);
    }

    #[test]
    fn a_long_subject_is_cut_with_an_ellipsis() {
        let long = "é".repeat(SUBJECT_MAX + 50);
        let shown = clean(long.as_bytes().as_bstr(), SUBJECT_MAX);
        assert_eq!(shown.chars().count(), SUBJECT_MAX);
        assert!(shown.ends_with('…'));
    }
}
