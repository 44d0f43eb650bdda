//! Paths compose reports in a stack's working folder, checked as the kernel
//! will follow them. Compose may clean a path as text (`a/../b` → `b`) before
//! the kernel sees it, or pass it on as written, and the kernel follows a link
//! before the `..` after it: a path is inside only when it is both ways.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Links one path may go through, as the kernel's `ELOOP` limit.
const MAX_HOPS: usize = 40;

/// Whether the absolute `path` is `dir` or inside it, as text and on disk.
pub fn within(dir: &Path, path: &str) -> bool {
    let path = Path::new(path);
    if !path.is_absolute() {
        return false;
    }
    let on_disk = follow(path).zip(follow(dir));
    lexical(path).starts_with(lexical(dir))
        && on_disk.is_some_and(|(path, dir)| path.starts_with(dir))
}

/// `path` with `.` and `..` taken as text.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Where the absolute `path` lands: each component looked up on disk, a link's
/// target put in its place before the `..` after it. Components that do not
/// exist (yet) are taken as written. `None` past [`MAX_HOPS`] links.
fn follow(path: &Path) -> Option<PathBuf> {
    let mut at = PathBuf::from("/");
    let mut rest: VecDeque<OsString> = steps(path);
    let mut hops = 0;
    while let Some(step) = rest.pop_front() {
        if step == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&step);
        let is_link = fs::symlink_metadata(&next).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            at = next;
            continue;
        }
        hops += 1;
        let target = fs::read_link(&next).ok().filter(|_| hops <= MAX_HOPS)?;
        if target.is_absolute() {
            at = PathBuf::from("/");
        }
        for step in steps(&target).into_iter().rev() {
            rest.push_front(step);
        }
    }
    Some(at)
}

/// The names and `..` of `path`, in order (`.` and the root dropped).
fn steps(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|part| match part {
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(name) => Some(name.to_os_string()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use rstest::rstest;

    use super::*;

    const WORKDIR: &str = "/data/stacks/agent";

    #[rstest]
    #[case("/data/stacks/agent", true)]
    #[case("/data/stacks/agent/conf/x", true)]
    #[case("/data/stacks/agent/../other", false)]
    #[case("/data/stacks/agentx", false)]
    #[case("relative", false)]
    fn paths_that_do_not_exist_are_taken_as_text(#[case] path: &str, #[case] expected: bool) {
        assert_eq!(within(Path::new(WORKDIR), path), expected);
    }

    /// `d -> .`, `e1 -> d/..`, `e2 -> e1/..`: inside as text, out on disk.
    #[test]
    fn a_chain_of_links_is_followed_before_its_dot_dots() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let stack = tmp.path().join("stacks/web");
        fs::create_dir_all(stack.join("conf")).expect("mkdir");
        symlink(".", stack.join("d")).expect("link");
        symlink("d/..", stack.join("e1")).expect("link");
        symlink("e1/..", stack.join("e2")).expect("link");
        symlink("conf", stack.join("c")).expect("link");
        let at = |rest: &str| format!("{}/{rest}", stack.display());
        assert!(within(&stack, &at("c/web.env")));
        assert!(within(&stack, &at("d/d/conf")));
        assert!(!within(&stack, &at("e1/other")), "e1 is stacks/");
        assert!(!within(&stack, &at("e2/host.env")), "e2 is the tempdir");
        assert!(!within(&stack, &at("d/d/../other")), "d/.. climbs out");
        // Back inside through the climb is inside: the kernel lands there.
        assert!(within(&stack, &at("e1/web/conf")));
    }

    #[test]
    fn a_link_loop_is_not_inside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        symlink("b", tmp.path().join("a")).expect("link");
        symlink("a", tmp.path().join("b")).expect("link");
        assert!(!within(
            tmp.path(),
            &format!("{}/a/x", tmp.path().display())
        ));
    }
}
