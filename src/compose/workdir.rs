//! A stack's working folder: its files at one revision, written where compose runs.
//!
//! The folder is replaced atomically (written beside it, then renamed), so
//! compose never sees a half-written stack. It is kept after a failed apply, for
//! debugging, and used by `down` when the stack leaves Git.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::git::tree::Entry;
use crate::stack::StackFile;

/// Replaces `dir` with `files` plus one generated `(name, bytes)` file.
///
/// # Errors
/// Any I/O error; `dir` is then left as it was.
pub fn materialize(dir: &Path, files: &[StackFile], generated: (&str, &[u8])) -> io::Result<()> {
    let parent = dir.parent().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "working folder has no parent")
    })?;
    fs::create_dir_all(parent)?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "working folder has no name"))?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let staging = parent.join(format!(".tmp-{name}-{stamp}"));
    let result = write_all(&staging, files, generated).and_then(|()| swap_in(&staging, dir, stamp));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn write_all(root: &Path, files: &[StackFile], generated: (&str, &[u8])) -> io::Result<()> {
    fs::create_dir_all(root)?;
    for file in files {
        let path = safe_join(root, &file.path)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        match &file.entry {
            Entry::File { data, executable } => {
                fs::write(&path, data)?;
                let mode = if *executable { 0o755 } else { 0o644 };
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
            }
            // Discovery only lets through links that stay inside the stack.
            Entry::Symlink { target } => std::os::unix::fs::symlink(target, &path)?,
            Entry::Unsupported { reason } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {reason}", file.path),
                ));
            }
        }
    }
    fs::write(safe_join(root, generated.0)?, generated.1)
}

/// Moves `staging` to `dir`, removing the previous folder.
fn swap_in(staging: &Path, dir: &Path, stamp: u128) -> io::Result<()> {
    if dir.exists() {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("stack");
        let old = dir.with_file_name(format!(".old-{name}-{stamp}"));
        fs::rename(dir, &old)?;
        fs::rename(staging, dir)?;
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(staging, dir)?;
    }
    Ok(())
}

/// `root/relative`, refusing anything that could step outside `root`.
fn safe_join(root: &Path, relative: &str) -> io::Result<PathBuf> {
    let ok = !relative.is_empty()
        && !relative.starts_with('/')
        && relative
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if ok {
        Ok(root.join(relative))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write '{relative}' outside the working folder"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str, executable: bool) -> StackFile {
        StackFile {
            path: path.into(),
            entry: Entry::File {
                data: data.as_bytes().into(),
                executable,
            },
        }
    }

    #[test]
    fn writes_files_modes_links_and_the_generated_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("stacks/web");
        let files = vec![
            file("compose.yaml", "services: {}\n", false),
            file("bin/start.sh", "#!/bin/sh\n", true),
            StackFile {
                path: "current".into(),
                entry: Entry::Symlink {
                    target: "bin".into(),
                },
            },
        ];
        materialize(&dir, &files, (".override.yaml", b"{}")).expect("materialize");
        assert_eq!(
            fs::read_to_string(dir.join("compose.yaml")).expect("read"),
            "services: {}\n"
        );
        let mode = fs::metadata(dir.join("bin/start.sh"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            fs::read_link(dir.join("current")).expect("link"),
            PathBuf::from("bin")
        );
        assert_eq!(fs::read(dir.join(".override.yaml")).expect("read"), b"{}");
    }

    #[test]
    fn a_new_revision_replaces_the_folder_entirely() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("web");
        materialize(&dir, &[file("old.txt", "x", false)], ("g", b"1")).expect("first");
        materialize(&dir, &[file("new.txt", "y", false)], ("g", b"2")).expect("second");
        assert!(
            !dir.join("old.txt").exists(),
            "files gone from Git are gone from the folder"
        );
        assert!(dir.join("new.txt").exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("web")],
            "no staging folders left"
        );
    }

    #[test]
    fn paths_that_escape_are_refused_and_the_old_folder_stays() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("web");
        materialize(&dir, &[file("keep.txt", "x", false)], ("g", b"1")).expect("first");
        let err = materialize(&dir, &[file("../escape.txt", "x", false)], ("g", b"2"))
            .expect_err("refused");
        assert!(err.to_string().contains("outside the working folder"));
        assert!(dir.join("keep.txt").exists());
        assert!(!tmp.path().join("escape.txt").exists());
    }
}
