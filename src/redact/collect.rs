//! Which values are secret: read from compose documents (as written, or as
//! `compose config` resolved them), env files, and running containers' config.
//!
//! A value is secret when it stands under a secret-looking key anywhere
//! (environment maps and `KEY=value` lists, labels, build args, `x-` blocks,
//! a container's `Env`), when it is the `.env` value of a secret-named
//! variable a compose file uses (`PRIVATE: ${DB_PASSWORD}`), or when it is the
//! password of a URL (`postgres://u:pw@h/db`, `redis://:pw@r`) anywhere.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Secrets, is_secret};

/// Env files: `KEY=value` lines (the same reader as the plan's `env_file`s).
pub use crate::plan::spec::parse_env_file;

/// A user name alone (`https://<token>@host`) counts as a credential from this
/// length on: tokens are long, user names (`git`, `postgres`) are not.
const TOKEN_AS_USER_LEN: usize = 20;

/// Adds the values of an env file's secret-looking keys, and URL passwords in any of its values.
pub fn env_values(env: &BTreeMap<String, String>, secrets: &mut Secrets) {
    for (key, value) in env {
        if is_secret(key) {
            secrets.insert(value);
        }
        url_passwords(value, secrets);
    }
}

/// Adds what `value` holds secret (a compose document, a resolved model, or a
/// container's inspect `Config` as JSON); `${VAR}`s are resolved from `env`.
pub fn from_value(value: &Value, env: &BTreeMap<String, String>, secrets: &mut Secrets) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                // Compose's own `secrets:` (the top-level section and a
                // service's list) holds names, file paths and variable names,
                // not values: masking a secret's name would mask the key it
                // also is.
                if key == "secrets" {
                    continue;
                }
                if is_secret(key) {
                    leaves(inner, env, secrets);
                }
                from_value(inner, env, secrets);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| from_value(v, env, secrets)),
        Value::String(text) => from_text(text, env, secrets),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Every scalar under a secret-looking key, interpolated.
fn leaves(value: &Value, env: &BTreeMap<String, String>, secrets: &mut Secrets) {
    match value {
        Value::String(text) => {
            secrets.insert(&interpolate(text, env));
        }
        Value::Number(n) => {
            secrets.insert(&n.to_string());
        }
        Value::Array(items) => items.iter().for_each(|v| leaves(v, env, secrets)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, env, secrets)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// One string: a `KEY=value` entry with a secret-looking key, the `.env`
/// values of secret-named variables it uses, URL passwords in it.
fn from_text(text: &str, env: &BTreeMap<String, String>, secrets: &mut Secrets) {
    if let Some((key, value)) = text.split_once('=')
        && !key.is_empty()
        && !key.contains(char::is_whitespace)
        && is_secret(key)
    {
        secrets.insert(&interpolate(value, env));
    }
    for name in variables(text) {
        if is_secret(name)
            && let Some(value) = env.get(name)
        {
            secrets.insert(value);
        }
    }
    let resolved = interpolate(text, env);
    url_passwords(&resolved, secrets);
    inline_credentials(&resolved, secrets);
}

/// Adds credentials written inline in `text`: a secret-looking `key=value`
/// among others (`user=a password=pw host=db`, mount options
/// `addr=h,password=pw`), a flag and its value (`--password=pw`,
/// `--password pw`), and the token after `Bearer` or `Basic`.
pub fn inline_credentials(text: &str, secrets: &mut Secrets) {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ",;&".contains(c))
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    for (at, word) in words.iter().enumerate() {
        let bare = word.trim_start_matches('-');
        let next = words.get(at + 1).filter(|n| !n.starts_with('-'));
        match bare.split_once('=') {
            Some((key, value)) if !key.is_empty() && is_secret(key) => {
                secrets.insert(value);
            }
            // `JAVA_OPTS=-Dspring.datasource.password=pw`: the value may be a pair too.
            Some((_, value)) => inline_credentials(value, secrets),
            None if word.starts_with('-') && is_secret(bare) => {
                if let Some(value) = next {
                    secrets.insert(value);
                }
            }
            None if bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic") => {
                if let Some(token) = next {
                    secrets.insert(token);
                }
            }
            None => {}
        }
    }
}

