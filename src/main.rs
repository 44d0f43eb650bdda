//! The `docker-cd` command: parse settings (exit 2 on a bad one), start logging, run.

use std::process::ExitCode;

use docker_cd::config::{Config, ConfigError};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // The image's HEALTHCHECK: no settings needed, so it runs before they are read.
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return docker_cd::healthcheck::run();
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
    let telemetry = match docker_cd::telemetry::init(&config.telemetry) {
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
        docker_cd::app::run(config, shutdown).await
    });
    // After the runtime: the exporter's blocking client must not run inside it.
    drop(runtime);
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
