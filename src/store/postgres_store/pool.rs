//! The threads that hold a PostgreSQL store's connections, so every store call is safe from
//! any thread.
//!
//! `postgres::Client` drives its own small runtime and panics on a tokio worker thread, yet
//! the store's reads are called straight from async code. So each connection lives on a
//! dedicated std thread; a call sends its work over a channel and blocks until the thread
//! answers. A connection found closed, or lost by a call (the database restarted, the network
//! broke), is reopened for the next call, and one idle for a second is checked first, so
//! a database restart while the connector is quiet costs no failed call; a work item that panics drops its connection, the thread
//! carries on, and the panic is raised again on the calling thread. The threads end once every handle to the pool is gone. It knows nothing about
//! the tables.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::store::{PostgresTls, StoreError};

/// One unit of work, run on a connection thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// A fixed set of connection threads sharing one queue of work.
pub(super) struct Pool {
    jobs: mpsc::Sender<Job>,
}

/// One thread's connection, opened when first needed and reopened once closed.
pub(super) struct Connection {
    config: postgres::Config,
    // Plaintext, or rustls verifying the server as `store.url` asks.
    tls: PostgresTls,
    // User, host, port and database, for errors; never the password.
    target: Arc<str>,
    client: Option<Client>,
    // When the connection last answered; one idle longer than `IDLE_CHECK_AFTER` is checked
    // before use, so a database restart meanwhile costs a reconnect, not a failed call.
    last_used: Instant,
}

/// Idle time after which a connection is checked (one round trip) before it is used.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);

/// How long the check of an idle connection may take.
const IDLE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `error` means the connection is gone (closed, or the server ended the session),
/// so the next call must start on a fresh one.
fn connection_lost(error: &StoreError) -> bool {
    let StoreError::Postgres { source, .. } = error else {
        return false;
    };
    source
        .downcast_ref::<postgres::Error>()
        .is_some_and(|error| {
            error.is_closed()
                || error.code().is_some_and(|state| {
                    // 08: connection exception; 57P: the server shut the session down.
                    state.code().starts_with("08") || state.code().starts_with("57P")
                })
        })
}

impl Connection {
    /// The open connection, connecting first when there is none, it was closed, or it sat
    /// idle and no longer answers.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let idle = self.last_used.elapsed() > IDLE_CHECK_AFTER;
        let reusable = self.client.take().and_then(|mut client| {
            let answers =
                !client.is_closed() && (!idle || client.is_valid(IDLE_CHECK_TIMEOUT).is_ok());
            answers.then_some(client)
        });
        let client = match reusable {
            Some(client) => client,
            None => match &self.tls {
                PostgresTls::Plain => self.config.connect(postgres::NoTls),
                PostgresTls::Rustls(rustls) => self.config.connect(rustls.clone()),
            }
            .map_err(|source| StoreError::PostgresOpen {
                target: self.target.to_string(),
                source: Box::new(source),
            })?,
        };
        self.last_used = Instant::now();
        Ok(self.client.insert(client))
    }
}

impl Pool {
    /// Starts `size` connection threads; each connects on its first work item.
    pub(super) fn start(
        config: &postgres::Config,
        tls: &PostgresTls,
        target: &str,
        size: usize,
    ) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let target: Arc<str> = Arc::from(target);
        for index in 0..size.max(1) {
            let queue = Arc::clone(&queue);
            let mut connection = Connection {
                config: config.clone(),
                tls: tls.clone(),
                target: Arc::clone(&target),
                client: None,
                last_used: Instant::now(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("byoc-postgres-{index}"))
                .spawn(move || serve(&queue, &mut connection));
            if let Err(error) = spawned {
                // The other threads serve the pool; with none, every call reports it stopped.
                tracing::warn!(%error, "cannot start a postgres connection thread");
            }
        }
        Self { jobs }
    }

    /// Runs `work` on a connection thread and waits for its answer; a panic in `work` (a
    /// debug assertion) is raised again on the calling thread.
    pub(super) fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |connection: &mut Connection| {
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| connection.client().and_then(work)));
            let lost = matches!(&outcome, Ok(Err(error)) if connection_lost(error));
            if outcome.is_err() || lost {
                // Mid-transaction after a panic, or gone: the next item starts on a fresh one.
                connection.client = None;
            } else {
                connection.last_used = Instant::now();
            }
            // The caller waits for it; a caller that is gone no longer needs it.
            let _ = reply.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_closed| StoreError::PostgresStopped)?;
        match answer.recv() {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_dropped) => Err(StoreError::PostgresStopped),
        }
    }
}

/// A connection thread's loop: take the next work item, run it, until the pool is dropped.
fn serve(queue: &Mutex<mpsc::Receiver<Job>>, connection: &mut Connection) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        job(connection);
    }
}
