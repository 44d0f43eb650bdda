//! Discovery and hashing on arbitrary trees never panic; names stay in
//! `[a-z0-9_-]`, hashes are 64 hex digits, and symlinks never make a stack valid
//! that reads outside its folder.
#![no_main]

use docker_cd::git::tree::{Entry, FileTree};
use docker_cd::stack::discover::discover;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Records: <kind byte><path>\0<content>\0 …
    let mut tree = FileTree::new();
    let mut rest = data;
    while let Some((&kind, tail)) = rest.split_first() {
        let mut fields = tail.splitn(3, |b| *b == 0);
        let path = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
        let content = fields.next().unwrap_or_default().to_vec();
        rest = fields.next().unwrap_or_default();
        if path.is_empty() {
            continue;
        }
        let entry = match kind % 4 {
            0 | 1 => Entry::File {
                data: content.into(),
                executable: kind % 4 == 1,
            },
            2 => Entry::Symlink {
                target: String::from_utf8_lossy(&content).into_owned(),
            },
            _ => Entry::Unsupported {
                reason: "fuzz".into(),
            },
        };
        tree.insert(path, entry);
    }
    for (name, stack) in discover(&tree) {
        assert!(
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'-'),
            "bad name {name:?}"
        );
        assert_eq!(stack.stack_hash.len(), 64);
        assert!(stack.stack_hash.bytes().all(|b| b.is_ascii_hexdigit()));
        if stack.error.is_none() {
            for file in stack.files.iter() {
                if let Entry::Symlink { target } = &file.entry {
                    assert!(
                        !target.starts_with('/'),
                        "absolute link accepted in {name}: {target}"
                    );
                }
            }
        }
    }
});
