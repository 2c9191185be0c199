//! A file streamed into the `attachments` part of `POST /interactions` as it arrives, never
//! held whole in memory.
//!
//! The source is any HTTP body (the partner's request to the sidecar); [`StreamedFile`]
//! refuses to pass more or fewer bytes than declared, so the length in the multipart part and
//! in `contentLength` is the truth. A stream can be sent once: such a call is neither retried
//! nor repeated after a token refresh. It knows nothing about where the body comes from.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Largest file Salesforce accepts in one `/interactions` call.
pub(crate) const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// A file to stream: name, MIME type, exact length and its bytes as an HTTP body.
pub(crate) struct StreamedFile {
    /// File name shown to the rep.
    pub file_name: String,
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// Exact size in bytes.
    pub length: u64,
    /// The bytes.
    pub body: axum::body::Body,
}

impl std::fmt::Debug for StreamedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedFile")
            .field("file_name", &self.file_name)
            .field("mime_type", &self.mime_type)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// Why a streamed body was cut off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The source sent more bytes than declared.
    #[error("the file is longer than its declared {declared} bytes")]
    TooLong {
        /// The declared length.
        declared: u64,
    },
    /// The source ended before the declared length.
    #[error("the file ended after {received} of its declared {declared} bytes")]
    TooShort {
        /// Bytes received.
        received: u64,
        /// The declared length.
        declared: u64,
    },
    /// The source failed.
    #[error("the file could not be read: {0}")]
    Source(#[source] axum::Error),
}

/// The source body, counted against its declared length; `Sync` (reqwest needs it) through a
/// mutex that is never contended, as only the sending task polls it.
pub(crate) struct CountedBody {
    inner: Mutex<axum::body::Body>,
    declared: u64,
    received: u64,
}

impl CountedBody {
    pub(super) fn new(body: axum::body::Body, declared: u64) -> Self {
        Self {
            inner: Mutex::new(body),
            declared,
            received: 0,
        }
    }
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let this = self.get_mut();
        let inner = this
            .inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) if this.received < this.declared => {
                Poll::Ready(Some(Err(StreamError::TooShort {
                    received: this.received,
                    declared: this.declared,
                })))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(StreamError::Source(error)))),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received > this.declared {
                        return Poll::Ready(Some(Err(StreamError::TooLong {
                            declared: this.declared,
                        })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared.saturating_sub(self.received))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(body: CountedBody) -> Result<u64, StreamError> {
        let mut body = std::pin::pin!(body);
        let mut total = 0;
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            total += frame?.into_data().map_or(0, |data| data.len() as u64);
        }
        Ok(total)
    }

    #[tokio::test]
    async fn a_body_must_be_exactly_its_declared_length() {
        let exact = CountedBody::new(axum::body::Body::from(vec![0u8; 10]), 10);
        assert_eq!(drain(exact).await.unwrap(), 10);
        let long = CountedBody::new(axum::body::Body::from(vec![0u8; 11]), 10);
        assert!(matches!(
            drain(long).await,
            Err(StreamError::TooLong { .. })
        ));
        let short = CountedBody::new(axum::body::Body::from(vec![0u8; 9]), 10);
        assert!(matches!(
            drain(short).await,
            Err(StreamError::TooShort { .. })
        ));
    }
}
