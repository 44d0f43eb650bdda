//! Logging and tracing set-up: `LOG_FORMAT` picks text or JSON, `RUST_LOG` the
//! level (default `info`); with `OTEL_EXPORTER_OTLP_ENDPOINT`, spans are also
//! exported over OTLP/HTTP (protobuf) and flushed at shutdown.

use std::io::IsTerminal as _;
use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact::{MaskingWriter, SecretBook};
use crate::setting::{Blankable, Invalid};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// An OTLP/HTTP base URL (the exporter appends `/v1/traces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(String);

impl FromStr for OtlpEndpoint {
    type Err = Invalid;

    fn from_str(url: &str) -> Result<Self, Invalid> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| Invalid::new("must be an http:// or https:// URL"))?;
        if rest.split('/').next().unwrap_or_default().is_empty() {
            return Err(Invalid::new("the URL has no host"));
        }
        Ok(Self(url.to_string()))
    }
}

/// `LOG_FORMAT` and `OTEL_EXPORTER_OTLP_ENDPOINT` (the level is `RUST_LOG`'s, read at [`init`]).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text",
        ignore_case = true,
        display_order = 18
    )]
    pub log_format: LogFormat,

    /// OTLP/HTTP endpoint; when set, traces are exported.
    #[arg(
        long = "otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL",
        display_order = 19
    )]
    otlp_endpoint: Option<Blankable<OtlpEndpoint>>,
}

impl TelemetryArgs {
    /// The OTLP base URL; `None` (unset or blank) exports nothing.
    pub fn otlp_endpoint(&self) -> Option<&str> {
        self.otlp_endpoint
            .as_ref()
            .and_then(Blankable::as_option)
            .map(|e| e.0.as_str())
    }
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` does not parse as a filter.
    #[error("error: RUST_LOG: invalid filter: {0}")]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("error: logging was already initialised")]
    AlreadyInitialised,
    /// The OTLP exporter could not be built.
    #[error("error: OTEL_EXPORTER_OTLP_ENDPOINT: cannot set up the exporter: {0}")]
    Exporter(String),
}

/// Keeps the trace pipeline; [`Telemetry::shutdown`] flushes it.
#[must_use = "call shutdown() at exit, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports every buffered span. Call outside the async runtime: the exporter
    /// uses a blocking HTTP client.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {e}");
        }
    }
}

/// The traces endpoint for a standard `OTEL_EXPORTER_OTLP_ENDPOINT` base URL.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// Whether text logs get ANSI colours: only on a terminal (the fmt layer writes
/// to stdout), so files, pipes and log collectors get plain text, and never
/// when `NO_COLOR` is set (<https://no-color.org>).
fn colours_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// Installs the global subscriber, with OTLP export when an endpoint is set;
/// log lines are masked with the values in `secrets`.
///
/// # Errors
/// A bad `RUST_LOG`, an exporter that cannot be built, or a second call.
pub fn init(args: &TelemetryArgs, secrets: &SecretBook) -> Result<Telemetry, TelemetryError> {
    let (format, otlp_endpoint) = (args.log_format, args.otlp_endpoint());
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => {
            EnvFilter::try_new(&value).map_err(|e| TelemetryError::Filter(e.to_string()))?
        }
        _ => EnvFilter::new("info"),
    };
    let provider = match otlp_endpoint {
        Some(base) => {
            crate::tls::install_crypto_provider();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(traces_url(base))
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name("docker-cd").build())
                    .build(),
            )
        }
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(env!("CARGO_PKG_NAME"))));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(MaskingWriter::new(secrets.clone(), std::io::stdout))
                    .with_target(false)
                    .with_ansi(colours_wanted()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(MaskingWriter::new(secrets.clone(), std::io::stdout))
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadyInitialised)?;
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_to_the_base_endpoint() {
        assert_eq!(
            traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
    }
}
