//! Batched MessagingSession look-ups: conversations whose `workItemId` must be queried while a
//! query is already running wait for it, then share one
//! `SELECT … WHERE Conversation.ConversationIdentifier IN (…)` query, so a burst of routing
//! requests costs a few REST calls instead of one each.
//!
//! A look-up alone is sent as the single-conversation query. A batch is cut so that its URL
//! stays within [`MAX_QUERY_CHARS`] (Salesforce allows 16,384 bytes of URI and headers and
//! recommends staying under 2,000 characters); its rows come newest first, so a conversation's
//! first row is its current session. A conversation missing from an answer Salesforce cut short
//! (`done: false`, more than 2,000 rows), and every conversation of a query that failed, is
//! asked again alone by its caller, with the usual retries. The querying runs on a spawned
//! task, so a caller that stops waiting never strands the others. Knows nothing about
//! strategies, the store or Pub/Sub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::soql::{is_messaging_session_id, session_query, QueryAnswer, SoqlClient};

/// Longest `q=` value of a batched query once URL-encoded, leaving room under Salesforce's
/// recommended 2,000-character URI for the instance URL and path.
pub(super) const MAX_QUERY_CHARS: usize = 1_800;

/// What a batched look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BatchAnswer {
    /// The conversation's newest MessagingSession.
    Found(String),
    /// The complete answer has no session for it.
    NotFound,
    /// No usable answer: the caller asks alone.
    AskAlone,
}

type Reply = oneshot::Sender<BatchAnswer>;

/// Look-ups waiting for a query, and whether a querying task is running.
#[derive(Default)]
struct Queue {
    waiting: Vec<(String, Instant, Reply)>,
    querying: bool,
}

/// Gathers look-ups into shared queries.
#[derive(Debug)]
pub(super) struct QueryBatcher {
    client: Arc<SoqlClient>,
    queue: Arc<Mutex<Queue>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("waiting", &self.waiting.len())
            .field("querying", &self.querying)
            .finish()
    }
}

impl QueryBatcher {
    /// A batcher querying through `client`.
    pub(super) fn new(client: Arc<SoqlClient>) -> Self {
        Self {
            client,
            queue: Arc::new(Mutex::new(Queue::default())),
        }
    }

    /// The newest MessagingSession of `conversation` (a plain identifier), answered by the
    /// next shared query; `deadline` bounds that query.
    pub(super) async fn look_up(&self, conversation: &str, deadline: Instant) -> BatchAnswer {
        let (reply, answer) = oneshot::channel();
        let start_task = {
            let mut queue = lock(&self.queue);
            queue
                .waiting
                .push((conversation.to_owned(), deadline, reply));
            !std::mem::replace(&mut queue.querying, true)
        };
        if start_task {
            tokio::spawn(query_until_empty(self.client.clone(), self.queue.clone()));
        }
        answer.await.unwrap_or(BatchAnswer::AskAlone)
    }
}

