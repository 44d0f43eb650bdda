//! `docker-cd status|plan|apply|sync|history|rollback|refresh`: the API from a
//! shell, for people (tables, Terraform-style plans) and for CI (`--output
//! json`, exit 2 when a plan has changes).
//!
//! `args` is the command line, `client` the HTTP calls, `views` what is read of
//! the answers, `render` the pure text, `console` the streams, `commands` one
//! function per command.

pub mod args;
pub mod client;
mod commands;
mod console;
pub mod render;
pub mod views;

use std::ffi::OsString;

use clap::Parser as _;
use clap::error::ErrorKind;

pub use self::args::{COMMANDS, Cli};
use self::client::{Client, ClientError};
use self::commands::Context;
use self::console::Console;
use crate::secret::Secret;

/// How a client command ended: its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; for `plan`, no changes.
    Success = 0,
    /// Anything went wrong (or an apply failed).
    Failure = 1,
    /// `plan` only: there are changes.
    Changes = 2,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a client command failed; reads as one line after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--help` or `--version`: print it, exit 0.
    #[error("{0}")]
    Info(String),
    /// The command line is wrong.
    #[error("{0} (see --help)")]
    Usage(String),
    /// The API could not be asked or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The operator did not confirm the apply.
    #[error("{0}")]
    NotConfirmed(String),
    /// Git could not be read.
    #[error("refresh failed: {0}")]
    Refresh(String),
    /// Waited too long.
    #[error("{0}")]
    Timeout(&'static str),
    /// A stream of the terminal failed.
    #[error("cannot print or read: {0}")]
    Io(#[from] std::io::Error),
    /// The async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

/// Whether `args` (the program name first) asks for a client command.
pub fn is_client_command(mut args: impl Iterator<Item = OsString>) -> bool {
    args.nth(1)
        .is_some_and(|first| COMMANDS.iter().any(|c| first == *c))
}

/// The line to print (then exit 1) when the first argument of `args` is
/// neither a flag nor a command: the server takes no positional argument, so
/// a typo (`docker-cd plann`) would reach its parser and exit 2, which a CI
/// script reads as "plan: changes".
pub fn unknown_command(mut args: impl Iterator<Item = OsString>) -> Option<String> {
    let first = args.nth(1)?;
    let first = first.to_string_lossy();
    let known = COMMANDS.iter().chain(&["healthcheck"]);
    if first.starts_with('-') || known.clone().any(|c| *c == first) {
        return None;
    }
    let closest = known
        .map(|c| (edit_distance(c, &first), c))
        .min()
        .filter(|(distance, _)| *distance <= 2);
    Some(match closest {
        Some((_, command)) => format!(
            "unknown command '{first}': did you mean '{command}'? (see docker-cd <command> --help)"
        ),
        None => format!(
            "unknown command '{first}': the commands are {}; see docker-cd <command> --help, or docker-cd --help for the server's settings",
            COMMANDS.join(", ")
        ),
    })
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

impl Cli {
    /// Reads `args` (the program name first); clap's report cut to its first line.
    ///
    /// # Errors
    /// [`CliError::Info`] for `--help`/`--version`, else [`CliError::Usage`].
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, CliError> {
        Self::try_parse_from(args).map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                CliError::Info(e.render().to_string())
            }
            _ => CliError::Usage(usage_line(&e.render().to_string())),
        })
    }
}

/// clap's report on one line: the message and what it names (a missing
/// argument is on the next line), without the usage and tips below it.
fn usage_line(report: &str) -> String {
    let message = report.split("\n\n").next().unwrap_or(report);
    let message = message.trim().trim_start_matches("error:");
    crate::text::one_line(message)
}

/// Runs `cli` against its server with `token` (`API_TOKEN`); prints the answer.
///
/// # Errors
/// See [`CliError`]; the caller prints it on one line and exits 1.
pub fn run(cli: &Cli, token: Option<String>) -> Result<Exit, CliError> {
    let token = token.filter(|t| !t.trim().is_empty()).map(Secret::new);
    let context = Context {
        client: Client::new(cli.server.0.clone(), token)?,
        console: Console::detect(),
        output: cli.output,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    runtime.block_on(commands::run(&cli.command, &context))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_a_first_argument_naming_a_command_selects_the_client() {
        assert!(is_client_command(args(&["docker-cd", "plan"]).into_iter()));
        assert!(!is_client_command(args(&["docker-cd"]).into_iter()));
        assert!(!is_client_command(
            args(&["docker-cd", "--git-repo-url", "plan"]).into_iter()
        ));
        assert!(!is_client_command(
            args(&["docker-cd", "healthcheck"]).into_iter()
        ));
    }

    #[test]
    fn a_first_word_that_is_no_command_is_refused_with_the_closest_one() {
        let refused = |list: &[&str]| unknown_command(args(list).into_iter());
        assert_eq!(
            refused(&["docker-cd", "plann"]).as_deref(),
            Some("unknown command 'plann': did you mean 'plan'? (see docker-cd <command> --help)")
        );
        assert_eq!(
            refused(&["docker-cd", "stauts", "-o", "json"]).as_deref(),
            Some(
                "unknown command 'stauts': did you mean 'status'? (see docker-cd <command> --help)"
            )
        );
        let help = refused(&["docker-cd", "help"]).unwrap_or_default();
        assert!(help.starts_with("unknown command 'help': "), "{help}");
        assert!(help.contains("plan") && help.contains("--help"), "{help}");
        for fine in [
            &["docker-cd"][..],
            &["docker-cd", "--git-repo-url", "x"],
            &["docker-cd", "-h"],
            &["docker-cd", "plan"],
            &["docker-cd", "healthcheck"],
        ] {
            assert_eq!(refused(fine), None, "{fine:?}");
        }
    }

    #[test]
    fn usage_errors_are_one_line_and_help_is_info() {
        let bad = Cli::from_args(args(&["docker-cd", "apply"])).unwrap_err();
        let text = bad.to_string();
        assert!(matches!(bad, CliError::Usage(_)), "{bad:?}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("<STACK>"), "{text}");
        let help = Cli::from_args(args(&["docker-cd", "plan", "--help"])).unwrap_err();
        let CliError::Info(help) = help else {
            panic!("help is info");
        };
        assert!(help.contains("Exit codes"), "{help}");
    }
}
