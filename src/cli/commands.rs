//! One function per client command: ask the API, print the answer, say how it ended.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::args::{Command, Output};
use super::client::{Client, ClientError};
use super::console::Console;
use super::render::{applied_line, history_table, plan_text, short, status_table};
use super::views::{Applied, History, Plan, RefreshState, StackList};
use super::{CliError, Exit};

/// How often `refresh` looks whether its refresh finished.
const REFRESH_POLL: Duration = Duration::from_millis(200);

/// How long `refresh` waits for it (a first clone of a large repository is slow).
const REFRESH_WAIT: Duration = Duration::from_secs(600);

/// What every command works with.
pub struct Context {
    /// The API.
    pub client: Client,
    /// Where answers go.
    pub console: Console,
    /// `--output`.
    pub output: Output,
}

impl Context {
    /// Prints `answer` as `--output json` asks: pretty JSON.
    fn json(&self, answer: &Value) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(answer).unwrap_or_else(|_| answer.to_string());
        self.console.out(&text)
    }

    /// Prints `text` in text mode, `answer` in JSON mode.
    fn print(&self, text: &str, answer: &Value) -> Result<(), CliError> {
        match self.output {
            Output::Text => self.console.out(text),
            Output::Json => self.json(answer),
        }
    }
}

/// Runs `command`.
///
/// # Errors
/// When the API cannot be asked or refuses; `plan` reports a refused stack
/// and goes on with the others.
pub async fn run(command: &Command, cx: &Context) -> Result<Exit, CliError> {
    match command {
        Command::Status => status(cx).await,
        Command::Plan { stacks } => plan(cx, stacks).await,
        Command::Apply { stack, yes } => apply(cx, stack, *yes).await,
        Command::Sync { stack } => sync(cx, stack).await,
        Command::History { stack } => history(cx, stack).await,
        Command::Rollback { stack, revision } => rollback(cx, stack, revision).await,
        Command::Refresh => refresh(cx).await,
    }
}

async fn status(cx: &Context) -> Result<Exit, CliError> {
    let (json, list) = cx.client.get::<StackList>(&["stacks"]).await?;
    cx.print(&status_table(&list), &json)?;
    Ok(Exit::Success)
}

/// Plans each of `stacks` (none: every stack in Git). A stack the server
/// refuses is reported on stderr and the others still planned; an unreachable
/// server or a refused token ends it at once.
async fn plan(cx: &Context, stacks: &[String]) -> Result<Exit, CliError> {
    let names = if stacks.is_empty() {
        let (_, list) = cx.client.get::<StackList>(&["stacks"]).await?;
        list.stacks
            .into_iter()
            .filter(|s| s.desired)
            .map(|s| s.name)
            .collect()
    } else {
        stacks.to_vec()
    };
    let (mut plans, mut changes, mut failed) = (Vec::new(), false, false);
    for name in &names {
        match cx
            .client
            .post::<Plan>(&["stacks", name, "plan"], None, false)
            .await
        {
            Ok((json, plan)) => {
                changes |= !plan.changes.is_empty();
                if cx.output == Output::Text {
                    let gap = if plans.is_empty() { "" } else { "\n" };
                    cx.console
                        .out(&format!("{gap}{}", plan_text(&plan, cx.console.colour)))?;
                }
                plans.push(json);
            }
            Err(error @ ClientError::Api { .. }) => {
                failed = true;
                cx.console.note(&format!("error: {name}: {error}"));
            }
            Err(error) => return Err(error.into()),
        }
    }
    if cx.output == Output::Json {
        cx.json(&Value::Array(plans))?;
    } else if names.is_empty() {
        cx.console.out("no stacks in Git")?;
    }
    Ok(match (failed, changes) {
        (true, _) => Exit::Failure,
        (false, true) => Exit::Changes,
        (false, false) => Exit::Success,
    })
}

