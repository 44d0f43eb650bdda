//! Key-based redaction of a compose file's text, as the compose view shows it:
//! every value under a secret-looking key is replaced, the layout kept.

use super::{REDACTED, is_secret};

/// A compose file's text with every secret-looking value replaced by
/// [`REDACTED`], its layout kept: `KEY: value` and `KEY=value` entries
/// (environment maps and lists, labels, `x-` blocks, anywhere in the file), and
/// the lines of a block scalar (`KEY: |`) under such a key. A key without a
/// value (`secrets:`) opens a section and is left as it is.
pub fn compose_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Indentation of a secret key whose block scalar lines are being hidden.
    let mut hiding_below: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if let Some(parent) = hiding_below {
            if body.trim().is_empty() || indent > parent {
                if !body.trim().is_empty() {
                    out.push_str(&body[..indent]);
                    out.push_str(REDACTED);
                }
                out.push_str(ending);
                continue;
            }
            hiding_below = None;
        }
        match redact_entry(body) {
            Some((redacted, block)) => {
                out.push_str(&redacted);
                if block {
                    hiding_below = Some(indent);
                }
            }
            None => out.push_str(body),
        }
        out.push_str(ending);
    }
    out
}

/// The line with its value redacted, and whether a block scalar follows; `None`
/// when the line holds no secret-looking value.
fn redact_entry(line: &str) -> Option<(String, bool)> {
    let content = line.trim_start();
    if content.starts_with('#') {
        return None;
    }
    let indent = &line[..line.len() - content.len()];
    // A list item `- KEY=value` (or `- "KEY=value"`).
    if let Some(item) = content.strip_prefix("- ") {
        let item = item.trim_start();
        let quote = item
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .map(String::from)
            .unwrap_or_default();
        let unquoted = &item[quote.len()..];
        let (key, _) = unquoted.split_once('=')?;
        if key.contains(char::is_whitespace) || !is_secret(key) {
            return None;
        }
        return Some((format!("{indent}- {quote}{key}={REDACTED}{quote}"), false));
    }
    // A mapping entry `KEY: value` (the key possibly quoted).
    let (key, value) = split_mapping(content)?;
    let bare_key = key.trim_matches(['"', '\'']);
    let value = value.trim();
    if !is_secret(bare_key) {
        // A flow collection (`environment: {DB_PASSWORD: x}`) is hidden whole
        // when any word in it looks secret: its entries are not on lines.
        let flow = value.starts_with('{') || value.starts_with('[');
        let secret_word = value
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .any(is_secret);
        return (flow && secret_word).then(|| (format!("{indent}{key}: {REDACTED}"), false));
    }
    if value.is_empty() || value.starts_with('#') {
        return None;
    }
    if value.starts_with('*') {
        // An alias: the value stands at its anchor (and is redacted there).
        return None;
    }
    // An anchor stays, so the text still reads as the same document.
    let (anchor, value) = match value.strip_prefix('&') {
        Some(rest) => {
            let (name, after) = rest.split_once(' ').unwrap_or((rest, ""));
            (format!("&{name} "), after.trim())
        }
        None => (String::new(), value),
    };
    if value.is_empty() {
        // `KEY: &anchor` opening a block mapping.
        return None;
    }
    let block = value.starts_with('|') || value.starts_with('>');
    Some((format!("{indent}{key}: {anchor}{REDACTED}"), block))
}

/// `key` and the rest after `: `, for a mapping entry line.
fn split_mapping(content: &str) -> Option<(&str, &str)> {
    if let Some(quote @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(quote)? + 1;
        let rest = content[end + 1..].strip_prefix(':')?;
        return (rest.is_empty() || rest.starts_with(' ')).then_some((&content[..=end], rest));
    }
    let colon = content
        .find(": ")
        .or_else(|| content.strip_suffix(':').map(|_| content.len() - 1))?;
    let key = &content[..colon];
    if key.is_empty() || key.contains(' ') || key.starts_with(['{', '[', '-']) {
        return None;
    }
    Some((key, &content[colon + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hidden_and_the_layout_is_kept() {
        let yaml = "\
x-db: &db
  POSTGRES_PASSWORD: hunter2
  DB_PASSWORD: &pw anchored-secret
  OTHER_PASSWORD: *pw
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
      \"POSTGRES_PASSWORD\": 'hunter2'
      API_TOKEN: tok-1 # inline comment
    labels:
      - \"traefik.secret=s3cr3t\"
      - team=db
    secrets:
      - db_password
  app:
    environment:
      - SECRET_KEY_BASE=abc
      - LEVEL=debug
    command: |
      run --fast
  cert:
    x-private-key: |
      -----BEGIN KEY-----
      AAAA

      BBBB
    image: x
secrets:
  db_password:
    file: ./db_password.txt
";
        let shown = compose_text(yaml);
        for secret in [
            "hunter2", "anchored", "tok-1", "s3cr3t", "abc", "AAAA", "BBBB",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        for kept in [
            "POSTGRES_USER: app",
            "- team=db",
            "- LEVEL=debug",
            "run --fast",
            "      - db_password",
            "secrets:\n  db_password:\n    file: ./db_password.txt",
            "    image: x\n",
            "x-db: &db\n",
            "DB_PASSWORD: &pw (redacted)\n",
            "OTHER_PASSWORD: *pw\n",
        ] {
            assert!(shown.contains(kept), "{kept:?} lost:\n{shown}");
        }
        assert_eq!(shown.lines().count(), yaml.lines().count());
        assert!(
            shown.contains("      - \"traefik.secret=(redacted)\""),
            "{shown}"
        );
        assert!(
            shown.contains("      \"POSTGRES_PASSWORD\": (redacted)"),
            "{shown}"
        );
    }

    #[test]
    fn flow_collections_with_a_secret_are_hidden_whole() {
        let yaml =
            "    environment: {POSTGRES_PASSWORD: hunter2, USER: app}\n    ports: [\"80:80\"]\n";
        assert_eq!(
            compose_text(yaml),
            "    environment: (redacted)\n    ports: [\"80:80\"]\n"
        );
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let yaml = "services:\n  web:\n    image: nginx\r\n    ports: [\"80:80\"]\n";
        assert_eq!(compose_text(yaml), yaml);
    }
}