/// Adds the password of every `scheme://user:password@host` in `text` (or a
/// long user name alone: a token).
pub fn url_passwords(text: &str, secrets: &mut Secrets) {
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        rest = &rest[start + 3..];
        let end = rest
            .find(|c: char| c.is_whitespace() || "/?#\"'`,;<>()[]{}".contains(c))
            .unwrap_or(rest.len());
        let Some((userinfo, _host)) = rest[..end].rsplit_once('@') else {
            continue;
        };
        match userinfo.split_once(':') {
            Some((_user, password)) => secrets.insert(password),
            None if userinfo.chars().count() >= TOKEN_AS_USER_LEN => secrets.insert(userinfo),
            None => false,
        };
    }
}

/// Names of the variables `text` uses: `${NAME}`, `${NAME:-default}` (and
/// compose's other forms), `$NAME`; `$$` is a literal dollar.
fn variables(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            rest = escaped;
            continue;
        }
        let body = after.strip_prefix('{').unwrap_or(after);
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        if len > 0 {
            names.push(&body[..len]);
        }
        rest = &body[len..];
    }
    names
}

/// `text` with `${NAME}`, `${NAME:-default}`, `${NAME-default}` and `$NAME`
/// replaced by their `env` value (or the default; else left as written).
fn interpolate(text: &str, env: &BTreeMap<String, String>) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
            continue;
        }
        let (name, default, consumed) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(close) => {
                    let inner = &braced[..close];
                    let name_len = inner
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(inner.len());
                    let default = inner[name_len..]
                        .strip_prefix(":-")
                        .or_else(|| inner[name_len..].strip_prefix('-'));
                    (&inner[..name_len], default, close + 2)
                }
                None => ("", None, 0),
            },
            None => {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..len], None, len)
            }
        };
        match env.get(name).map(String::as_str).or(default) {
            Some(value) if !name.is_empty() => out.push_str(value),
            _ => out.push_str(&rest[at..at + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn dotenv(text: &str) -> BTreeMap<String, String> {
        parse_env_file(text)
    }

    /// What discovery does for a stack: its env files, then its documents.
    fn stack(
        dotenv: &BTreeMap<String, String>,
        others: &[&BTreeMap<String, String>],
        documents: &[&Value],
    ) -> Secrets {
        let mut secrets = Secrets::default();
        env_values(dotenv, &mut secrets);
        others.iter().for_each(|env| env_values(env, &mut secrets));
        documents
            .iter()
            .for_each(|d| from_value(d, dotenv, &mut secrets));
        secrets
    }

    fn found(secrets: &Secrets) -> Vec<&str> {
        secrets.iter().collect()
    }

    #[rstest]
    #[case::password(
        "DATABASE_URL=postgres://u:pw-secret-1@h/db",
        &["pw-secret-1"]
    )]
    #[case::no_user("cache=redis://:pw-secret-2@r", &["pw-secret-2"])]
    #[case::in_a_sentence(
        "connect to amqp://guest:guest-pw@rabbit:5672/vhost now",
        &["guest-pw"]
    )]
    #[case::token_as_user(
        "https://ghp_0123456789abcdefghij@github.com/o/r",
        &["ghp_0123456789abcdefghij"]
    )]
    #[case::short_user_alone("ssh://git@github.com/o/r postgres://postgres@db", &[])]
    #[case::no_credentials("http://example.com/a@b", &[])]
    #[case::two_urls("a://x:first-pw@h b://y:second-pw@h", &["first-pw", "second-pw"])]
    fn url_credentials(#[case] text: &str, #[case] expected: &[&str]) {
        assert_finds(url_passwords, text, expected);
    }

    /// What `collect` finds in `text`, against `expected` in any order.
    fn assert_finds(collect: fn(&str, &mut Secrets), text: &str, expected: &[&str]) {
        let mut secrets = Secrets::default();
        collect(text, &mut secrets);
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(found(&secrets), expected);
    }

    #[rstest]
    #[case::dsn("user=a password=dsnpw-secret-31 host=db", &["dsnpw-secret-31"])]
    #[case::mount_options("addr=127.0.0.1,username=x,password=hunter2-cifs", &["hunter2-cifs"])]
    #[case::flag_equals("serve --password=cmdline-secret-1111 --port 80", &["cmdline-secret-1111"])]
    #[case::flag_space("serve --db-pass cmdline-secret-2222 -v", &["cmdline-secret-2222"])]
    #[case::bearer("Bearer bearer-secret-5555", &["bearer-secret-5555"])]
    #[case::plain_words("port=8080 mode=fast --verbose", &[])]
    #[case::nested("JAVA_OPTS=-Xmx1g -Dspring.datasource.password=javaPw1x", &["javaPw1x"])]
    #[case::nested_pair("JAVA_OPTS=-Dspring.datasource.password=javaPw1x", &["javaPw1x"])]
    fn inline(#[case] text: &str, #[case] expected: &[&str]) {
        assert_finds(inline_credentials, text, expected);
    }

    #[rstest]
    #[case::braced("x ${DB_PASSWORD} y", "x hunter22 y")]
    #[case::bare("$DB_PASSWORD!", "hunter22!")]
    #[case::default_unused("${DB_PASSWORD:-other}", "hunter22")]
    #[case::default_used("${MISSING:-fallback}", "fallback")]
    #[case::unknown_kept("${MISSING} $NOPE", "${MISSING} $NOPE")]
    #[case::escaped("$$DB_PASSWORD", "$DB_PASSWORD")]
    #[case::unclosed("${DB_PASSWORD", "${DB_PASSWORD")]
    fn interpolation(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(
            interpolate(text, &dotenv("DB_PASSWORD=hunter22\n")),
            expected
        );
    }

    /// Compose's `secrets:` names files and secrets; a name masked as a value
    /// would mask the mapping key it also is (traefik's published example).
    #[test]
    fn the_names_under_compose_s_secrets_are_not_secret_values() {
        let document = json!({
            "secrets": {"ovh_application_key": {"file": "./secrets/ovh_application_key.secret"}},
            "services": {"traefik": {"secrets": ["ovh_application_key"]}}
        });
        let secrets = stack(&BTreeMap::new(), &[], &[&document]);
        assert_eq!(found(&secrets), Vec::<&str>::new());
    }

    #[test]
    fn a_stack_s_secrets_come_from_its_compose_files_and_env_files() {
        let env = dotenv(
            "export DB_PASSWORD='from-dotenv-1'\nPLAIN=not-a-secret\nAPI_KEY=\"quoted-key\"\nPG=pg-via-var\nUSE_KEY=true\n",
        );
        let other = dotenv("SMTP_PASSWORD=from-env-file\n");
        let document = json!({
            "x-common": {"SHARED_SECRET": "x-block-secret"},
            "services": {
                "db": {
                    "image": "mssql",
                    "environment": {
                        "SA_PASSWORD": "Str0ng-Pass",
                        "DATABASE_URL": "postgres://u:pw-secret-1@h/db",
                        "PRIVATE": "${DB_PASSWORD}",
                        "POSTGRES_PASSWORD": "${PG}",
                        "PORT": 5432,
                        "PIN_TOKEN": 987654
                    },
                    "command": ["sqlcmd", "-P", "Str0ng-Pass"],
                    "labels": ["cache=redis://:pw-secret-2@r", "team=db"],
                    "build": {"args": {"NPM_TOKEN": "npm-build-token"}}
                },
                "app": {"environment": ["LEVEL=debug", "SECRET_KEY_BASE=list-secret"]}
            }
        });
        let secrets = stack(&env, &[&other], &[&document]);
        let mut expected = vec![
            "Str0ng-Pass",
            "from-dotenv-1",
            "from-env-file",
            "list-secret",
            "npm-build-token",
            "pg-via-var",
            "pw-secret-1",
            "pw-secret-2",
            "quoted-key",
            "x-block-secret",
            "987654",
        ];
        expected.sort_unstable();
        assert_eq!(found(&secrets), expected);
    }

    #[test]
    fn a_container_s_config_gives_the_old_values() {
        let config = json!({
            "Env": ["PATH=/usr/bin", "SA_PASSWORD=old-sa-pass", "DATABASE_URL=postgres://u:old-url-pw@h/db"],
            "Labels": {"cache": "redis://:old-label-pw@r", "io.docker-cd.stack": "web"},
            "Cmd": ["sqlcmd", "-P", "old-sa-pass"],
            "Healthcheck": {"Test": ["CMD-SHELL", "sqlcmd -P old-sa-pass"]}
        });
        let mut secrets = Secrets::default();
        from_value(&config, &BTreeMap::new(), &mut secrets);
        assert_eq!(
            found(&secrets),
            ["old-label-pw", "old-sa-pass", "old-url-pw"]
        );
    }
}
