//! The stdout channel: one JSON envelope per line, for demos, pipes and debugging.
//!
//! One thread of its own owns the output. Deliveries queue their lines to it; each time it
//! wakes it takes everything queued, writes it with one write and one flush, and only then
//! tells those deliveries they are done. So lines from concurrent lanes never interleave, a
//! busy stream costs one wake-up of that thread per batch (not two trips through tokio's
//! blocking pool, one to write and one to flush), and a delivery counts as complete (its event
//! may be checkpointed) only once its line has been handed to the operating system: a crash
//! before that replays the event rather than losing it. If a write fails, every delivery of
//! that batch fails and is retried; lines of the batch that did get out appear again, which
//! at-least-once delivery allows (the idempotency key tells them apart). A broken pipe is
//! different: the reader is gone for good, so that delivery and every later one fail as
//! [`DeliveryError::Closed`] and the connector stops instead of retrying forever. It knows
//! nothing about what the body holds, only that it is one line of JSON.

use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::{Channel, Delivery, DeliveryError};

/// Lines that may wait for the writer before a delivery waits to queue its own.
const LINE_QUEUE_CAPACITY: usize = 1024;
/// Most lines written (and flushed) together.
const MAX_LINES_PER_WRITE: usize = 512;

type BoxedWriter = Box<dyn Write + Send>;

/// A line waiting for the writer, and where to say whether it was written.
struct QueuedLine {
    body: Bytes,
    written: oneshot::Sender<Result<(), DeliveryError>>,
}

/// Writes each delivery's body as one line.
pub struct StdoutChannel {
    lines: mpsc::Sender<QueuedLine>,
    /// The writer and the queue's receiving end until the first delivery starts the writer
    /// thread, so a channel that never delivers costs no thread.
    unstarted: Mutex<Option<(BoxedWriter, mpsc::Receiver<QueuedLine>)>>,
    started: OnceLock<()>,
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
        Self::with_writer(std::io::stdout())
    }

    /// A channel writing to `writer` instead, for tests and pipes; `writer` may block.
    pub fn with_writer(writer: impl Write + Send + 'static) -> Self {
        let (lines, queued) = mpsc::channel(LINE_QUEUE_CAPACITY);
        let writer: BoxedWriter = Box::new(writer);
        Self {
            lines,
            unstarted: Mutex::new(Some((writer, queued))),
            started: OnceLock::new(),
        }
    }

    fn start_writer(&self) {
        self.started.get_or_init(|| {
            let unstarted = self
                .unstarted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some((writer, queued)) = unstarted {
                let spawned = std::thread::Builder::new()
                    .name("byoc-stdout".to_owned())
                    .spawn(move || write_lines(writer, queued));
                if let Err(spawn_error) = spawned {
                    // The queue's receiver is gone with the closure: every delivery fails
                    // as retryable and nothing is acknowledged.
                    error!(error = %spawn_error, "cannot start the stdout writer thread");
                }
            }
        });
    }
}

impl Channel for StdoutChannel {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliveryError> {
        debug_assert!(
            !delivery.body.contains(&b'\n'),
            "a delivery body is compact json without raw newlines"
        );
        self.start_writer();
        let (written, outcome) = oneshot::channel();
        let line = QueuedLine {
            body: delivery.body.clone(),
            written,
        };
        if self.lines.send(line).await.is_err() {
            return Err(write_failed("the stdout writer has stopped"));
        }
        match outcome.await {
            Ok(written) => written,
            Err(_writer_gone) => Err(write_failed("the stdout writer has stopped")),
        }
    }
}

fn write_failed(reason: &str) -> DeliveryError {
    DeliveryError::Retryable {
        reason: format!("cannot write to stdout: {reason}"),
        retry_after: None,
        status: None,
    }
}

/// The writer thread: drains the queue in batches until every channel handle is gone.
fn write_lines(mut writer: BoxedWriter, mut queued: mpsc::Receiver<QueuedLine>) {
    let mut batch = Vec::with_capacity(MAX_LINES_PER_WRITE);
    let mut bytes = Vec::new();
    let mut closed: Option<String> = None;
    while queued.blocking_recv_many(&mut batch, MAX_LINES_PER_WRITE) > 0 {
        bytes.clear();
        for line in &batch {
            bytes.extend_from_slice(&line.body);
            bytes.push(b'\n');
        }
        // The flush is what makes the lines the operating system's when the writer buffers
        // (the process's stdout holds back a trailing partial line; a test's writer may hold
        // more).
        let written = match &closed {
            Some(reason) => Err(DeliveryError::Closed {
                reason: reason.clone(),
            }),
            None => match writer.write_all(&bytes).and_then(|()| writer.flush()) {
                Ok(()) => Ok(()),
                // The reader is gone and no later write can reach anyone: stop retrying.
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                    let reason = format!("stdout is closed, its reader has gone ({error})");
                    closed = Some(reason.clone());
                    Err(DeliveryError::Closed { reason })
                }
                Err(error) => Err(write_failed(&error.to_string())),
            },
        };
        for line in batch.drain(..) {
            // The delivery may have been cancelled meanwhile; nobody is waiting then.
            let _ = line.written.send(written.clone());
        }
    }
}
