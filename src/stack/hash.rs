//! `compose_hash` and `stack_hash`: content hashes that decide redeploys.

use sha2::{Digest, Sha256};

use crate::git::tree::Entry;

/// SHA-256 (hex) of the compose file's bytes.
pub fn compose_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 (hex) over the stack's files in sorted path order.
///
/// Each entry contributes its path relative to the stack folder, a NUL, a kind
/// byte (`f` file, `x` executable file, `l` symlink), the content length as
/// 8 bytes little-endian, then the content (a symlink's target). Lengths and the
/// separator make the encoding unambiguous: no two different stacks feed the
/// same bytes to the hash. Modes are included because a lost `+x` breaks a
/// container's entrypoint script just as an edit would.
pub fn stack_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a Entry)>) -> String {
    let mut sorted: Vec<(&str, &Entry)> = files.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (path, entry) in sorted {
        let (kind, content): (u8, &[u8]) = match entry {
            Entry::File { data, executable } => (if *executable { b'x' } else { b'f' }, data),
            Entry::Symlink { target } => (b'l', target.as_bytes()),
            // A stack with such an entry fails; its hash only has to differ.
            Entry::Unsupported { reason } => (b'u', reason.as_bytes()),
        };
        hasher.update(path.as_bytes());
        hasher.update([0, kind]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str) -> Entry {
        Entry::File {
            data: data.as_bytes().into(),
            executable: false,
        }
    }

    #[test]
    fn compose_hash_is_sha256_of_the_bytes() {
        // `printf 'services: {}\n' | sha256sum`
        assert_eq!(
            compose_hash(b"services: {}\n"),
            "fa6ccea1ca4e3a031d9e99f25cc05db803aa9bac642c000ddab14f6d9da54b52"
        );
    }

    #[test]
    fn stack_hash_ignores_listing_order() {
        let (a, b) = (file("A"), file("B"));
        assert_eq!(
            stack_hash([("a", &a), ("b", &b)]),
            stack_hash([("b", &b), ("a", &a)])
        );
    }

    #[test]
    fn stack_hash_changes_with_content_path_mode_and_kind() {
        let base = stack_hash([("compose.yaml", &file("x")), (".env", &file("A=1"))]);
        let content = stack_hash([("compose.yaml", &file("x")), (".env", &file("A=2"))]);
        let renamed = stack_hash([("compose.yaml", &file("x")), ("env", &file("A=1"))]);
        let exec = Entry::File {
            data: b"A=1".as_slice().into(),
            executable: true,
        };
        let mode = stack_hash([("compose.yaml", &file("x")), (".env", &exec)]);
        let link = Entry::Symlink {
            target: "A=1".into(),
        };
        let kind = stack_hash([("compose.yaml", &file("x")), (".env", &link)]);
        let all = [&base, &content, &renamed, &mode, &kind];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }

    #[test]
    fn stack_hash_is_unambiguous_across_path_and_content_boundaries() {
        // Without separators "ab" + "c" and "a" + "bc" would hash alike.
        let one = stack_hash([("ab", &file("c"))]);
        let two = stack_hash([("a", &file("bc"))]);
        assert_ne!(one, two);
    }
}
