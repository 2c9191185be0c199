//! The send gate of leader-only calls: a replica whose lease guard ran out sends no
//! routingResult and no route, while the calls any replica may make still go out.

use std::time::Duration;

use crate::support::salesforce::{
    open_conversation, sample_delete_route, sample_route, sample_routing_result, KeyFile,
    Salesforce,
};
use byoc_connector::ha::LeaseGuard;
use byoc_connector::interaction::InteractionError;
use byoc_connector::store::Fence;
use tokio::time::Instant;

fn guard_valid_for(valid_for: Duration) -> LeaseGuard {
    let fence = Fence {
        namespace: "gate-test".to_owned(),
        holder: "replica-a".to_owned(),
        token: 7,
    };
    LeaseGuard::new(fence, Instant::now() + valid_for)
}

#[tokio::test]
async fn leader_only_calls_are_sent_while_the_guard_is_valid_and_never_after() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let client = fake.client(fake.jwt_provider(&key_file));
    let guard = guard_valid_for(Duration::from_millis(300));
    assert!(client.set_send_gate(std::sync::Arc::new(guard.clone())));
    let (conversation, work_item) = open_conversation(&client).await;

    client
        .routing_result(&sample_routing_result(&conversation, &work_item))
        .await
        .expect("a leader posts");
    tokio::time::sleep_until(guard.valid_until()).await;
    assert!(!guard.is_valid());

    let refused = client
        .routing_result(&sample_routing_result(&conversation, &work_item))
        .await;
    assert!(
        matches!(refused, Err(InteractionError::NotLeader)),
        "{refused:?}"
    );
    let refused = client.post_route(&sample_route(&conversation)).await;
    assert!(
        matches!(refused, Err(InteractionError::NotLeader)),
        "{refused:?}"
    );
    // Not a routing decision: any replica may send it.
    client
        .delete_route(&sample_delete_route(&conversation))
        .await
        .expect("a call that needs no leadership is sent");

    let calls: Vec<(String, String)> = fake
        .interaction
        .calls()
        .into_iter()
        .map(|call| (call.method, call.path))
        .collect();
    let count = |method: &str, path: &str| {
        calls
            .iter()
            .filter(|(m, p)| m == method && p == path)
            .count()
    };
    assert_eq!(count("POST", "/api/v1/routingResult"), 1, "{calls:?}");
    assert_eq!(count("POST", "/api/v1/route"), 0, "{calls:?}");
    assert_eq!(count("DELETE", "/api/v1/route"), 1, "{calls:?}");
}

#[tokio::test]
async fn an_ended_guard_is_never_valid_again() {
    let guard = guard_valid_for(Duration::from_secs(60));
    assert!(guard.is_valid());
    guard.end();
    assert!(!guard.is_valid());
}
