//! One commit status as each forge's API wants it: path, auth header, body.
//! Pure: what is sent is tested without a forge.

use serde_json::{Map, Value};

use super::args::{ForgeKind, Target};
use crate::named::named_enum;
use crate::secret::Secret;
use crate::text::{cut, one_line};

/// GitHub refuses a longer description (422); the others accept it, but a
/// commit page shows one line.
pub const DESCRIPTION_MAX: usize = 140;

named_enum! {
    /// What docker-cd says of a stack at a commit.
    pub enum State {
        /// Its apply runs, or its health gate is open.
        Pending = "pending",
        /// It runs and its health gate passed.
        Success = "success",
        /// Its apply or health gate failed, or it was rolled back.
        Failure = "failure",
    }
}

/// One status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The full commit id.
    pub sha: String,
    /// `docker-cd/<instance>/<stack>`.
    pub context: String,
    /// What docker-cd says.
    pub state: State,
    /// Why, on one line, at most [`DESCRIPTION_MAX`] characters.
    pub description: String,
    /// The stack's dashboard page, when `EXTERNAL_URL` is set.
    pub target_url: Option<String>,
}

impl Update {
    /// An update whose description is put on one line (compose's output has
    /// newlines) and cut to [`DESCRIPTION_MAX`] characters.
    pub fn new(
        sha: &str,
        context: String,
        state: State,
        description: &str,
        target_url: Option<String>,
    ) -> Self {
        Self {
            sha: sha.to_string(),
            context,
            state,
            description: cut(&one_line(description), DESCRIPTION_MAX),
            target_url,
        }
    }
}

/// An HTTP request to a forge. `Debug` leaves the auth header's value out.
pub struct Outgoing {
    /// Where it is POSTed.
    pub url: String,
    /// The auth header's name; its value is the token, with a scheme where the forge wants one.
    pub auth: (&'static str, AuthValue),
    /// Other headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The JSON body.
    pub body: Value,
}

/// The value of an auth header: a scheme and the token.
pub struct AuthValue {
    scheme: &'static str,
    token: Secret,
}

impl AuthValue {
    /// The header's value: only where it is sent.
    pub fn expose(&self) -> String {
        format!("{}{}", self.scheme, self.token.expose())
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "POST {} ({}: {}(redacted)) {}",
            self.url, self.auth.0, self.auth.1.scheme, self.body
        )
    }
}

/// The request that posts `update` to `target`.
pub fn build(target: &Target, update: &Update) -> Outgoing {
    let repo = target.repo.as_str();
    let sha = &update.sha;
    let (url, auth, scheme, context_key) = match target.kind {
        ForgeKind::GitHub => (
            format!("{}/repos/{repo}/statuses/{sha}", target.base),
            "Authorization",
            "Bearer ",
            "context",
        ),
        ForgeKind::Gitea | ForgeKind::Forgejo => (
            format!("{}/api/v1/repos/{repo}/statuses/{sha}", target.base),
            "Authorization",
            "token ",
            "context",
        ),
        ForgeKind::GitLab => {
            // The project is one path segment: `group/sub/project` URL-encoded.
            let project: String = form_urlencoded::byte_serialize(repo.as_bytes()).collect();
            (
                format!("{}/api/v4/projects/{project}/statuses/{sha}", target.base),
                "PRIVATE-TOKEN",
                "",
                "name",
            )
        }
    };
    let mut body = Map::new();
    body.insert("state".into(), state_of(target.kind, update.state).into());
    body.insert(context_key.into(), update.context.clone().into());
    body.insert("description".into(), update.description.clone().into());
    if let Some(link) = &update.target_url {
        body.insert("target_url".into(), link.clone().into());
    }
    let mut headers = vec![
        ("Content-Type", "application/json"),
        (
            "User-Agent",
            concat!("docker-cd/", env!("CARGO_PKG_VERSION")),
        ),
    ];
    if target.kind == ForgeKind::GitHub {
        headers.push(("Accept", "application/vnd.github+json"));
        headers.push(("X-GitHub-Api-Version", "2022-11-28"));
    }
    Outgoing {
        url,
        auth: (
            auth,
            AuthValue {
                scheme,
                token: target.token.clone(),
            },
        ),
        headers,
        body: Value::Object(body),
    }
}

