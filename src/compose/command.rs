//! Which compose command runs stacks (`COMPOSE_COMMAND`).

use std::str::FromStr;

use crate::setting::Invalid;

/// The compose command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeCommand {
    /// `docker compose` when that works, else `docker-compose`.
    Auto,
    /// Program and leading arguments, e.g. `["docker", "compose"]`.
    Explicit(Vec<String>),
}

impl FromStr for ComposeCommand {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            return Err(Invalid::new(
                "must be 'auto' or a command such as 'docker compose'",
            ));
        }
        Ok(Self::Explicit(words))
    }
}

/// `COMPOSE_COMMAND`.
#[derive(Debug, Clone, clap::Args)]
pub struct ComposeArgs {
    /// Compose command: auto (docker compose, else docker-compose) or an explicit command.
    #[arg(
        long = "compose-command",
        env = "COMPOSE_COMMAND",
        value_name = "COMMAND",
        default_value = "auto",
        display_order = 14
    )]
    pub command: ComposeCommand,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("auto", ComposeCommand::Auto)]
    #[case("AUTO", ComposeCommand::Auto)]
    #[case("docker compose", ComposeCommand::Explicit(vec!["docker".into(), "compose".into()]))]
    #[case(" docker-compose ", ComposeCommand::Explicit(vec!["docker-compose".into()]))]
    fn compose_command_is_auto_or_words(#[case] text: &str, #[case] expected: ComposeCommand) {
        assert_eq!(text.parse(), Ok(expected));
    }
}
