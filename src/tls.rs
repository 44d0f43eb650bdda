//! The process-wide TLS provider.

/// Installs ring as rustls' provider, used by every TLS client in the process
/// (gix's HTTP transport, the OTLP exporter). Idempotent.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