/// Queries for what is queued, again and again, until the queue is empty.
async fn query_until_empty(client: Arc<SoqlClient>, queue: Arc<Mutex<Queue>>) {
    loop {
        let waiting = {
            let mut queue = lock(&queue);
            if queue.waiting.is_empty() {
                queue.querying = false;
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        let mut by_conversation: HashMap<String, (Instant, Vec<Reply>)> = HashMap::new();
        let mut order = Vec::new();
        for (conversation, deadline, reply) in waiting {
            let entry = by_conversation
                .entry(conversation.clone())
                .or_insert_with(|| {
                    order.push(conversation);
                    (deadline, Vec::new())
                });
            entry.0 = entry.0.min(deadline);
            entry.1.push(reply);
        }
        let chunks = chunk_by_length(&order);
        let answers = futures::future::join_all(chunks.into_iter().map(|chunk| {
            let deadline = chunk
                .iter()
                .filter_map(|conversation| by_conversation.get(*conversation))
                .map(|(deadline, _)| *deadline)
                .min()
                .unwrap_or_else(Instant::now);
            let client = client.clone();
            async move {
                let answers = query_chunk(&client, &chunk, deadline).await;
                chunk
                    .into_iter()
                    .map(str::to_owned)
                    .zip(answers)
                    .collect::<Vec<_>>()
            }
        }))
        .await;
        for (conversation, answer) in answers.into_iter().flatten() {
            if let Some((_, replies)) = by_conversation.remove(&conversation) {
                for reply in replies {
                    // A caller that stopped waiting no longer needs the answer.
                    let _ = reply.send(answer.clone());
                }
            }
        }
    }
}

/// One query for `chunk`; an answer per conversation, in order.
async fn query_chunk(client: &SoqlClient, chunk: &[&str], deadline: Instant) -> Vec<BatchAnswer> {
    let ask_alone = || vec![BatchAnswer::AskAlone; chunk.len()];
    let soql = match chunk {
        [conversation] => match session_query(conversation) {
            Ok(soql) => soql,
            Err(_) => return ask_alone(),
        },
        _ => batch_query(chunk),
    };
    let Some(grant) = client.grant().await else {
        return ask_alone();
    };
    let Ok(answer) = client.attempt(&grant, &soql, deadline).await else {
        return ask_alone();
    };
    answers_of(chunk, answer)
}

/// Each conversation's newest session in `answer` (rows come newest first).
fn answers_of(chunk: &[&str], answer: QueryAnswer) -> Vec<BatchAnswer> {
    let missing = if answer.done {
        BatchAnswer::NotFound
    } else {
        BatchAnswer::AskAlone
    };
    if let [_] = chunk {
        // The single-conversation query selects no conversation column.
        let found = answer
            .records
            .into_iter()
            .filter_map(|record| record.id)
            .find(|id| is_messaging_session_id(id));
        return vec![found.map_or(missing, BatchAnswer::Found)];
    }
    let mut newest: HashMap<String, String> = HashMap::new();
    for record in answer.records {
        let (Some(id), Some(conversation)) = (
            record.id,
            record.conversation.and_then(|field| field.identifier),
        ) else {
            continue;
        };
        if is_messaging_session_id(&id) {
            newest.entry(conversation).or_insert(id);
        }
    }
    chunk
        .iter()
        .map(|conversation| {
            newest
                .remove(*conversation)
                .map_or_else(|| missing.clone(), BatchAnswer::Found)
        })
        .collect()
}

/// The query for several conversations (plain identifiers), newest sessions first.
pub(super) fn batch_query(conversations: &[&str]) -> String {
    let literals: Vec<String> = conversations
        .iter()
        .map(|conversation| format!("'{conversation}'"))
        .collect();
    format!(
        "SELECT Id, Conversation.ConversationIdentifier FROM MessagingSession \
         WHERE Conversation.ConversationIdentifier IN ({}) ORDER BY CreatedDate DESC",
        literals.join(",")
    )
}

/// Length of `text` once form-URL-encoded (as the `q` parameter is sent).
fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' | b' ' => 1,
            _ => 3,
        })
        .sum()
}

/// Splits `conversations` into chunks whose batched query stays within [`MAX_QUERY_CHARS`].
fn chunk_by_length(conversations: &[String]) -> Vec<Vec<&str>> {
    let base = encoded_len(&batch_query(&[]));
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut length = base;
    for conversation in conversations {
        // The literal, its two quotes and a comma.
        let cost = encoded_len(conversation) + 9;
        if !current.is_empty() && length + cost > MAX_QUERY_CHARS {
            chunks.push(std::mem::take(&mut current));
            length = base;
        }
        current.push(conversation);
        length += cost;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Locks the queue; every critical section is a push or a take that cannot panic halfway.
fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(n: usize) -> String {
        format!("c0ffee00-0000-4000-8000-{n:012}")
    }

    #[test]
    fn a_batch_url_stays_within_the_recommended_length() {
        let many: Vec<String> = (0..1_000).map(conversation).collect();
        let chunks = chunk_by_length(&many);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 1_000);
        for chunk in &chunks {
            assert!(encoded_len(&batch_query(chunk)) <= MAX_QUERY_CHARS);
        }
        assert!(chunks[0].len() >= 30, "{} per query", chunks[0].len());
    }

    #[test]
    fn the_newest_row_of_each_conversation_wins_and_a_short_answer_asks_alone() {
        let rows = serde_json::json!({"done": true, "records": [
            {"Id": "0Mw000000000002AAA", "Conversation": {"ConversationIdentifier": "a"}},
            {"Id": "0Mw000000000001AAA", "Conversation": {"ConversationIdentifier": "a"}},
        ]});
        let answer: QueryAnswer = serde_json::from_value(rows.clone()).unwrap();
        assert_eq!(
            answers_of(&["a", "b"], answer),
            vec![
                BatchAnswer::Found("0Mw000000000002AAA".to_owned()),
                BatchAnswer::NotFound
            ]
        );
        let mut cut = rows;
        cut["done"] = serde_json::json!(false);
        let answer: QueryAnswer = serde_json::from_value(cut).unwrap();
        assert_eq!(answers_of(&["a", "b"], answer)[1], BatchAnswer::AskAlone);
    }
}
