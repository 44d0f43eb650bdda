//! Compose's variable substitution (`$VAR`, `${VAR:-default}`, …), so the paths
//! a compose file names are checked as compose will read them.
//!
//! The rules follow the compose specification's "Interpolation" section:
//! `$$` is a literal `$`; `${VAR-d}`/`${VAR:-d}` default when unset/empty;
//! `${VAR?e}`/`${VAR:?e}` fail; `${VAR+a}`/`${VAR:+a}` replace when set.

use std::collections::HashMap;

/// Where variable values come from: the process environment compose inherits,
/// then the stack's `.env` (the environment wins, as in compose).
pub struct Variables {
    dotenv: HashMap<String, String>,
    environment: fn(&str) -> Option<String>,
}

impl Variables {
    /// Values from the stack's `.env` bytes and the process environment.
    pub fn new(dotenv: Option<&[u8]>) -> Self {
        Self {
            dotenv: dotenv.map(parse_dotenv).unwrap_or_default(),
            environment: |name| std::env::var(name).ok(),
        }
    }

    /// Values from `.env` alone (unit tests, where the process environment varies).
    #[cfg(test)]
    pub fn only_dotenv(dotenv: &[u8]) -> Self {
        Self {
            dotenv: parse_dotenv(dotenv),
            environment: |_| None,
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.environment)(name).or_else(|| self.dotenv.get(name).cloned())
    }

    /// `text` with every variable replaced.
    ///
    /// # Errors
    /// A message naming the variable for `${VAR?err}` on an unset variable, or a
    /// `${` without its `}`.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(braced) = after.strip_prefix('{') {
                let end = closing_brace(braced)
                    .ok_or_else(|| format!("'{text}': '${{' without a closing '}}'"))?;
                out.push_str(&self.expand(&braced[..end])?);
                rest = &braced[end + 1..];
            } else {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                if len == 0 {
                    out.push('$');
                } else {
                    out.push_str(&self.get(&after[..len]).unwrap_or_default());
                }
                rest = &after[len..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// One `${…}` body: a name, optionally followed by an operator and a word
    /// (which may itself hold variables).
    fn expand(&self, body: &str) -> Result<String, String> {
        let split = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, op) = body.split_at(split);
        let value = self.get(name);
        if op.is_empty() {
            return Ok(value.unwrap_or_default());
        }
        // With a colon, an empty value counts as unset.
        let (present, rule) = match op.strip_prefix(':') {
            Some(rule) => (value.as_deref().is_some_and(|v| !v.is_empty()), rule),
            None => (value.is_some(), op),
        };
        let word = rule.get(1..).unwrap_or_default();
        match rule.chars().next() {
            Some('-') if present => Ok(value.unwrap_or_default()),
            Some('-') => self.interpolate(word),
            Some('?') if present => Ok(value.unwrap_or_default()),
            Some('?') => Err(format!(
                "variable {name} is required: {}",
                self.interpolate(word)?
            )),
            Some('+') if present => self.interpolate(word),
            Some('+') => Ok(String::new()),
            _ => Err(format!("'${{{body}}}' is not a valid substitution")),
        }
    }
}

/// The index of the `}` that closes a `${` whose body starts `text`, counting
/// nested `${…}` in default words.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// `KEY=value` lines of a `.env` file: comments, blank lines and `export ` are
/// skipped, one pair of surrounding quotes is removed.
fn parse_dotenv(bytes: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .map(str::to_string)
            .unwrap_or_else(|| match value.find(" #") {
                Some(comment) => value[..comment].trim_end().to_string(),
                None => value.to_string(),
            });
        values.insert(key.trim().to_string(), unquoted);
    }
    values
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("plain/path", "plain/path")]
    #[case("$$HOME", "$HOME")]
    #[case("${DIR}/x", "../up/x")]
    #[case("$DIR/x", "../up/x")]
    #[case("${UNSET:-./default}", "./default")]
    #[case("${EMPTY:-./default}", "./default")]
    #[case("${EMPTY-./kept}", "")]
    #[case("${UNSET-${DIR}}", "../up")]
    #[case("${DIR:+/abs}", "/abs")]
    #[case("${UNSET:+/abs}", "")]
    #[case("${QUOTED}", "a b")]
    #[case("${COMMENTED}", "v")]
    #[case("cost: 5$", "cost: 5$")]
    fn substitutes_like_compose(#[case] text: &str, #[case] expected: &str) {
        let vars = Variables::only_dotenv(
            b"# comment\nDIR=../up\nexport EMPTY=\nQUOTED=\"a b\"\nCOMMENTED=v # note\n",
        );
        assert_eq!(vars.interpolate(text).as_deref(), Ok(expected));
    }

    #[rstest]
    #[case("${UNSET?must be set}", "variable UNSET is required: must be set")]
    #[case("${EMPTY:?no}", "variable EMPTY is required: no")]
    #[case("${OPEN", "'${OPEN': '${' without a closing '}'")]
    #[case("${DIR/x}", "'${DIR/x}' is not a valid substitution")]
    fn refuses_what_compose_refuses(#[case] text: &str, #[case] message: &str) {
        let vars = Variables::only_dotenv(b"DIR=a\nEMPTY=\n");
        assert_eq!(vars.interpolate(text), Err(message.to_string()));
    }
}