/// Plans `stack`, shows the plan, asks (unless `yes`) and applies exactly
/// that plan: its token makes the server refuse it (409) if anything changed since.
async fn apply(cx: &Context, stack: &str, yes: bool) -> Result<Exit, CliError> {
    let (plan_json, plan) = cx
        .client
        .post::<Plan>(&["stacks", stack, "plan"], None, false)
        .await?;
    let text = plan_text(&plan, cx.console.colour);
    match cx.output {
        Output::Text => cx.console.out(&text)?,
        // The answer on stdout stays one JSON document; what is confirmed is still shown.
        Output::Json if !yes => cx.console.note(&text),
        Output::Json => {}
    }
    if plan.changes.is_empty() {
        cx.print(
            "Nothing to apply.",
            &json!({"plan": plan_json, "result": null}),
        )?;
        return Ok(Exit::Success);
    }
    if !yes {
        cx.console
            .confirm(&format!("Apply this plan to {stack}?"))?;
    }
    let body = json!({ "token": plan.token });
    let (result, applied) = cx
        .client
        .post::<Applied>(&["stacks", stack, "apply"], Some(body), true)
        .await?;
    if cx.output == Output::Text {
        // The outcome apart from the plan above it.
        cx.console.out("")?;
    }
    outcome(cx, &applied, &json!({"plan": plan_json, "result": result}))
}

/// Prints how an apply or rollback ended; success only for `success`.
fn outcome(cx: &Context, applied: &Applied, answer: &Value) -> Result<Exit, CliError> {
    if cx.output == Output::Json {
        cx.json(answer)?;
    } else if applied.succeeded() {
        cx.console.out(&applied_line(applied))?;
    }
    if applied.succeeded() {
        return Ok(Exit::Success);
    }
    if cx.output == Output::Text {
        cx.console
            .note(&format!("error: {}", applied_line(applied)));
    }
    Ok(Exit::Failure)
}

async fn sync(cx: &Context, stack: &str) -> Result<Exit, CliError> {
    let (json, _) = cx
        .client
        .post::<Value>(&["stacks", stack, "sync"], None, false)
        .await?;
    cx.print(&format!("{stack}: sync queued"), &json)?;
    Ok(Exit::Success)
}

async fn history(cx: &Context, stack: &str) -> Result<Exit, CliError> {
    let (json, history) = cx
        .client
        .get::<History>(&["stacks", stack, "history"])
        .await?;
    cx.print(&history_table(&history), &json)?;
    Ok(Exit::Success)
}

async fn rollback(cx: &Context, stack: &str, revision: &str) -> Result<Exit, CliError> {
    let body = json!({ "revision": revision });
    let (json, applied) = cx
        .client
        .post::<Applied>(&["stacks", stack, "rollback"], Some(body), true)
        .await?;
    outcome(cx, &applied, &json)
}

/// Asks for a refresh and waits until every refresh asked so far finished:
/// `docker-cd refresh && docker-cd plan` plans against what Git has now.
async fn refresh(cx: &Context) -> Result<Exit, CliError> {
    let (_, before) = cx.client.get::<RefreshState>(&["refresh"]).await?;
    cx.client.post::<Value>(&["refresh"], None, false).await?;
    let deadline = Instant::now() + REFRESH_WAIT;
    let (json, after) = loop {
        let (json, now) = cx.client.get::<RefreshState>(&["refresh"]).await?;
        let finished = now.state == "idle" && !now.queued && now.last != before.last;
        if finished {
            break (json, now);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(
                "the refresh did not finish within 10 minutes",
            ));
        }
        tokio::time::sleep(REFRESH_POLL).await;
    };
    let last = after.last.unwrap_or_default();
    if last.outcome != "completed" {
        let why = last.error.unwrap_or_else(|| last.outcome.clone());
        return Err(CliError::Refresh(why));
    }
    let revision = after.revision.as_deref().map_or_else(|| "-".into(), short);
    cx.print(&format!("refreshed: revision {revision}"), &json)?;
    Ok(Exit::Success)
}
