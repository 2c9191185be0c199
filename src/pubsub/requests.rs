//! The request side of one Subscribe stream: its first `FetchRequest`, then a top-up
//! whenever the credit ledger has credit to send back.
//!
//! A top-up goes out as soon as the ledger has one due (a batch, or the leftover once a
//! consumer has caught up; see [`super::flow`]). Released credit below a batch is held back
//! while the consumer keeps releasing, and sent anyway once the server owes nothing and the
//! consumer has released nothing for `HELD_CREDIT_LINGER`. Every request that leaves is
//! told to a [`FetchRequestObserver`], so the connector can count them. The requests end when
//! the stream's task lets go of the stream.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::flow::{CreditLedger, HELD_CREDIT_LINGER};
use super::proto::FetchRequest;

/// Told the credit of every `FetchRequest` the subscriber sends, first requests and
/// top-ups alike (the connector counts them as a metric). Does nothing by default.
#[derive(Clone, Default)]
pub struct FetchRequestObserver(Option<Arc<dyn Fn(u32) + Send + Sync>>);

impl FetchRequestObserver {
    /// An observer calling `notify` with each request's `num_requested`.
    pub fn new(notify: impl Fn(u32) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(notify)))
    }

    fn notify(&self, credit: u32) {
        if let Some(notify) = &self.0 {
            notify(credit);
        }
    }
}

impl std::fmt::Debug for FetchRequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "FetchRequestObserver(set)"
        } else {
            "FetchRequestObserver(none)"
        })
    }
}

/// The requests of one Subscribe stream: `first`, then the ledger's top-ups until the
/// ledger's signal closes or the stream is dropped. `first_taken` fires when the transport
/// takes the first request, which is when the stream counts as open.
pub(crate) fn fetch_requests(
    first: FetchRequest,
    ledger: Arc<CreditLedger>,
    observer: FetchRequestObserver,
    first_taken: tokio::sync::oneshot::Sender<()>,
    stream_ended: CancellationToken,
) -> impl Stream<Item = FetchRequest> {
    let signal = ledger.top_up_signal();
    let top_ups = futures::stream::unfold((ledger, signal), |(ledger, mut signal)| async move {
        let credit = next_top_up(&ledger, &mut signal).await?;
        let request = FetchRequest {
            num_requested: credit_as_i32(credit),
            ..FetchRequest::default()
        };
        Some((request, (ledger, signal)))
    });
    futures::stream::once(async move {
        // The stream task may have stopped listening already; then nothing needs to know.
        let _ = first_taken.send(());
        first
    })
    .chain(top_ups)
    // Checked before each top-up: a stream given up on (the watchdog's, say) would otherwise
    // stay open on the connection and take credit meant for its successor.
    .take_until(stream_ended.cancelled_owned())
    .inspect(move |request| {
        observer.notify(u32::try_from(request.num_requested).unwrap_or_default());
    })
}

/// Waits until the ledger has credit to send back; `None` once the ledger is gone.
async fn next_top_up(
    ledger: &CreditLedger,
    signal: &mut tokio::sync::watch::Receiver<u64>,
) -> Option<u32> {
    loop {
        signal.borrow_and_update();
        if let Some(credit) = ledger.take_top_up() {
            return Some(credit);
        }
        let Some(mark) = ledger.held_credit() else {
            signal.changed().await.ok()?;
            continue;
        };
        // Releases during the linger do not wake us; if the consumer released anything
        // since `mark`, taking fails and the next turn lingers again from a fresh mark. So
        // held-back credit goes out between one and two lingers after the last release.
        tokio::select! {
            changed = signal.changed() => changed.ok()?,
            () = tokio::time::sleep(HELD_CREDIT_LINGER) => {
                if let Some(credit) = ledger.take_held_credit(mark) {
                    return Some(credit);
                }
            }
        }
    }
}

/// A credit as the proto's `num_requested`.
pub(crate) fn credit_as_i32(credit: u32) -> i32 {
    debug_assert!(
        credit > 0,
        "a fetch request must ask for at least one event"
    );
    i32::try_from(credit).unwrap_or(i32::MAX)
}
