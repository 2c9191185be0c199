//! The stdout channel: one JSON envelope per line.

use std::sync::Arc;

use byoc_connector::channel::{Channel, Delivery, StdoutChannel};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt as _;

#[tokio::test]
async fn stdout_channel_writes_one_whole_line_per_delivery_even_when_concurrent() {
    let (writer, mut reader) = tokio::io::duplex(64);
    let channel = Arc::new(StdoutChannel::with_writer(writer));
    let bodies: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"id":"e{i}","pad":"{}"}}"#, "x".repeat(100 + i)))
        .collect();

    let reading = tokio::spawn(async move {
        let mut output = BytesMut::new();
        while output.iter().filter(|byte| **byte == b'\n').count() < 20 {
            if reader.read_buf(&mut output).await.unwrap() == 0 {
                break;
            }
        }
        output
    });
    let mut writers = Vec::new();
    for body in bodies.clone() {
        let channel = channel.clone();
        writers.push(tokio::spawn(async move {
            let delivery = Delivery {
                body: Bytes::from(body),
                idempotency_key: "key".to_owned(),
                event_type: "interaction.message".to_owned(),
            };
            channel.deliver(&delivery).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let output = reading.await.unwrap();
    let mut lines: Vec<String> = String::from_utf8(output.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut expected = bodies;
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);
}
