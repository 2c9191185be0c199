//! The stdout channel: one JSON envelope per line, for demos, pipes and debugging.
//!
//! Each delivery writes its body and a newline under one lock, so concurrent lanes never
//! interleave lines. It writes through tokio, so a slow reader of the pipe never blocks the
//! executor. It knows nothing about what the body holds, only that it is one line of JSON.

use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Mutex;

use super::{Channel, Delivery, DeliveryError};

/// Writes each delivery's body as one line.
pub struct StdoutChannel {
    // Held for a whole line, so lines from concurrent deliveries never mix.
    writer: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
}

impl std::fmt::Debug for StdoutChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutChannel").finish_non_exhaustive()
    }
}

impl Default for StdoutChannel {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutChannel {
    /// A channel writing to the process's standard output.
    pub fn new() -> Self {
        Self::with_writer(tokio::io::stdout())
    }

    /// A channel writing to `writer` instead, for tests and pipes.
    pub fn with_writer(writer: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Self {
            writer: Mutex::new(Box::new(writer)),
        }
    }
}

impl Channel for StdoutChannel {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        debug_assert!(
            !delivery.body.contains(&b'\n'),
            "a delivery body is compact json without raw newlines"
        );
        let mut line = Vec::with_capacity(delivery.body.len() + 1);
        line.extend_from_slice(&delivery.body);
        line.push(b'\n');
        let mut writer = self.writer.lock().await;
        let written = async {
            writer.write_all(&line).await?;
            writer.flush().await
        }
        .await;
        written.map_err(|error| DeliveryError::Retryable {
            reason: format!("cannot write to stdout: {error}"),
            retry_after: None,
            status: None,
        })
    }
}
