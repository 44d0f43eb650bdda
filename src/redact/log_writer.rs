//! The log output, masked: whatever a log line carries (compose's output in an
//! error, a reason from a healthcheck), no known secret value leaves the process.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

use super::SecretBook;

/// Wraps a log destination so every line is masked with the book's values.
pub struct MaskingWriter<M> {
    book: SecretBook,
    inner: M,
}

impl<M> MaskingWriter<M> {
    /// Masks what `inner` would write with every value in `book`.
    pub fn new(book: SecretBook, inner: M) -> Self {
        Self { book, inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for MaskingWriter<M> {
    type Writer = Masked<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Masked {
            book: self.book.clone(),
            inner: self.inner.make_writer(),
        }
    }
}

/// One log line's writer (the formatter writes each event whole, in one call).
pub struct Masked<W> {
    book: SecretBook,
    inner: W,
}

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(&self.book.mask_everywhere(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::redact::Secrets;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_logged_secret_is_masked() {
        let book = SecretBook::new();
        let sink = Sink::default();
        let writer = MaskingWriter::new(book.clone(), {
            let sink = sink.clone();
            move || sink.clone()
        });
        let secrets: Secrets = ["pw-secret-1"].into_iter().collect();
        book.learn("web", &secrets);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                error = "compose up failed: -P pw-secret-1",
                "reconcile failed"
            );
        });
        let logged = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        assert!(logged.contains("-P (redacted)"), "{logged}");
        assert!(!logged.contains("pw-secret-1"), "{logged}");
    }
}
