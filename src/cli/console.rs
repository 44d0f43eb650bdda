//! Where the client prints and asks: stdout for answers, stderr for errors and
//! prompts, stdin for the confirmation.

use std::io::{BufRead as _, ErrorKind, IsTerminal as _, Write as _};

use super::CliError;

/// The terminal, or the pipes a script gave the client.
pub struct Console {
    /// Whether plans are coloured: stdout is a terminal and `NO_COLOR` is unset
    /// (<https://no-color.org>).
    pub colour: bool,
}

impl Console {
    /// The process's own streams.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Self {
            colour: std::io::stdout().is_terminal() && !no_color && !dumb,
        }
    }

    /// Prints `text` on stdout, ending it with a newline if it has none.
    ///
    /// # Errors
    /// When stdout fails; not when its reader has gone (`docker-cd plan | head`):
    /// the exit status still says what the command found.
    pub fn out(&self, text: &str) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        let newline = if text.ends_with('\n') { "" } else { "\n" };
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.write_all(newline.as_bytes()))
            .and_then(|()| stdout.flush());
        match written {
            Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Prints `text` on stderr: what accompanies the answer without being it.
    pub fn note(&self, text: &str) {
        // Nothing to do when stderr is gone: the exit status still tells.
        let _ = writeln!(std::io::stderr().lock(), "{}", text.trim_end());
    }

    /// Asks `question` on stderr; `Ok` only when the answer read from stdin is `yes`.
    ///
    /// # Errors
    /// [`CliError::NotConfirmed`] for any other answer, or when stdin is no
    /// terminal: a script must say `--yes`, never get a silent default.
    pub fn confirm(&self, question: &str) -> Result<(), CliError> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(CliError::NotConfirmed(
                "stdin is not a terminal: pass --yes to apply without asking".into(),
            ));
        }
        let mut stderr = std::io::stderr().lock();
        write!(stderr, "{question} Only 'yes' applies: ")?;
        stderr.flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if answer.trim() == "yes" {
            Ok(())
        } else {
            Err(CliError::NotConfirmed("apply cancelled".into()))
        }
    }
}
