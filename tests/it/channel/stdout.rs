//! The stdout channel: one JSON envelope per line, whole even when deliveries are
//! concurrent, a delivery is done only once its line has been written and flushed, and a
//! broken pipe closes the channel instead of being retried.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use byoc_connector::channel::{Channel, Delivery, DeliveryError, StdoutChannel};
use bytes::Bytes;

fn delivery(body: String) -> Delivery {
    Delivery {
        body: Bytes::from(body),
        idempotency_key: "key".to_owned(),
        event_type: "interaction.message".into(),
    }
}

/// An output that takes at most a few bytes per write, like a pipe far smaller than a line,
/// and records what was written and what was flushed, and whether any flush ended inside a
/// line.
#[derive(Clone, Default)]
struct RecordingOutput {
    written: Arc<Mutex<Vec<u8>>>,
    flushed: Arc<Mutex<Vec<u8>>>,
    flush_inside_a_line: Arc<Mutex<bool>>,
}

impl RecordingOutput {
    /// Every flushed line, in order.
    fn flushed_lines(&self) -> Vec<String> {
        String::from_utf8(self.flushed.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for RecordingOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // A short write, so a line reaches the output in pieces.
        let accepted = bytes.len().min(100);
        self.written
            .lock()
            .unwrap()
            .extend_from_slice(&bytes[..accepted]);
        Ok(accepted)
    }

    fn flush(&mut self) -> io::Result<()> {
        let written = std::mem::take(&mut *self.written.lock().unwrap());
        if written.last().is_some_and(|byte| *byte != b'\n') {
            *self.flush_inside_a_line.lock().unwrap() = true;
        }
        self.flushed.lock().unwrap().extend_from_slice(&written);
        Ok(())
    }
}

#[tokio::test]
async fn stdout_channel_writes_one_whole_line_per_delivery_even_when_concurrent() {
    let output = RecordingOutput::default();
    let channel = Arc::new(StdoutChannel::with_writer(output.clone()));
    let bodies: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"id":"e{i}","pad":"{}"}}"#, "x".repeat(100 + i)))
        .collect();

    let mut writers = Vec::new();
    for body in bodies.clone() {
        let channel = channel.clone();
        writers.push(tokio::spawn(async move {
            channel.deliver(&delivery(body)).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let mut lines = output.flushed_lines();
    let mut expected = bodies;
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_deliveries_come_out_as_whole_lines_never_mixed() {
    const DELIVERIES: usize = 500;
    let output = RecordingOutput::default();
    let channel = Arc::new(StdoutChannel::with_writer(output.clone()));
    let bodies: Vec<String> = (0..DELIVERIES)
        .map(|i| format!(r#"{{"id":"e{i}","pad":"{}"}}"#, "x".repeat(i % 7 * 700)))
        .collect();
    let mut deliveries = tokio::task::JoinSet::new();
    for body in bodies.clone() {
        let channel = channel.clone();
        deliveries.spawn(async move { channel.deliver(&delivery(body)).await });
    }
    while let Some(delivered) = deliveries.join_next().await {
        delivered.unwrap().unwrap();
    }
    let mut lines = output.flushed_lines();
    let mut expected = bodies;
    lines.sort();
    expected.sort();
    assert_eq!(lines.len(), DELIVERIES);
    assert!(lines == expected, "a line was split, mixed or lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_done_only_once_its_line_is_written_and_flushed() {
    let output = RecordingOutput::default();
    let channel = Arc::new(StdoutChannel::with_writer(output.clone()));
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (channel, output) = (channel.clone(), output.clone());
        deliveries.spawn(async move {
            let line = format!(r#"{{"id":"e{i}","pad":"{}"}}"#, "y".repeat(i * 3));
            channel.deliver(&delivery(line.clone())).await.unwrap();
            let flushed = String::from_utf8(output.flushed.lock().unwrap().clone()).unwrap();
            assert!(
                flushed.lines().any(|flushed_line| flushed_line == line),
                "delivery {i} reported done before its line was flushed"
            );
        });
    }
    while let Some(delivered) = deliveries.join_next().await {
        delivered.unwrap();
    }
    assert!(
        !*output.flush_inside_a_line.lock().unwrap(),
        "every flush ends at a line boundary"
    );
}

/// An output whose every write fails with one kind of error.
struct FailingOutput(io::ErrorKind);

impl Write for FailingOutput {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(self.0.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_write_fails_the_delivery_as_retryable() {
    let channel = StdoutChannel::with_writer(FailingOutput(io::ErrorKind::StorageFull));
    let error = channel
        .deliver(&delivery(r#"{"id":"e1"}"#.to_owned()))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

/// An output whose first write fails with a broken pipe and whose later writes would succeed.
#[derive(Default)]
struct BrokenOnce {
    failed: bool,
}

impl Write for BrokenOnce {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if std::mem::replace(&mut self.failed, true) {
            return Ok(bytes.len());
        }
        Err(io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// A pipe's reader never comes back, so the channel does not even try again.
#[tokio::test]
async fn a_broken_pipe_closes_the_channel_for_this_delivery_and_every_later_one() {
    let channel = StdoutChannel::with_writer(BrokenOnce::default());
    for id in ["e1", "e2"] {
        let error = channel
            .deliver(&delivery(format!(r#"{{"id":"{id}"}}"#)))
            .await
            .unwrap_err();
        let DeliveryError::Closed { reason } = &error else {
            panic!("a broken pipe is not worth retrying: {error:?}");
        };
        assert!(reason.contains("stdout is closed"), "{reason}");
    }
}
