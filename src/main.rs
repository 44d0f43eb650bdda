//! The `docker-cd` command: parse settings (exit 2 on a bad one), start logging, run;
//! or, with a client command first (`docker-cd plan …`), ask a running one.

use std::process::ExitCode;

use clap::CommandFactory as _;
use docker_cd::config::{Config, ConfigError};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // The image's HEALTHCHECK: no settings needed, so it runs before they are read.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return docker_cd::healthcheck::run();
    }
    // Before the server's settings: a client needs none of them.
    if docker_cd::cli::is_client_command(std::env::args_os()) {
        return client();
    }
    // A mistyped command would otherwise reach the server's parser and exit 2.
    if let Some(line) = docker_cd::cli::unknown_command(std::env::args_os()) {
        eprintln!("error: {line}");
        return ExitCode::FAILURE;
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(ConfigError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code());
        }
    };
    // Before logging starts: the OTLP exporter starts a thread.
    forget_secret_settings();
    // Shared by the logs and every component that records text: a secret value
    // learned anywhere is masked in all of them.
    let secrets = docker_cd::redact::SecretBook::new();
    let telemetry = match docker_cd::telemetry::init(&config.telemetry, &secrets) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("docker-cd")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(docker_cd::shutdown::on_signal(shutdown.clone()));
        docker_cd::app::run(config, shutdown, secrets).await
    });
    // Everything docker-cd started has stopped; what may still run is a
    // blocking Git fetch of a server that never answers (its own timeout is
    // 30 s): it is not waited for. After the runtime: the exporter's blocking
    // client must not run inside it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `docker-cd status|plan|…`: exit 0, 1 (any error, one line) or 2 (`plan`: changes).
fn client() -> ExitCode {
    use docker_cd::cli::{self, Cli, CliError};
    let outcome = Cli::from_args(std::env::args_os())
        .and_then(|cli| cli::run(&cli, std::env::var("API_TOKEN").ok()));
    match outcome {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(CliError::Info(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Removes every secret setting (those whose values `--help` hides:
/// `GIT_ACCESS_TOKEN`, `WEBHOOK_SECRET`, `API_TOKEN`) from the process
/// environment once `Config` holds them, so no child process inherits them:
/// not compose, not the `git-upload-pack` or `ssh` that gix starts, not what a
/// compose file or a Git hook could run.
#[allow(unsafe_code)]
fn forget_secret_settings() {
    let command = Config::command();
    let secrets: Vec<_> = command
        .get_arguments()
        .filter(|arg| arg.is_hide_env_values_set())
        .filter_map(|arg| arg.get_env())
        .collect();
    for name in secrets {
        // SAFETY: `remove_var` races with any other thread reading or writing
        // the environment. None exists yet: this runs on the main thread,
        // before logging (whose exporter has a thread) and the async runtime
        // start, and nothing before it spawns one.
        unsafe { std::env::remove_var(name) };
    }
}
