//! The client commands' command line: `docker-cd <command> [--server URL] …`.

use std::str::FromStr;

use clap::{Parser, Subcommand, ValueEnum};
use reqwest::Url;

/// The client commands: a first argument among them runs the client, not the server.
pub const COMMANDS: [&str; 7] = [
    "status", "plan", "apply", "sync", "history", "rollback", "refresh",
];

/// What every command's `--help` ends with: scripts branch on these.
const EXIT_CODES: &str = "Exit codes: 0 success (plan: no changes), 2 plan: changes, 1 any error \
(bad arguments too, so that 2 always means changes).\n\
API_TOKEN from the environment is sent as 'Authorization: Bearer <token>'.";

/// `docker-cd <command>`: talks to a running docker-cd over its API.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "docker-cd",
    version,
    about = "Ask a running docker-cd over its HTTP API.",
    after_help = EXIT_CODES,
    subcommand_required = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The docker-cd to ask.
    #[arg(
        long,
        global = true,
        env = "DOCKER_CD_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: ServerUrl,
    /// `text` for people, `json` for scripts (the API's answers as they are).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// One client command.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Lists the stacks: status, health, revision, when synced, error.
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Shows what an apply would change (every stack in Git when none is named).
    #[command(after_help = EXIT_CODES)]
    Plan {
        /// Stack names.
        stacks: Vec<String>,
    },
    /// Shows the plan of a stack, asks to confirm, applies exactly that plan.
    #[command(after_help = EXIT_CODES)]
    Apply {
        /// Stack name.
        stack: String,
        /// Apply without asking (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Reconciles a stack now, even with RECONCILE_ENABLED=false or flagged drift.
    #[command(after_help = EXIT_CODES)]
    Sync {
        /// Stack name.
        stack: String,
    },
    /// Lists a stack's last applies, removals and rollbacks, newest first.
    #[command(after_help = EXIT_CODES)]
    History {
        /// Stack name.
        stack: String,
    },
    /// Applies a revision from the stack's history and holds it there.
    #[command(after_help = EXIT_CODES)]
    Rollback {
        /// Stack name.
        stack: String,
        /// A commit id from its history (7 characters or more).
        revision: String,
    },
    /// Reads Git now and waits until that refresh finished.
    #[command(after_help = EXIT_CODES)]
    Refresh,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and Terraform-style plans.
    Text,
    /// The API's JSON.
    Json,
}

/// `--server`: an `http` or `https` URL, possibly with a path prefix (behind a proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(pub Url);

/// Why a server URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an http(s) URL such as http://127.0.0.1:8080")]
pub struct BadServerUrl;

impl FromStr for ServerUrl {
    type Err = BadServerUrl;

    fn from_str(text: &str) -> Result<Self, BadServerUrl> {
        let url = Url::parse(text.trim()).map_err(|_| BadServerUrl)?;
        // Credentials in the URL would be sent as Basic auth and printed in
        // errors; the token comes from API_TOKEN instead.
        let plain = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.username().is_empty()
            && url.password().is_none();
        plain.then_some(Self(url)).ok_or(BadServerUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_client_command_is_listed() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, COMMANDS);
    }

    #[test]
    fn server_urls_are_http_without_credentials() {
        assert!("http://127.0.0.1:8080".parse::<ServerUrl>().is_ok());
        assert!(
            "https://cd.example.com/prefix/"
                .parse::<ServerUrl>()
                .is_ok()
        );
        for bad in ["127.0.0.1:8080", "ftp://h", "http://u:p@h", "nonsense"] {
            assert_eq!(bad.parse::<ServerUrl>(), Err(BadServerUrl), "{bad}");
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from(["docker-cd", "plan", "web", "-o", "json"]).unwrap();
        assert_eq!(cli.output, Output::Json);
        let Command::Plan { stacks } = cli.command else {
            panic!("plan");
        };
        assert_eq!(stacks, ["web"]);
    }
}
