//! Files compose reads while it builds a stack's model must be the stack's own:
//! `env_file` and `label_file` (as `include` and `extends` in `model.rs`), and
//! relative bind sources written literally. These are checked on the files as
//! written, before compose runs; what compose resolves (build contexts,
//! interpolated bind sources, `secrets`/`configs` files) is checked on its
//! resolved model before an apply (`resolved.rs`).

use serde_json::Value;

use crate::stack::model::{Document, StackFiles, VolumeSource, confined, strings, volume_sources};

/// Every path of `document` that compose would read from outside the stack
/// folder (among `files`), worded for the stack's error.
pub fn check(document: &Document, files: &dyn StackFiles) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, service) in document.services() {
        let name = Some(name.as_str());
        for field in ["env_file", "label_file"] {
            for raw in service.get(field).map(strings).unwrap_or_default() {
                if let Err(why) = confined(files, &document.base, raw) {
                    problems.push(document.problem(name, format!("{field} {why}")));
                }
            }
        }
        for source in literal_relative_sources(service) {
            if confined(files, &document.base, source).is_err() {
                let why = format!("volume '{source}' is outside the stack folder");
                problems.push(document.problem(name, why));
            }
        }
    }
    problems
}

/// Bind sources written relative (`./data:/data`, `../x:/x`, or `type: bind`
/// with such a `source`) and without variables: these are meant to be the
/// stack's own folders. Interpolated ones are checked once compose resolved them.
fn literal_relative_sources(service: &Value) -> Vec<&str> {
    volume_sources(service)
        .into_iter()
        .map(|(VolumeSource::Short(source) | VolumeSource::Bind(source))| source)
        .filter(|source| source.starts_with('.') && !source.contains('$'))
        .collect()
}

/// `.env` keys compose v1 takes as its own settings (`DOCKER_HOST`,
/// `DOCKER_CERT_PATH`, …): a commit could point compose at another engine or
/// make it read host files.
pub fn dotenv_problems(dotenv: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(dotenv)
        // v1's parser (python-dotenv) ends a line at a lone `\r` too.
        .split(['\n', '\r'])
        .filter_map(assigned_key)
        .filter(|key| key.to_ascii_uppercase().starts_with("DOCKER_"))
        .map(|key| {
            format!(".env: sets {key}: Docker settings belong to docker-cd, not to a commit")
        })
        .collect()
}

/// The key a `.env` line assigns, read as loosely as compose v1 and v2 read
/// it: `export` followed by any whitespace, a key bare or in quotes (v1 takes
/// `'KEY'=`), then `=` or (v2) `:`.
fn assigned_key(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => line,
    };
    let (key, rest) = match line.strip_prefix(['\'', '"']) {
        Some(quoted) => {
            let end = quoted.find(['\'', '"'])?;
            (&quoted[..end], &quoted[end + 1..])
        }
        None => {
            let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            line.split_at(end)
        }
    };
    let rest = rest.trim_start();
    (rest.starts_with('=') || rest.starts_with(':')).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::file::parse_document;
    use crate::stack::fixtures::PlainFiles;
    use crate::stack::model::Reached;

    fn problems(path: &str, base: &str, yaml: &str) -> Vec<String> {
        let document = Document {
            path: path.into(),
            base: base.into(),
            reached: Reached::Main,
            value: parse_document(yaml.as_bytes()).expect("test yaml parses"),
        };
        check(&document, &PlainFiles::of(&[]))
    }

    #[test]
    fn paths_inside_the_stack_folder_pass() {
        let yaml = r#"
services:
  web:
    env_file: [.env, {path: conf/web.env, required: false}]
    label_file: ./labels
    volumes: ["./data:/data", "${DIR:-.}/x:/x:ro", "named:/n", "/srv/host:/h", {type: bind, source: ./c, target: /c}]
"#;
        assert_eq!(problems("compose.yaml", "", yaml), Vec::<String>::new());
    }

    #[test]
    fn every_path_leaving_the_folder_is_named() {
        let yaml = r#"
services:
  web:
    env_file: ../../../../../../../../tmp/outside/host.env
    label_file: ${HOME}/labels
    volumes: ["../up:/u", {type: bind, source: ./a/../../b, target: /b}]
"#;
        assert_eq!(
            problems("compose.yaml", "", yaml),
            vec![
                "compose.yaml: service 'web': env_file '../../../../../../../../tmp/outside/host.env' is outside the stack folder",
                "compose.yaml: service 'web': label_file '${HOME}/labels' uses variables: docker-cd checks this file before compose reads it, so write the path literally",
                "compose.yaml: service 'web': volume '../up' is outside the stack folder",
                "compose.yaml: service 'web': volume './a/../../b' is outside the stack folder",
            ]
        );
    }

    #[test]
    fn an_included_file_starts_from_its_base() {
        let yaml = "services:\n  inc:\n    env_file: ../top.env\n    volumes: ['../../x:/x']\n";
        assert_eq!(
            problems("sub/compose.yaml", "sub", yaml),
            vec!["sub/compose.yaml: service 'inc': volume '../../x' is outside the stack folder"]
        );
        // The same file with the stack folder as its project directory.
        assert_eq!(problems("sub/compose.yaml", "", yaml).len(), 2);
    }

    #[test]
    fn docker_settings_are_found_however_the_line_is_written() {
        let dotenv = "export\tDOCKER_HOST=tcp://10.0.0.1:2375\nTZ=UTC\rDOCKER_CONFIG=/root\n'DOCKER_TLS'=1\n  export \u{b} \"DOCKER_CERT_PATH\" = /etc\nexportDOCKER_API_VERSION=1\nexport=DOCKER_X\nX=DOCKER_Y=1\n";
        let keys: Vec<String> = dotenv_problems(dotenv.as_bytes())
            .into_iter()
            .map(|problem| problem.split(':').nth(1).unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            keys,
            [
                " sets DOCKER_HOST",
                " sets DOCKER_CONFIG",
                " sets DOCKER_TLS",
                " sets DOCKER_CERT_PATH"
            ]
        );
    }

    #[test]
    fn docker_settings_in_dotenv_are_refused() {
        let dotenv = b"TZ=UTC\nDOCKER_HOST=tcp://10.0.0.1:2375\nexport DOCKER_CERT_PATH=/root/.docker\ndocker_tls_verify: 1\n# DOCKER_X=1\n";
        assert_eq!(
            dotenv_problems(dotenv),
            vec![
                ".env: sets DOCKER_HOST: Docker settings belong to docker-cd, not to a commit",
                ".env: sets DOCKER_CERT_PATH: Docker settings belong to docker-cd, not to a commit",
                ".env: sets docker_tls_verify: Docker settings belong to docker-cd, not to a commit",
            ]
        );
    }
}
