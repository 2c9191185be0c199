//! The jobs in flight, and where each one runs: on a task of its own, or on the dispatcher's
//! task beside the others.
//!
//! A job that only hands its delivery to a channel's own task and waits for the answer (the
//! batched webhook's collector, the stdout writer thread) does almost nothing itself, and a
//! task of its own costs more than that: a spawn, scheduling, waking, and the join. Such jobs
//! are polled here, on the dispatcher's task, with no task each. Every other job (one-event
//! webhook requests, routing hand-offs, dead letters) gets its own task, so its work runs on
//! any worker and never waits for the dispatcher. Both kinds report the same [`Done`], and a
//! panic in either is reported rather than lost. It knows futures and tasks, not what a job does.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::task::JoinSet;

use super::job::{panic_message, Done};

/// A job polled on the dispatcher's task; a panic comes back as its message.
type InlineJob = Pin<Box<dyn Future<Output = Result<Done, String>> + Send>>;

/// Jobs started and not yet finished.
#[derive(Default)]
pub(super) struct Running {
    /// Jobs with a task each. A finished job's task has dropped everything it held (store
    /// handles included) before it is reported.
    spawned: JoinSet<Done>,
    /// Jobs polled here, on the dispatcher's task.
    inline: FuturesUnordered<InlineJob>,
}

impl Running {
    /// Runs `job` on a task of its own.
    pub(super) fn spawn(&mut self, job: impl Future<Output = Done> + Send + 'static) {
        // Boxed, so the task holds a pointer: tokio moves a task's future several times as it
        // spawns, polls and finishes it, and a job's future is over a kilobyte.
        self.spawned.spawn(Box::pin(job));
    }

    /// Runs `job` on the dispatcher's task: it must only wait for work done elsewhere, and
    /// never for the dispatcher.
    pub(super) fn push_inline(&mut self, job: impl Future<Output = Done> + Send + 'static) {
        self.inline.push(Box::pin(
            AssertUnwindSafe(job)
                .catch_unwind()
                .map(|finished| finished.map_err(|panic| panic_message(&*panic))),
        ));
    }

    /// Jobs in flight.
    pub(super) fn len(&self) -> usize {
        self.spawned.len() + self.inline.len()
    }

    /// Whether no job is in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.spawned.is_empty() && self.inline.is_empty()
    }

    /// The next job to finish, or why its task failed; `None` when none is in flight.
    /// Cancel-safe: a job that finished is never lost by dropping the future.
    pub(super) async fn next(&mut self) -> Option<Result<Done, String>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Done, String>>> {
        if let Poll::Ready(Some(joined)) = self.spawned.poll_join_next(cx) {
            return Poll::Ready(Some(joined.map_err(|error| error.to_string())));
        }
        match self.inline.poll_next_unpin(cx) {
            Poll::Ready(Some(done)) => Poll::Ready(Some(done)),
            // `FuturesUnordered` is ready with `None` when it is empty.
            Poll::Ready(None) if self.spawned.is_empty() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::credit::CreditRule;
    use crate::pipeline::job::Outcome;
    use crate::pipeline::watermark::Watermark;

    fn done(seq_of: &mut Watermark) -> Done {
        Done {
            seq: seq_of.track(crate::pubsub::ReplayId::from_u64(1)),
            lane: None,
            idempotency_key: None,
            event_type: "test",
            received_at: std::time::Instant::now(),
            replay_id: bytes::Bytes::new(),
            credit: CreditRule::Prefetch,
            outcome: Outcome::Delivered,
        }
    }

    /// Both kinds of job are reported, each once, and an empty set reports `None`.
    #[tokio::test]
    async fn spawned_and_inline_jobs_are_each_reported_once() {
        let mut watermark = Watermark::new();
        let mut running = Running::default();
        assert!(running.next().await.is_none());
        let (first, second) = (done(&mut watermark), done(&mut watermark));
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        running.spawn(async move { first });
        running.push_inline(async move {
            let _ = wait.await;
            second
        });
        assert_eq!(running.len(), 2);
        let spawned = running.next().await.expect("a job").expect("no panic");
        assert!(matches!(spawned.outcome, Outcome::Delivered));
        assert_eq!(running.len(), 1);
        release.send(()).unwrap();
        let inline = running.next().await.expect("a job").expect("no panic");
        assert!(matches!(inline.outcome, Outcome::Delivered));
        assert!(running.is_empty());
        assert!(running.next().await.is_none());
    }

    /// A panic on the dispatcher's task is reported with its message, like a spawned job's, and
    /// does not unwind into the dispatcher.
    #[tokio::test]
    async fn a_panicking_inline_job_is_reported_not_propagated() {
        let mut running = Running::default();
        running.push_inline(async { panic!("job blew up") });
        let failed = running.next().await.expect("a job");
        assert_eq!(failed.err().as_deref(), Some("job blew up"));
        assert!(running.is_empty());
    }
}
