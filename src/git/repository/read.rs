//! Reading the deploy folder at a commit straight from the object database.

use gix::bstr::ByteSlice as _;

use super::{GitError, GitSource, chain};
use crate::git::tree::{Entry, FileTree};
use std::path::Path;

impl GitSource {
    /// The deploy folder (`""` for the root) at `commit`, paths relative to it.
    ///
    /// # Errors
    /// When the commit or folder is missing, or objects cannot be read.
    pub fn read_tree(&self, commit: &str, deploy_dir: &Path) -> Result<FileTree, GitError> {
        let read = |message: String| GitError::Read {
            commit: commit.to_string(),
            message,
        };
        let repo = self
            .open_mirror()
            .ok_or_else(|| read("no local mirror yet".into()))?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| read(e.to_string()))?;
        let root = repo
            .find_object(id)
            .map_err(|e| read(chain(&e)))?
            .try_into_commit()
            .map_err(|e| read(chain(&e)))?
            .tree()
            .map_err(|e| read(chain(&e)))?;
        let dir = deploy_dir.to_string_lossy().replace('\\', "/");
        let dir = dir.trim_matches('/');
        let base = if dir.is_empty() || dir == "." {
            root
        } else {
            let missing = || GitError::DeployDirMissing {
                dir: dir.to_string(),
                commit: commit.to_string(),
            };
            let entry = root
                .lookup_entry_by_path(dir)
                .map_err(|e| read(chain(&e)))?
                .ok_or_else(missing)?;
            if !entry.mode().is_tree() {
                return Err(missing());
            }
            entry.object().map_err(|e| read(chain(&e)))?.into_tree()
        };
        walk(base, &read)
    }
}

/// Every file, link and unsupported entry under `base`, paths relative to it.
fn walk(base: gix::Tree<'_>, read: &dyn Fn(String) -> GitError) -> Result<FileTree, GitError> {
    let mut files = FileTree::new();
    let mut todo = vec![(String::new(), base)];
    while let Some((prefix, tree)) = todo.pop() {
        for entry in tree.iter() {
            let entry = entry.map_err(|e| read(chain(&e)))?;
            let name = match entry.filename().to_str() {
                Ok(name) => name.to_string(),
                Err(_) => {
                    let shown = entry.filename().to_str_lossy().into_owned();
                    files.insert(
                        format!("{prefix}{shown}"),
                        Entry::Unsupported {
                            reason: "file name is not UTF-8".into(),
                        },
                    );
                    continue;
                }
            };
            let path = format!("{prefix}{name}");
            let mode = entry.mode();
            if mode.is_tree() {
                let sub = entry.object().map_err(|e| read(chain(&e)))?.into_tree();
                todo.push((format!("{path}/"), sub));
            } else if mode.is_link() {
                let blob = entry.object().map_err(|e| read(chain(&e)))?;
                files.insert(
                    path,
                    Entry::Symlink {
                        target: String::from_utf8_lossy(&blob.data).into_owned(),
                    },
                );
            } else if mode.is_blob() {
                let blob = entry.object().map_err(|e| read(chain(&e)))?;
                files.insert(
                    path,
                    Entry::File {
                        data: blob.data.clone().into(),
                        executable: mode.is_executable(),
                    },
                );
            } else {
                files.insert(
                    path,
                    Entry::Unsupported {
                        reason: "a submodule cannot be deployed".into(),
                    },
                );
            }
        }
    }
    Ok(files)
}