/// The forge's name for `state`. GitLab's differ: its `pending` means queued,
/// not started, so an apply under way is `running`; and it says `failed`.
pub fn state_of(kind: ForgeKind, state: State) -> &'static str {
    match (kind, state) {
        (ForgeKind::GitLab, State::Pending) => "running",
        (ForgeKind::GitLab, State::Failure) => "failed",
        (_, state) => state.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn target(kind: ForgeKind, base: &str, repo: &str) -> Target {
        Target {
            kind,
            base: base.into(),
            repo: repo.parse().expect("repo"),
            token: Secret::new("s3cr3t"),
        }
    }

    fn update(state: State) -> Update {
        Update::new(
            SHA,
            "docker-cd/prod/web".into(),
            state,
            "deploying",
            Some("https://cd.example.com/#/stacks/web".into()),
        )
    }

    #[rstest]
    #[case(
        ForgeKind::GitHub,
        "https://api.github.com",
        "acme/stacks",
        "https://api.github.com/repos/acme/stacks/statuses/",
        "Authorization",
        "Bearer s3cr3t",
        "context"
    )]
    #[case(
        ForgeKind::GitHub,
        "https://ghe.corp/api/v3",
        "acme/stacks",
        "https://ghe.corp/api/v3/repos/acme/stacks/statuses/",
        "Authorization",
        "Bearer s3cr3t",
        "context"
    )]
    #[case(
        ForgeKind::Gitea,
        "https://git.lan",
        "acme/stacks",
        "https://git.lan/api/v1/repos/acme/stacks/statuses/",
        "Authorization",
        "token s3cr3t",
        "context"
    )]
    #[case(
        ForgeKind::Forgejo,
        "https://codeberg.org",
        "acme/stacks",
        "https://codeberg.org/api/v1/repos/acme/stacks/statuses/",
        "Authorization",
        "token s3cr3t",
        "context"
    )]
    #[case(
        ForgeKind::GitLab,
        "https://gitlab.com",
        "acme/infra/stacks",
        "https://gitlab.com/api/v4/projects/acme%2Finfra%2Fstacks/statuses/",
        "PRIVATE-TOKEN",
        "s3cr3t",
        "name"
    )]
    fn each_forge_gets_its_path_header_and_body(
        #[case] kind: ForgeKind,
        #[case] base: &str,
        #[case] repo: &str,
        #[case] url: &str,
        #[case] header: &str,
        #[case] value: &str,
        #[case] context_key: &str,
    ) {
        let request = build(&target(kind, base, repo), &update(State::Success));
        assert_eq!(request.url, format!("{url}{SHA}"));
        assert_eq!(
            (request.auth.0, request.auth.1.expose().as_str()),
            (header, value)
        );
        assert_eq!(request.body["state"], "success");
        assert_eq!(request.body[context_key], "docker-cd/prod/web");
        assert_eq!(request.body["description"], "deploying");
        assert_eq!(
            request.body["target_url"],
            "https://cd.example.com/#/stacks/web"
        );
        assert_eq!(request.body.as_object().map(Map::len), Some(4));
        assert!(!format!("{request:?}").contains("s3cr3t"), "{request:?}");
    }

    #[rstest]
    #[case(ForgeKind::GitHub, State::Pending, "pending")]
    #[case(ForgeKind::GitHub, State::Failure, "failure")]
    #[case(ForgeKind::Gitea, State::Success, "success")]
    #[case(ForgeKind::Forgejo, State::Failure, "failure")]
    #[case(ForgeKind::GitLab, State::Pending, "running")]
    #[case(ForgeKind::GitLab, State::Success, "success")]
    #[case(ForgeKind::GitLab, State::Failure, "failed")]
    fn states_are_named_as_each_forge_names_them(
        #[case] kind: ForgeKind,
        #[case] state: State,
        #[case] name: &str,
    ) {
        assert_eq!(state_of(kind, state), name);
    }

    #[test]
    fn github_gets_its_media_type_and_no_link_means_no_field() {
        let mut plain = update(State::Pending);
        plain.target_url = None;
        let request = build(
            &target(ForgeKind::GitHub, "https://api.github.com", "a/b"),
            &plain,
        );
        assert!(
            request
                .headers
                .contains(&("Accept", "application/vnd.github+json"))
        );
        assert!(
            request
                .headers
                .iter()
                .any(|(name, _)| *name == "User-Agent")
        );
        assert_eq!(request.body.get("target_url"), None);
    }

    #[test]
    fn long_descriptions_are_cut_to_140_characters() {
        let long = "é".repeat(300);
        let cut = Update::new(SHA, "c".into(), State::Failure, &long, None).description;
        assert_eq!(cut.chars().count(), DESCRIPTION_MAX);
        assert!(cut.ends_with('…'));
    }
}
