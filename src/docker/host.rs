//! Which Docker daemon to talk to (`DOCKER_HOST`), and which of its containers
//! are this instance's (`INSTANCE_NAME`).

use std::fmt;
use std::str::FromStr;

use crate::setting::{Blankable, Invalid};

/// A Docker daemon address, in a scheme the API client and compose both take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerHost(String);

impl DockerHost {
    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DockerHost {
    type Err = Invalid;

    fn from_str(host: &str) -> Result<Self, Invalid> {
        const SCHEMES: [&str; 5] = ["unix://", "tcp://", "http://", "https://", "npipe://"];
        if SCHEMES.iter().any(|s| host.starts_with(s)) {
            Ok(Self(host.to_string()))
        } else {
            Err(Invalid::new(
                "must start with unix://, tcp://, http://, https:// or npipe://",
            ))
        }
    }
}

/// This instance's name, written to `io.docker-cd.instance`. It also goes into
/// compose project names of tests: keep it simple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceName(String);

impl InstanceName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for InstanceName {
    type Err = Invalid;

    fn from_str(name: &str) -> Result<Self, Invalid> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(Self(name.to_string()))
        } else {
            Err(Invalid::new(
                "must be 1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit",
            ))
        }
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `DOCKER_HOST`.
#[derive(Debug, Clone, clap::Args)]
pub struct DockerArgs {
    /// Docker daemon, for the API client and for compose [default: the local socket].
    #[arg(
        long = "docker-host",
        env = "DOCKER_HOST",
        value_name = "URL",
        display_order = 20
    )]
    docker_host: Option<Blankable<DockerHost>>,
}

impl DockerArgs {
    /// The daemon's address; `None` for the local socket (unset or blank).
    pub fn host(&self) -> Option<&str> {
        self.docker_host
            .as_ref()
            .and_then(Blankable::as_option)
            .map(DockerHost::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("docker-cd", true)]
    #[case("ci_2.a-b", true)]
    #[case("", false)]
    #[case("has space", false)]
    #[case("-x", false)]
    fn instance_names_are_simple(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(name.parse::<InstanceName>().is_ok(), ok);
    }

    #[rstest]
    #[case("unix:///var/run/docker.sock", true)]
    #[case("tcp://127.0.0.1:2375", true)]
    #[case("/var/run/docker.sock", false)]
    fn docker_hosts_need_a_scheme(#[case] host: &str, #[case] ok: bool) {
        assert_eq!(host.parse::<DockerHost>().is_ok(), ok);
    }
}
