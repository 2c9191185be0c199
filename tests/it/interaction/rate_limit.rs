//! The connector's rate limiter against the fake's enforcement of the documented 2,000 requests
//! per second: a burst larger than a second's worth, sent through one client at once, is
//! accepted whole, without one 429.

use futures::future::join_all;

use crate::support::salesforce::{sample_routing_result, Salesforce};

/// More than two seconds' worth, so the burst spans three of the fake's one-second windows.
const CALLS: usize = 4_100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_more_than_two_seconds_worth_is_accepted_without_a_429() {
    let fake = Salesforce::start().await;
    let client = fake.static_client();
    let requests: Vec<_> = (0..CALLS)
        .map(|_| {
            let (conversation, work_item) = fake.known_session();
            sample_routing_result(&conversation, &work_item)
        })
        .collect();

    let answers = join_all(
        requests
            .iter()
            .map(|request| client.routing_result(request)),
    )
    .await;

    let failed: Vec<String> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let statuses = fake.call_statuses();
    assert_eq!(statuses.len(), CALLS);
    assert!(statuses.iter().all(|status| *status == 202));
}
